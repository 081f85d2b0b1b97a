"""The revision of each period's staker reward rows: a value that changes whenever any of
that period's rows changes (PostgreSQL).

`staker_reward_revisions` (`StakerRewardRevision`) holds one row per period whose reward
rows were ever written, with a revision drawn at random (`gen_random_uuid()`, never drawn
twice) by statement triggers each time a statement writes, changes or removes any of the
period's rows, in that statement's transaction, whoever runs it: an import's COPY (the
triggers are enabled ALWAYS, so they fire too while the bulk writer skips the foreign-key
triggers), a replacement (its partitions emptied by TRUNCATE), rows added, changed or
deleted by hand, a period deleted with its rows, the table emptied. A period with no row
here has had no reward row since the migration that made the table.

A statement that names the table fires the triggers on the table only, never those on its
partitions; one that names a partition fires that partition's only. So the triggers sit on
the table and on each partition (`reward_partitions` puts them on each partition it makes):
on the table and on the default partition they read the periods of the rows the statement
touched from its transition tables (a TRUNCATE there changes every period's revision); on a
period's partition they change that period's, named by the trigger's argument.

The set-based figures kept per period (`commissions.set_based.period_digests`) are kept by
the revision instead of a digest of the period's rows, so checking thirty kept periods reads
thirty rows of this table, not every reward row. SQLite keeps no revisions (its previews
use the engine, which keeps nothing per period).
"""

import uuid

from sqlalchemy import DDL, event

TABLE = "canonical_staker_rewards_detail"
FUNCTION_NAME = "staker_reward_revisions_bump"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION_NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched uuid[];
BEGIN
    IF TG_NARGS > 0 THEN
        -- A period's own partition: every row it holds is that period's.
        touched := ARRAY[CAST(TG_ARGV[0] AS uuid)];
    ELSIF TG_OP = 'TRUNCATE' THEN
        -- The table, or its default partition, emptied: every period changes.
        UPDATE staker_reward_revisions SET revision = gen_random_uuid();
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        touched := ARRAY(SELECT DISTINCT period_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT DISTINCT period_id FROM old_rows);
    ELSE
        touched := ARRAY(SELECT period_id FROM old_rows UNION SELECT period_id FROM new_rows);
    END IF;
    -- Only periods still stored: a period being deleted takes its revision with it. Rows
    -- locked in key order, so two writers never wait for each other in opposite orders.
    INSERT INTO staker_reward_revisions AS r (period_id, revision)
    SELECT p.period_id, gen_random_uuid() FROM canonical_periods AS p
    WHERE p.period_id = ANY(touched)
    ORDER BY p.period_id
    ON CONFLICT (period_id) DO UPDATE SET revision = excluded.revision;
    RETURN NULL;
END
$$
"""

#: (trigger, event, transition tables) on the table and its default partition.
TRIGGERS = (
    ("staker_reward_revisions_insert", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
    (
        "staker_reward_revisions_update",
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    ("staker_reward_revisions_delete", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
    ("staker_reward_revisions_truncate", "TRUNCATE", ""),
)


def trigger_statements(table: str, period_id=None) -> list[str]:
    """The triggers on `table`, each enabled ALWAYS: the table itself or its default
    partition (no `period_id`: the periods are read from the rows), or a period's own
    partition."""
    statements = []
    for name, action, transition in TRIGGERS:
        if period_id is None:
            tail = f"{transition} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION_NAME}()"
        else:
            argument = uuid.UUID(str(period_id))
            tail = f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION_NAME}('{argument}')"
        statements.append(f"CREATE TRIGGER {name} AFTER {action} ON {table} {tail}")
        statements.append(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")
    return statements


def install_statements() -> list[str]:
    """The function and the table's triggers."""
    return [FUNCTION, *trigger_statements(TABLE)]


def remove_statements(tables=(TABLE,)) -> list[str]:
    """The triggers off `tables`, then the function."""
    return [
        f"DROP TRIGGER IF EXISTS {name} ON {table}" for table in tables for name, _, _ in TRIGGERS
    ] + [f"DROP FUNCTION IF EXISTS {FUNCTION_NAME}()"]


#: A revision for every stored period, when the triggers are installed.
BACKFILL = """
INSERT INTO staker_reward_revisions (period_id, revision)
SELECT period_id, gen_random_uuid() FROM canonical_periods
"""


def attach(table) -> None:
    """Install the function and the table's triggers whenever `metadata.create_all` creates
    the rewards table on PostgreSQL (a served database gets them from its migration), and
    drop the function with the table (`metadata.drop_all`; the partitions and their
    triggers go with the table)."""
    for statement in install_statements():
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))
    for statement in remove_statements():
        event.listen(table, "after_drop", DDL(statement).execute_if(dialect="postgresql"))
