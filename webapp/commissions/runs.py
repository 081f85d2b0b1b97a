"""The life of commission runs (DOMAIN.md, "Month-end close").

A preview stores nothing. A commit, per agreement, stores a `committed` run, takes over the
(agreement, period) pairs of its scope and rewrites the lines and exclusions of the pairs
whose result changed (an unchanged pair keeps its rows), turns `superseded` each earlier
committed run left holding no pair, and with `true_up` stores the differences of locked pairs
as adjustment lines. Approval (four eyes) locks the run's pairs, an admin's reopening unlocks
them, payment is final. Every transition is a run event and an audit entry; each public
function that changes data commits (or rolls back) its own transaction.
"""

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import groupby
from operator import attrgetter, itemgetter

from sqlalchemy import delete, exists, func, insert, or_, select, update

from webapp.agreements.queries import agreements_of_partner
from webapp.attribution import AttributionResult, ComponentTotal, ExclusionTotal, Period
from webapp.commissions import pair_sums, set_based, set_based_lines
from webapp.commissions.fingerprints import fingerprint
from webapp.commissions.inputs import (
    compute_agreement,
    next_day_start,
    period_key,
    period_uuid,
    scope_lineage,
    scope_of,
    terms_of,
)
from webapp.commissions.lifecycle import (
    CommissionError,
    check_range,
    lock_partner,
    record_event,
    supersede,
)
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CommissionExclusion,
    CommissionLock,
    CommissionRun,
    CommissionRunPeriod,
    Partner,
    PartnerCommissionLine,
    User,
    utcnow,
)
from webapp.money import MONEY, ZERO, money_sum
from webapp.storage import bulk_writer, is_postgresql, lock_keys
from webapp.vocab import REASONS, LineKind, RunStatus, joined_components


@dataclass
class TokenTotal:
    """Totals of one token (a chain's symbol): amounts of two tokens are never added."""

    token_symbol: str
    chain_id: str
    line_count: int = 0
    base_amount_native: Decimal = ZERO
    commission_amount_native: Decimal = ZERO
    excluded_amount_native: Decimal = ZERO
    adjustment_count: int = 0
    adjustment_amount_native: Decimal = ZERO


def _of_run(name: str) -> property:
    """A figure read from the result's run as stored."""
    return property(lambda self: getattr(self.run, name), doc=f"The run's {name}.")


@dataclass
class StoredResult:
    """The figures of a run as stored, for a commit that carried some or all of its periods
    over instead of computing them: what an AttributionResult offers, read from the
    database (the run's totals at once, the breakdowns when asked)."""

    run: CommissionRun
    periods: list[Period]

    method = _of_run("method")
    line_count = _of_run("line_count")
    total_base_native = _of_run("total_base_native")
    total_commission_native = _of_run("total_commission_native")
    excluded_amount_native = _of_run("excluded_amount_native")

    def _pairs(self, model):
        return (model.agreement_id == self.run.agreement_id) & model.period_id.in_(
            [period_uuid(p.period_id) for p in self.periods]
        )

    def component_totals(self) -> list[ComponentTotal]:
        """Line count, base and commission per revenue component, by component name."""
        L = PartnerCommissionLine
        rows = db.session.execute(
            select(
                L.revenue_component,
                func.count(),
                decimal_sum(L.base_amount_native),
                decimal_sum(L.commission_amount_native),
            )
            .where(self._pairs(L), L.line_kind == LineKind.COMMISSION.value)
            .group_by(L.revenue_component)
        ).all()
        return sorted(
            (ComponentTotal(str(c), n, base, commission) for c, n, base, commission in rows),
            key=attrgetter("revenue_component"),
        )

    def exclusion_totals(self) -> list[ExclusionTotal]:
        """Count and held-back amount per exclusion reason, in the order they are checked."""
        X = CommissionExclusion
        rows = db.session.execute(
            select(X.reason, func.sum(X.exclusion_count), decimal_sum(X.held_back_amount_native))
            .where(self._pairs(X))
            .group_by(X.reason)
        ).all()
        found = {str(reason): ExclusionTotal(str(reason), int(n), held) for reason, n, held in rows}
        return [found[r] for r in REASONS if r in found]


@dataclass
class AgreementOutcome:
    """One agreement's result, and the run it was committed as (None for a preview).

    `carried_from`: the earlier run whose result a commit carried over, having found every
    input as that run was computed from (nothing computed or written); `result` is then
    the stored figures."""

    agreement: Agreement
    result: AttributionResult | StoredResult | set_based.Summary
    run: CommissionRun | None = None
    periods_without_data: list[Period] = field(default_factory=list)
    adjustments: list = field(default_factory=list)
    carried_from: uuid.UUID | None = None

    @property
    def unchanged(self) -> bool:
        """True when the commit carried an earlier run's result over."""
        return self.carried_from is not None

    @property
    def token_symbol(self) -> str:
        """The symbol of the agreement's chain."""
        return self.agreement.chain.token_symbol


