"""The wallet-attribution method summed inside PostgreSQL, by one set-based query.

A page that shows totals (the preview's breakdown by period, validator and component, its
exclusions by reason, the method comparison) should not pull a million reward rows into
Python to add them up. This query computes, inside PostgreSQL, what `webapp.attribution`
gives for the same inputs, following the same rules in the same order (DOMAIN steps 4 to 6):

- a wallet's rows earn nothing in a period when it is inactive, or introduced after the
  period's start date (one exclusion per wallet and period, holding back its rows);
- a reward row earns only when its wallet was staked with the validator during the period:
  the balance per instant, after all of that instant's events (STAKE and RESTAKE before
  UNSTAKE; UNSTAKE never below zero), was above zero at the period's start or at an event
  inside it; then only when a rule gives it a rate (else one exclusion per row);
- its rate is the rule naming the validator, else the rule for any validator;
- each line is base x rate / 10000, rounded once to 18 places, half to even.

The running balance floored at zero is the running sum minus the lowest running sum so far
(when that is below zero). The instants a wallet held a positive balance with a validator
become one multirange of spans per (wallet, validator), each from the instant to the next;
a period's rows are staked when their wallet's spans overlap the period's. One rate applies
to a whole (validator, component), so a group's commission is its base sum x rate / 10000
plus what rounding each line changed; only a line whose base has more than 14 decimals can
change (its product has more than 18). Such a line is rounded half away from zero and then
back down by one unit when it lay exactly halfway with an even unit below it: base x rate is
then an odd multiple of 5e-15 whose remainder modulo 2e-14 is 5e-15.

Tests hold this query to the engine on random inputs (`tests/test_set_based.py`). SQLite,
and everything that needs the lines themselves (a commit, the files), use the engine. Each
period's figures are kept (`KeptPeriod`) by the digest of what that period depends on
(`period_digests`), so that a question over thirty periods after one new period is imported
sums that period alone; a summary that counts the wallets paid in all (the method
comparison) is kept whole, by the digests of its periods (`KeptSummary`).
"""

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert

from webapp.attribution import (
    METHOD_WALLET_ATTRIBUTION,
    REASON_INTRODUCED_AFTER,
    REASON_NO_RULE,
    REASON_NOT_STAKED,
    REASON_WALLET_INACTIVE,
    AgreementTerms,
    ComponentTotal,
    ExclusionTotal,
    Period,
)
from webapp.commissions.fingerprints import (
    _terms_text,
    assemble,
    fingerprint,
    partner_events,
    revisions_of,
    reward_digest,
    shared_digests,
    wallet_digests,
)
from webapp.commissions.kept import (  # noqa: F401 - kept's names, as set_based names them
    KEPT_PERIODS_PER_PARTNER,
    KIND_LINES,
    KIND_SUMMARY,
    keep_periods,
    kept_figures,
)
from webapp.commissions.terms import period_key
from webapp.extensions import db
from webapp.models import (
    KeptPeriod,
    KeptSummary,
    utcnow,
)
from webapp.money import MONEY, ZERO, money_sum
from webapp.vocab import REASONS

