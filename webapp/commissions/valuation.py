"""USD values of commission figures (DOMAIN.md "Price").

A period's price is the price of its chain's token on the UTC day on which it ends (the day
of `end_time` minus one microsecond: a period ending at midnight belongs to the day before).
A line's USD value is its commission times that price, rounded half-to-even to 18 places;
a total is the sum of its lines' values. A missing price is named ("no ETH price for
2025-10-31") and leaves the value empty, never zero.

Values follow today's prices (`canonical_prices`) until a run is approved; `fix_prices`,
called inside the approval, keeps the prices of the run's periods in
`commission_run_prices`, and an approved or paid run is valued at those from then on.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, select

from webapp.commissions.queries import lines_of_run
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CanonicalPrice,
    Chain,
    CommissionRun,
    CommissionRunPeriod,
    CommissionRunPrice,
    PartnerCommissionLine,
)
from webapp.money import MONEY, QUANTUM, ROUNDING, ZERO, price_day
from webapp.vocab import LineKind, RunStatus

#: Runs whose values are fixed: valued at the prices kept at their approval.
FIXED_STATUSES = (RunStatus.APPROVED.value, RunStatus.PAID.value)


def _uuid(value) -> uuid.UUID:
    """A period id as a UUID (the engine may carry it as its text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def missing_price(symbol: str, day: date) -> str:
    """The warning for a missing price: `no ETH price for 2025-10-31`."""
    return f"no {symbol} price for {day.isoformat()}"


def line_value(commission: Decimal, price: Decimal | None) -> Decimal | None:
    """commission x price, rounded half-to-even to 18 places; None without a price."""
    if price is None:
        return None
    return ROUNDING.multiply(commission, price).quantize(QUANTUM, context=ROUNDING)


@dataclass(frozen=True)
class PeriodPrice:
    """The price that values one period's lines, where it comes from, or that it is missing."""

    period_id: uuid.UUID
    chain_id: str
    symbol: str
    day: date
    price_usd: Decimal | None
    source_payload_id: uuid.UUID | None = None
    #: True when the price was fixed at a run's approval.
    fixed: bool = False

    @property
    def warning(self) -> str | None:
        """The named warning when there is no price, else None."""
        return None if self.price_usd is not None else missing_price(self.symbol, self.day)


def todays_prices(period_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PeriodPrice]:
    """Today's price of each period (stored or missing): the periods and their chains in one
    query, the prices of all their days in one more."""
    period_ids = {_uuid(period_id) for period_id in period_ids}
    if not period_ids:
        return {}
    P = CanonicalPeriod
    periods = db.session.execute(
        select(P.period_id, P.chain_id, Chain.token_symbol, P.end_time)
        .join(Chain, Chain.chain_id == P.chain_id)
        .where(P.period_id.in_(period_ids))
    ).all()
    days = {(chain_id, price_day(end)) for _, chain_id, _, end in periods}
    stored = {
        (chain_id, day): (price, payload_id)
        for chain_id, day, price, payload_id in db.session.execute(
            select(
                CanonicalPrice.chain_id,
                CanonicalPrice.date,
                CanonicalPrice.price_usd,
                CanonicalPrice.source_payload_id,
            ).where(
                CanonicalPrice.chain_id.in_({chain_id for chain_id, _ in days}),
                CanonicalPrice.date.in_({day for _, day in days}),
            )
        )
    }
    result = {}
    for period_id, chain_id, symbol, end in periods:
        day = price_day(end)
        price, payload_id = stored.get((chain_id, day), (None, None))
        result[period_id] = PeriodPrice(period_id, chain_id, symbol, day, price, payload_id)
    return result


def fixed_prices(*where) -> dict[tuple[uuid.UUID, uuid.UUID], PeriodPrice]:
    """The prices kept at approval, per (run, period), of the approved or paid runs that
    match `where` (conditions on CommissionRun), in one query."""
    R, F, P = CommissionRun, CommissionRunPrice, CanonicalPeriod
    rows = db.session.execute(
        select(F.run_id, F.period_id, P.chain_id, Chain.token_symbol, F.price_day, F.price_usd)
        .add_columns(F.source_payload_id)
        .join(R, R.run_id == F.run_id)
        .join(P, P.period_id == F.period_id)
        .join(Chain, Chain.chain_id == P.chain_id)
        .where(R.status.in_(FIXED_STATUSES), *where)
    )
    return {
        (run_id, period_id): PeriodPrice(
            period_id, chain_id, symbol, day, price, payload_id, fixed=True
        )
        for run_id, period_id, chain_id, symbol, day, price, payload_id in rows
    }


@dataclass
class Valuation:
    """Prices for the lines of a set of periods: the fixed price of an approved or paid run's
    period where one was kept, else today's. Remembers the missing prices it was asked for."""

    today: dict[uuid.UUID, PeriodPrice]
    fixed: dict[tuple[uuid.UUID, uuid.UUID], PeriodPrice] = field(default_factory=dict)
    missing: dict[tuple[str, date], str] = field(default_factory=dict)

    @classmethod
    def load(cls, period_ids: Iterable[uuid.UUID], *runs_where) -> "Valuation":
        """Today's prices of the periods and, given conditions on the runs, their fixed ones."""
        fixed = fixed_prices(*runs_where) if runs_where else {}
        return cls(todays_prices(period_ids), fixed)

    def price(
        self, period_id: uuid.UUID, run_id: uuid.UUID | None = None, status: str | None = None
    ) -> PeriodPrice | None:
        """The price that values a line of the period held (or carried) by the run."""
        found = None
        if period_id.__class__ is not uuid.UUID:
            period_id = _uuid(period_id)
        if run_id is not None and status in FIXED_STATUSES:
            found = self.fixed.get((run_id, period_id))
        if found is None:
            found = self.today.get(period_id)
        if found is not None and found.price_usd is None:
            self.missing[found.chain_id, found.day] = found.warning
        return found

    def value(
        self,
        commission: Decimal,
        period_id: uuid.UUID,
        run_id: uuid.UUID | None = None,
        status: str | None = None,
    ) -> tuple[Decimal | None, Decimal | None]:
        """(price, USD value) of one line; (None, None) when no price is known."""
        found = self.price(period_id, run_id, status)
        price = found.price_usd if found is not None else None
        return price, line_value(commission, price)

    @property
    def warnings(self) -> list[str]:
        """The missing prices asked for, in chain and day order."""
        return [self.missing[key] for key in sorted(self.missing)]


@dataclass
class UsdTotal:
    """The USD value of a set of lines: the sum of the line values, or None (empty) when a
    line has no price; `warnings` names the missing prices."""

    value: Decimal | None = ZERO
    line_count: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, line_value_usd: Decimal | None) -> None:
        """Count one line's value; a line without one leaves the total empty."""
        self.line_count += 1
        if line_value_usd is None or self.value is None:
            self.value = None
        else:
            self.value = MONEY.add(self.value, line_value_usd)


