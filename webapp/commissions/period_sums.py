"""A commission result's sums per period, then per validator and component, and what its
exclusions held back by reason; a committed run's the same from its stored sums, and the
chart drawn from them. The run's page, the insight pages and the JSON API show them.

A preview's figures come from the engine's result in memory (or the set-based summary); a
committed run's from the sums kept beside its pairs, in set-based queries. Every level adds up
to the level above.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from webapp import charts
from webapp.attribution import REASONS, AttributionResult
from webapp.commissions import pair_sums, queries, set_based
from webapp.commissions.terms import period_key
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    PartnerCommissionLine,
)
from webapp.money import MONEY, ZERO, money_sum, unit_of
from webapp.vocab import LineKind, RevenueComponent

COMPONENTS = tuple(c.value for c in RevenueComponent)


def reason_order(reason: str) -> tuple:
    """Reasons in the order the calculation checks them; any other after them, by name."""
    return (REASONS.index(reason), "") if reason in REASONS else (len(REASONS), reason)


@dataclass
class Sums:
    """Lines, base and commission of some slice of a result."""

    line_count: int = 0
    base_amount_native: Decimal = ZERO
    commission_amount_native: Decimal = ZERO

    def add(self, count: int, base: Decimal, commission: Decimal) -> None:
        self.line_count += count
        self.base_amount_native = MONEY.add(self.base_amount_native, base)
        self.commission_amount_native = MONEY.add(self.commission_amount_native, commission)


@dataclass
class Slice:
    """The lines of one validator and component within a period."""

    validator_key: str
    revenue_component: str
    sums: Sums = field(default_factory=Sums)


@dataclass
class PeriodRow:
    """One period of a result: its sums, per component, per validator and component, and
    what exclusions held back in it, by reason."""

    period_id: str
    label: str
    sums: Sums = field(default_factory=Sums)
    by_component: dict[str, Sums] = field(default_factory=dict)
    slices: dict[tuple[str, str], Slice] = field(default_factory=dict)
    held_back: dict[str, list] = field(default_factory=dict)

    def add(self, validator: str, component: str, count: int, base, commission) -> None:
        component = str(component)
        self.sums.add(count, base, commission)
        self.by_component.setdefault(component, Sums()).add(count, base, commission)
        key = (validator, component)
        entry = self.slices.get(key)
        if entry is None:
            entry = self.slices[key] = Slice(validator, component)
        entry.sums.add(count, base, commission)

    def hold(self, reason: str, count: int, amount: Decimal) -> None:
        entry = self.held_back.setdefault(reason, [0, ZERO])
        entry[0] += count
        entry[1] = MONEY.add(entry[1], amount)

    @property
    def held_back_total(self) -> Decimal:
        return money_sum(v[1] for v in self.held_back.values())

    def sorted_slices(self) -> list[Slice]:
        return [self.slices[k] for k in sorted(self.slices)]

    def sorted_held_back(self) -> list[tuple[str, int, Decimal]]:
        return [
            (reason, *self.held_back[reason]) for reason in sorted(self.held_back, key=reason_order)
        ]


def result_periods(result: AttributionResult | set_based.Summary) -> list[PeriodRow]:
    """Per period in scope (in order): sums, per validator and component, held back."""
    rows = {p.period_id: PeriodRow(period_key(p.period_id), p.label) for p in result.periods}
    for (period_id, validator, component), (count, base, commission) in result.slice_sums().items():
        rows[period_id].add(validator, component, count, base, commission)
    for (period_id, reason), (count, amount) in result.held_sums().items():
        rows[period_id].hold(reason, count, amount)
    return list(rows.values())


@dataclass
class RunSums:
    """A run's stored lines grouped by kind, period, validator and component, and its
    exclusions by period and reason: every total its page shows, read in two queries."""

    #: (line kind, period id, validator, component, lines, base, commission)
    lines: list[tuple]
    #: (period id, reason, exclusions, held back)
    held: list[tuple]

    def kind_totals(self) -> list[tuple]:
        """(line kind, component, lines, base, commission), by kind, then component."""
        sums: dict[tuple[str, str], Sums] = {}
        for kind, _, _, component, count, base, commission in self.lines:
            sums.setdefault((kind, component), Sums()).add(count, base, commission)
        return [
            (*key, s.line_count, s.base_amount_native, s.commission_amount_native)
            for key, s in sorted(sums.items())
        ]

    def component_totals(self, kind: str) -> list[tuple]:
        """(component, lines, base, commission) of the lines of one kind, by component."""
        return [row[1:] for row in self.kind_totals() if row[0] == kind]

    def reason_totals(self) -> list[tuple]:
        """(reason, exclusions, held back), in the order the calculation checks reasons."""
        every_period = PeriodRow("", "")
        for _, reason, count, amount in self.held:
            every_period.hold(reason, count, amount)
        return every_period.sorted_held_back()


def run_sums(run: CommissionRun, period_id=None) -> RunSums:
    """The run's sums (of one period, when `period_id` is given): its pairs' commission lines
    and exclusions from the sums kept beside each pair (`pair_sums`), the adjustments it
    carries from their rows. A pair written before sums were kept has its rows summed."""
    L, RP = PartnerCommissionLine, CommissionRunPeriod
    only_pairs = [RP.run_id == run.run_id]
    only_adjustments = [L.run_id == run.run_id, L.line_kind == LineKind.ADJUSTMENT.value]
    if period_id is not None:
        only_pairs.append(RP.period_id == period_id)
        only_adjustments.append(L.period_id == period_id)
    commission = LineKind.COMMISSION.value
    lines, held, unsummed = [], [], []
    for pid, text in db.session.execute(select(RP.period_id, RP.sums).where(*only_pairs)):
        if text is None:
            unsummed.append(pid)
            continue
        slices, reasons = pair_sums.load(text)
        lines.extend((commission, pid, *entry) for entry in slices)
        held.extend((pid, *entry) for entry in reasons)
    if unsummed:
        rows = _summed_rows(run, unsummed)
        lines.extend(rows.lines)
        held.extend(rows.held)
    lines.extend(_line_sums(*only_adjustments))
    return RunSums(lines, held)


def _summed_rows(run: CommissionRun, period_ids: list) -> RunSums:
    """The sums of the rows stored in the run's pairs of `period_ids`, summed from the rows."""
    L, X = PartnerCommissionLine, CommissionExclusion
    held = db.session.execute(
        select(
            X.period_id,
            X.reason,
            func.sum(X.exclusion_count),
            decimal_sum(X.held_back_amount_native),
        )
        .where(X.agreement_id == run.agreement_id, X.period_id.in_(period_ids))
        .group_by(X.period_id, X.reason)
    ).all()
    return RunSums(
        _line_sums(
            L.agreement_id == run.agreement_id,
            L.period_id.in_(period_ids),
            queries.commission_lines_of(run),
        ),
        [(pid, reason, int(count), amount or ZERO) for pid, reason, count, amount in held],
    )


