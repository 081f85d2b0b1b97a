"""Runs whose inputs moved after their commit (DOMAIN.md, "Month-end close").

Each (agreement, period) pair a run holds keeps the digest of its inputs at commit
(`commission_run_periods.inputs_digest`, `commissions.fingerprints`). Today's digests of a
run's pairs come from one fingerprint of its agreement over its range; a pair whose digest
differs was computed from inputs that are no longer there.

- A *committed* run with such a pair is **stale**: out of date, commit again before it can be
  approved (`stale_runs`).
- An *approved or paid* run with such a pair may have **late data**: today's data gives
  another figure than the locked one. The engine then measures the difference against the
  locked lines plus the adjustments stored (`late_changes`), so a month a true-up has
  carried shows nothing.
"""

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from webapp.attribution import RULES_VERSION, Period, periods_in_scope, scope_window
from webapp.commissions.fingerprints import (
    PARTS,
    Asked,
    Fingerprint,
    changed_parts,
    fingerprints_of,
)
from webapp.commissions.terms import next_day_start, period_key, starts_within, terms_of
from webapp.db_types import decimal_sum, uuid_text
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CommissionLock,
    CommissionRun,
    CommissionRunPeriod,
    KeptSummary,
    PartnerCommissionLine,
    utcnow,
)
from webapp.money import MONEY, ZERO, money_sum, totals_by_token
from webapp.run_states import LOCKED_STATUSES
from webapp.vocab import LineKind, RunStatus


@dataclass
class PairChange:
    """One pair of a run whose inputs are not those it was computed from."""

    period_id: uuid.UUID
    label: str
    start_time: object
    #: False when the period is no longer within the agreement's dates.
    in_scope: bool = True
    #: What changed, in words (`fingerprints.PARTS`); empty when the commit kept no parts.
    what: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.in_scope:
            return f"period {self.label}: no longer within the agreement's dates"
        what = " and ".join(self.what) if self.what else "inputs"
        return f"period {self.label}: {what} changed since commit"


def _words(names: list[str], wallet_attribution: bool) -> list[str]:
    data = "staker rewards" if wallet_attribution else "validator revenue"
    return [data if name == "data" else PARTS[name] for name in names]


@dataclass
class LatePeriod:
    """One locked period that today's data computes differently: what was locked (its lines
    plus the adjustments stored for it), what today's data gives, and the difference."""

    period_id: uuid.UUID
    label: str
    locked_native: Decimal
    difference_native: Decimal
    line_count: int
    wallet_count: int = 0

    @property
    def today_native(self) -> Decimal:
        return MONEY.add(self.locked_native, self.difference_native)


@dataclass
class LateData:
    """A locked run that today's data would compute differently, and by how much."""

    run: CommissionRun
    token_symbol: str
    periods: list[LatePeriod] = field(default_factory=list)

    @property
    def locked_word(self) -> str:
        """What the locked figure is: "paid" or "approved"."""
        return self.run.status

    @property
    def locked_native(self) -> Decimal:
        return money_sum(p.locked_native for p in self.periods)

    @property
    def today_native(self) -> Decimal:
        return money_sum(p.today_native for p in self.periods)

    @property
    def difference_native(self) -> Decimal:
        """Today's data minus what was locked (adjustments stored included)."""
        return money_sum(p.difference_native for p in self.periods)

    def describe(self) -> list[str]:
        return [
            f"period {p.label}: {self.locked_word} {p.locked_native} {self.token_symbol}, "
            f"today's data gives {p.today_native} {self.token_symbol}, "
            f"difference {p.difference_native:+} {self.token_symbol}"
            for p in self.periods
        ]


def _scopes(runs, agreements) -> dict[uuid.UUID, list[Period]]:
    """Each run's periods in scope, as `inputs.scope_of` reads them, for every run in one
    query."""
    windows = {}
    for run in runs:
        terms = terms_of(agreements[run.agreement_id])
        low, high = scope_window(terms, run.date_from, run.date_to)
        if low <= high:
            windows[run.run_id] = (run, terms, low, high)
    if not windows:
        return {}
    P = CanonicalPeriod
    chains = {agreements[run.agreement_id].chain_id for run, *_ in windows.values()}
    by_chain = defaultdict(list)
    for period_id, chain_id, label, start, end in db.session.execute(
        select(uuid_text(P.period_id), P.chain_id, P.label, P.start_time, P.end_time)
        .where(
            P.chain_id.in_(chains),
            starts_within(
                P.start_time,
                min(w[2] for w in windows.values()),
                max(w[3] for w in windows.values()),
            ),
        )
        .order_by(P.start_time)
    ):
        by_chain[chain_id].append(Period(period_id, label, start, end))
    return {
        run_id: periods_in_scope(
            terms, by_chain[agreements[run.agreement_id].chain_id], run.date_from, run.date_to
        )
        for run_id, (run, terms, _, _) in windows.items()
    }