@dataclass
class Computation:
    """The outcome of computing a partner's commissions over a date range."""

    partner: Partner
    date_from: date
    date_to: date
    outcomes: list[AgreementOutcome] = field(default_factory=list)
    committed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def period_count(self) -> int:
        """Periods in scope over every agreement."""
        return sum(len(o.result.periods) for o in self.outcomes)

    def token_totals(self) -> list[TokenTotal]:
        """Lines, base, commission, held back and adjustments per token, by symbol."""
        totals: dict[str, TokenTotal] = {}
        add = MONEY.add
        for outcome in self.outcomes:
            chain = outcome.agreement.chain
            total = totals.setdefault(
                chain.token_symbol, TokenTotal(chain.token_symbol, chain.chain_id)
            )
            result = outcome.result
            total.line_count += result.line_count
            total.base_amount_native = add(total.base_amount_native, result.total_base_native)
            total.commission_amount_native = add(
                total.commission_amount_native, result.total_commission_native
            )
            total.excluded_amount_native = add(
                total.excluded_amount_native, result.excluded_amount_native
            )
            total.adjustment_count += len(outcome.adjustments)
            total.adjustment_amount_native = add(
                total.adjustment_amount_native,
                money_sum(a.commission_amount_native for a in outcome.adjustments),
            )
        return [totals[symbol] for symbol in sorted(totals)]


def _warnings(outcome: AgreementOutcome) -> list[str]:
    if not outcome.periods_without_data:
        return []
    what = "staker rewards" if outcome.agreement.wallet_attribution_enabled else "validator revenue"
    labels = ", ".join(p.label for p in outcome.periods_without_data)
    return [f"{outcome.agreement.name}: no {what} in period(s) {labels}"]


def preview(partner: Partner, date_from: date, date_to: date, summary: bool = False) -> Computation:
    """Compute every agreement of the partner that overlaps the range; store nothing.

    With `summary`, on PostgreSQL a wallet-attribution agreement's result is summed by the
    database (`set_based.Summary`: totals, breakdowns and exclusions by reason, no lines),
    for a page that shows only those. Periods in scope without input rows are named in
    `warnings`."""
    check_range(date_from, date_to)
    computation = Computation(partner, date_from, date_to)
    summed = summary and is_postgresql(db.session)
    for agreement in agreements_of_partner(partner.partner_id, date_from, date_to):
        if summed and agreement.wallet_attribution_enabled:
            scope = scope_of(agreement, date_from, date_to)
            result = set_based.wallet_attribution_summary(
                agreement.partner_id, agreement.chain_id, terms_of(agreement), scope
            )
            empty = [p for p in scope if p.period_id not in result.periods_with_rows]
            outcome = AgreementOutcome(agreement, result, periods_without_data=empty)
        else:
            computed = compute_agreement(agreement, date_from, date_to)
            outcome = AgreementOutcome(
                agreement, computed.result, periods_without_data=computed.periods_without_data
            )
        computation.outcomes.append(outcome)
        computation.warnings.extend(_warnings(outcome))
    return computation


# ---- Commit -------------------------------------------------------------------------------


def _refuse_locked(scopes: dict, agreements: dict) -> None:
    """Refuse when a pair in scope is locked, naming the locking run."""
    K, R, P = CommissionLock, CommissionRun, CanonicalPeriod
    conditions = [
        (K.agreement_id == agreement_id) & K.period_id.in_([period_uuid(p.period_id) for p in s])
        for agreement_id, s in scopes.items()
        if s
    ]
    if not conditions:
        return
    row = db.session.execute(
        select(K.agreement_id, P.label, R.run_id, R.status, R.date_from, R.date_to)
        .join(R, R.run_id == K.run_id)
        .join(P, P.period_id == K.period_id)
        .where(or_(*conditions))
        .order_by(P.start_time)
        .limit(1)
    ).first()
    if row is not None:
        agreement_id, label, run_id, status, low, high = row
        raise CommissionError(
            f"period {label} of {agreements[agreement_id].name} is locked by {status} run "
            f"{run_id} ({low.isoformat()} to {high.isoformat()}): nothing committed"
        )


