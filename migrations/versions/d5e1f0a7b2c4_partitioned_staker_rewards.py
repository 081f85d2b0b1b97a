"""Staker rewards partitioned by period on PostgreSQL: one partition per stored period and a
default one; the rows move over exactly, the primary key holds the period beside the row's
id, and the constraints, indexes, sums triggers and grants are made again on the new table.
SQLite keeps its plain table (nothing to do there).

Revision ID: d5e1f0a7b2c4
Revises: a1f2e3d4c5b6
Create Date: 2026-12-03 09:00:00.000000

"""

import uuid

from alembic import op
from sqlalchemy import text

from webapp import reward_sums

# revision identifiers, used by Alembic.
revision = "d5e1f0a7b2c4"
down_revision = "a1f2e3d4c5b6"
branch_labels = None
depends_on = None

TABLE = "canonical_staker_rewards_detail"
OLD = f"{TABLE}_old"
DEFAULT = "canonical_staker_rewards_default"
PREFIX = "canonical_staker_rewards_p_"
PRIMARY_KEY = "pk_canonical_staker_rewards_detail"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    bind = op.get_bind()
    kept = _rename_and_read(bind)
    op.execute(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS) PARTITION BY LIST (period_id)"
    )
    op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")
    for (period_id,) in bind.execute(text("SELECT period_id FROM canonical_periods")):
        name = PREFIX + uuid.UUID(str(period_id)).hex
        op.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES IN ('{period_id}')")
    _move_and_rebuild(bind, kept, "PRIMARY KEY (staker_reward_id, period_id)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    bind = op.get_bind()
    kept = _rename_and_read(bind)
    op.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS)")
    _move_and_rebuild(bind, kept, "PRIMARY KEY (staker_reward_id)")


def _rename_and_read(bind) -> dict:
    """Set the table aside under another name, and read what must be made again on the new
    one: its constraints, its other indexes and its grants."""
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    constraints = bind.execute(
        text(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f', 'c') "
            "ORDER BY contype DESC, conname"
        ),
        {"t": OLD},
    ).all()
    names = {name for name, _, _ in constraints}
    indexes = [
        definition
        for name, definition in bind.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"), {"t": OLD}
        )
        if name not in names
    ]
    grants = bind.execute(
        text(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, "
            "a.privilege_type FROM pg_class AS c, aclexplode(c.relacl) AS a "
            "WHERE c.oid = CAST(:t AS regclass) AND a.grantee <> c.relowner"
        ),
        {"t": OLD},
    ).all()
    columns = bind.scalar(
        text(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
            "WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"
        ),
        {"t": OLD},
    )
    return {"constraints": constraints, "indexes": indexes, "grants": grants, "columns": columns}


def _move_and_rebuild(bind, kept: dict, primary_key: str) -> None:
    """Copy every row into the new table, drop the old one (its triggers go with it; the sums
    they kept stay true, as the rows are the same), then make its keys, checks, indexes,
    triggers and grants again on the new table."""
    columns = kept["columns"]
    op.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {OLD}")
    op.execute(f"DROP TABLE {OLD}")
    for name, kind, definition in kept["constraints"]:
        if kind == "p":
            definition = primary_key
        op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
    for definition in kept["indexes"]:
        # A partitioned table's index reads "ON ONLY": the new table's indexes cover it all.
        for on in (f" ON ONLY public.{OLD} ", f" ON public.{OLD} "):
            definition = definition.replace(on, f" ON public.{TABLE} ")
        op.execute(definition)
    for statement in reward_sums.install_statements():
        op.execute(statement)
    for grantee, privilege in kept["grants"]:
        op.execute(f"GRANT {privilege} ON {TABLE} TO {grantee}")
