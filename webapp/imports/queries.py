"""What the Data imports page reads: payload history, the rows a payload brought, and
totals per period and component (exact sums on both databases via `decimal_sum`; the
staker rewards' as PostgreSQL keeps them, `webapp.reward_sums`)."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.imports.checks import (
    EVENT_NAMES,
    PERIOD_NAMES,
    PRICE_NAMES,
    REVENUE_NAMES,
    REWARD_NAMES,
)
from webapp.imports.importing import MODELS
from webapp.models import (
    CanonicalPeriod,
    CanonicalPrice,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    Chain,
    Provider,
    StagingPayload,
    StakerRewardSum,
)
from webapp.money import Unit, price_day, unit_of
from webapp.storage import is_postgresql
from webapp.vocab import PayloadKind, RevenueComponent

#: Periods shown in the totals table.
TOTALS_PERIODS = 12


@dataclass
class Page:
    """One page of a longer list."""

    items: list
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        """True when a page comes before this one."""
        return self.number > 1

    @property
    def has_next(self) -> bool:
        """True when a page comes after this one."""
        return self.number < self.pages


def page_number(text: str | None) -> int:
    """A page number from a query string; anything odd is page 1."""
    return int(text) if text and text.isdigit() and int(text) > 0 else 1


def payload_history(number: int, size: int) -> Page:
    """Imported files, newest first, with provider and uploader loaded."""
    total = db.session.scalar(select(func.count()).select_from(StagingPayload))
    items = db.session.scalars(
        select(StagingPayload)
        .options(selectinload(StagingPayload.provider), selectinload(StagingPayload.created_by))
        .order_by(StagingPayload.created_at.desc(), StagingPayload.payload_id)
        .limit(size)
        .offset((number - 1) * size)
    ).all()
    return Page(items=list(items), number=number, size=size, total=total)


#: Columns shown for the stored rows of each kind: the file's columns (a stake event's
#: file has no period column; the period it was filed under is shown after its chain).
ROW_COLUMNS = {
    PayloadKind.PERIODS.value: PERIOD_NAMES,
    PayloadKind.VALIDATOR_REVENUE.value: REVENUE_NAMES,
    PayloadKind.STAKER_REWARDS.value: REWARD_NAMES,
    PayloadKind.STAKE_EVENTS.value: (EVENT_NAMES[0], "period", *EVENT_NAMES[1:]),
    PayloadKind.PRICES.value: PRICE_NAMES,
}
#: Kinds whose rows name no period.
_WITHOUT_PERIOD = (CanonicalPeriod, CanonicalPrice)


def payload_rows(payload: StagingPayload, number: int, size: int) -> Page:
    """The stored rows a payload brought, one page, as {column: value} dicts."""
    if payload.kind not in MODELS:
        return Page(items=[], number=1, size=size, total=0)
    model, id_column = MODELS[payload.kind]
    columns = ROW_COLUMNS[payload.kind]
    where = model.source_payload_id == payload.payload_id
    total = db.session.scalar(select(func.count()).select_from(model).where(where))
    if model is CanonicalPeriod:
        stmt = select(model).where(where).order_by(model.start_time)
    elif model is CanonicalPrice:
        stmt = select(model).where(where).order_by(model.chain_id, model.date)
    else:
        stmt = (
            select(model, CanonicalPeriod.label)
            .join(CanonicalPeriod, CanonicalPeriod.period_id == model.period_id)
            .where(where)
            .order_by(getattr(model, id_column))
        )
    items = []
    for row in db.session.execute(stmt.limit(size).offset((number - 1) * size)):
        obj = row[0]
        values = {name: getattr(obj, name, None) for name in columns}
        if model not in _WITHOUT_PERIOD:
            values["period"] = row[1]
        items.append(values)
    return Page(items=items, number=number, size=size, total=total)


@dataclass
class PeriodTotals:
    """One period's sums: revenue and staker rewards per component, and stake events."""

    period: CanonicalPeriod
    revenue: dict = field(default_factory=dict)
    rewards: dict = field(default_factory=dict)
    events: int = 0


def chains_with_periods() -> list[str]:
    """Chain ids that have at least one period."""
    return list(
        db.session.scalars(
            select(Chain.chain_id)
            .where(
                select(CanonicalPeriod.period_id)
                .where(CanonicalPeriod.chain_id == Chain.chain_id)
                .exists()
            )
            .order_by(Chain.chain_id)
        )
    )


