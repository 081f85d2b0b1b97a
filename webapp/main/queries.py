"""Reads of the month-end overview: partners down, months across, in a few bulk queries.

One query each for partners, agreements, the periods of the window (with whether each has
validator revenue and staker rewards) and the runs of the window; the grid is put together
in Python, never with a query per partner, month or cell.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from webapp.commissions.close_view import RunStates, run_states
from webapp.commissions.terms import period_key
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionRun,
    Partner,
)
from webapp.money import money_sum, totals_by_token
from webapp.run_states import LIVE_STATUSES

#: A cell's state, least advanced first; a month of several agreements shows the least one.
#: Then the run statuses that count on the overview (`LIVE_STATUSES`: a superseded run was
#: replaced by a later one).
STATES = ("no agreement", "no data", "partial data", "data in", *LIVE_STATUSES)


@dataclass(frozen=True)
class Month:
    """A calendar month: its first and last day."""

    first: date
    last: date

    @property
    def label(self) -> str:
        return self.first.strftime("%Y-%m")

    def holds(self, day: date) -> bool:
        return self.first <= day <= self.last

    def holds_run(self, run) -> bool:
        """Whether the run lies within the month."""
        return self.holds(run.date_from) and self.holds(run.date_to)


@dataclass
class AgreementMonth:
    """One agreement in one month: its data, its live runs and their commission."""

    agreement: Agreement
    #: The first day of each of the agreement's periods in the month.
    period_starts: list = field(default_factory=list)
    periods_with_data: int = 0
    runs: list = field(default_factory=list)

    @cached_property
    def state(self) -> str:
        if self.runs:
            # The least advanced run decides: committed before approved before paid.
            return min((run.status for run in self.runs), key=STATES.index)
        if not self.period_starts or self.periods_with_data == 0:
            return "no data"
        if self.periods_with_data < len(self.period_starts):
            return "partial data"
        return "data in"


@dataclass
class Cell:
    """A partner's month: each agreement in effect, the state and the commission per token."""

    partner: Partner
    month: Month
    agreements: list[AgreementMonth] = field(default_factory=list)
    #: The totals, staleness and late data of the runs shown (`close_view.RunStates`).
    states: RunStates = field(default_factory=RunStates)
    #: The first day of each period of the overview's window, by period key.
    period_days: dict = field(default_factory=dict)

    @cached_property
    def state(self) -> str:
        if not self.agreements:
            return "no agreement"
        return min((a.state for a in self.agreements), key=STATES.index)

    @property
    def runs(self) -> list:
        return [run for a in self.agreements for run in a.runs]

    @property
    def totals(self) -> list[tuple]:
        """(chain, total) per token of the month's live runs that lie within the month: each
        run's total (`commissions.totals`), commission plus adjustments."""
        within = [
            (entry.agreement.chain, run)
            for entry in self.agreements
            for run in entry.runs
            if self.month.holds_run(run)
        ]
        chains = {chain.token_symbol: chain for chain, _ in within}
        sums = totals_by_token(
            (chain.token_symbol, (self.states.totals[run.run_id].total_native,))
            for chain, run in within
        )
        return [(chains[symbol], amount) for symbol, (amount,) in sums.items()]

    @property
    def shares(self) -> list[tuple]:
        """(chain, amount, run) of each live run that reaches past the month: its part in the
        month, the commission of the pairs it holds in periods that start within the month
        (`RunTotal.by_period`), plus, in the month the run starts, the adjustments it carries.
        A run's parts over the months it covers add up to its total. A month of the run that
        holds none of its periods has no part: its amount is None (the page says so), where
        a month whose periods earned nothing has a part of zero."""
        found = []
        for entry in self.agreements:
            for run in entry.runs:
                if self.month.holds_run(run):
                    continue
                total = self.states.totals[run.run_id]
                amounts = [
                    amount
                    for key, amount in total.by_period.items()
                    if self.month.holds(self.period_days.get(key, date.min))
                ]
                if total.adjustment_count and self.month.holds(run.date_from):
                    amounts.append(total.adjustment_amount_native)
                low, high = max(self.month.first, run.date_from), min(self.month.last, run.date_to)
                held = any(low <= day <= high for day in entry.period_starts)
                part = money_sum(amounts) if amounts or held else None
                found.append((entry.agreement.chain, part, run))
        return found

    @property
    def stale(self) -> list[tuple]:
        """(run, what changed) of the month's committed runs that are out of date."""
        return [
            (run, self.states.stale[run.run_id])
            for run in self.runs
            if run.run_id in self.states.stale
        ]

    @property
    def late(self) -> list:
        """The late data (`staleness.LateData`) of the month's approved and paid runs."""
        return [self.states.late[run.run_id] for run in self.runs if run.run_id in self.states.late]


@dataclass
class Overview:
    """The grid: months across (oldest first), one row of cells per partner."""

    months: list[Month]
    rows: list[tuple[Partner, list[Cell]]]