def commit(
    partner: Partner, date_from: date, date_to: date, user=None, true_up: bool = False
) -> Computation:
    """Compute and store every agreement of the partner that overlaps the range, in one
    transaction; with `true_up`, also the differences of the partner's locked pairs as
    adjustment lines. Refused (nothing stored) when no period is in scope or a pair in
    scope is locked."""
    check_range(date_from, date_to)
    try:
        lock_partner(partner.partner_id)
        agreements = agreements_of_partner(partner.partner_id, date_from, date_to)
        if not agreements:
            raise CommissionError(
                f"{partner.name} has no agreement in effect between "
                f"{date_from.isoformat()} and {date_to.isoformat()}: nothing committed"
            )
        scopes = {a.agreement_id: scope_of(a, date_from, date_to) for a in agreements}
        if not any(scopes.values()):
            raise CommissionError(
                f"no period in scope between {date_from.isoformat()} and "
                f"{date_to.isoformat()}: nothing committed"
            )
        _refuse_locked(scopes, {a.agreement_id: a for a in agreements})
        # The differences are measured before this commit writes anything.
        differences = locked_differences(partner, until=date_to) if true_up else []
        computation = Computation(partner, date_from, date_to, committed=True)
        for agreement in agreements:
            scope = scopes[agreement.agreement_id]
            if not scope:
                continue
            prints = fingerprint(
                agreement.partner_id, agreement.chain_id, terms_of(agreement), scope
            )
            kept = {} if true_up else _kept_pairs(agreement, scope, prints)
            earlier = _whole_run(kept, scope)
            if earlier is not None:
                run = _carry_run(agreement, earlier, date_from, date_to, user)
                outcome = AgreementOutcome(
                    agreement,
                    StoredResult(run, scope),
                    run,
                    prints.without_data,
                    carried_from=earlier.run_id,
                )
            else:
                kept_periods = [p for p in scope if period_key(p.period_id) in kept]
                fresh = [p for p in scope if period_key(p.period_id) not in kept]
                in_database = bool(fresh) and set_based_lines.applies(agreement)
                computed = (
                    compute_agreement(agreement, date_from, date_to, fresh)
                    if fresh and not in_database
                    else None
                )
                store = _store_run_in_database if in_database else _store_run
                run = store(
                    agreement, scope, computed, kept_periods, date_from, date_to, user, prints
                )
                if kept or in_database:
                    result = StoredResult(run, scope)
                    empty = prints.without_data
                else:
                    result, empty = computed.result, computed.periods_without_data
                outcome = AgreementOutcome(agreement, result, run, empty)
            computation.outcomes.append(outcome)
            computation.warnings.extend(_warnings(outcome))
        if differences:
            _store_adjustments(computation, differences)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return computation


def _actor_id(user):
    return getattr(user, "user_id", None)


def _by_period(rows) -> dict:
    """Rows (lines or exclusions, period first) per period key, in their order."""
    grouped: dict = defaultdict(list)
    for key, group in groupby(rows, key=itemgetter(0)):
        grouped[key].extend(group)
    return grouped


def _grouped_exclusions(rows) -> dict:
    """{(wallet, validator, reason): [count, held back, components]} of one period's
    exclusions."""
    grouped: dict = {}
    add = MONEY.add
    for ex in rows:
        key = (ex.wallet_address, ex.validator_key, ex.reason)
        entry = grouped.get(key)
        if entry is None:
            grouped[key] = [1, ex.held_back_amount_native, {ex.revenue_component} - {None}]
        else:
            entry[0] += 1
            entry[1] = add(entry[1], ex.held_back_amount_native)
            entry[2].add(ex.revenue_component)
    return grouped


def _digest(lines: list, exclusions: list) -> str:
    """SHA-256 of one period's lines and exclusions, column by column (a loop in C per
    column instead of formatting each line: an unchanged period costs almost nothing)."""
    digest = hashlib.sha256()
    for rows in (lines, exclusions):
        columns = list(zip(*rows, strict=True)) if rows else []
        for column in columns[1:]:
            digest.update("\x1f".join(map(str, column)).encode())
            digest.update(b"\x1e")
        digest.update(b"\x1d")
    return digest.hexdigest()


def _kept_pairs(agreement, scope, prints) -> dict[str, uuid.UUID]:
    """The periods of `scope` (by key) whose pair a committed run holds, computed from inputs
    with the digests `prints` gives them now, and that run: their result would come out the
    same, so their rows stay as they are and only the other periods are computed."""
    RP, R = CommissionRunPeriod, CommissionRun
    held = db.session.execute(
        select(RP.period_id, RP.run_id, RP.inputs_digest)
        .join(R, R.run_id == RP.run_id)
        .where(
            RP.agreement_id == agreement.agreement_id,
            RP.period_id.in_([period_uuid(p.period_id) for p in scope]),
            R.status == RunStatus.COMMITTED.value,
        )
    ).all()
    return {
        period_key(period_id): run_id
        for period_id, run_id, digest in held
        if digest is not None and prints.digests.get(period_key(period_id)) == digest
    }


def _whole_run(kept: dict[str, uuid.UUID], scope) -> CommissionRun | None:
    """The one run that holds every pair of `scope` and no other, when `kept` says so: its
    result can be carried over whole."""
    if len(kept) != len(scope) or len(set(kept.values())) != 1:
        return None
    run = db.session.get(CommissionRun, next(iter(kept.values())))
    return run if run.period_count == len(scope) else None


