"""A wallet-attribution commit's lines and exclusions written inside PostgreSQL, by one
set-based statement per write (`INSERT ... SELECT`), in the commit's transaction.

The statement starts from the very CTEs the preview's summary sums with
(`set_based._SUMMARY`: the periods in scope, the staked spans of each (wallet, validator) as
one multirange, the rule lookup of `set_based._rate_case`), so both follow DOMAIN steps 4 to 6
the same way, and grades each reward row at line grain:

- a wallet inactive, or introduced after the period's start date, earns nothing in the
  period: one exclusion per wallet and period (with or without rows), holding back its rows;
- a row whose wallet was not staked with the validator during the period, then a row no rule
  gives a rate, is held back; such rows are grouped per (period, wallet, validator, reason)
  as the engine's commit stores them (`run_rows.grouped_exclusions`), naming the components
  they hold back as `vocab.joined_components` does (sorted, joined by "+");
- every other row is a line: base x rate / 10000 rounded to 18 places, half to even (the
  product is exact in NUMERIC; a tie is one whose dropped part is exactly 5e-19, and then
  the even neighbour is kept). A base of at most 14 places gives a product of at most 18
  (the rate is a whole number of bps), which needs no rounding: most rows take that short
  way, and only the others are tested for a tie.

The graded rows are materialized once; the lines, the exclusions and each period's figures
(the run's totals, the pair's `sums` as `pair_sums` writes them, and its lines digest) all
come from them.

The lines digest of a period written here is `SQL_DIGEST_PREFIX` and a SHA-256 of counts,
amounts and two order-free sums of 64-bit hashes of the lines and of the grouped exclusions
(each seeded apart): equal for an equal result, whatever order the rows come in. It is not
the engine's digest (`run_rows.lines_digest`), and needs not be: a pair is compared only with what
the same database's commits stored, and on PostgreSQL every wallet-attribution commit comes
here. A pair stored before by the engine shows a different digest once, and is rewritten.

Each period's figures are kept (`set_based.keep_periods`, kind "lines") by the digest of what
that period depends on (`set_based.period_digests`): a commit that must measure pairs whose
run-level digests moved (a stake event in a new period moves them all) reads back those
whose own inputs did not, and computes the others alone.

SQLite, and the total-revenue method, keep the engine (`webapp.attribution`), which stays
the reference: `tests/test_set_based_commit.py` holds these rows to it line by line.
"""

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import text

from webapp.attribution import (
    REASON_INTRODUCED_AFTER,
    REASON_NO_RULE,
    REASON_NOT_STAKED,
    REASON_WALLET_INACTIVE,
    Period,
)
from webapp.commissions import set_based
from webapp.commissions.results import summed_by_database
from webapp.commissions.terms import period_key, terms_of
from webapp.extensions import db
from webapp.models import CommissionRun
from webapp.money import MONEY, ZERO
from webapp.storage import RowIds
from webapp.storage.bulk import _may_skip_row_triggers
from webapp.vocab import LineKind

#: What a lines digest written here starts with (a digest of the engine's is bare hex).
SQL_DIGEST_PREFIX = "sql1:"

#: The preview summary's CTEs up to its grading of reward rows: the periods in scope
#: (`scope`), and the staked spans per (wallet, validator) (`running`, `instants`,
#: `staked`). Taken from its text, so that the two never drift apart.
_MARK = "graded AS ("
if _MARK not in set_based._SUMMARY:  # pragma: no cover - a guard for whoever edits _SUMMARY
    raise ImportError("set_based._SUMMARY no longer grades rows in a CTE named graded")
_SHARED_CTES = set_based._SUMMARY[: set_based._SUMMARY.index(_MARK)]

#: Half to even at 18 places of x >= 0 (amounts are never negative): round() goes half away
#: from zero, so a tie above an even unit keeps the truncated value instead. Only asked of
#: a base of more than 14 places (see `_COMMISSION`).
_HALF_EVEN = """CASE WHEN {x} - trunc({x}, 18) = 0.0000000000000000005
                 AND mod(trunc({x}, 18) * 1000000000000000000, 2) = 0
            THEN trunc({x}, 18) ELSE round({x}, 18) END"""


