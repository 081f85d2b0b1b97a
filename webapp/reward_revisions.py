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

The function and its triggers are `row_revisions.REWARDS`, the same kind of revision as the
stake events' and the wallets', with one more case: a trigger on a period's own partition.
"""

import uuid

from webapp.row_revisions import REWARDS

TABLE = REWARDS.table
FUNCTION_NAME = REWARDS.function
FUNCTION = REWARDS.function_statement()

#: (trigger, event, transition tables) on the table and its default partition.
TRIGGERS = REWARDS.triggers

#: A revision for every stored period, when the triggers are installed.
BACKFILL = REWARDS.backfill()

#: Install the function and the table's triggers whenever `metadata.create_all` creates the
#: rewards table on PostgreSQL (a served database gets them from its migration), and drop
#: the function with the table.
attach = REWARDS.attach
install_statements = REWARDS.install_statements


def trigger_statements(table: str, period_id=None) -> list[str]:
    """The triggers on `table`, each enabled ALWAYS: the table itself or its default
    partition (no `period_id`: the periods are read from the rows), or a period's own
    partition."""
    argument = None if period_id is None else str(uuid.UUID(str(period_id)))
    return REWARDS.trigger_statements(table, argument)


def remove_statements(tables=(TABLE,)) -> list[str]:
    """The triggers off `tables`, then the function."""
    return REWARDS.remove_statements(tables)