def _kept_sums(agreement, kept: list[Period]) -> tuple[int, Decimal, Decimal, Decimal]:
    """Lines, base, commission and held back of the rows stored in the `kept` pairs."""
    L, X = PartnerCommissionLine, CommissionExclusion
    ids = [period_uuid(p.period_id) for p in kept]
    count, base, commission = db.session.execute(
        select(
            func.count(),
            decimal_sum(L.base_amount_native),
            decimal_sum(L.commission_amount_native),
        ).where(
            L.agreement_id == agreement.agreement_id,
            L.period_id.in_(ids),
            L.line_kind == LineKind.COMMISSION.value,
        )
    ).one()
    held = db.session.scalar(
        select(decimal_sum(X.held_back_amount_native)).where(
            X.agreement_id == agreement.agreement_id, X.period_id.in_(ids)
        )
    )
    return count, base or ZERO, commission or ZERO, held or ZERO


def _new_run(agreement, date_from, date_to, user, details: dict, **figures) -> CommissionRun:
    """A committed run of the agreement over the range with its figures, stored, and its
    commit on record (with `details`)."""
    run = CommissionRun(
        run_id=uuid.uuid4(),
        partner_id=agreement.partner_id,
        agreement_id=agreement.agreement_id,
        date_from=date_from,
        date_to=date_to,
        status=RunStatus.COMMITTED.value,
        created_by_user_id=_actor_id(user),
        created_at=utcnow(),
        **figures,
    )
    db.session.add(run)
    db.session.flush()
    record_event(run, "commit", None, user, date_from=date_from, date_to=date_to, **details)
    return run


def _carry_run(agreement, earlier: CommissionRun, date_from, date_to, user) -> CommissionRun:
    """A new committed run with the result of `earlier`, which it supersedes: the same
    totals and lineage, its pairs taken over, its lines and exclusions left as they are (as a
    recommit leaves every pair whose result did not change)."""
    run = _new_run(
        agreement,
        date_from,
        date_to,
        user,
        {"result_of": earlier.run_id},
        method=earlier.method,
        period_count=earlier.period_count,
        line_count=earlier.line_count,
        total_base_native=earlier.total_base_native,
        total_commission_native=earlier.total_commission_native,
        excluded_amount_native=earlier.excluded_amount_native,
        input_payload_ids=earlier.input_payload_ids,
    )
    RP = CommissionRunPeriod
    db.session.execute(update(RP).where(RP.run_id == earlier.run_id).values(run_id=run.run_id))
    _supersede_runs_left_empty(agreement, run, user)
    return run


def _take_pairs(agreement, kept: list[Period], run: CommissionRun) -> None:
    """The new run holds the `kept` pairs from now on; their rows stay as they are."""
    RP = CommissionRunPeriod
    db.session.execute(
        update(RP)
        .where(
            RP.agreement_id == agreement.agreement_id,
            RP.period_id.in_([period_uuid(p.period_id) for p in kept]),
        )
        .values(run_id=run.run_id)
    )


def _delete_rows(agreement, period_ids: list) -> None:
    """Delete the commission lines and exclusions of the agreement's pairs about to be
    written again (adjustment lines stay: they correct locked runs)."""
    L, X = PartnerCommissionLine, CommissionExclusion
    db.session.execute(
        delete(L).where(
            L.agreement_id == agreement.agreement_id,
            L.period_id.in_(period_ids),
            L.line_kind == LineKind.COMMISSION.value,
        )
    )
    db.session.execute(
        delete(X).where(X.agreement_id == agreement.agreement_id, X.period_id.in_(period_ids))
    )