#: A line's commission: `exact` (base x rate / 10000) at 18 places. A base of at most 14
#: places (trunc leaves it whole) makes `exact` at most 18 places long, so round() only sets
#: its scale; any other is rounded half to even.
_COMMISSION = """CASE WHEN reason IS NOT NULL THEN NULL
                WHEN trunc(base, 14) = base THEN round(exact, 18)
                ELSE {half_even} END""".format(half_even=_HALF_EVEN.format(x="exact"))


def _chain(seed: str, *parts: str) -> str:
    """A 64-bit hash of several values, each hashed with the hash so far as its seed."""
    digest = seed
    for part in parts:
        digest = part.format(seed=digest)
    return digest


def _line_hash(seed: str) -> str:
    return _chain(
        seed,
        "hashtextextended(validator_key, {seed})",
        "hashenumextended(revenue_component, {seed})",
        "hashtextextended(wallet_address, {seed})",
        "hash_numeric_extended(base, {seed})",
        "hashint4extended(rate, {seed})",
        "hash_numeric_extended(commission, {seed})",
    )


def _held_hash(seed: str) -> str:
    return _chain(
        seed,
        "hashtextextended(coalesce(wallet_address, ''), {seed})",
        "hashtextextended(coalesce(validator_key, ''), {seed})",
        "hashtextextended(coalesce(revenue_component, ''), {seed})",
        "hashtextextended(reason, {seed})",
        "hashint8extended(held_rows, {seed})",
        "hash_numeric_extended(amount, {seed})",
    )


#: `wallets` is inlined (NOT MATERIALIZED): as a CTE it would hide the table's statistics
#: from the planner, which then hashed the partner's reward rows and probed them with the
#: wallets; that hash outgrows memory at a few million rows (9 M rows: about 1.5 GB against
#: 1 GB of hash memory) and spills. Inlined, the planner hashes the wallets (thousands of
#: rows) and streams the reward rows past them.
_GRADED = """
wallets AS NOT MATERIALIZED (
    SELECT wallet_address, is_active, introduced_date FROM partner_wallets
    WHERE partner_id = :partner_id AND chain_id = :chain_id
),
rated AS (
    SELECT period_id, validator_key, revenue_component, staker_address,
           reward_amount_native AS base, {rate} AS rate
    FROM canonical_staker_rewards_detail
    WHERE chain_id = :chain_id AND period_id = ANY(CAST(:period_ids AS uuid[]))
),
reasoned AS (
    SELECT r.period_id, r.validator_key, r.revenue_component,
           r.staker_address AS wallet_address, r.base, r.rate,
           CASE WHEN NOT w.is_active THEN :inactive
                WHEN w.introduced_date > s.start_date THEN :late
                WHEN k.spans IS NULL OR NOT k.spans && s.span THEN :unstaked
                WHEN r.rate IS NULL THEN :no_rule
           END AS reason,
           r.base * r.rate * 0.0001 AS exact
    FROM rated r
    JOIN scope s ON s.period_id = r.period_id
    JOIN wallets w ON w.wallet_address = r.staker_address
    LEFT JOIN staked k ON k.staker_address = r.staker_address
        AND k.validator_key = r.validator_key
),
graded AS MATERIALIZED (
    SELECT period_id, validator_key, revenue_component, wallet_address, base, rate, reason,
           {commission} AS commission
    FROM reasoned
),
held AS MATERIALIZED (
    SELECT period_id, wallet_address, validator_key, reason,
           count(*) AS held_rows, sum(base) AS amount,
           string_agg(DISTINCT CAST(revenue_component AS text), '+'
                      ORDER BY CAST(revenue_component AS text)) AS revenue_component
    FROM graded WHERE reason IN (:unstaked, :no_rule)
    GROUP BY period_id, wallet_address, validator_key, reason
    UNION ALL
    SELECT s.period_id, w.wallet_address, NULL,
           CASE WHEN NOT w.is_active THEN :inactive ELSE :late END,
           1, coalesce(g.amount, 0), NULL
    FROM scope s
    JOIN wallets w ON NOT w.is_active OR w.introduced_date > s.start_date
    LEFT JOIN (
        SELECT period_id, wallet_address, sum(base) AS amount FROM graded
        WHERE reason IN (:inactive, :late) GROUP BY period_id, wallet_address
    ) g ON g.period_id = s.period_id AND g.wallet_address = w.wallet_address
)"""

