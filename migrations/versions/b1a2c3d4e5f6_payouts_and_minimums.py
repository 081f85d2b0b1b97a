"""Payouts (one per partner, token and payment, with its statement number), the runs each
settles, and each partner's minimum payout per token.

Revision ID: b1a2c3d4e5f6
Revises: b1c2d3e4f5a6
Create Date: 2026-12-03 06:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from webapp.db_types import Amount, UTCDateTime

# revision identifiers, used by Alembic.
revision = "b1a2c3d4e5f6"
down_revision = "b1c2d3e4f5a6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "payouts",
        sa.Column("payout_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("chain_id", sa.String(length=50), nullable=False),
        sa.Column("statement_number", sa.String(length=140), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("net_amount_native", Amount(), nullable=False),
        sa.Column("carried_in_native", Amount(), server_default=sa.text("0"), nullable=False),
        sa.Column("payout_reference", sa.String(length=200), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("paid_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.chain_id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["paid_by_user_id"], ["users.user_id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("payout_id"),
        sa.UniqueConstraint("partner_id", "statement_number", name="uq_payouts_statement_number"),
    )
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.create_index(
            "idx_payouts_partner_chain", ["partner_id", "chain_id", "created_at"], unique=False
        )
    op.create_table(
        "partner_payout_minimums",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("chain_id", sa.String(length=50), nullable=False),
        sa.Column("minimum_amount_native", Amount(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "minimum_amount_native >= 0", name="ck_partner_payout_minimums_positive"
        ),
        sa.ForeignKeyConstraint(["chain_id"], ["chains.chain_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("partner_id", "chain_id"),
    )
    with op.batch_alter_table("commission_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payout_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "fk_commission_runs_payout_id_payouts",
            "payouts",
            ["payout_id"],
            ["payout_id"],
            ondelete="RESTRICT",
        )


def downgrade():
    with op.batch_alter_table("commission_runs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_commission_runs_payout_id_payouts", type_="foreignkey")
        batch_op.drop_column("payout_id")
    op.drop_table("partner_payout_minimums")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_index("idx_payouts_partner_chain")
    op.drop_table("payouts")
