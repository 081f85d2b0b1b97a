"""The staker rewards of each period and component, added up by triggers as the rows are
written, replaced or deleted (PostgreSQL), for the pages that show sums per period.

Revision ID: a8c7b6fdc806
Revises: f6b5a4ecb705
Create Date: 2026-11-25 23:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

from webapp import reward_sums
from webapp.db_types import Amount

# revision identifiers, used by Alembic.
revision = "a8c7b6fdc806"
down_revision = "f6b5a4ecb705"
branch_labels = None
depends_on = None


def upgrade():
    component = sa.Enum(
        "EXEC_FEES",
        "MEV",
        "REWARDS",
        name="revenuecomponent",
        create_constraint=True,
        create_type=False,
    )
    op.create_table(
        "staker_reward_sums",
        sa.Column("period_id", sa.Uuid(), nullable=False),
        sa.Column("revenue_component", component, nullable=False),
        sa.Column("chain_id", sa.String(length=50), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("amount_native", Amount(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"],
            ["chains.chain_id"],
            name=op.f("fk_staker_reward_sums_chain_id_chains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["canonical_periods.period_id"],
            name=op.f("fk_staker_reward_sums_period_id_canonical_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "period_id", "revenue_component", name=op.f("pk_staker_reward_sums")
        ),
    )
    with op.batch_alter_table("staker_reward_sums", schema=None) as batch_op:
        batch_op.create_index("idx_staker_reward_sums_chain", ["chain_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in reward_sums.install_statements():
            op.execute(statement)
        op.execute(reward_sums.BACKFILL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in reward_sums.remove_statements():
            op.execute(statement)
    with op.batch_alter_table("staker_reward_sums", schema=None) as batch_op:
        batch_op.drop_index("idx_staker_reward_sums_chain")
    op.drop_table("staker_reward_sums")
