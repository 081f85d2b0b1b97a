"""Indexes for the insight pages: a run's exclusions by wallet, the history by kind and user.

Revision ID: a7c6b5fd0806
Revises: e5a4f3dbf604
Create Date: 2026-11-25 14:30:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a7c6b5fd0806"
down_revision = "e5a4f3dbf604"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("commission_exclusions", schema=None) as batch_op:
        batch_op.create_index(
            "idx_commission_exclusions_run_wallet", ["run_id", "wallet_address"], unique=False
        )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(
            "idx_audit_log_entity_type_created", ["entity_type", "created_at"], unique=False
        )
        batch_op.create_index("idx_audit_log_user_created", ["user_id", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("idx_audit_log_user_created")
        batch_op.drop_index("idx_audit_log_entity_type_created")
    with op.batch_alter_table("commission_exclusions", schema=None) as batch_op:
        batch_op.drop_index("idx_commission_exclusions_run_wallet")
