"""Session generation and login throttling.

Revision ID: c3e2d1b9e402
Revises: b2f1c0a8d301
Create Date: 2026-11-25 13:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

import webapp.db_types

# revision identifiers, used by Alembic.
revision = "c3e2d1b9e402"
down_revision = "b2f1c0a8d301"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "session_generation", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
    op.create_table(
        "login_failures",
        sa.Column("failure_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", webapp.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("failure_id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_failures_email_failed_at", ["email", "failed_at"], unique=False
        )
        batch_op.create_index(
            "ix_login_failures_address_failed_at", ["address", "failed_at"], unique=False
        )
        batch_op.create_index("ix_login_failures_failed_at", ["failed_at"], unique=False)


def downgrade():
    op.drop_table("login_failures")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