def _store_run(agreement, scope, computed, kept, date_from, date_to, user, prints) -> CommissionRun:
    """A new committed run over `scope`: the computed periods' lines and exclusions written
    where their result changed, the `kept` periods' rows left as stored; the run takes over
    every pair."""
    if computed is None:
        result = AttributionResult(agreement.agreement_id, terms_of(agreement).method, [], [], [])
        lineage = scope_lineage(agreement, scope)
    else:
        result = computed.result
        lineage = scope_lineage(agreement, scope) if kept else computed.lineage
    lines_kept, base_kept, commission_kept, held_kept = (
        _kept_sums(agreement, kept) if kept else (0, ZERO, ZERO, ZERO)
    )
    run = _new_run(
        agreement,
        date_from,
        date_to,
        user,
        {},
        method=result.method,
        period_count=len(scope),
        line_count=len(result.lines) + lines_kept,
        total_base_native=MONEY.add(result.total_base_native, base_kept),
        total_commission_native=MONEY.add(result.total_commission_native, commission_kept),
        excluded_amount_native=MONEY.add(result.excluded_amount_native, held_kept),
        input_payload_ids=json.dumps(lineage, sort_keys=True),
    )
    RP = CommissionRunPeriod
    if kept:
        _take_pairs(agreement, kept, run)

    lines = _by_period(result.lines)
    exclusions = _by_period(result.exclusions)
    digests = {
        p.period_id: _digest(lines.get(p.period_id, []), exclusions.get(p.period_id, []))
        for p in result.periods
    }
    grouped = {
        p.period_id: _grouped_exclusions(exclusions.get(p.period_id, [])) for p in result.periods
    }

    held = dict(
        db.session.execute(
            select(RP.period_id, RP.lines_digest).where(
                RP.agreement_id == agreement.agreement_id,
                RP.period_id.in_([period_uuid(p.period_id) for p in result.periods]),
            )
        ).all()
    )
    changed = [
        p.period_id
        for p in result.periods
        if held.get(period_uuid(p.period_id)) != digests[p.period_id]
    ]
    # Written in the order of the unique key (agreement, period, validator, component,
    # wallet): B-tree pages then fill left to right instead of splitting all over.
    changed.sort(key=period_uuid)
    changed_ids = [period_uuid(key) for key in changed]
    if changed_ids:
        _delete_rows(agreement, changed_ids)
        index_order = attrgetter("validator_key", "revenue_component", "wallet_address")
        for key in changed:
            if key in lines and lines[key][0].wallet_address is not None:
                lines[key].sort(key=index_order)
        _lock_parents(run, changed_ids)
        _write_lines(run, changed, lines)
        _write_exclusions(run, changed, grouped)
    if held:
        db.session.execute(
            delete(RP).where(
                RP.agreement_id == agreement.agreement_id, RP.period_id.in_(list(held))
            )
        )
    if not result.periods:
        _supersede_runs_left_empty(agreement, run, user)
        return run
    db.session.execute(
        insert(RP),
        [
            {
                "agreement_id": agreement.agreement_id,
                "period_id": period_uuid(p.period_id),
                "run_id": run.run_id,
                "lines_digest": digests[p.period_id],
                "inputs_digest": prints.digests.get(period_key(p.period_id)),
                "inputs_parts": prints.parts.get(period_key(p.period_id)),
                "sums": pair_sums.dump(lines.get(p.period_id, ()), grouped[p.period_id]),
            }
            for p in result.periods
        ],
    )
    _supersede_runs_left_empty(agreement, run, user)
    return run


# ---- Commit where the data lives (PostgreSQL, wallet attribution) --------------------------


def _store_run_in_database(
    agreement, scope, computed, kept, date_from, date_to, user, prints
) -> CommissionRun:
    """`_store_run` for a wallet-attribution agreement on PostgreSQL: the periods of `scope`
    not `kept` are computed by the database (`set_based_lines`), and the lines and
    exclusions of those whose result changed are written there by INSERT ... SELECT; the
    run's totals, the pairs' digests and sums, and the takeover of pairs are as
    `_store_run` makes them. `computed` is unused (None)."""
    kept_keys = {period_key(p.period_id) for p in kept}
    fresh = [p for p in scope if period_key(p.period_id) not in kept_keys]
    lines_kept, base_kept, commission_kept, held_kept = (
        _kept_sums(agreement, kept) if kept else (0, ZERO, ZERO, ZERO)
    )
    run = _new_run(
        agreement,
        date_from,
        date_to,
        user,
        {},
        method=terms_of(agreement).method,
        period_count=len(scope),
        line_count=0,
        total_base_native=ZERO,
        total_commission_native=ZERO,
        excluded_amount_native=ZERO,
        input_payload_ids=json.dumps(scope_lineage(agreement, scope), sort_keys=True),
    )
    RP = CommissionRunPeriod
    if kept:
        _take_pairs(agreement, kept, run)
    fresh_ids = [period_uuid(p.period_id) for p in fresh]
    held = dict(
        db.session.execute(
            select(RP.period_id, RP.lines_digest).where(
                RP.agreement_id == agreement.agreement_id, RP.period_id.in_(fresh_ids)
            )
        ).all()
    )
    # Pairs stored before are first measured: only those whose result changed are written.
    figures = set_based_lines.period_figures(agreement, fresh) if held else {}
    changed = [
        p
        for p in fresh
        if not held or held.get(period_uuid(p.period_id)) != figures[period_key(p.period_id)].digest
    ]
    changed_ids = sorted(period_uuid(p.period_id) for p in changed)
    if changed_ids:
        _delete_rows(agreement, changed_ids)
        _lock_parents(run, changed_ids)
        figures.update(set_based_lines.period_figures(agreement, changed, run, write=changed_ids))
    add = MONEY.add
    run.line_count = lines_kept + sum(f.line_count for f in figures.values())
    run.total_base_native = add(base_kept, money_sum(f.base for f in figures.values()))
    run.total_commission_native = add(
        commission_kept, money_sum(f.commission for f in figures.values())
    )
    run.excluded_amount_native = add(held_kept, money_sum(f.held_back for f in figures.values()))
    if held:
        db.session.execute(
            delete(RP).where(
                RP.agreement_id == agreement.agreement_id, RP.period_id.in_(list(held))
            )
        )
    db.session.execute(
        insert(RP),
        [
            {
                "agreement_id": agreement.agreement_id,
                "period_id": period_uuid(p.period_id),
                "run_id": run.run_id,
                "lines_digest": figures[period_key(p.period_id)].digest,
                "inputs_digest": prints.digests.get(period_key(p.period_id)),
                "inputs_parts": prints.parts.get(period_key(p.period_id)),
                "sums": figures[period_key(p.period_id)].sums,
            }
            for p in fresh
        ],
    )
    _supersede_runs_left_empty(agreement, run, user)
    return run


