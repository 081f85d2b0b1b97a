"""The sums of the wallet-attribution method, as one set-based PostgreSQL query.

A page that needs only totals (the method comparison) should not pull a million reward rows
into Python to add them up. This query computes, inside PostgreSQL, what `webapp.attribution`
would pay per period and component, and the wallets and revenue it would count, following
the same rules in the same order (DOMAIN steps 4 to 6):

- a wallet earns in a period only when it is active and introduced on or before the
  period's start date;
- a reward row earns only when its wallet was staked with the validator during the period:
  the balance per instant, after all of that instant's events (STAKE and RESTAKE before
  UNSTAKE; UNSTAKE never below zero), was above zero at the period's start or at an event
  inside it;
- its rate is the rule naming the validator, else the rule for any validator, else none;
- each line is base x rate / 10000, rounded once to 18 places, half to even.

The running balance floored at zero is the running sum minus the lowest running sum so far
(when that is below zero). Tests hold this query to the engine's own result on random inputs
(`tests/test_set_based.py`); SQLite has no such need and uses the engine.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import text

from webapp.attribution import AgreementTerms, Period
from webapp.extensions import db

_SUMS = """
WITH scope AS (
    SELECT * FROM unnest(
        CAST(:period_ids AS uuid[]), CAST(:starts AS timestamptz[]),
        CAST(:ends AS timestamptz[]), CAST(:start_dates AS date[])
    ) AS s(period_id, start_time, end_time, start_date)
),
earning AS MATERIALIZED (
    SELECT wallet_address, introduced_date FROM partner_wallets
    WHERE partner_id = :partner_id AND chain_id = :chain_id AND is_active
),
running AS (
    SELECT e.staker_address, e.validator_key, e.event_timestamp AS ts,
           e.event_type = 'UNSTAKE' AS unstake, e.stake_event_id,
           sum(CASE WHEN e.event_type = 'UNSTAKE' THEN -e.stake_amount_native
                    ELSE e.stake_amount_native END) OVER replay AS total
    FROM canonical_stake_events e
    JOIN earning w ON w.wallet_address = e.staker_address
    WHERE e.chain_id = :chain_id AND e.event_timestamp < :last_end
    WINDOW replay AS (
        PARTITION BY e.staker_address, e.validator_key
        ORDER BY e.event_timestamp, e.event_type = 'UNSTAKE', e.stake_event_id
        ROWS UNBOUNDED PRECEDING
    )
),
balances AS (
    SELECT staker_address, validator_key, ts, unstake, stake_event_id,
           total - least(0, min(total) OVER replay) AS balance
    FROM running
    WINDOW replay AS (
        PARTITION BY staker_address, validator_key ORDER BY ts, unstake, stake_event_id
        ROWS UNBOUNDED PRECEDING
    )
),
instants AS (
    SELECT staker_address, validator_key, ts, balance,
           lead(ts) OVER (PARTITION BY staker_address, validator_key ORDER BY ts) AS next_ts
    FROM (
        SELECT DISTINCT ON (staker_address, validator_key, ts) *
        FROM balances
        ORDER BY staker_address, validator_key, ts, unstake DESC, stake_event_id DESC
    ) last_event_of_instant
),
staked AS MATERIALIZED (
    SELECT DISTINCT i.staker_address, i.validator_key, s.period_id
    FROM instants i
    JOIN scope s ON i.ts < s.end_time AND (i.next_ts IS NULL OR i.next_ts > s.start_time)
    JOIN earning w
        ON w.wallet_address = i.staker_address AND w.introduced_date <= s.start_date
    WHERE i.balance > 0
),
paid AS MATERIALIZED (
    SELECT period_id, component, staker_address, base,
           CASE WHEN abs(exact - cut) = 0.0000000000000000005
                     AND mod(cut * 1000000000000000000, 2) = 0
                THEN cut ELSE round(exact, 18) END AS commission
    FROM (
        SELECT period_id, component, staker_address, base, exact, trunc(exact, 18) AS cut
        FROM (
            SELECT r.period_id, CAST(r.revenue_component AS text) AS component,
                   r.staker_address, r.reward_amount_native AS base,
                   r.reward_amount_native * ({rate}) * 0.0001 AS exact
            FROM canonical_staker_rewards_detail r
            JOIN staked k ON k.staker_address = r.staker_address
                AND k.validator_key = r.validator_key AND k.period_id = r.period_id
            WHERE r.chain_id = :chain_id
        ) product
        WHERE exact IS NOT NULL
    ) cut
),
by_component AS MATERIALIZED (
    SELECT period_id, component, count(*) AS lines, sum(base) AS base,
           sum(commission) AS commission
    FROM paid GROUP BY period_id, component
),
wallets_paid AS MATERIALIZED (
    SELECT period_id, staker_address FROM paid GROUP BY period_id, staker_address
),
wallet_counts AS (
    SELECT period_id, count(*) AS wallets FROM wallets_paid GROUP BY period_id
)
SELECT 0, period_id, component, lines, base, commission, NULL FROM by_component
UNION ALL
SELECT 1, c.period_id, NULL, sum(c.lines), sum(c.base), sum(c.commission), min(n.wallets)
FROM by_component c JOIN wallet_counts n ON n.period_id = c.period_id
GROUP BY c.period_id
UNION ALL
SELECT 3, NULL, NULL, sum(lines), sum(base), sum(commission),
       (SELECT count(DISTINCT staker_address) FROM wallets_paid)