def run_period_ids(run: CommissionRun) -> set[uuid.UUID]:
    """The periods whose lines a run's figures hold: the pairs it holds and the periods its
    adjustment lines correct (one query)."""
    L = PartnerCommissionLine
    held = select(CommissionRunPeriod.period_id).where(CommissionRunPeriod.run_id == run.run_id)
    adjusted = select(L.period_id).where(
        L.run_id == run.run_id, L.line_kind == LineKind.ADJUSTMENT.value
    )
    return set(db.session.scalars(held.union(adjusted)))


def run_valuation(run: CommissionRun) -> Valuation:
    """The prices of a run's lines: fixed ones once it is approved, else today's."""
    return Valuation.load(run_period_ids(run), CommissionRun.run_id == run.run_id)


@dataclass
class RunUsd:
    """A run's USD values, each the sum of its lines' values: its commission lines, its
    adjustment lines, and its total (both); `fixed` when prices kept at approval served."""

    commission: UsdTotal
    adjustment: UsdTotal
    total: UsdTotal
    warnings: list[str]
    #: True when the sums kept at approval served (every period's price was kept).
    fixed: bool


def _line_values(run: CommissionRun, valuation: Valuation) -> dict[tuple, UsdTotal]:
    """The run's line values summed per (period, line kind): one read of its lines."""
    L = PartnerCommissionLine
    sums: dict[tuple, UsdTotal] = {}
    value = valuation.value
    stmt = select(L.period_id, L.line_kind, L.commission_amount_native).where(lines_of_run(run))
    for period_id, kind, commission in db.session.execute(stmt):
        total = sums.get((period_id, kind))
        if total is None:
            total = sums[period_id, kind] = UsdTotal()
        total.add(value(commission, period_id, run.run_id, run.status)[1])
    return sums


def _kept_values(run: CommissionRun) -> dict[tuple, UsdTotal] | None:
    """The value sums kept with the run's fixed prices, per (period, line kind), when the
    run is approved or paid and every one of its periods has its price kept; else None."""
    if run.status not in FIXED_STATUSES:
        return None
    F = CommissionRunPrice
    rows = db.session.execute(
        select(F.period_id, F.commission_value_usd, F.adjustment_value_usd).where(
            F.run_id == run.run_id
        )
    ).all()
    if not rows or {row[0] for row in rows} != run_period_ids(run):
        return None
    sums: dict[tuple, UsdTotal] = {}
    for period_id, commission, adjustment in rows:
        sums[period_id, LineKind.COMMISSION.value] = UsdTotal(commission)
        sums[period_id, LineKind.ADJUSTMENT.value] = UsdTotal(adjustment)
    return sums


