"""The staker rewards of each period and component, added up as they are written.

On PostgreSQL, statement triggers on `canonical_staker_rewards_detail` keep
`staker_reward_sums` (`StakerRewardSum`) in step with its rows in the same transaction,
whoever writes them: an import's COPY (enabled ALWAYS, so they fire too while the bulk
writer skips the foreign-key triggers), a replacement's DELETE, an UPDATE, a period deleted
with its rows, a TRUNCATE. Each statement's rows arrive as a transition table and are added
up once. The data imports page reads these sums instead of every reward row. SQLite keeps
no sums: its pages add the rows up when asked.
"""

from sqlalchemy import DDL, event

FUNCTION = """
CREATE OR REPLACE FUNCTION staker_reward_sums_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM staker_reward_sums;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        -- The old rows added up once; the sums rows they change locked in key order, as the
        -- upsert below takes them: two writers never wait for each other in opposite orders.
        WITH o AS (
            SELECT period_id, revenue_component, count(*) AS row_count,
                   sum(reward_amount_native) AS amount_native
            FROM old_rows GROUP BY period_id, revenue_component
        ),
        locked AS (
            SELECT s.period_id, s.revenue_component
            FROM staker_reward_sums AS s JOIN o USING (period_id, revenue_component)
            ORDER BY s.period_id, s.revenue_component
            FOR UPDATE OF s
        )
        UPDATE staker_reward_sums AS s
        SET row_count = s.row_count - o.row_count,
            amount_native = s.amount_native - o.amount_native
        FROM o JOIN locked USING (period_id, revenue_component)
        WHERE s.period_id = o.period_id AND s.revenue_component = o.revenue_component;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO staker_reward_sums AS s
            (period_id, revenue_component, chain_id, row_count, amount_native)
        SELECT period_id, revenue_component, min(chain_id), count(*), sum(reward_amount_native)
        FROM new_rows GROUP BY period_id, revenue_component
        ORDER BY period_id, revenue_component
        ON CONFLICT (period_id, revenue_component) DO UPDATE
        SET row_count = s.row_count + excluded.row_count,
            amount_native = s.amount_native + excluded.amount_native;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM staker_reward_sums WHERE row_count = 0;
    END IF;
    RETURN NULL;
END
$$
"""

#: (trigger, event, transition tables) on canonical_staker_rewards_detail.
TRIGGERS = (
    ("staker_reward_sums_insert", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
    (
        "staker_reward_sums_update",
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    ("staker_reward_sums_delete", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
    ("staker_reward_sums_truncate", "TRUNCATE", ""),
)

TABLE = "canonical_staker_rewards_detail"


def install_statements() -> list[str]:
    """The function and the triggers, each enabled ALWAYS."""
    statements = [FUNCTION]
    for name, action, transition in TRIGGERS:
        statements.append(
            f"CREATE TRIGGER {name} AFTER {action} ON {TABLE} {transition} "
            "FOR EACH STATEMENT EXECUTE FUNCTION staker_reward_sums_keep()"
        )
        statements.append(f"ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER {name}")
    return statements


def remove_statements() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {name} ON {TABLE}" for name, _, _ in TRIGGERS] + [
        "DROP FUNCTION IF EXISTS staker_reward_sums_keep()"
    ]


#: The sums of the rows stored when the triggers were installed.
BACKFILL = """
INSERT INTO staker_reward_sums (period_id, revenue_component, chain_id, row_count, amount_native)
SELECT period_id, revenue_component, min(chain_id), count(*), sum(reward_amount_native)
FROM canonical_staker_rewards_detail GROUP BY period_id, revenue_component
"""


def attach(table) -> None:
    """Install the triggers whenever `metadata.create_all` creates the rewards table on
    PostgreSQL (the tests' databases, the benches'; a served database gets them from its
    migration), and drop the function with the table (`metadata.drop_all`)."""
    for statement in install_statements():
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))
    for statement in remove_statements():
        event.listen(table, "after_drop", DDL(statement).execute_if(dialect="postgresql"))