_SUMMARY = """
WITH scope AS (
    SELECT *, tstzrange(start_time, end_time) AS span FROM unnest(
        CAST(:period_ids AS uuid[]), CAST(:starts AS timestamptz[]),
        CAST(:ends AS timestamptz[]), CAST(:start_dates AS date[])
    ) AS s(period_id, start_time, end_time, start_date)
),
running AS (
    SELECT e.staker_address, e.validator_key, e.event_timestamp AS ts,
           e.event_type = 'UNSTAKE' AS unstake, e.stake_event_id,
           sum(CASE WHEN e.event_type = 'UNSTAKE' THEN -e.stake_amount_native
                    ELSE e.stake_amount_native END) OVER replay AS total,
           lead(e.event_timestamp) OVER replay AS next_ts
    FROM canonical_stake_events e
    JOIN partner_wallets w ON w.wallet_address = e.staker_address
        AND w.partner_id = :partner_id AND w.chain_id = :chain_id
        AND w.is_active AND w.introduced_date <= :last_start_date
    WHERE e.chain_id = :chain_id AND e.event_timestamp < :last_end
    WINDOW replay AS (
        PARTITION BY e.staker_address, e.validator_key
        ORDER BY e.event_timestamp, e.event_type = 'UNSTAKE', e.stake_event_id
        ROWS UNBOUNDED PRECEDING
    )
),
instants AS (
    SELECT staker_address, validator_key, ts, next_ts,
           total - least(0, min(total) OVER replay) AS balance
    FROM running
    WINDOW replay AS (
        PARTITION BY staker_address, validator_key ORDER BY ts, unstake, stake_event_id
        ROWS UNBOUNDED PRECEDING
    )
),
staked AS (
    SELECT staker_address, validator_key, range_agg(tstzrange(ts, next_ts)) AS spans
    FROM instants
    WHERE next_ts IS DISTINCT FROM ts AND balance > 0
    GROUP BY staker_address, validator_key
),
graded AS (
    SELECT r.period_id, r.validator_key, r.revenue_component, w.wallet_id,
           r.reward_amount_native AS base, r.rate, r.digest,
           CASE WHEN NOT w.is_active THEN :inactive
                WHEN w.introduced_date > s.start_date THEN :late
                WHEN k.spans IS NULL OR NOT k.spans && s.span THEN :unstaked
                WHEN r.rate IS NULL THEN :no_rule
           END AS reason
    FROM (
        SELECT canonical_staker_rewards_detail.*, {rate} AS rate, {digest} AS digest
        FROM canonical_staker_rewards_detail
        WHERE chain_id = :chain_id AND period_id = ANY(CAST(:period_ids AS uuid[]))
    ) r
    JOIN scope s ON s.period_id = r.period_id
    JOIN partner_wallets w ON w.wallet_address = r.staker_address
        AND w.partner_id = :partner_id AND w.chain_id = :chain_id
    LEFT JOIN staked k ON k.staker_address = r.staker_address
        AND k.validator_key = r.validator_key
),
sums AS (
    SELECT period_id, validator_key, CAST(revenue_component AS text) AS component, reason, rate,
           count(*) AS lines, sum(base) AS base, sum(digest) AS digest,
           sum(CASE WHEN reason IS NULL AND trunc(base, 14) <> base
                    THEN round(base * rate * 0.0001, 18) - base * rate * 0.0001
                         - CASE WHEN mod(base * rate, 0.00000000000002) = 0.000000000000005
                                THEN 0.000000000000000001 ELSE 0 END
               END) AS rounding{paid_addresses}
    FROM graded GROUP BY period_id, validator_key, revenue_component, reason, rate
){paid_in_period}
SELECT 'rows', period_id, validator_key, component, reason, lines, base,
       CASE WHEN reason IS NULL THEN round(base * rate * 0.0001 + coalesce(rounding, 0), 18) END,
       digest
FROM sums
UNION ALL
SELECT 'wallets held', s.period_id, NULL, NULL, :inactive,
       (SELECT count(*) FROM partner_wallets
        WHERE partner_id = :partner_id AND chain_id = :chain_id AND NOT is_active),
       NULL, NULL, NULL
FROM scope s
UNION ALL
SELECT 'wallets held', s.period_id, NULL, NULL, :late,
       (SELECT count(*) FROM partner_wallets w
        WHERE w.partner_id = :partner_id AND w.chain_id = :chain_id
          AND w.is_active AND w.introduced_date > s.start_date), NULL, NULL, NULL
FROM scope s
{wallet_counts}"""

#: The digest of a reward row, as `fingerprints` computes it, in this dialect's SQL.
_REWARD_DIGEST = str(
    reward_digest().compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
)

#: The wallets paid, per period and in all (for the method comparison): each group of paid
#: rows carries its addresses, and only those are counted again.
_PAID_ADDRESSES = """,
           array_agg(wallet_id) FILTER (WHERE reason IS NULL) AS paid"""
