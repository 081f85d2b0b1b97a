"""Each (agreement, period) a run holds keeps, beside its inputs digest, the digest of each
part of its inputs apart, so that a stale run can say what changed.

Revision ID: b1c2d3e4f5a6
Revises: a8c7b6fdc806
Create Date: 2026-12-03 06:15:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b1c2d3e4f5a6"
down_revision = "a8c7b6fdc806"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("commission_run_periods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs_parts", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("commission_run_periods", schema=None) as batch_op:
        batch_op.drop_column("inputs_parts")