def period_totals(chain_id: str, limit: int = TOTALS_PERIODS) -> list[PeriodTotals]:
    """The latest periods of a chain with their sums per component, newest first."""
    periods = db.session.scalars(
        select(CanonicalPeriod)
        .where(CanonicalPeriod.chain_id == chain_id)
        .order_by(CanonicalPeriod.start_time.desc())
        .limit(limit)
    ).all()
    totals = {p.period_id: PeriodTotals(period=p) for p in periods}
    if not totals:
        return []
    ids = list(totals)
    V, R, S = CanonicalValidatorRevenue, CanonicalStakerRewardsDetail, StakerRewardSum
    sums = {
        "revenue": _summed(V, V.amount_native, chain_id, ids),
        # PostgreSQL keeps the rewards' sums as they are written (`webapp.reward_sums`).
        "rewards": select(S.period_id, S.revenue_component, S.amount_native).where(
            S.chain_id == chain_id, S.period_id.in_(ids)
        )
        if is_postgresql(db.session)
        else _summed(R, R.reward_amount_native, chain_id, ids),
    }
    for target, stmt in sums.items():
        for period_id, component, total in db.session.execute(stmt):
            getattr(totals[period_id], target)[RevenueComponent(component).value] = (
                total if total is not None else Decimal(0)
            )
    for period_id, count in db.session.execute(
        select(CanonicalStakeEvent.period_id, func.count())
        .where(CanonicalStakeEvent.chain_id == chain_id, CanonicalStakeEvent.period_id.in_(ids))
        .group_by(CanonicalStakeEvent.period_id)
    ):
        totals[period_id].events = count
    return [totals[p.period_id] for p in periods]


def _summed(model, amount, chain_id: str, period_ids: list):
    """Select: (period, component, sum of `amount`) of the model's rows in those periods."""
    return (
        select(model.period_id, model.revenue_component, decimal_sum(amount))
        .where(model.chain_id == chain_id, model.period_id.in_(period_ids))
        .group_by(model.period_id, model.revenue_component)
    )


def provider_names() -> list[str]:
    """Every provider's name, for the upload form's suggestions."""
    return list(db.session.scalars(select(Provider.name).order_by(Provider.name)))


@dataclass
class MissingPrices:
    """The days of a chain's periods that have no price: first and last day of the range
    the periods cover, and the missing days as spans of consecutive days."""

    chain_id: str
    first_day: date
    last_day: date
    spans: list[tuple[date, date]]

    @property
    def day_count(self) -> int:
        """How many days of the range have no price."""
        return sum((last - first).days + 1 for first, last in self.spans)


def missing_prices() -> list[MissingPrices]:
    """Per chain that has periods, the days without a price from the first period's start
    day to the last period's price day (two queries)."""
    P, X = CanonicalPeriod, CanonicalPrice
    ranges = db.session.execute(
        select(P.chain_id, func.min(P.start_time), func.max(P.end_time))
        .group_by(P.chain_id)
        .order_by(P.chain_id)
    ).all()
    if not ranges:
        return []
    bounds = {chain_id: (start.date(), price_day(end)) for chain_id, start, end in ranges}
    stored: dict[str, set] = {}
    first = min(day for day, _ in bounds.values())
    last = max(day for _, day in bounds.values())
    for chain_id, day in db.session.execute(
        select(X.chain_id, X.date).where(X.date >= first, X.date <= last)
    ):
        stored.setdefault(chain_id, set()).add(day)
    result = []
    for chain_id, (start, end) in bounds.items():
        held = stored.get(chain_id, set())
        spans: list[tuple[date, date]] = []
        day = start
        while day <= end:
            if day not in held:
                if spans and spans[-1][1] == day - timedelta(days=1):
                    spans[-1] = (spans[-1][0], day)
                else:
                    spans.append((day, day))
            day += timedelta(days=1)
        result.append(MissingPrices(chain_id, start, end, spans))
    return result


def chain_units() -> dict[str, Unit]:
    """Per chain id, the unit its amounts are shown in (one query: the chains are few)."""
    return {chain.chain_id: unit_of(chain) for chain in db.session.scalars(select(Chain))}
