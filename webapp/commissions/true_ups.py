"""True-ups (DOMAIN.md, "Month-end close"): what a locked pair would pay now against what its
run stored (`locked_differences`), stored as adjustment lines by a commit with `true_up`;
and what changed since a run was approved (`changes_since_approval`)."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import insert, or_, select

from webapp.commissions.inputs import compute_agreement
from webapp.commissions.results import Computation
from webapp.commissions.terms import next_day_start, period_uuid
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CommissionLock,
    CommissionRun,
    Partner,
    PartnerCommissionLine,
)
from webapp.money import MONEY, ZERO, money_sum
from webapp.vocab import LineKind


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


def store_adjustments(computation: Computation, differences: list[Difference]) -> None:
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
