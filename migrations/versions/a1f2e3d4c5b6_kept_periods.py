"""Set-based figures kept per period, by the digest of that period's inputs, so that a
question over many periods computes only the periods whose inputs moved.

Revision ID: a1f2e3d4c5b6
Revises: b7d2e4f1c903
Create Date: 2026-12-03 08:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

from webapp.db_types import UTCDateTime

# revision identifiers, used by Alembic.
revision = "a1f2e3d4c5b6"
down_revision = "b7d2e4f1c903"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kept_periods",
        sa.Column("period_digest", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.partner_id"],
            name=op.f("fk_kept_periods_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period_digest", name=op.f("pk_kept_periods")),
    )
    with op.batch_alter_table("kept_periods", schema=None) as batch_op:
        batch_op.create_index(
            "idx_kept_periods_partner", ["partner_id", "created_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("kept_periods", schema=None) as batch_op:
        batch_op.drop_index("idx_kept_periods_partner")
    op.drop_table("kept_periods")
