"""The revision of each chain's stake events: a value that changes whenever any of the chain's
stake events changes (PostgreSQL).

`stake_event_revisions` (`StakeEventRevision`) holds one row per chain whose stake events
were ever written, with a revision drawn at random (`gen_random_uuid()`, never drawn twice)
by statement triggers each time a statement writes, changes or removes any of the chain's
events, in that statement's transaction, whoever runs it: an import's COPY (the triggers are
enabled ALWAYS, so they fire too while the bulk writer skips the foreign-key triggers), a
replacement's DELETE, rows added, changed or deleted by hand, a period or a chain deleted
with its events, the table emptied (TRUNCATE draws every chain's). The stake events table is
not partitioned, so its own triggers see every statement. A chain with no row here has had no
stake event written since the migration that made the table.

The digest of a partner's stake events up to a cutoff (`commissions.fingerprints.
partner_events`, the events part of every period's inputs digest) is kept under the chain's
revision, so the pages that check runs for staleness read one row of this table instead of
every stake event of the partner. SQLite keeps no revisions (it sums the events).
"""

from sqlalchemy import DDL, event, text

TABLE = "canonical_stake_events"
FUNCTION_NAME = "stake_event_revisions_bump"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION_NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE stake_event_revisions SET revision = gen_random_uuid();
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        touched := ARRAY(SELECT DISTINCT chain_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT DISTINCT chain_id FROM old_rows);
    ELSE
        touched := ARRAY(SELECT chain_id FROM old_rows UNION SELECT chain_id FROM new_rows);
    END IF;
    -- Only chains still stored: a chain being deleted takes its revision with it. Rows
    -- locked in key order, so two writers never wait for each other in opposite orders.
    INSERT INTO stake_event_revisions AS r (chain_id, revision)
    SELECT c.chain_id, gen_random_uuid() FROM chains AS c
    WHERE c.chain_id = ANY(touched)
    ORDER BY c.chain_id
    ON CONFLICT (chain_id) DO UPDATE SET revision = excluded.revision;
    RETURN NULL;
END
$$
"""

#: (trigger, event, transition tables) on the stake events table.
TRIGGERS = (
    ("stake_event_revisions_insert", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
    (
        "stake_event_revisions_update",
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    ("stake_event_revisions_delete", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
    ("stake_event_revisions_truncate", "TRUNCATE", ""),
)


def install_statements() -> list[str]:
    """The function and the table's triggers, each enabled ALWAYS."""
    statements = [FUNCTION]
    for name, action, transition in TRIGGERS:
        statements.append(
            f"CREATE TRIGGER {name} AFTER {action} ON {TABLE} {transition} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION_NAME}()"
        )
        statements.append(f"ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER {name}")
    return statements


def remove_statements() -> list[str]:
    """The triggers off the table, then the function."""
    return [f"DROP TRIGGER IF EXISTS {name} ON {TABLE}" for name, _, _ in TRIGGERS] + [
        f"DROP FUNCTION IF EXISTS {FUNCTION_NAME}()"
    ]


#: A revision for every stored chain, when the triggers are installed.
BACKFILL = """
INSERT INTO stake_event_revisions (chain_id, revision)
SELECT chain_id, gen_random_uuid() FROM chains
"""


def attach(table) -> None:
    """Install the function and the table's triggers whenever `metadata.create_all` creates
    the stake events table on PostgreSQL (a served database gets them from its migration),
    and drop the function with the table (`metadata.drop_all`)."""
    for statement in install_statements():
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))
    for statement in remove_statements():
        event.listen(table, "after_drop", DDL(statement).execute_if(dialect="postgresql"))


def read(reader, chain_ids) -> dict[str, tuple[str, bool]]:
    """Per chain of `chain_ids` that has a revision: the revision (as text) and whether this
    transaction drew it (it wrote the chain's events itself, and may write them again). One
    statement, through `reader` (a connection or session)."""
    return {
        chain_id: (revision, drawn_here)
        for chain_id, revision, drawn_here in reader.execute(
            text(
                "SELECT chain_id, CAST(revision AS text), "
                "CAST(xmin AS text) = CAST(txid_current_if_assigned() % 4294967296 AS text) "
                "FROM stake_event_revisions WHERE chain_id = ANY(CAST(:ids AS text[]))"
            ),
            {"ids": sorted(set(chain_ids))},
        )
    }