def last_months(count: int, until: date) -> list[Month]:
    """The `count` calendar months up to the one holding `until`, oldest first."""
    months = []
    first = until.replace(day=1)
    for _ in range(count):
        # The calendar's last month ends on date.max; its first month has none before it.
        last = (
            (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            if first < date.max.replace(day=1)
            else date.max
        )
        months.append(Month(first, last))
        if first == date.min:
            break
        first = (first - timedelta(days=1)).replace(day=1)
    return months[::-1]


def latest_period_start() -> date | None:
    """The UTC start date of the latest canonical period of any chain, or None."""
    latest = db.session.scalar(select(func.max(CanonicalPeriod.start_time)))
    return latest.date() if latest is not None else None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def month_overview(months: list[Month]) -> Overview:
    """Every active partner's months: data in or not, run states and amounts per token."""
    low, high = months[0].first, months[-1].last
    partners = db.session.scalars(
        select(Partner).where(Partner.is_active.is_(True)).order_by(Partner.name)
    ).all()
    agreements = db.session.scalars(
        select(Agreement)
        .options(joinedload(Agreement.chain))
        .where(
            Agreement.effective_from <= high,
            (Agreement.effective_to.is_(None)) | (Agreement.effective_to >= low),
        )
        .order_by(Agreement.chain_id, Agreement.effective_from)
    ).all()

    periods = period_data(low, high)

    R = CommissionRun
    runs = db.session.scalars(
        select(R)
        .options(joinedload(R.partner), joinedload(R.agreement))
        .where(R.status.in_(LIVE_STATUSES), R.date_from <= high, R.date_to >= low)
    ).all()
    # Each run's total, and which are out of date or reached by late data, in bulk.
    states = run_states(runs)
    return _grid(months, partners, agreements, periods, runs, states)


def period_data(low: date, high: date) -> list:
    """Each period starting from `low` to `high` (UTC days): (period, chain, start, holds
    validator revenue, holds staker rewards)."""
    P = CanonicalPeriod
    return db.session.execute(
        select(
            P.period_id,
            P.chain_id,
            P.start_time,
            _holds_rows(CanonicalValidatorRevenue),
            _holds_rows(CanonicalStakerRewardsDetail),
        ).where(
            P.start_time >= _day_start(low),
            P.start_time < _day_start(high + timedelta(days=1))
            if high < date.max
            else P.start_time.is_not(None),
        )
    ).all()


def _holds_rows(model):
    """Whether the period holds rows of `model`: its first row in the (chain, period) index,
    one index probe. (PostgreSQL would answer an EXISTS here by reading the table in order
    until a row of the period turned up, expecting them spread over it; they lie together,
    so it read every row stored before them: 1 s for 30 periods of a million reward rows.
    The order by the index's columns makes the probe the cheaper plan; the equality on the
    period lets PostgreSQL probe only the period's own partition of the rewards, where a
    range condition (`(chain, period) >= ...`) probed every partition for every period.)"""
    P = CanonicalPeriod
    first = (
        select(model.period_id)
        .where(model.chain_id == P.chain_id, model.period_id == P.period_id)
        .order_by(model.chain_id, model.period_id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(first == P.period_id, False)


def _grid(months, partners, agreements, periods, runs, states=None) -> Overview:
    by_partner = defaultdict(list)
    for agreement in agreements:
        by_partner[agreement.partner_id].append(agreement)
    runs_by_agreement = defaultdict(list)
    for run in runs:
        runs_by_agreement[run.agreement_id].append(run)
    # (chain, start day, has revenue, has rewards) per period, searched per agreement-month.
    chain_periods = defaultdict(list)
    period_days = {}
    for period_id, chain_id, start, revenue, rewards in periods:
        chain_periods[chain_id].append((start.date(), bool(revenue), bool(rewards)))
        period_days[period_key(period_id)] = start.date()

    rows = []
    for partner in partners:
        cells = []
        for month in months:
            cell = Cell(partner, month, states=states or RunStates(), period_days=period_days)
            for agreement in by_partner.get(partner.partner_id, ()):
                low = max(month.first, agreement.effective_from)
                high = (
                    month.last
                    if agreement.effective_to is None
                    else min(month.last, agreement.effective_to)
                )
                if low > high:
                    continue
                entry = AgreementMonth(agreement)
                for day, revenue, rewards in chain_periods.get(agreement.chain_id, ()):
                    if low <= day <= high:
                        entry.period_starts.append(day)
                        has = rewards if agreement.wallet_attribution_enabled else revenue
                        entry.periods_with_data += 1 if has else 0
                entry.runs = [
                    run
                    for run in runs_by_agreement.get(agreement.agreement_id, ())
                    if run.date_from <= high and run.date_to >= low
                ]
                cell.agreements.append(entry)
            cells.append(cell)
        rows.append((partner, cells))
    return Overview(months, rows)
