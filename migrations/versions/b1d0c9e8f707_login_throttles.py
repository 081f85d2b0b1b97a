"""Login throttles: the row each sign-in attempt locks for its account and its address.

Revision ID: b1d0c9e8f707
Revises: b1a2c3d4e5f6
Create Date: 2026-12-03 06:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import webapp.db_types

# revision identifiers, used by Alembic.
revision = "b1d0c9e8f707"
down_revision = "b1a2c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_throttles",
        sa.Column("throttle_key", sa.String(length=330), nullable=False),
        sa.Column("attempted_at", webapp.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("throttle_key", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.create_index("ix_login_throttles_attempted_at", ["attempted_at"], unique=False)


def downgrade():
    op.drop_table("login_throttles")
