"""Each (agreement, period) a run holds keeps the sums of its lines and exclusions as
written, so that a run's page adds up a few dozen rows instead of every line.

Revision ID: f6b5a4ecb705
Revises: c9e8d7bf1a08
Create Date: 2026-11-25 22:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f6b5a4ecb705"
down_revision = "c9e8d7bf1a08"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("commission_run_periods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sums", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("commission_run_periods", schema=None) as batch_op:
        batch_op.drop_column("sums")