def _supersede_runs_left_empty(agreement: Agreement, run: CommissionRun, user) -> None:
    """Mark superseded each earlier committed run of the agreement that holds no pair any
    more; the adjustments it carried move to the new run (they stay carried, by a run that
    counts). A run that overlaps only part of the new range keeps its pairs and status."""
    RP = CommissionRunPeriod
    earlier = db.session.scalars(
        select(CommissionRun).where(
            CommissionRun.agreement_id == agreement.agreement_id,
            CommissionRun.status == RunStatus.COMMITTED.value,
            CommissionRun.run_id != run.run_id,
            ~exists().where(RP.run_id == CommissionRun.run_id),
        )
    ).all()
    for old in earlier:
        supersede(old, run, user)
        if old.adjustment_count:
            L = PartnerCommissionLine
            db.session.execute(
                update(L)
                .where(L.run_id == old.run_id, L.line_kind == LineKind.ADJUSTMENT.value)
                .values(run_id=run.run_id)
            )
            run.adjustment_count = (run.adjustment_count or 0) + old.adjustment_count
            run.total_adjustment_native = MONEY.add(
                run.total_adjustment_native or ZERO, old.total_adjustment_native
            )


# ---- Bulk writes --------------------------------------------------------------------------

LINE_COLUMNS = (
    "period_id",
    "validator_key",
    "revenue_component",
    "wallet_address",
    "base_amount_native",
    "commission_rate_bps",
    "commission_amount_native",
)
EXCLUSION_COLUMNS = (
    "period_id",
    "wallet_address",
    "validator_key",
    "revenue_component",
    "reason",
    "exclusion_count",
    "held_back_amount_native",
)


def _lock_parents(run: CommissionRun, period_ids: list) -> None:
    """Hold the parents of the rows about to be written (the run is new, the agreement is
    locked already), so the bulk writer may skip per-row foreign-key checks."""
    lock_keys(db.session, Partner.partner_id, [run.partner_id])
    found = lock_keys(db.session, CanonicalPeriod.period_id, period_ids)
    if len(found) != len(set(period_ids)):
        raise CommissionError("a period in scope was deleted meanwhile: nothing committed")


def _write_lines(run: CommissionRun, period_keys: list, lines: dict) -> None:
    """Insert the lines of the given periods (binary COPY on PostgreSQL, batched INSERT
    else), with ascending ids."""
    constants = {
        "run_id": run.run_id,
        "agreement_id": run.agreement_id,
        "partner_id": run.partner_id,
        "created_at": run.created_at,
    }
    with bulk_writer(
        db.session,
        PartnerCommissionLine.__table__,
        LINE_COLUMNS,
        new_ids=True,
        constants=constants,
        parents_locked=True,
    ) as writer:
        for key in period_keys:
            period_id = period_uuid(key)
            writer.write_many(
                (
                    period_id,
                    line.validator_key,
                    str(line.revenue_component),
                    line.wallet_address,
                    line.base_amount_native,
                    line.commission_rate_bps,
                    line.commission_amount_native,
                )
                for line in lines.get(key, ())
            )


def _write_exclusions(run: CommissionRun, period_keys: list, exclusions: dict) -> None:
    """Insert the grouped exclusions of the given periods."""
    constants = {"run_id": run.run_id, "agreement_id": run.agreement_id}
    with bulk_writer(
        db.session,
        CommissionExclusion.__table__,
        EXCLUSION_COLUMNS,
        new_ids=True,
        constants=constants,
        parents_locked=True,
    ) as writer:
        for key in period_keys:
            period_id = period_uuid(key)
            writer.write_many(
                (period_id, wallet, validator, joined_components(parts), reason, count, held)
                for (wallet, validator, reason), (count, held, parts) in exclusions.get(
                    key, {}
                ).items()
            )