_PAID_IN_PERIOD = """,
paid_in_period AS (
    SELECT DISTINCT period_id, address FROM sums, unnest(paid) AS address
)"""
_WALLET_COUNTS = """
UNION ALL
SELECT 'wallets paid', period_id, NULL, NULL, NULL, count(*), NULL, NULL, NULL
FROM paid_in_period GROUP BY period_id
UNION ALL
SELECT 'wallets paid', NULL, NULL, NULL, NULL, count(*), NULL, NULL, NULL
FROM (SELECT DISTINCT address FROM paid_in_period) paid_at_all
"""

#: For this query only (its transaction is rolled back after it): room to sort and hash in
#: memory; no JIT for one query planned once; hash joins and hash aggregates (the planner
#: cannot foresee how many wallets were staked, nor how few groups a million rows fall into,
#: and would look reward rows up one by one or sort them by their text keys); and the reward
#: rows read by parallel workers.
SETTINGS = {
    "work_mem": "256MB",
    "jit": "off",
    "enable_nestloop": "off",
    "enable_mergejoin": "off",
    "enable_sort": "off",
    "max_parallel_workers_per_gather": "2",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
}


@dataclass
class Summary:
    """What wallet attribution gives over some periods, without its lines: the figures an
    AttributionResult offers (totals, per component, per reason, and per period, validator
    and component), summed by the database."""

    agreement_id: object
    periods: list[Period]
    #: (period key, validator, component) -> [lines, base, commission]
    slices: dict[tuple[str, str, str], list] = field(default_factory=dict)
    #: (period key, reason) -> [exclusions, held back]
    held: dict[tuple[str, str], list] = field(default_factory=dict)
    wallets_by_period: dict[str, int] = field(default_factory=dict)
    wallet_count: int = 0
    periods_with_rows: set[str] = field(default_factory=set)
    method: str = METHOD_WALLET_ATTRIBUTION
    #: The keys of the periods summed for this answer (the others were kept).
    summed: set[str] = field(default_factory=set, compare=False)

    # -- the interface of AttributionResult's totals ------------------------------------------

    @property
    def line_count(self) -> int:
        return sum(count for count, _, _ in self.slices.values())

    @property
    def total_base_native(self) -> Decimal:
        return money_sum(base for _, base, _ in self.slices.values())

    @property
    def total_commission_native(self) -> Decimal:
        return money_sum(commission for _, _, commission in self.slices.values())

    @property
    def excluded_amount_native(self) -> Decimal:
        return money_sum(amount for _, amount in self.held.values())

    def component_totals(self) -> list[ComponentTotal]:
        """Line count, base and commission per revenue component, by component name."""
        sums: dict[str, list] = {}
        for (_, _, component), (count, base, commission) in self.slices.items():
            entry = sums.setdefault(component, [0, ZERO, ZERO])
            entry[0] += count
            entry[1] = MONEY.add(entry[1], base)
            entry[2] = MONEY.add(entry[2], commission)
        return [ComponentTotal(c, *sums[c]) for c in sorted(sums)]

    def exclusion_totals(self) -> list[ExclusionTotal]:
        """Count and held-back amount per exclusion reason, in the order they are checked."""
        sums: dict[str, list] = {}
        for (_, reason), (count, amount) in self.held.items():
            entry = sums.setdefault(reason, [0, ZERO])
            entry[0] += count
            entry[1] = MONEY.add(entry[1], amount)
        return [ExclusionTotal(r, *sums[r]) for r in REASONS if r in sums]

    def slice_sums(self) -> dict[tuple, list]:
        """(period id, validator, component) -> [lines, base, commission]."""
        return self.slices

    def held_sums(self) -> dict[tuple, list]:
        """(period id, reason) -> [exclusions, held back]."""
        return self.held

    def of_period(self, period: Period) -> "Summary":
        """The same figures for one of its periods."""
        key = period_key(period.period_id)
        return Summary(
            self.agreement_id,
            [period],
            {k: v for k, v in self.slices.items() if period_key(k[0]) == key},
            {k: v for k, v in self.held.items() if period_key(k[0]) == key},
            {k: v for k, v in self.wallets_by_period.items() if period_key(k) == key},
            periods_with_rows={p for p in self.periods_with_rows if period_key(p) == key},
        )