@dataclass
class HeldPair:
    """One pair a run holds: the digest of its inputs at commit and today's."""

    period_id: uuid.UUID
    label: str
    start_time: object
    digest: str | None
    parts: str | None
    #: None when the period is no longer within the agreement's dates.
    today: str | None
    today_parts: str | None


def held_pairs(runs) -> tuple[dict[uuid.UUID, list[HeldPair]], dict]:
    """Per run (superseded ones left out), the pairs it holds in period order, each with
    its digest at commit and today's; and the runs' agreements by id. For any number of
    runs in a fixed number of queries: today's digests of every run at once
    (`fingerprints_of`), one fingerprint of each run's agreement over its range."""
    runs = [r for r in runs if r.status != RunStatus.SUPERSEDED.value]
    if not runs:
        return {}, {}
    RP, P = CommissionRunPeriod, CanonicalPeriod
    held = defaultdict(list)
    for run_id, period_id, digest, parts, label, start in db.session.execute(
        select(RP.run_id, RP.period_id, RP.inputs_digest, RP.inputs_parts, P.label, P.start_time)
        .join(P, P.period_id == RP.period_id)
        .where(RP.run_id.in_([r.run_id for r in runs]))
        .order_by(P.start_time)
    ):
        held[run_id].append((period_id, digest, parts, label, start))
    agreements = {
        a.agreement_id: a
        for a in db.session.scalars(
            select(Agreement)
            .options(selectinload(Agreement.rules), selectinload(Agreement.chain))
            .where(Agreement.agreement_id.in_({r.agreement_id for r in runs}))
        )
    }
    for run in runs:
        # Each run keeps its agreement (and chain): the pages that show the run's late data
        # read them without a query of their own.
        set_committed_value(run, "agreement", agreements[run.agreement_id])
    runs = [r for r in runs if held.get(r.run_id)]
    scopes = _scopes(runs, agreements)
    prints = fingerprints_of(
        {
            run.run_id: Asked(
                agreements[run.agreement_id].partner_id,
                agreements[run.agreement_id].chain_id,
                terms_of(agreements[run.agreement_id]),
                scopes.get(run.run_id, []),
            )
            for run in runs
        }
    )
    found: dict[uuid.UUID, list[HeldPair]] = {}
    for run in runs:
        today = prints.get(run.run_id, Fingerprint())
        found[run.run_id] = [
            HeldPair(
                period_id,
                label,
                start,
                digest,
                parts,
                today.digests.get(period_key(period_id)),
                today.parts.get(period_key(period_id)),
            )
            for period_id, digest, parts, label, start in held[run.run_id]
        ]
    return found, agreements


def changed_pairs(runs) -> dict[uuid.UUID, list[PairChange]]:
    """Per run (any status), the pairs it holds whose inputs digest differs from today's,
    in period order; all runs at once in a fixed number of queries (`held_pairs`). A pair
    committed before digests were kept counts as changed only for locked runs (the engine
    then decides)."""
    by_id = {r.run_id: r for r in runs}
    pairs_of, agreements = held_pairs(runs)
    changed: dict[uuid.UUID, list[PairChange]] = {}
    for run_id, pairs in pairs_of.items():
        run = by_id[run_id]
        agreement = agreements[run.agreement_id]
        found = []
        for pair in pairs:
            if pair.today is None:
                found.append(
                    PairChange(pair.period_id, pair.label, pair.start_time, in_scope=False)
                )
            elif pair.digest is None:
                if run.status in LOCKED_STATUSES:
                    found.append(PairChange(pair.period_id, pair.label, pair.start_time))
            elif pair.today != pair.digest:
                names = changed_parts(pair.parts, pair.today_parts)
                what = _words(names, agreement.wallet_attribution_enabled)
                found.append(PairChange(pair.period_id, pair.label, pair.start_time, what=what))
        if found:
            changed[run_id] = found
    return changed


def stale_runs(runs) -> dict[uuid.UUID, list[str]]:
    """Per committed run whose inputs changed since its commit: what changed, in words a
    manager reads ("period 2025-10-03: inputs changed since commit"). Fresh runs, and runs
    of any other status, are absent."""
    committed = [r for r in runs if r.status == RunStatus.COMMITTED.value]
    return {
        run_id: [pair.describe() for pair in pairs]
        for run_id, pairs in changed_pairs(committed).items()
    }


def is_stale(run: CommissionRun) -> list[str]:
    """What changed since the commit of one run (empty when it is fresh or not committed)."""
    return stale_runs([run]).get(run.run_id, [])