def _line_sums(*where) -> list[tuple]:
    """(kind, period id, validator, component, lines, base, commission) of the lines chosen."""
    L = PartnerCommissionLine
    rows = db.session.execute(
        select(
            L.line_kind,
            L.period_id,
            L.validator_key,
            L.revenue_component,
            func.count(),
            decimal_sum(L.base_amount_native),
            decimal_sum(L.commission_amount_native),
        )
        .where(*where)
        .group_by(L.line_kind, L.period_id, L.validator_key, L.revenue_component)
    ).all()
    return [
        (str(kind), pid, validator, str(component), count, base or ZERO, commission or ZERO)
        for kind, pid, validator, component, count, base, commission in rows
    ]


def run_periods(run: CommissionRun, period_id=None, sums: RunSums | None = None) -> list[PeriodRow]:
    """Per period of a run's stored lines and exclusions, in period order; only one period
    when `period_id` is given. From `sums` when the caller has read them already."""
    P = CanonicalPeriod
    if sums is None:
        sums = run_sums(run, period_id)
    period_ids = {row[1] for row in sums.lines} | {row[0] for row in sums.held}
    if not period_ids:
        return []
    periods = db.session.execute(
        select(P.period_id, P.label).where(P.period_id.in_(period_ids)).order_by(P.start_time)
    ).all()
    rows = {pid: PeriodRow(period_key(pid), label) for pid, label in periods}
    for _, period_id, validator, component, count, base, commission in sums.lines:
        rows[period_id].add(validator, component, count, base, commission)
    for period_id, reason, count, amount in sums.held:
        rows[period_id].hold(reason, count, amount)
    return list(rows.values())


def run_view(run: CommissionRun, sums: RunSums) -> dict:
    """Periods, totals and chart of a committed run's stored lines, for its page (what
    `insight/partial/periods.html` shows)."""
    rows = run_periods(run, sums=sums)
    unit = unit_of(run.agreement.chain)
    return {
        "rows": rows,
        "totals": totals_of(rows),
        "chart": commission_chart(rows, unit, "Commission per period"),
        "unit": unit,
        "owner": {"run_id": run.run_id},
        "kind": "run",
    }


def commission_chart(rows: list[PeriodRow], unit: str, title: str) -> charts.Chart:
    """Commission per period, stacked by component."""
    components = [c for c in COMPONENTS if any(c in row.by_component for row in rows)]
    values = {
        (row.label, component): sums.commission_amount_native
        for row in rows
        for component, sums in row.by_component.items()
    }
    return charts.build(title, unit, [row.label for row in rows], components, values)


def totals_of(rows: list[PeriodRow]) -> Sums:
    """The sums of every period together."""
    total = Sums()
    for row in rows:
        total.add(
            row.sums.line_count, row.sums.base_amount_native, row.sums.commission_amount_native
        )
    return total
