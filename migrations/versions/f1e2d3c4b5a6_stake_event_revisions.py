"""The revision of each chain's stake events, drawn again by triggers on the stake events
table whenever any of the chain's events changes (PostgreSQL), so that the digest of a
partner's stake events is kept under it instead of summed from the events on every page.

Revision ID: f1e2d3c4b5a6
Revises: e7b3c1d9a2f0
Create Date: 2026-12-03 14:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

from webapp import event_revisions

# revision identifiers, used by Alembic.
revision = "f1e2d3c4b5a6"
down_revision = "e7b3c1d9a2f0"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stake_event_revisions",
        sa.Column("chain_id", sa.String(length=50), nullable=False),
        sa.Column("revision", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"],
            ["chains.chain_id"],
            name=op.f("fk_stake_event_revisions_chain_id_chains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_stake_event_revisions")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in event_revisions.install_statements():
        op.execute(statement)
    # Every stored chain starts from a revision of its own.
    op.execute(event_revisions.BACKFILL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in event_revisions.remove_statements():
            op.execute(statement)
    op.drop_table("stake_event_revisions")
