"""The staker reward rows of each period in a partition of their own (PostgreSQL).

`canonical_staker_rewards_detail` is partitioned by LIST (period_id): period P's rows live
in `canonical_staker_rewards_p_<P's 32 hex digits>`. An import makes the partitions inside
its own transaction: an import of periods for the periods it adds, an import of staker
rewards for any period still without one, before it writes a row. A default partition
(`canonical_staker_rewards_default`) catches rows written for a period that has none yet
(rows written outside an import); making that period's partition moves them into it.

Partitions are made under a transaction-level advisory lock and checked again once it is
held, so two imports that reach the same new period make it once: the second waits for the
first to commit, then finds it. A partition is built beside the table and attached
(`ATTACH PARTITION` holds a SHARE UPDATE EXCLUSIVE lock on the table, which readers and
writers pass; `CREATE TABLE ... PARTITION OF` would hold an ACCESS EXCLUSIVE one until the
import commits).

Replacing a period's rows empties its partition (`TRUNCATE`) instead of deleting its rows
one by one; the statement triggers of `webapp.reward_sums` sit on the partitioned table and
do not fire for a partition emptied directly, so the period's sums are dropped with it, and
the rows written next add them up again. The triggers of `webapp.reward_revisions` sit on
the table and on every partition (each partition is given them as it is made), so any
statement on a partition, that TRUNCATE included, draws its period's revision again.
SQLite has one plain table and none of this.
"""

import uuid

from sqlalchemy import DDL, event, text

from webapp import reward_revisions

TABLE = "canonical_staker_rewards_detail"
DEFAULT = "canonical_staker_rewards_default"
PREFIX = "canonical_staker_rewards_p_"
#: The advisory lock held while partitions are made ("rewards partitions" in ASCII, cut).
LOCK_KEY = 0x7265776172647370

#: What the default partition is made by, with the table (create_all and the migration).
CREATE_DEFAULT = f"CREATE TABLE IF NOT EXISTS {DEFAULT} PARTITION OF {TABLE} DEFAULT"

#: The partitions of the table with their period (None for the default), largest first.
INSPECT = f"""
SELECT c.relname AS partition,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       c.reltuples::bigint AS estimated_rows,
       pg_total_relation_size(c.oid) AS total_bytes
FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = '{TABLE}'::regclass
ORDER BY total_bytes DESC
"""


def include_name(name, type_, parent_names) -> bool:
    """For Alembic's comparisons: the partitions (and their indexes) are made by the imports,
    not by the schema, so a comparison skips them."""
    if type_ == "table":
        return not (name == DEFAULT or name.startswith(PREFIX))
    return True


def partition_name(period_id) -> str:
    """The name of a period's partition."""
    return PREFIX + uuid.UUID(str(period_id)).hex


def period_of(name: str) -> uuid.UUID | None:
    """The period a partition's name stands for (None for any other name)."""
    if not name.startswith(PREFIX):
        return None
    return uuid.UUID(hex=name[len(PREFIX) :])


def is_partitioned(connection) -> bool:
    """True when the table is partitioned here (PostgreSQL past the partitioning migration)."""
    if connection.dialect.name != "postgresql":
        return False
    return bool(
        connection.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
                "WHERE partrelid = to_regclass(:t))"
            ),
            {"t": TABLE},
        )
    )


def partitioned_periods(connection) -> set[uuid.UUID]:
    """The periods that have a partition."""
    names = connection.scalars(
        text(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            f"WHERE i.inhparent = '{TABLE}'::regclass"
        )
    )
    return {period for period in map(period_of, names) if period is not None}


def ensure_partitions(connection, period_ids=None) -> list[uuid.UUID]:
    """Give each period (every stored period when `period_ids` is None) its partition, in the
    connection's transaction; returns the periods given one now. A no-op off PostgreSQL or on
    a table not partitioned."""
    if not is_partitioned(connection):
        return []
    wanted = _wanted(connection, period_ids)
    if not wanted - partitioned_periods(connection):
        return []
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    # Read again under the lock: another import may have made some meanwhile.
    missing = sorted(wanted - partitioned_periods(connection))
    columns = _columns(connection)
    for period_id in missing:
        _make(connection, period_id, columns)
    return missing


def drop_orphans(connection) -> list[str]:
    """Drop the partitions whose period is gone (a deleted period's rows went with it, its
    partition stays empty); returns their names."""
    if not is_partitioned(connection):
        return []
    stored = set(connection.scalars(text("SELECT period_id FROM canonical_periods")))
    names = sorted(partition_name(p) for p in partitioned_periods(connection) - stored)
    if names:
        connection.execute(text(f"DROP TABLE {', '.join(names)}"))
    return names


def empty_periods(connection, period_ids) -> None:
    """Empty the partitions of these periods (made first if missing) and drop their sums:
    what a replacement does before it writes the periods' new rows."""
    period_ids = sorted({uuid.UUID(str(p)) for p in period_ids})
    if not period_ids:
        return
    ensure_partitions(connection, period_ids)
    connection.execute(
        text("DELETE FROM staker_reward_sums WHERE period_id = ANY(:ids)"), {"ids": period_ids}
    )
    names = ", ".join(partition_name(p) for p in period_ids)
    connection.execute(text(f"TRUNCATE {names}"))


def _wanted(connection, period_ids) -> set[uuid.UUID]:
    if period_ids is None:
        return set(connection.scalars(text("SELECT period_id FROM canonical_periods")))
    return {uuid.UUID(str(p)) for p in period_ids}


def _columns(connection) -> str:
    return connection.scalar(
        text(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
            f"WHERE attrelid = '{TABLE}'::regclass AND attnum > 0 AND NOT attisdropped"
        )
    )


def _make(connection, period_id: uuid.UUID, columns: str) -> None:
    """Build the period's partition beside the table with its revision triggers, move in
    the period's rows the default partition holds (a partition's own statements fire none of
    the table's triggers: the sums stay as they are; the revision is drawn again), and
    attach it."""
    name = partition_name(period_id)
    connection.execute(
        text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    for statement in reward_revisions.trigger_statements(name, period_id):
        connection.execute(text(statement))
    connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE period_id = :p RETURNING {columns}) "
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved"
        ),
        {"p": period_id},
    )
    connection.execute(
        text(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES IN ('{period_id}')")
    )


def attach(table) -> None:
    """Make the default partition, with its revision triggers, whenever
    `metadata.create_all` creates the table on PostgreSQL (a served database gets it from its
    migrations); `reward_revisions.attach` has made their function first."""
    for statement in [CREATE_DEFAULT, *reward_revisions.trigger_statements(DEFAULT)]:
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))