# ---- True-ups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """Recomputed minus locked (lines and adjustments stored) for one line key of a locked
    (agreement, period); a negative commission is a clawback."""

    agreement_id: uuid.UUID
    period_id: uuid.UUID
    validator_key: str
    revenue_component: str
    wallet_address: str | None
    base_amount_native: Decimal
    commission_rate_bps: int
    commission_amount_native: Decimal
    corrects_run_id: uuid.UUID


def locked_differences(partner: Partner, until: date | None = None, run_id=None):
    """Every non-zero difference of the partner's locked pairs (those of periods starting on
    or before `until`, or of one locking run), in a stable order.

    Per (agreement, period, validator, component, wallet): the engine's commission today
    minus the locked line plus the adjustments already stored (a missing side counts as
    zero); the rate is the recomputed line's, else the locked one's.
    """
    K, P, A = CommissionLock, CanonicalPeriod, Agreement
    stmt = (
        select(K.agreement_id, K.period_id, K.run_id, P.start_time)
        .join(P, P.period_id == K.period_id)
        .join(A, A.agreement_id == K.agreement_id)
        .where(A.partner_id == partner.partner_id)
    )
    if until is not None:
        stmt = stmt.where(P.start_time < next_day_start(until))
    if run_id is not None:
        stmt = stmt.where(K.run_id == run_id)
    locks = db.session.execute(stmt).all()
    if not locks:
        return []
    by_agreement: dict = defaultdict(dict)
    for agreement_id, period_id, locking_run, start in locks:
        by_agreement[agreement_id][period_id] = (locking_run, start)
    agreements = {
        a.agreement_id: a
        for a in db.session.scalars(select(A).where(A.agreement_id.in_(list(by_agreement))))
    }
    stored = _stored_amounts(by_agreement)
    differences = []
    for agreement_id, periods in by_agreement.items():
        starts = [_utc_date(start) for _, start in periods.values()]
        computed = compute_agreement(agreements[agreement_id], min(starts), max(starts))
        recomputed: dict = {}
        for line in computed.result.lines:
            period_id = period_uuid(line.period_id)
            if period_id in periods:
                key = (
                    period_id,
                    line.validator_key,
                    str(line.revenue_component),
                    line.wallet_address,
                )
                recomputed[key] = (
                    line.base_amount_native,
                    line.commission_amount_native,
                    line.commission_rate_bps,
                )
        mine = stored.get(agreement_id, {})
        subtract = MONEY.subtract
        for key in sorted(set(recomputed) | set(mine), key=_sort_key):
            base_new, amount_new, rate_new = recomputed.get(key, (ZERO, ZERO, None))
            base_old, amount_old, rate_old = mine.get(key, (ZERO, ZERO, None))
            base, amount = subtract(base_new, base_old), subtract(amount_new, amount_old)
            if base == 0 and amount == 0:
                continue
            rate = rate_new if rate_new is not None else (rate_old or 0)
            period_id, validator, component, wallet = key
            differences.append(
                Difference(
                    agreement_id,
                    period_id,
                    validator,
                    component,
                    wallet,
                    base,
                    rate,
                    amount,
                    periods[period_id][0],
                )
            )
    return differences


def _sort_key(key):
    period_id, validator, component, wallet = key
    return (str(period_id), validator, component, wallet or "")


def _utc_date(instant: datetime) -> date:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).date()


def _stored_amounts(by_agreement: dict) -> dict:
    """Per agreement, per line key of its locked pairs: base and commission of the locked
    line plus the adjustments stored, and the locked line's rate (one query)."""
    L = PartnerCommissionLine
    conditions = [
        (L.agreement_id == agreement_id) & L.period_id.in_(list(periods))
        for agreement_id, periods in by_agreement.items()
    ]
    rows = db.session.execute(
        select(
            L.agreement_id,
            L.period_id,
            L.validator_key,
            L.revenue_component,
            L.wallet_address,
            L.line_kind,
            L.base_amount_native,
            L.commission_amount_native,
            L.commission_rate_bps,
        ).where(or_(*conditions))
    )
    stored: dict = defaultdict(dict)
    add = MONEY.add
    for agreement_id, period_id, validator, component, wallet, kind, base, amount, rate in rows:
        key = (period_id, validator, str(component), wallet)
        entry = stored[agreement_id].get(key)
        locked_rate = rate if kind == LineKind.COMMISSION.value else None
        if entry is None:
            stored[agreement_id][key] = (base, amount, locked_rate)
        else:
            stored[agreement_id][key] = (
                add(entry[0], base),
                add(entry[1], amount),
                entry[2] if entry[2] is not None else locked_rate,
            )
    return stored


