"""What each method would pay an agreement over a range, side by side, nothing stored; each
method's result comes from where `results` says (the engine, or the set-based summary)."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from webapp import charts
from webapp.commissions import results, set_based
from webapp.commissions.period_sums import COMPONENTS
from webapp.commissions.queries import latest_day_with_data
from webapp.commissions.terms import period_key
from webapp.models import Agreement
from webapp.money import MONEY, ZERO

TOTAL_REVENUE, WALLET_ATTRIBUTION = "Total revenue", "Wallet attribution"


@dataclass
class MethodSums:
    """What one method counts and pays in one period (or over the range)."""

    commission: Decimal = ZERO
    revenue: Decimal = ZERO
    line_count: int = 0
    #: Distinct wallets with a line (wallet attribution only).
    wallet_count: int = 0
    by_component: dict[str, Decimal] = field(default_factory=dict)

    def add(self, component: str, count: int, base: Decimal, commission: Decimal) -> None:
        self.commission = MONEY.add(self.commission, commission)
        self.revenue = MONEY.add(self.revenue, base)
        self.line_count += count
        self.by_component[component] = MONEY.add(self.by_component.get(component, ZERO), commission)

    def component(self, name: str) -> Decimal:
        return self.by_component.get(name, ZERO)


@dataclass
class PeriodComparison:
    """One period: each method's sums, and the difference (wallet attribution minus total
    revenue)."""

    period_id: str
    label: str
    total_revenue: MethodSums = field(default_factory=MethodSums)
    wallet_attribution: MethodSums = field(default_factory=MethodSums)

    @property
    def difference(self) -> Decimal:
        return MONEY.subtract(self.wallet_attribution.commission, self.total_revenue.commission)

    def component_difference(self, name: str) -> Decimal:
        return MONEY.subtract(
            self.wallet_attribution.component(name), self.total_revenue.component(name)
        )


@dataclass
class Comparison:
    """Both methods over the periods in scope of a range."""

    agreement: Agreement
    date_from: date
    date_to: date
    periods: list[PeriodComparison]
    components: list[str]
    total_revenue: MethodSums
    wallet_attribution: MethodSums

    @property
    def difference(self) -> Decimal:
        return MONEY.subtract(self.wallet_attribution.commission, self.total_revenue.commission)

    def chart(self, unit: str) -> charts.Chart:
        """Both methods' commission per period, side by side."""
        values = {}
        for row in self.periods:
            values[(row.label, TOTAL_REVENUE)] = row.total_revenue.commission
            values[(row.label, WALLET_ATTRIBUTION)] = row.wallet_attribution.commission
        return charts.build(
            "Commission per period under each method",
            unit,
            [row.label for row in self.periods],
            [TOTAL_REVENUE, WALLET_ATTRIBUTION],
            values,
            charts.GROUPED,
        )


def default_range(agreement: Agreement) -> tuple[date, date] | None:
    """The last three calendar months that have data (validator revenue) of the agreement's
    chain within its dates: from the first day of the earliest to the start of the latest
    period with data."""
    ends = agreement.effective_to
    # An agreement may end on 9999-12-31: its next day would lie beyond the calendar.
    before = ends + timedelta(days=1) if ends is not None and ends < date.max else None
    last_day = latest_day_with_data([agreement.chain_id], before=before)
    if last_day is None:
        return None
    month = last_day.month - 2
    year = last_day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    first_day = max(date(year, month, 1), agreement.effective_from)
    if first_day > last_day:
        return None
    return first_day, last_day


def _method_sums(rows: dict, attribute: str, slices: dict, wallets: dict, everyone: int):
    """One method's figures from its sums per (period, validator, component) and its wallets
    paid per period and in all: added into each period's row (`attribute` names the method)
    and over the range."""
    total = MethodSums()
    for (period_id, _, component), (count, base, commission) in slices.items():
        getattr(rows[period_key(period_id)], attribute).add(str(component), count, base, commission)
        total.add(str(component), count, base, commission)
    for period_id, count in wallets.items():
        getattr(rows[period_key(period_id)], attribute).wallet_count = count
    total.wallet_count = everyone
    return total


def _sums(result, rows: dict, attribute: str) -> MethodSums:
    """`_method_sums` of a method's result: the wallets paid as the database counted them,
    or counted from the engine's lines."""
    if isinstance(result, set_based.Summary):
        by_period, everyone = result.wallets_by_period, result.wallet_count
    else:
        wallets: dict = {}
        for line in result.lines:
            if line.wallet_address is not None:
                wallets.setdefault(line.period_id, set()).add(line.wallet_address)
        by_period = {period_id: len(addresses) for period_id, addresses in wallets.items()}
        everyone = len(set().union(*wallets.values()))
    return _method_sums(rows, attribute, result.slice_sums(), by_period, everyone)


def compare(agreement: Agreement, date_from: date, date_to: date) -> Comparison:
    """Both methods' results over the range, their figures side by side."""
    by_total = results.method_result(agreement, date_from, date_to, wallet_attribution=False)
    rows = {
        period_key(p.period_id): PeriodComparison(period_key(p.period_id), p.label)
        for p in by_total.periods
    }
    total_revenue = _sums(by_total, rows, "total_revenue")
    by_wallet = results.method_result(agreement, date_from, date_to, wallet_attribution=True)
    wallet_attribution = _sums(by_wallet, rows, "wallet_attribution")
    used = set(total_revenue.by_component) | set(wallet_attribution.by_component)
    components = [c for c in COMPONENTS if c in used]
    return Comparison(
        agreement,
        date_from,
        date_to,
        list(rows.values()),
        components,
        total_revenue,
        wallet_attribution,
    )