def _is_changed(run, pair: HeldPair) -> bool:
    return pair.today is None or pair.digest is None or pair.today != pair.digest


def late_changes(runs) -> dict[uuid.UUID, LateData]:
    """Per approved or paid run whose pairs' inputs changed since the commit and that
    today's data computes differently from what was locked plus the adjustments stored:
    the difference per period. A run whose late data a true-up has carried is absent.

    The engine measures a run's differences once; they are kept (`KeptSummary`) by the
    run, each pair's digests at commit and today and the adjustments stored on its pairs,
    so the next page answers from the kept figures, in a fixed number of queries whatever
    the number of runs, and any change to an input or a true-up asks the engine again."""
    locked = [r for r in runs if r.status in LOCKED_STATUSES]
    pairs_of, agreements = held_pairs(locked)
    candidates = [r for r in locked if any(_is_changed(r, p) for p in pairs_of.get(r.run_id, []))]
    if not candidates:
        return {}
    adjusted = _adjustments(
        {(r.agreement_id, p.period_id) for r in candidates for p in pairs_of[r.run_id]}
    )
    keys = {
        run.run_id: _key(
            "late",
            str(run.run_id),
            run.status,
            [
                [
                    period_key(p.period_id),
                    p.digest,
                    p.today,
                    adjusted.get((run.agreement_id, p.period_id)),
                ]
                for p in pairs_of[run.run_id]
            ],
        )
        for run in candidates
    }
    kept = _kept(keys.values())
    found: dict[uuid.UUID, LateData] = {}
    missing = []
    for run in candidates:
        figures = kept.get(keys[run.run_id])
        if figures is None:
            missing.append(run)
        elif figures["periods"]:
            found[run.run_id] = _late_of(run, figures)
    for run in missing:
        late = _measured(run)
        symbol = agreements[run.agreement_id].chain.token_symbol
        figures = {"token": late.token_symbol if late else symbol, "periods": []}
        if late is not None:
            found[run.run_id] = late
            figures["periods"] = [
                [
                    period_key(p.period_id),
                    p.label,
                    str(p.locked_native),
                    str(p.difference_native),
                    p.line_count,
                    p.wallet_count,
                ]
                for p in late.periods
            ]
        _keep(run.partner_id, _key("late-run", str(run.run_id)), keys[run.run_id], figures)
    return found


def _late_of(run, figures: dict) -> LateData:
    late = LateData(run, figures["token"])
    for period_id, label, locked, difference, lines, wallets in figures["periods"]:
        late.periods.append(
            LatePeriod(
                uuid.UUID(period_id), label, Decimal(locked), Decimal(difference), lines, wallets
            )
        )
    return late


def _measured(run) -> LateData | None:
    """The engine's measure of one locked run's late data (None when today's data computes
    what was locked plus the adjustments stored)."""
    # true_ups.py may call this module (approve refuses a stale run): imported here, not above.
    from webapp.commissions.true_ups import changes_since_approval

    change = next(
        (
            c
            for c in changes_since_approval(run.partner, run)
            if c.run.run_id == run.run_id and c.periods
        ),
        None,
    )
    if change is None:
        return None
    locked_sums = _locked_sums({(run.agreement_id, p.period_id) for p in change.periods})
    late = LateData(change.run, change.token_symbol)
    for p in change.periods:
        late.periods.append(
            LatePeriod(
                p.period_id,
                p.label,
                locked_sums.get((run.agreement_id, p.period_id), ZERO),
                p.net_commission_native,
                len(p.lines),
                p.wallet_count,
            )
        )
    return late


@dataclass
class TrueUp:
    """What a commit with a true-up would carry on one token: how many differences, over
    how many locked periods, and their net sum."""

    chain: object
    count: int
    periods: list
    net: Decimal


