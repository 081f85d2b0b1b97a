"""The wallet lines' unique key goes by (agreement, period, wallet, validator, component),
so that a commit fills it left to right in wallet order and one wallet's lines are found
by it (one search per period of a run); the (agreement, wallet) index that found them
before is dropped: a first commit kept it by random inserts, its dearest upkeep.

Revision ID: f2a6c8e4b1d3
Revises: e7b3c1d9a2f0
Create Date: 2026-12-03 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f2a6c8e4b1d3"
down_revision = "e7b3c1d9a2f0"
branch_labels = None
depends_on = None

WALLET_LINES = "wallet_address IS NOT NULL AND line_kind = 'commission'"
OLD_KEY = ["agreement_id", "period_id", "validator_key", "revenue_component", "wallet_address"]
NEW_KEY = ["agreement_id", "period_id", "wallet_address", "validator_key", "revenue_component"]


def _wallet_key(batch_op, columns):
    batch_op.create_index(
        "uq_partner_commission_lines_wallet",
        columns,
        unique=True,
        sqlite_where=sa.text(WALLET_LINES),
        postgresql_where=sa.text(WALLET_LINES),
    )


def upgrade():
    with op.batch_alter_table("partner_commission_lines", schema=None) as batch_op:
        batch_op.drop_index("uq_partner_commission_lines_wallet")
        _wallet_key(batch_op, NEW_KEY)
        batch_op.drop_index("idx_partner_commission_lines_agreement_wallet")


def downgrade():
    with op.batch_alter_table("partner_commission_lines", schema=None) as batch_op:
        batch_op.create_index(
            "idx_partner_commission_lines_agreement_wallet",
            ["agreement_id", "wallet_address"],
            unique=False,
            sqlite_where=sa.text(WALLET_LINES),
            postgresql_where=sa.text(WALLET_LINES),
        )
        batch_op.drop_index("uq_partner_commission_lines_wallet")
        _wallet_key(batch_op, OLD_KEY)
