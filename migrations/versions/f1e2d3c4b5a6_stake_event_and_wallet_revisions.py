"""The revision of each chain's stake events and of each partner's wallets, drawn again by
triggers on their tables whenever any of those rows changes (PostgreSQL), so that the digests
of a partner's wallets and stake events are kept under them instead of summed from the rows
on every page.

Revision ID: f1e2d3c4b5a6
Revises: f2a6c8e4b1d3
Create Date: 2026-12-03 14:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

from webapp import row_revisions

# revision identifiers, used by Alembic.
revision = "f1e2d3c4b5a6"
down_revision = "f2a6c8e4b1d3"
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
    op.create_table(
        "partner_wallet_revisions",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.partner_id"],
            name=op.f("fk_partner_wallet_revisions_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_partner_wallet_revisions")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for kind in (row_revisions.EVENTS, row_revisions.WALLETS):
        for statement in kind.install_statements():
            op.execute(statement)
        # Every stored chain and partner starts from a revision of its own.
        op.execute(kind.backfill())


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for kind in (row_revisions.EVENTS, row_revisions.WALLETS):
            for statement in kind.remove_statements():
                op.execute(statement)
    op.drop_table("partner_wallet_revisions")
    op.drop_table("stake_event_revisions")