def true_up_summary(partner, until) -> list[TrueUp]:
    """Per token, the differences of the partner's locked pairs of periods starting on or
    before `until` that a commit with a true-up would carry (`runs.locked_differences`).
    Measured by the engine once, then kept by every locked pair's digests at commit and
    today and the adjustments stored, like `late_changes`."""
    K, P = CommissionLock, CanonicalPeriod
    locks = db.session.execute(
        select(K.agreement_id, K.period_id, K.run_id)
        .join(P, P.period_id == K.period_id)
        .join(Agreement, Agreement.agreement_id == K.agreement_id)
        .where(Agreement.partner_id == partner.partner_id, P.start_time < next_day_start(until))
    ).all()
    if not locks:
        return []
    runs = db.session.scalars(
        select(CommissionRun).where(CommissionRun.run_id.in_({run_id for _, _, run_id in locks}))
    ).all()
    pairs_of, agreements = held_pairs(runs)
    today = {
        (run_id, p.period_id): (p.digest, p.today)
        for run_id, pairs in pairs_of.items()
        for p in pairs
    }
    adjusted = _adjustments({(a, p) for a, p, _ in locks})
    key = _key(
        "true-up",
        str(partner.partner_id),
        until.isoformat(),
        sorted(
            [
                str(agreement_id),
                period_key(period_id),
                str(run_id),
                today.get((run_id, period_id)),
                adjusted.get((agreement_id, period_id)),
            ]
            for agreement_id, period_id, run_id in locks
        ),
    )
    figures = _kept([key]).get(key)
    if figures is None:
        from webapp.commissions.true_ups import locked_differences

        figures = _true_up_figures(locked_differences(partner, until=until), agreements)
        _keep(partner.partner_id, _key("true-up-range", until.isoformat()), key, figures)
    chains = {a.chain_id: a.chain for a in agreements.values()}
    return [
        TrueUp(chains[chain_id], count, periods, Decimal(net))
        for chain_id, count, periods, net in figures
    ]


def _true_up_figures(differences, agreements: dict) -> list:
    """Per token (in order of first difference; the first chain of each): count, locked
    periods, net sum, added up by `money.totals_by_token`. Two tokens never add up."""
    chains: dict[str, str] = {}
    periods: dict[str, set] = {}
    rows = []
    for difference in differences:
        chain = agreements[difference.agreement_id].chain
        chains.setdefault(chain.token_symbol, chain.chain_id)
        periods.setdefault(chain.token_symbol, set()).add(period_key(difference.period_id))
        rows.append((chain.token_symbol, (1, difference.commission_amount_native)))
    return [
        [chains[symbol], count, sorted(periods[symbol]), str(net)]
        for symbol, (count, net) in totals_by_token(rows).items()
    ]


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps([RULES_VERSION, *parts], default=str).encode()).hexdigest()


def _adjustments(pairs: set) -> dict:
    """Per (agreement, period) of `pairs` holding adjustment lines: their count and sum
    (one grouped query): a true-up that carried a difference changes them."""
    if not pairs:
        return {}
    L = PartnerCommissionLine
    rows = db.session.execute(
        select(L.agreement_id, L.period_id, func.count(), decimal_sum(L.commission_amount_native))
        .where(
            L.line_kind == LineKind.ADJUSTMENT.value,
            L.agreement_id.in_({a for a, _ in pairs}),
            L.period_id.in_({p for _, p in pairs}),
        )
        .group_by(L.agreement_id, L.period_id)
    ).all()
    return {(a, p): [count, str(amount)] for a, p, count, amount in rows if (a, p) in pairs}


def _kept(keys) -> dict[str, object]:
    """The figures kept under each of `keys` that has some (one query)."""
    K = KeptSummary
    rows = db.session.execute(
        select(K.summary_key, K.figures).where(K.summary_key.in_(list(keys)))
    ).all()
    return {key: json.loads(figures) for key, figures in rows}


def _keep(partner_id, question: str, key: str, figures) -> None:
    """Keep `figures` under `key`, replacing what was kept for the same question. Written in
    a transaction of its own, unless this session has already written (SQLite allows one
    writer: the figures then go with the session's own transaction). Losing the race to
    another worker keeping the same figures is harmless."""
    K = KeptSummary
    row = {
        "summary_key": key,
        "partner_id": partner_id,
        "question": question,
        "digests": "[]",
        "figures": json.dumps(figures),
        "created_at": utcnow(),
    }
    statements = [
        delete(K).where(K.partner_id == partner_id, K.question == question),
        insert(K).values(**row),
    ]
    if _session_has_written():
        with db.session.begin_nested():
            for statement in statements:
                db.session.execute(statement)
        return
    try:
        with db.engine.begin() as connection:
            for statement in statements:
                connection.execute(statement)
    except IntegrityError:
        pass  # another request kept the same figures first


def _session_has_written() -> bool:
    """True when the request's session holds a write transaction on SQLite."""
    if db.session.get_bind().dialect.name != "sqlite" or not db.session().in_transaction():
        return False
    return db.session.connection().connection.driver_connection.in_transaction


def _locked_sums(pairs: set) -> dict:
    """Per (agreement, period): the commission of its lines, adjustments stored included
    (one grouped query)."""
    L = PartnerCommissionLine
    agreements = {a for a, _ in pairs}
    periods = {p for _, p in pairs}
    rows = db.session.execute(
        select(L.agreement_id, L.period_id, decimal_sum(L.commission_amount_native))
        .where(L.agreement_id.in_(agreements), L.period_id.in_(periods))
        .group_by(L.agreement_id, L.period_id)
    ).all()
    return {(a, p): amount or ZERO for a, p, amount in rows if (a, p) in pairs}
