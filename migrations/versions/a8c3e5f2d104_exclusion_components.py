"""Exclusions name the revenue components they hold back: `commission_exclusions.revenue_component`
("MEV+REWARDS", sorted and joined by "+"), so a run's exclusions file says which component a
"no rule" row is about, as the preview's does.

Nullable: wallet-level reasons name no component, and rows committed before this revision
are left as they are (they show an empty component until a commit rewrites their pair).

Revision ID: a8c3e5f2d104
Revises: c4a9e2d7b610
Create Date: 2026-12-03 08:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a8c3e5f2d104"
down_revision = "c4a9e2d7b610"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("commission_exclusions") as batch_op:
        batch_op.add_column(sa.Column("revenue_component", sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table("commission_exclusions") as batch_op:
        batch_op.drop_column("revenue_component")
