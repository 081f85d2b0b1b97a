"""Prices: the USD price of a chain's token per UTC day (a canonical kind with lineage), and
the prices a run was valued at when it was approved.

Revision ID: b7d2e4f1c903
Revises: b1d0c9e8f707
Create Date: 2026-12-03 06:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from webapp.db_types import Amount, UsdValue, UTCDateTime

# revision identifiers, used by Alembic.
revision = "b7d2e4f1c903"
down_revision = "b1d0c9e8f707"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "canonical_prices",
        sa.Column("price_id", sa.Uuid(), nullable=False),
        sa.Column("chain_id", sa.String(length=50), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("price_usd", Amount(), nullable=False),
        sa.Column("source_provider_id", sa.Uuid(), nullable=False),
        sa.Column("source_payload_id", sa.Uuid(), nullable=False),
        sa.Column("normalized_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("price_usd > 0", name="ck_canonical_prices_price_positive"),
        sa.ForeignKeyConstraint(
            ["chain_id"],
            ["chains.chain_id"],
            name=op.f("fk_canonical_prices_chain_id_chains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_payload_id"],
            ["staging_payloads.payload_id"],
            name=op.f("fk_canonical_prices_source_payload_id_staging_payloads"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_provider_id"],
            ["providers.provider_id"],
            name=op.f("fk_canonical_prices_source_provider_id_providers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("price_id", name=op.f("pk_canonical_prices")),
        sa.UniqueConstraint("chain_id", "date", name="uq_canonical_prices_chain_date"),
    )
    with op.batch_alter_table("canonical_prices", schema=None) as batch_op:
        batch_op.create_index("idx_canonical_prices_payload", ["source_payload_id"], unique=False)

    op.create_table(
        "commission_run_prices",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("period_id", sa.Uuid(), nullable=False),
        sa.Column("price_day", sa.Date(), nullable=False),
        sa.Column("price_usd", Amount(), nullable=False),
        sa.Column("source_payload_id", sa.Uuid(), nullable=False),
        sa.Column("commission_value_usd", UsdValue(), nullable=False),
        sa.Column("adjustment_value_usd", UsdValue(), nullable=False),
        sa.Column("fixed_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("price_usd > 0", name="ck_commission_run_prices_price_positive"),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["canonical_periods.period_id"],
            name=op.f("fk_commission_run_prices_period_id_canonical_periods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["commission_runs.run_id"],
            name=op.f("fk_commission_run_prices_run_id_commission_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_payload_id"],
            ["staging_payloads.payload_id"],
            name=op.f("fk_commission_run_prices_source_payload_id_staging_payloads"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("run_id", "period_id", name=op.f("pk_commission_run_prices")),
    )


def downgrade():
    op.drop_table("commission_run_prices")
    with op.batch_alter_table("canonical_prices", schema=None) as batch_op:
        batch_op.drop_index("idx_canonical_prices_payload")
    op.drop_table("canonical_prices")