#: The writes, as data-modifying CTEs: lines in the order of their unique key (period,
#: wallet, validator, component: so the index fills left to right) with ascending ids,
#: then the grouped exclusions. `{key_collation}` is the order of the key's text columns
#: (see `_key_collation`).
_WRITES = """,
written_lines AS (
    INSERT INTO partner_commission_lines (
        line_id, run_id, agreement_id, partner_id, period_id, validator_key,
        revenue_component, wallet_address, base_amount_native, commission_rate_bps,
        commission_amount_native, created_at, line_kind)
    SELECT CAST(:line_ids || lpad(to_hex(row_number() OVER w - 1), 10, '0') AS uuid),
           :run_id, :agreement_id, :partner_id, period_id, validator_key, revenue_component,
           wallet_address, base, rate, commission, :created_at, :line_kind
    FROM graded
    WHERE reason IS NULL AND period_id = ANY(CAST(:write_ids AS uuid[]))
    WINDOW w AS (ORDER BY period_id, wallet_address{key_collation},
                          validator_key{key_collation}, revenue_component)
    ORDER BY period_id, wallet_address{key_collation}, validator_key{key_collation},
             revenue_component
),
written_exclusions AS (
    INSERT INTO commission_exclusions (
        exclusion_id, run_id, agreement_id, period_id, wallet_address, validator_key,
        revenue_component, reason, exclusion_count, held_back_amount_native)
    SELECT CAST(:exclusion_ids || lpad(to_hex(row_number() OVER w - 1), 10, '0') AS uuid),
           :run_id, :agreement_id, period_id, wallet_address, validator_key,
           revenue_component, reason, held_rows, amount
    FROM held
    WHERE period_id = ANY(CAST(:write_ids AS uuid[]))
    WINDOW w AS (ORDER BY period_id, wallet_address, validator_key NULLS FIRST, reason)
)"""

_FIGURES = """
SELECT 'lines', period_id, validator_key, CAST(revenue_component AS text), NULL,
       count(*), sum(base), sum(commission), sum({line_hash_a}), sum({line_hash_b})
FROM graded WHERE reason IS NULL
GROUP BY period_id, validator_key, revenue_component
UNION ALL
SELECT 'held', period_id, NULL, NULL, reason,
       count(*), sum(held_rows), sum(amount), sum({held_hash_a}), sum({held_hash_b})
FROM held
GROUP BY period_id, reason"""

#: For this statement only (the values before it are put back after it): room to sort and
#: hash in memory, no JIT, hash joins and aggregates rather than row-by-row lookups.
SETTINGS = {
    "work_mem": "512MB",
    "jit": "off",
    "enable_nestloop": "off",
    "enable_mergejoin": "off",
}


def applies(agreement) -> bool:
    """True when a commit of `agreement` writes its lines here: where the database sums its
    results (`results.summed_by_database`: wallet attribution on PostgreSQL)."""
    return summed_by_database(bool(agreement.wallet_attribution_enabled))


