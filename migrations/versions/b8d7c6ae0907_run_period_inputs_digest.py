"""Each (agreement, period) a run holds keeps the digest of the inputs it was computed from;
a wallet's lines and exclusions are found by agreement and wallet (a recommit leaves the rows
of unchanged pairs under the run that wrote them, so a run's own id no longer finds them all).

Revision ID: b8d7c6ae0907
Revises: a7c6b5fd0806
Create Date: 2026-11-25 17:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b8d7c6ae0907"
down_revision = "a7c6b5fd0806"
branch_labels = None
depends_on = None


def upgrade():
    # Empty for the pairs committed before: their next commit computes them once more.
    with op.batch_alter_table("commission_run_periods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("partner_commission_lines", schema=None) as batch_op:
        batch_op.create_index(
            "idx_partner_commission_lines_agreement_wallet",
            ["agreement_id", "wallet_address"],
            unique=False,
            sqlite_where=sa.text("wallet_address IS NOT NULL AND line_kind = 'commission'"),
            postgresql_where=sa.text("wallet_address IS NOT NULL AND line_kind = 'commission'"),
        )
    with op.batch_alter_table("commission_exclusions", schema=None) as batch_op:
        batch_op.drop_index("idx_commission_exclusions_run_wallet")
        batch_op.create_index(
            "idx_commission_exclusions_agreement_wallet",
            ["agreement_id", "wallet_address"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("commission_exclusions", schema=None) as batch_op:
        batch_op.drop_index("idx_commission_exclusions_agreement_wallet")
        batch_op.create_index(
            "idx_commission_exclusions_run_wallet", ["run_id", "wallet_address"], unique=False
        )
    with op.batch_alter_table("partner_commission_lines", schema=None) as batch_op:
        batch_op.drop_index("idx_partner_commission_lines_agreement_wallet")
    with op.batch_alter_table("commission_run_periods", schema=None) as batch_op:
        batch_op.drop_column("inputs_digest")
