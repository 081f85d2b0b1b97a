"""The revision of a set of input rows: a value that changes whenever any row of the set
changes (PostgreSQL). Three kinds, each a table of one row per key with a revision drawn at
random (`gen_random_uuid()`, never drawn twice) by statement triggers on the rows' table,
each time a statement writes, changes or removes any row of that key, in that statement's
transaction, whoever runs it:

- `REWARDS`: each period's staker reward rows (`staker_reward_revisions`,
  `StakerRewardRevision`), drawn by the triggers on `canonical_staker_rewards_detail` and on
  each of its partitions (`webapp.reward_revisions` says why both);
- `EVENTS`: each chain's stake events (`stake_event_revisions`, `StakeEventRevision`),
  drawn by the triggers on `canonical_stake_events`;
- `WALLETS`: each partner's wallets (`partner_wallet_revisions`, `PartnerWalletRevision`),
  drawn by the triggers on `partner_wallets`.

The triggers are enabled ALWAYS, so they fire too while the bulk writer skips the
foreign-key triggers (an import's COPY); a replacement's DELETE, rows added, changed or
deleted by hand, a parent deleted with its rows all draw it; a TRUNCATE draws every key's.
The stake events and wallets tables are not partitioned, so their own triggers see every
statement. A key with no row has had no row written since the migration that made its
table.

What is digested from these rows on every page (`commissions.fingerprints`: a partner's
wallets, and its stake events up to a cutoff) is kept under the revisions, so the pages
that check runs for staleness read one row per key instead of every wallet and stake event
of the partner (`fingerprints.revisions_of` reads them). SQLite keeps no revisions (it sums
the rows).
"""

from dataclasses import dataclass

from sqlalchemy import DDL, event


@dataclass(frozen=True)
class RowRevisions:
    """The revisions of `table`'s rows by `key` (a column of it and the primary key of
    `revisions`), kept for the keys of `parent` (its primary key is `key` too). With
    `by_partition` the triggers may also sit on a partition of the table that holds one
    key's rows, that key given as the trigger's argument (`trigger_statements`)."""

    table: str
    revisions: str
    key: str
    key_type: str
    parent: str
    by_partition: bool = False

    @property
    def function(self) -> str:
        return f"{self.revisions}_bump"

    def function_statement(self) -> str:
        own_partition = (
            f"""IF TG_NARGS > 0 THEN
        -- A key's own partition: every row it holds is that key's.
        touched := ARRAY[CAST(TG_ARGV[0] AS {self.key_type})];
    ELSIF"""
            if self.by_partition
            else "IF"
        )
        return f"""
CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched {self.key_type}[];
BEGIN
    {own_partition} TG_OP = 'TRUNCATE' THEN
        -- Every row gone (the table, or a partition holding any key's rows): every key's.
        UPDATE {self.revisions} SET revision = gen_random_uuid();
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        touched := ARRAY(SELECT DISTINCT {self.key} FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT DISTINCT {self.key} FROM old_rows);
    ELSE
        touched := ARRAY(SELECT {self.key} FROM old_rows UNION SELECT {self.key} FROM new_rows);
    END IF;
    -- Only keys still stored: a parent being deleted takes its revision with it. Rows
    -- locked in key order, so two writers never wait for each other in opposite orders.
    INSERT INTO {self.revisions} AS r ({self.key}, revision)
    SELECT p.{self.key}, gen_random_uuid() FROM {self.parent} AS p
    WHERE p.{self.key} = ANY(touched)
    ORDER BY p.{self.key}
    ON CONFLICT ({self.key}) DO UPDATE SET revision = excluded.revision;
    RETURN NULL;
END
$$
"""

    @property
    def triggers(self) -> tuple:
        """(trigger, event, transition tables) on the table."""
        name = self.revisions
        return (
            (f"{name}_insert", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
            (f"{name}_update", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            (f"{name}_delete", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
            (f"{name}_truncate", "TRUNCATE", ""),
        )

    def trigger_statements(self, table: str | None = None, argument: str | None = None) -> list:
        """The triggers on `table` (the table itself by default), each enabled ALWAYS: with
        no `argument` the keys are read from the rows; with one (`by_partition`), `table` is
        the partition holding that key's rows only."""
        table = table or self.table
        statements = []
        for name, action, transition in self.triggers:
            if argument is None:
                tail = f"{transition} FOR EACH STATEMENT EXECUTE FUNCTION {self.function}()"
            else:
                tail = f"FOR EACH STATEMENT EXECUTE FUNCTION {self.function}('{argument}')"
            statements.append(f"CREATE TRIGGER {name} AFTER {action} ON {table} {tail}")
            statements.append(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")
        return statements

    def install_statements(self) -> list[str]:
        """The function and the table's triggers."""
        return [self.function_statement(), *self.trigger_statements()]

    def remove_statements(self, tables=None) -> list[str]:
        """The triggers off `tables` (the table by default), then the function."""
        return [
            f"DROP TRIGGER IF EXISTS {name} ON {table}"
            for table in (tables or (self.table,))
            for name, _, _ in self.triggers
        ] + [f"DROP FUNCTION IF EXISTS {self.function}()"]

    def backfill(self) -> str:
        """A revision for every stored parent, when the triggers are installed."""
        return (
            f"INSERT INTO {self.revisions} ({self.key}, revision) "
            f"SELECT {self.key}, gen_random_uuid() FROM {self.parent}"
        )

    def attach(self, table) -> None:
        """Install the function and the table's triggers whenever `metadata.create_all`
        creates the table on PostgreSQL (a served database gets them from its migration),
        and drop the function with the table (`metadata.drop_all`; partitions and their
        triggers go with the table)."""
        for statement in self.install_statements():
            event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))
        for statement in self.remove_statements():
            event.listen(table, "after_drop", DDL(statement).execute_if(dialect="postgresql"))


EVENTS = RowRevisions(
    "canonical_stake_events", "stake_event_revisions", "chain_id", "text", "chains"
)
WALLETS = RowRevisions(
    "partner_wallets", "partner_wallet_revisions", "partner_id", "uuid", "partners"
)
REWARDS = RowRevisions(
    "canonical_staker_rewards_detail",
    "staker_reward_revisions",
    "period_id",
    "uuid",
    "canonical_periods",
    by_partition=True,
)