@dataclass
class PeriodFigures:
    """One (agreement, period)'s result as written (or as it would be): its totals, its
    `sums` (`pair_sums`' JSON) and its lines digest."""

    line_count: int = 0
    base: Decimal = ZERO
    commission: Decimal = ZERO
    held_back: Decimal = ZERO
    #: (validator, component) -> [lines, base, commission]
    slices: dict = field(default_factory=dict)
    #: reason -> [reward rows held back, amount]
    held: dict = field(default_factory=dict)
    _digest_parts: list = field(default_factory=lambda: [0, 0, 0, 0, 0, 0])
    #: True when read back from kept figures rather than computed now.
    kept: bool = field(default=False, compare=False)

    def to_json(self) -> dict:
        """The figures, JSON-ready (amounts as exact decimal text)."""
        return {
            "slices": [
                [validator, component, count, str(base), str(commission)]
                for (validator, component), (count, base, commission) in self.slices.items()
            ],
            "held": [[reason, count, str(amount)] for reason, (count, amount) in self.held.items()],
            "parts": [str(part) for part in self._digest_parts],
        }

    @classmethod
    def from_json(cls, figures: dict) -> "PeriodFigures":
        """Figures kept by `to_json`."""
        entry = cls(kept=True)
        add = MONEY.add
        for validator, component, count, base, commission in figures["slices"]:
            base, commission = Decimal(base), Decimal(commission)
            entry.slices[(validator, component)] = [count, base, commission]
            entry.line_count += count
            entry.base = add(entry.base, base)
            entry.commission = add(entry.commission, commission)
        for reason, count, amount in figures["held"]:
            amount = Decimal(amount)
            entry.held[reason] = [count, amount]
            entry.held_back = add(entry.held_back, amount)
        entry._digest_parts = [int(part) for part in figures["parts"]]
        return entry

    @property
    def sums(self) -> str:
        """The pair's sums as `pair_sums.dump` writes them."""
        return json.dumps(
            {
                "lines": [
                    [validator, component, count, str(base), str(commission)]
                    for (validator, component), (count, base, commission) in sorted(
                        self.slices.items()
                    )
                ],
                "held": [
                    [reason, count, str(amount)]
                    for reason, (count, amount) in sorted(self.held.items())
                ],
            }
        )

    @property
    def digest(self) -> str:
        """The lines digest (see the module's notes), 64 characters."""
        body = json.dumps(
            [
                self._digest_parts,
                str(self.base),
                str(self.commission),
                str(self.held_back),
            ]
        )
        return SQL_DIGEST_PREFIX + hashlib.sha256(body.encode()).hexdigest()[: 64 - 5]


@contextmanager
def _settings(connection, values: dict[str, str]):
    """The settings for the statements inside, then those of before (local to the
    transaction either way: SET LOCAL)."""
    names = list(values)
    reads = ", ".join(f"current_setting(:name_{n})" for n in range(len(names)))
    before = connection.execute(
        text(f"SELECT {reads}"), {f"name_{n}": name for n, name in enumerate(names)}
    ).one()
    set_based._set_config(connection, values)
    yield
    # After an error the transaction is rolled back, and the settings with it.
    set_based._set_config(connection, dict(zip(names, before, strict=True)))


#: Collations whose order of text is the order of its bytes (glibc's C.UTF-8 compares code
#: points, which UTF-8 keeps in byte order).
_BYTE_ORDER_COLLATIONS = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8"})


def _key_collation(connection) -> str:
    """` COLLATE "C"` when the database's own collation orders text as its bytes, else "".

    Sorted by "C", the commit's lines are compared byte for byte instead of through the
    locale's strcoll (a third of the sort's time at a million lines), and still come in
    the index's order. Under any other collation the lines are sorted by it, so that the
    index still fills left to right."""
    collation, provider = connection.execute(
        text(
            "SELECT datcollate, to_jsonb(d) ->> 'datlocprovider' FROM pg_database d"
            " WHERE datname = current_database()"
        )
    ).one()
    byte_order = collation in _BYTE_ORDER_COLLATIONS and provider in (None, "c")
    return ' COLLATE "C"' if byte_order else ""


def _new_id_prefix() -> str:
    """The 22 hex digits every id of one write starts with; the last 10 count rows (as
    `RowIds` hands ids out)."""
    return f"{RowIds().base:032x}"[:22]


