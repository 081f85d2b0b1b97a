"""The revision of each period's staker reward rows, drawn again by triggers on the table and
on each of its partitions whenever any of the period's rows changes (PostgreSQL), so that the
figures kept per period are checked by reading one row per period instead of every reward
row.

Revision ID: e7b3c1d9a2f0
Revises: a8c3e5f2d104
Create Date: 2026-12-03 11:40:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from webapp import reward_partitions, reward_revisions

# revision identifiers, used by Alembic.
revision = "e7b3c1d9a2f0"
down_revision = "a8c3e5f2d104"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staker_reward_revisions",
        sa.Column("period_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["canonical_periods.period_id"],
            name=op.f("fk_staker_reward_revisions_period_id_canonical_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period_id", name=op.f("pk_staker_reward_revisions")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in reward_revisions.install_statements():
        op.execute(statement)
    for table, period_id in _partitions(op.get_bind()):
        for statement in reward_revisions.trigger_statements(table, period_id):
            op.execute(statement)
    # Every stored period starts from a revision of its own; kept figures, keyed before by
    # digests of the rows, are not keyed by a revision and are left to age out.
    op.execute(reward_revisions.BACKFILL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        tables = [table for table, _ in _partitions(op.get_bind())]
        for statement in reward_revisions.remove_statements((*tables, reward_revisions.TABLE)):
            op.execute(statement)
    op.drop_table("staker_reward_revisions")


def _partitions(bind) -> list[tuple[str, object]]:
    """The partitions of the rewards table with their period (None for the default one)."""
    names = bind.scalars(
        text(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            f"WHERE i.inhparent = '{reward_revisions.TABLE}'::regclass ORDER BY c.relname"
        )
    )
    return [(name, reward_partitions.period_of(name)) for name in names]
