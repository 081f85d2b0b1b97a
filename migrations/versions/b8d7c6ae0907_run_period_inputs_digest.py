"""Each (agreement, period) a run holds keeps the digest of the inputs it was computed from.

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


def downgrade():
    with op.batch_alter_table("commission_run_periods", schema=None) as batch_op:
        batch_op.drop_column("inputs_digest")