def _statement(
    agreement, periods: list[Period], run, write, key_collation: str = ""
) -> tuple[str, dict]:
    """The statement of `period_figures`, and its parameters; `key_collation` as
    `_key_collation` gives it."""
    terms = terms_of(agreement)
    rate, rule_params = set_based._rate_case(terms.rules)
    hashes = {
        "line_hash_a": _line_hash("0"),
        "line_hash_b": _line_hash("7919"),
        "held_hash_a": _held_hash("0"),
        "held_hash_b": _held_hash("7919"),
    }
    write_ids = [str(period_id) for period_id in write]
    statement = (
        _SHARED_CTES
        + _GRADED.replace("{rate}", rate).replace("{commission}", _COMMISSION)
        + (_WRITES.replace("{key_collation}", key_collation) if write_ids else "")
        + _FIGURES.format(**hashes)
    )
    params = {
        "period_ids": [str(p.period_id) for p in periods],
        "starts": [p.start_time for p in periods],
        "ends": [p.end_time for p in periods],
        "start_dates": [p.start_date for p in periods],
        "partner_id": agreement.partner_id,
        "chain_id": agreement.chain_id,
        "last_end": max(p.end_time for p in periods),
        "last_start_date": max(p.start_date for p in periods),
        "inactive": REASON_WALLET_INACTIVE,
        "late": REASON_INTRODUCED_AFTER,
        "unstaked": REASON_NOT_STAKED,
        "no_rule": REASON_NO_RULE,
        **rule_params,
    }
    if write_ids:
        params.update(
            write_ids=write_ids,
            run_id=run.run_id,
            agreement_id=run.agreement_id,
            partner_id=run.partner_id,
            created_at=run.created_at,
            line_kind=LineKind.COMMISSION.value,
            line_ids=_new_id_prefix(),
            exclusion_ids=_new_id_prefix(),
        )
    return statement, params


def period_figures(
    agreement, periods: list[Period], run: CommissionRun | None = None, write=()
) -> dict[str, PeriodFigures]:
    """Each period's figures (by period key) under `agreement`'s terms; the lines and
    exclusions of the periods in `write` (period ids) are inserted as `run`'s rows on the
    way, in the session's transaction. Without `write`, a period whose inputs are as they
    were when its figures were kept is read back, and only the others are computed.

    The caller has removed those periods' earlier rows and holds their parents (the run,
    the agreement, the partner and the periods), as for any bulk write."""
    if not periods:
        return {}
    connection = db.session.connection()
    terms = terms_of(agreement)
    partner_id, chain_id = agreement.partner_id, agreement.chain_id
    digests = set_based.period_digests(connection, partner_id, chain_id, terms, periods)
    kept = {} if write else set_based.kept_figures(connection, set_based.KIND_LINES, digests)
    figures = {key: PeriodFigures.from_json(values) for key, values in kept.items()}
    missing = [p for p in periods if period_key(p.period_id) not in kept]
    if missing:
        computed = _computed(agreement, missing, run, write)
        figures.update(computed)
        # Each statement of the commit reads its own snapshot: figures are kept only under
        # a digest that did not move while they were computed.
        after = set_based.period_digests(connection, partner_id, chain_id, terms, missing)
        set_based.keep_periods(
            partner_id,
            set_based.KIND_LINES,
            {
                digests[key]: entry.to_json()
                for key, entry in computed.items()
                if after[key] == digests[key]
            },
            connection,
        )
    return {period_key(p.period_id): figures[period_key(p.period_id)] for p in periods}


def _computed(agreement, periods: list[Period], run, write) -> dict[str, PeriodFigures]:
    """`period_figures` of `periods`, every one computed by the database now."""
    connection = db.session.connection()
    collation = _key_collation(connection) if write else ""
    statement, params = _statement(agreement, periods, run, write, collation)
    settings = dict(SETTINGS)
    if write and _may_skip_row_triggers(db.session):
        # The parents are held (see `period_figures`): the per-row foreign-key checks are
        # skipped, as the bulk writer does.
        settings["session_replication_role"] = "replica"
    with _settings(connection, settings):
        rows = connection.execute(text(statement), params).all()
    figures = {period_key(p.period_id): PeriodFigures() for p in periods}
    add = MONEY.add
    # A lines row: its count, base and commission; a held row: exclusions, reward rows held
    # back and their amount; both end with their two sums of hashes.
    for kind, period_id, validator, component, reason, first, second, third, *hashes in rows:
        entry = figures[period_key(period_id)]
        parts = entry._digest_parts
        if kind == "lines":
            entry.slices[(validator, component)] = [int(first), second, third]
            entry.line_count += int(first)
            entry.base = add(entry.base, second)
            entry.commission = add(entry.commission, third)
            offset = 0
        else:
            entry.held[reason] = [int(second), third]
            entry.held_back = add(entry.held_back, third)
            offset = 3
        parts[offset] += int(first)
        parts[offset + 1] += int(hashes[0])
        parts[offset + 2] += int(hashes[1])
    return figures