def _rate_case(rules) -> tuple[str, dict]:
    """Step 2 as one SQL expression over a reward row: the rules naming a validator are
    tried before the rules for any validator; no rule gives NULL. Values travel as bound
    parameters."""
    named = [rule for rule in rules if rule.validator_key is not None]
    general = [rule for rule in rules if rule.validator_key is None]
    branches, params = [], {}
    for n, rule in enumerate(named + general):
        params[f"rule_component_{n}"] = str(rule.revenue_component)
        params[f"rule_rate_{n}"] = rule.commission_rate_bps
        condition = f"revenue_component = CAST(:rule_component_{n} AS revenuecomponent)"
        if rule.validator_key is not None:
            params[f"rule_validator_{n}"] = rule.validator_key
            condition += f" AND validator_key = :rule_validator_{n}"
        branches.append(f"WHEN {condition} THEN CAST(:rule_rate_{n} AS integer)")
    if not branches:
        return "CAST(NULL AS integer)", params
    return f"CASE {' '.join(branches)} END", params


#: Figures are kept in the database, by the digests of everything they depend on: each
#: period's (`KeptPeriod`, by `period_digests`), and the whole of a summary that counts the
#: wallets paid in all (`KeptSummary`, by `fingerprints`). A question asked again, by any
#: worker (a preview reloaded, the comparison opened twice, a preview's period opened on its
#: own, a range with one more period), is answered without summing again what did not
#: change, and any change to an input changes the digests, so nothing kept is ever stale.
#: Figures and the digests they are kept by are read in one snapshot of the database, so no
#: change can slip in between them. The newest few whole summaries per partner are kept.
KEPT_PER_PARTNER = 16


