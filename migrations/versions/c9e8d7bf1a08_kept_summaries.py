"""Set-based summaries of wallet attribution, kept by the digests of their inputs, so that
every worker of the app answers a question asked before without summing it again.

Revision ID: c9e8d7bf1a08
Revises: b8d7c6ae0907
Create Date: 2026-11-25 20:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

from webapp.db_types import UTCDateTime

# revision identifiers, used by Alembic.
revision = "c9e8d7bf1a08"
down_revision = "b8d7c6ae0907"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kept_summaries",
        sa.Column("summary_key", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("digests", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.partner_id"],
            name=op.f("fk_kept_summaries_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("summary_key", name=op.f("pk_kept_summaries")),
    )
    with op.batch_alter_table("kept_summaries", schema=None) as batch_op:
        batch_op.create_index(
            "idx_kept_summaries_partner_question",
            ["partner_id", "question", "created_at"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("kept_summaries", schema=None) as batch_op:
        batch_op.drop_index("idx_kept_summaries_partner_question")
    op.drop_table("kept_summaries")