def run_usd_totals(run: CommissionRun) -> RunUsd:
    """The run's USD values: from the sums kept at its approval when it is approved or paid
    (a few rows), else from its lines at today's prices (one read of its lines)."""
    kept = _kept_values(run)
    fixed = kept is not None
    warnings: list[str] = []
    if kept is None:
        valuation = run_valuation(run)
        kept = _line_values(run, valuation)
        warnings = valuation.warnings
    totals = {LineKind.COMMISSION.value: UsdTotal(), LineKind.ADJUSTMENT.value: UsdTotal()}
    total = UsdTotal()
    for (_, kind), part in kept.items():
        for target in (totals[kind], total):
            if part.value is None or target.value is None:
                target.value = None
            else:
                target.value = MONEY.add(target.value, part.value)
            target.line_count += part.line_count
    return RunUsd(
        commission=totals[LineKind.COMMISSION.value],
        adjustment=totals[LineKind.ADJUSTMENT.value],
        total=total,
        warnings=warnings,
        fixed=fixed,
    )


def fixed_run_values(run_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[Decimal, Decimal]]:
    """(commission, adjustment) USD values kept at approval, per run, summed over the periods
    whose prices were kept (one query). A run with a period without a kept price is valued
    by `run_usd_totals`, which names it."""
    F = CommissionRunPrice
    run_ids = list(run_ids)
    if not run_ids:
        return {}
    result: dict[uuid.UUID, tuple[Decimal, Decimal]] = {}
    for run_id, commission, adjustment in db.session.execute(
        select(F.run_id, F.commission_value_usd, F.adjustment_value_usd).where(
            F.run_id.in_(run_ids)
        )
    ):
        before = result.get(run_id, (ZERO, ZERO))
        result[run_id] = (MONEY.add(before[0], commission), MONEY.add(before[1], adjustment))
    return result


def preview_usd(computation) -> tuple[dict[str, UsdTotal | None], list[str]]:
    """A preview's USD value per token symbol at today's prices, summed over its lines, and
    the missing prices; None for a token whose preview was summed without its lines (its
    value is in the preview file)."""
    if all(getattr(o.result, "lines", None) is None for o in computation.outcomes):
        # Every result was summed without its lines: no line asks a price, so none is read.
        return {o.agreement.chain.token_symbol: None for o in computation.outcomes}, []
    valuation = Valuation.load(
        p.period_id for outcome in computation.outcomes for p in outcome.result.periods
    )
    totals: dict[str, UsdTotal | None] = {}
    for outcome in computation.outcomes:
        symbol = outcome.agreement.chain.token_symbol
        lines = getattr(outcome.result, "lines", None)
        if lines is None or (symbol in totals and totals[symbol] is None):
            totals[symbol] = None
            continue
        total = totals.setdefault(symbol, UsdTotal())
        for line in lines:
            total.add(valuation.value(line.commission_amount_native, line.period_id)[1])
    return totals, valuation.warnings


def fix_prices(run: CommissionRun) -> list[str]:
    """Keep today's prices of the run's periods with the run, and the sums of its lines'
    values at them (call it inside its approval, before the commit; it reads the run's
    lines once): from then on the run is valued at these, whatever prices are imported
    later. Prices kept earlier for the run are replaced. Nothing is kept for a period
    without a price: its lines stay without a value until a price is imported.
    Returns the named warnings of the missing prices."""
    prices = todays_prices(run_period_ids(run))
    sums = _line_values(run, Valuation(prices))
    db.session.execute(delete(CommissionRunPrice).where(CommissionRunPrice.run_id == run.run_id))
    kinds = (LineKind.COMMISSION.value, LineKind.ADJUSTMENT.value)
    db.session.add_all(
        CommissionRunPrice(
            run_id=run.run_id,
            period_id=price.period_id,
            price_day=price.day,
            price_usd=price.price_usd,
            source_payload_id=price.source_payload_id,
            commission_value_usd=sums.get((price.period_id, kinds[0]), UsdTotal()).value,
            adjustment_value_usd=sums.get((price.period_id, kinds[1]), UsdTotal()).value,
        )
        for price in prices.values()
        if price.price_usd is not None
    )
    db.session.flush()
    return sorted({p.warning for p in prices.values() if p.price_usd is None})