@contextmanager
def _snapshot(engine):
    """A connection of its own in a REPEATABLE READ transaction (every statement on it reads
    the same snapshot), rolled back at the end: nothing is written, and the settings made
    for its statements go with it."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        try:
            yield connection
        finally:
            connection.rollback()


def _hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _question(count_wallets: bool, scope: list[Period]) -> str:
    """What is asked, apart from the partner and the inputs: the periods, and whether the
    wallets paid are counted."""
    return _hash([count_wallets, [p.label for p in scope]])


def wallet_attribution_summary(
    partner_id,
    chain_id: str,
    terms: AgreementTerms,
    scope: list[Period],
    count_wallets: bool = False,
) -> Summary:
    """What wallet attribution gives the partner's wallets over `scope` (periods in scope,
    UTC instants) under `terms`' rules, summed by PostgreSQL; period ids as in `scope`.
    With `count_wallets`, also the wallets paid per period and in all.

    Each period whose inputs are as they were when its figures were kept is read back; the
    others alone are summed, in one statement, and kept. The digests read no reward row (a
    period's rows count by their revision), so checking them costs little against summing.
    Figures and digests are read in one snapshot of the database."""
    if not scope:
        return Summary(terms.agreement_id, [])
    if count_wallets:
        return _whole_summary(partner_id, chain_id, terms, scope)
    with _snapshot(db.engine) as connection:
        digests = period_digests(connection, partner_id, chain_id, terms, scope)
        kept = kept_figures(connection, KIND_SUMMARY, digests)
        missing = [p for p in scope if period_key(p.period_id) not in kept]
        summed = Summary(terms.agreement_id, missing)
        if missing:
            summed, _ = _summed(connection, partner_id, chain_id, terms, missing, False)
    summary = _joined(terms.agreement_id, scope, kept, summed)
    fresh = {digests[period_key(p.period_id)]: _period_figures(summed, p) for p in missing}
    keep_periods(partner_id, KIND_SUMMARY, fresh)
    return summary


def _whole_summary(partner_id, chain_id, terms, scope) -> Summary:
    """A summary that counts the wallets paid in all (not a sum of its periods' counts): a
    question asked before is looked up whole, by the digests of its inputs as they are now;
    each period's figures are kept on the way as well."""
    question = _question(True, scope)
    with _snapshot(db.engine) as connection:
        asked = _kept_digests(connection, partner_id, [question])
        prints = None
        if asked:
            prints = fingerprint(partner_id, chain_id, terms, scope, connection)
            digests = _digests(prints, scope)
            for key, kept in asked:
                if kept == digests:
                    return _summary_of(_figures_of(connection, key), terms.agreement_id, scope)
        summary, read = _summed(connection, partner_id, chain_id, terms, scope, True)
        if prints is None:
            shared = shared_digests(connection, partner_id, chain_id, terms, scope)
            prints = assemble(shared, read, scope)
        by_period = period_digests(connection, partner_id, chain_id, terms, scope)
    _keep(partner_id, question, _digests(prints, scope), summary)
    keep_periods(
        partner_id,
        KIND_SUMMARY,
        {by_period[period_key(p.period_id)]: _period_figures(summary, p) for p in scope},
    )
    return summary


def kept_period(partner_id, chain_id: str, terms: AgreementTerms, scope, period_id):
    """One period of `scope` as an earlier question kept it (the preview page of a range
    holding it), when that period's inputs are as they were then: checking its digest reads
    the shared parts and that period's revision. None when nothing kept answers."""
    wanted = period_key(period_id)
    period = next((p for p in scope if period_key(p.period_id) == wanted), None)
    if period is None:
        return None
    with _snapshot(db.engine) as connection:
        if not _has_kept(connection, partner_id, KIND_SUMMARY):
            return None
        digests = period_digests(connection, partner_id, chain_id, terms, [period])
        kept = kept_figures(connection, KIND_SUMMARY, digests)
    if not kept:
        return None
    return _joined(terms.agreement_id, [period], kept, Summary(terms.agreement_id, []))


# ---- Figures kept per period ----------------------------------------------------------------


def period_digests(reader, partner_id, chain_id: str, terms: AgreementTerms, scope: list[Period]):
    """Per period key of `scope`, a SHA-256 of everything that period's figures depend on:
    the partner and chain; the terms and the version of the rules; the partner's wallets on
    the chain (address, introduced date, active); the stake events of its active wallets
    before the period's end; and the period's bounds and the revision of its reward rows
    (`StakerRewardRevision`, drawn again by the database whenever any of the period's rows
    changes, whoever changes it: `webapp.reward_revisions`), read instead of the rows
    themselves. A period's digest depends neither on the other periods asked with it nor on
    anything after its end, so a period imported later, with its stake events, leaves the
    digests of the earlier ones as they were. A fixed number of statements, whatever the
    number of periods; none reads a reward row, and while the partner's wallets and the
    chain's stake events stand (their revisions), none reads a wallet or an event."""
    if not scope:
        return {}
    # The partner's wallets and its active wallets' stake events before each end, kept
    # under their revisions (`fingerprints.wallet_digests`, `partner_events`): no wallet
    # or event is read while they stand.
    # The revisions of the periods' reward rows, the chain's events and the partner's
    # wallets, in one statement.
    drawn = revisions_of(reader, [p.period_id for p in scope], {chain_id}, {partner_id})
    found = wallet_digests(reader, {partner_id}, drawn)
    wallets = found.get((partner_id, chain_id), (0, "0"))
    ends = sorted({p.end_time for p in scope})
    cutoffs = {(partner_id, chain_id, end, None) for end in ends}
    events = partner_events(reader, cutoffs, found, drawn)
    before_end = {end: list(events[(partner_id, chain_id, end, None)]) for end in ends}
    # No revision: the period has had no reward row since revisions were kept.
    revisions = {key: revision for key, (revision, _) in drawn["rows"].items()}
    common = [
        str(partner_id),
        chain_id,
        _terms_text(terms),
        [int(wallets[0] or 0), str(wallets[1] or 0)],
    ]
    digests = {}
    for period in scope:
        key = period_key(period.period_id)
        mine = [
            key,
            period.start_time.isoformat(),
            period.end_time.isoformat(),
            revisions.get(key, ""),
        ]
        digests[key] = _hash([*common, before_end[period.end_time], mine])
    return digests


def _has_kept(connection, partner_id, kind: str) -> bool:
    """Whether any period's figures of this kind are kept for the partner (when none are, a
    first question needs no digests before it is summed)."""
    K = KeptPeriod
    found = connection.execute(
        select(K.period_digest).where(K.partner_id == partner_id, K.kind == kind).limit(1)
    )
    return found.first() is not None


def _period_figures(summary: Summary, period: Period) -> dict:
    """One period's figures of a summary, JSON-ready."""
    wanted = period_key(period.period_id)
    return {
        "slices": [
            [validator, component, count, str(base), str(commission)]
            for (p, validator, component), (count, base, commission) in summary.slices.items()
            if period_key(p) == wanted
        ],
        "held": [
            [reason, count, str(amount)]
            for (p, reason), (count, amount) in summary.held.items()
            if period_key(p) == wanted
        ],
        "rows": any(period_key(p) == wanted for p in summary.periods_with_rows),
    }


def _joined(agreement_id, scope: list[Period], kept: dict[str, dict], summed: Summary):
    """The summary of `scope` from the periods' kept figures (by period key) and those just
    summed."""
    summary = Summary(agreement_id, list(scope))
    summary.slices.update(summed.slices)
    summary.held.update(summed.held)
    summary.periods_with_rows |= summed.periods_with_rows
    summary.summed = set(summed.summed)
    for period in scope:
        figures = kept.get(period_key(period.period_id))
        if figures is None:
            continue
        pid = period.period_id
        for validator, component, count, base, commission in figures["slices"]:
            summary.slices[(pid, validator, component)] = [
                count,
                Decimal(base),
                Decimal(commission),
            ]
        for reason, count, amount in figures["held"]:
            summary.held[(pid, reason)] = [count, Decimal(amount)]
        if figures["rows"]:
            summary.periods_with_rows.add(pid)
    return summary


def _kept_digests(connection, partner_id, questions: list[str]) -> list[tuple[str, list]]:
    """The key and the per-period digests of each summary kept for the partner and one of
    the questions, newest first."""
    K = KeptSummary
    rows = connection.execute(
        select(K.summary_key, K.digests)
        .where(K.partner_id == partner_id, K.question.in_(questions))
        .order_by(K.created_at.desc())
    ).all()
    return [(key, json.loads(digests)) for key, digests in rows]


def _figures_of(connection, key: str) -> dict:
    return json.loads(
        connection.scalar(select(KeptSummary.figures).where(KeptSummary.summary_key == key))
    )


def _keep(partner_id, question: str, digests: list[str], summary: Summary) -> None:
    """Keep the summary for the next ask, in a transaction of its own; only the newest
    `KEPT_PER_PARTNER` of the partner stay."""
    K = KeptSummary
    figures = {
        "slices": [
            [period_key(p), validator, component, count, str(base), str(commission)]
            for (p, validator, component), (count, base, commission) in summary.slices.items()
        ],
        "held": [
            [period_key(p), reason, count, str(amount)]
            for (p, reason), (count, amount) in summary.held.items()
        ],
        "wallets_by_period": [[period_key(p), n] for p, n in summary.wallets_by_period.items()],
        "wallet_count": summary.wallet_count,
        "periods_with_rows": [period_key(p) for p in summary.periods_with_rows],
    }
    key = _hash([str(partner_id), question, digests])
    newest = (
        select(K.summary_key)
        .where(K.partner_id == partner_id)
        .order_by(K.created_at.desc())
        .limit(KEPT_PER_PARTNER)
    )
    with db.engine.begin() as connection:
        connection.execute(
            insert(K)
            .values(
                summary_key=key,
                partner_id=partner_id,
                question=question,
                digests=json.dumps(digests),
                figures=json.dumps(figures),
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        connection.execute(
            delete(K).where(K.partner_id == partner_id, K.summary_key.not_in(newest))
        )


def _summary_of(figures: dict, agreement_id, scope: list[Period]) -> Summary:
    """A kept summary's figures, with the period ids of `scope`."""
    ids = {period_key(p.period_id): p.period_id for p in scope}
    return Summary(
        agreement_id,
        list(scope),
        {
            (ids[p], validator, component): [count, Decimal(base), Decimal(commission)]
            for p, validator, component, count, base, commission in figures["slices"]
        },
        {
            (ids[p], reason): [count, Decimal(amount)]
            for p, reason, count, amount in figures["held"]
        },
        {ids[p]: n for p, n in figures["wallets_by_period"]},
        figures["wallet_count"],
        {ids[p] for p in figures["periods_with_rows"]},
    )


def _digests(prints, scope: list[Period]) -> list[str]:
    return [prints.digests[period_key(p.period_id)] for p in scope]


def _set_config(connection, values: dict[str, str]) -> None:
    """Set each setting for the rest of the transaction (SET LOCAL), in one statement."""
    calls = ", ".join(f"set_config(:name_{n}, :value_{n}, true)" for n in range(len(values)))
    params = {}
    for n, (name, value) in enumerate(values.items()):
        params[f"name_{n}"], params[f"value_{n}"] = name, value
    connection.execute(text(f"SELECT {calls}"), params)


def _summed(connection, partner_id, chain_id, terms, scope, count_wallets):
    """The summary, and (with `count_wallets`, for the whole summary's fingerprint) the reward
    rows it read per period: (count, sum of their digests) by period key, as
    `fingerprints.assemble` takes them; without, no row is digested and that is None."""
    summary = Summary(terms.agreement_id, list(scope))
    summary.summed = {period_key(p.period_id) for p in scope}
    reward_rows: dict[str, list] = {}
    keys = {str(p.period_id): p.period_id for p in scope}
    rate, rule_params = _rate_case(terms.rules)
    statement = (
        _SUMMARY.replace("{rate}", rate)
        .replace("{digest}", _REWARD_DIGEST if count_wallets else "0")
        .replace("{paid_addresses}", _PAID_ADDRESSES if count_wallets else "")
        .replace("{paid_in_period}", _PAID_IN_PERIOD if count_wallets else "")
        .replace("{wallet_counts}", _WALLET_COUNTS if count_wallets else "")
    )
    params = {
        "period_ids": [str(p.period_id) for p in scope],
        "starts": [p.start_time for p in scope],
        "ends": [p.end_time for p in scope],
        "start_dates": [p.start_date for p in scope],
        "partner_id": partner_id,
        "chain_id": chain_id,
        "last_end": max(p.end_time for p in scope),
        "last_start_date": max(p.start_date for p in scope),
        "inactive": REASON_WALLET_INACTIVE,
        "late": REASON_INTRODUCED_AFTER,
        "unstaked": REASON_NOT_STAKED,
        "no_rule": REASON_NO_RULE,
        **rule_params,
    }
    _set_config(connection, SETTINGS)
    rows = connection.execute(text(statement), params).all()
    wallet_held: dict[tuple, int] = {}
    row_held: dict[tuple, list] = {}
    for kind, period_id, validator, component, reason, count, base, commission, digest in rows:
        period = keys.get(str(period_id)) if period_id is not None else None
        count = int(count)
        if kind == "rows":
            summary.periods_with_rows.add(period)
            read = reward_rows.setdefault(period_key(period), [0, 0])
            read[0] += count
            read[1] += int(digest or 0)
            if reason is None:
                summary.slices[(period, validator, component)] = [count, base, commission]
            else:
                entry = row_held.setdefault((period, reason), [0, ZERO])
                entry[0] += count
                entry[1] = MONEY.add(entry[1], base)
        elif kind == "wallets held":
            wallet_held[(period, reason)] = count
        elif period is not None:
            summary.wallets_by_period[period] = count
        else:
            summary.wallet_count = count
    # Rows of a wallet inactive or introduced late are one exclusion per wallet and period
    # (with or without rows); the other reasons are one exclusion per row.
    for key, count in wallet_held.items():
        if count:
            summary.held[key] = [count, row_held.get(key, [0, ZERO])[1]]
    for (period, reason), entry in row_held.items():
        if reason not in (REASON_WALLET_INACTIVE, REASON_INTRODUCED_AFTER):
            summary.held[(period, reason)] = entry
    return summary, (reward_rows if count_wallets else None)