def _store_adjustments(computation: Computation, differences: list[Difference]) -> None:
    """Store the differences as adjustment lines of this commit's runs: each in the run of
    its own agreement, else of another agreement on the same chain (amounts of two tokens
    never share a run). Differences with no run of their chain are named as warnings."""
    outcomes = {o.agreement.agreement_id: o for o in computation.outcomes}
    by_chain = {}
    for outcome in computation.outcomes:
        by_chain.setdefault(outcome.agreement.chain_id, outcome)
    chain_of = dict(
        db.session.execute(
            select(Agreement.agreement_id, Agreement.chain_id).where(
                Agreement.agreement_id.in_({d.agreement_id for d in differences})
            )
        ).all()
    )
    uncarried: dict = defaultdict(int)
    values = []
    for difference in differences:
        outcome = outcomes.get(difference.agreement_id) or by_chain.get(
            chain_of[difference.agreement_id]
        )
        if outcome is None:
            uncarried[chain_of[difference.agreement_id]] += 1
            continue
        outcome.adjustments.append(difference)
        run = outcome.run
        values.append(
            {
                "line_id": uuid.uuid4(),
                "run_id": run.run_id,
                "agreement_id": difference.agreement_id,
                "partner_id": computation.partner.partner_id,
                "period_id": difference.period_id,
                "validator_key": difference.validator_key,
                "revenue_component": difference.revenue_component,
                "wallet_address": difference.wallet_address,
                "base_amount_native": difference.base_amount_native,
                "commission_rate_bps": difference.commission_rate_bps,
                "commission_amount_native": difference.commission_amount_native,
                "created_at": run.created_at,
                "line_kind": LineKind.ADJUSTMENT.value,
                "corrects_run_id": difference.corrects_run_id,
            }
        )
    if values:
        db.session.execute(insert(PartnerCommissionLine), values)
    for outcome in computation.outcomes:
        if outcome.adjustments:
            run = outcome.run
            run.adjustment_count = (run.adjustment_count or 0) + len(outcome.adjustments)
            run.total_adjustment_native = MONEY.add(
                run.total_adjustment_native or ZERO,
                money_sum(a.commission_amount_native for a in outcome.adjustments),
            )
    for chain_id, count in sorted(uncarried.items()):
        computation.warnings.append(
            f"{count} true-up difference(s) on {chain_id} not carried: "
            f"this commit has no run on {chain_id}"
        )


# ---- Approve, reopen, pay -----------------------------------------------------------------


def find_user(email: str | None) -> User | None:
    """The user with that e-mail address (case-insensitive), None for no address; an unknown
    address is an error."""
    if email is None:
        return None
    user = db.session.scalar(select(User).where(User.email.ilike(email.strip())))
    if user is None:
        raise CommissionError(f"no user with e-mail {email!r}")
    return user


# ---- Changed since approval -------------------------------------------------------------


@dataclass
class PeriodChange:
    """What changed since approval in one locked period of one run."""

    period_id: object
    label: str
    token_symbol: str
    net_commission_native: Decimal = ZERO
    wallet_count: int = 0
    lines: list[Difference] = field(default_factory=list)


@dataclass
class RunChange:
    """A locked run whose periods would compute differently today."""

    run: CommissionRun
    token_symbol: str
    periods: list[PeriodChange] = field(default_factory=list)

    @property
    def net_commission_native(self) -> Decimal:
        """The net difference over the run's changed periods (one token)."""
        total = ZERO
        for period in self.periods:
            total = MONEY.add(total, period.net_commission_native)
        return total


def changes_since_approval(partner: Partner, run: CommissionRun | None = None):
    """Per locked run of the partner (or just `run`): per period, the net commission
    difference of today's computation against the locked lines plus stored adjustments,
    how many wallets differ, and the differing lines. Empty when nothing changed."""
    differences = locked_differences(partner, run_id=run.run_id if run is not None else None)
    if not differences:
        return []
    runs = {
        r.run_id: r
        for r in db.session.scalars(
            select(CommissionRun).where(
                CommissionRun.run_id.in_({d.corrects_run_id for d in differences})
            )
        )
    }
    P = CanonicalPeriod
    periods = dict(
        db.session.execute(
            select(P.period_id, P.label).where(P.period_id.in_({d.period_id for d in differences}))
        ).all()
    )
    changes: dict = {}
    wallets: dict = {}
    for difference in differences:
        locked = runs[difference.corrects_run_id]
        symbol = locked.agreement.chain.token_symbol
        change = changes.setdefault(locked.run_id, RunChange(locked, symbol))
        key = (locked.run_id, difference.period_id)
        if key not in wallets:
            wallets[key] = set()
            change.periods.append(
                PeriodChange(difference.period_id, periods[difference.period_id], symbol)
            )
        period = change.periods[-1]
        period.lines.append(difference)
        period.net_commission_native = MONEY.add(
            period.net_commission_native, difference.commission_amount_native
        )
        if difference.wallet_address is not None:
            wallets[key].add(difference.wallet_address)
            period.wallet_count = len(wallets[key])
    return list(changes.values())