FROM by_component
"""


#: For this query only (SET LOCAL): room to sort and hash in memory; no JIT for one query
#: planned once; and hash joins. The planner cannot foresee how many (wallet, validator,
#: period) triples were staked, and would look a million reward rows up one by one or sort
#: them by their text keys.
SETTINGS = ("work_mem = '256MB'", "jit = off", "enable_nestloop = off", "enable_mergejoin = off")


@dataclass
class Sums:
    """Lines, revenue counted (their bases) and commission."""

    line_count: int = 0
    revenue: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    wallet_count: int = 0


@dataclass
class WalletAttributionSums:
    """What wallet attribution pays: per (period id, component), per period id, in all."""

    by_component: dict[tuple[str, str], Sums] = field(default_factory=dict)
    by_period: dict[str, Sums] = field(default_factory=dict)
    total: Sums = field(default_factory=Sums)


def _rate_case(rules) -> tuple[str, dict]:
    """Step 2 as one SQL expression over a reward row `r`: the rules naming a validator are
    tried before the rules for any validator; no rule gives NULL. Values travel as bound
    parameters."""
    named = [rule for rule in rules if rule.validator_key is not None]
    general = [rule for rule in rules if rule.validator_key is None]
    branches, params = [], {}
    for n, rule in enumerate(named + general):
        params[f"rule_component_{n}"] = str(rule.revenue_component)
        params[f"rule_rate_{n}"] = rule.commission_rate_bps
        condition = f"r.revenue_component = CAST(:rule_component_{n} AS revenuecomponent)"
        if rule.validator_key is not None:
            params[f"rule_validator_{n}"] = rule.validator_key
            condition += f" AND r.validator_key = :rule_validator_{n}"
        branches.append(f"WHEN {condition} THEN CAST(:rule_rate_{n} AS integer)")
    if not branches:
        return "CAST(NULL AS integer)", params
    return f"CASE {' '.join(branches)} END", params


def wallet_attribution_sums(
    partner_id, chain_id: str, terms: AgreementTerms, scope: list[Period]
) -> WalletAttributionSums:
    """The wallet-attribution sums of the partner's wallets over `scope` (periods in scope,
    UTC instants), under `terms`' rules; period ids come back as text."""
    sums = WalletAttributionSums()
    if not scope:
        return sums
    rate, rule_params = _rate_case(terms.rules)
    for setting in SETTINGS:
        db.session.execute(text(f"SET LOCAL {setting}"))
    rows = db.session.execute(
        text(_SUMS.replace("{rate}", rate)),
        {
            "period_ids": [str(p.period_id) for p in scope],
            "starts": [p.start_time for p in scope],
            "ends": [p.end_time for p in scope],
            "start_dates": [p.start_date for p in scope],
            "partner_id": partner_id,
            "chain_id": chain_id,
            "last_end": max(p.end_time for p in scope),
            **rule_params,
        },
    )
    for level, period_id, component, count, base, commission, wallets in rows:
        entry = Sums(int(count), base, commission, wallets or 0)
        if level == 0:
            sums.by_component[(str(period_id), component)] = entry
        elif level == 1:
            sums.by_period[str(period_id)] = entry
        else:
            sums.total = entry
    return sums
