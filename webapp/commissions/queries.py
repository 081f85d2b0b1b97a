"""Reads the commission pages need: recent runs, a run's lines (those of the pairs it holds,
and the adjustments it carries), a wallet's totals per component in a run, a run's
exclusions by wallet, and the list of every run (filtered, sorted, paged, as a file). (The
periods locked by approval: `agreements.queries`; a run's own totals: `period_sums.run_sums`; what
changed since approval is worked out by the engine: `runs.changes_since_approval`.)"""

import calendar
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from webapp.commissions.staleness import stale_runs
from webapp.commissions.totals import run_totals
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionExclusion,
    CommissionRun,
    CommissionRunEvent,
    CommissionRunPeriod,
    Partner,
    PartnerCommissionLine,
    User,
)
from webapp.run_states import LIVE_STATUSES
from webapp.vocab import LineKind, Method, RunStatus

L, X, RP = PartnerCommissionLine, CommissionExclusion, CommissionRunPeriod

#: Runs shown on a partner's page.
PARTNER_PAGE_RUNS = 10


def recent_runs(partner_id=None, limit: int = PARTNER_PAGE_RUNS) -> list[CommissionRun]:
    """The newest runs (of one partner, when given), with partner and agreement loaded."""
    stmt = (
        select(CommissionRun)
        .options(
            selectinload(CommissionRun.partner),
            selectinload(CommissionRun.agreement).selectinload(Agreement.chain),
        )
        .order_by(CommissionRun.created_at.desc())
    )
    if partner_id is not None:
        stmt = stmt.where(CommissionRun.partner_id == partner_id)
    return list(db.session.scalars(stmt.limit(limit)))


def run_for_page(run_id) -> CommissionRun:
    """The run with what its page shows beside it (partner, agreement and chain, the users
    who committed, approved, reopened and paid it), or 404."""
    R = CommissionRun
    return db.get_or_404(
        R,
        run_id,
        options=[
            selectinload(R.partner),
            selectinload(R.agreement).selectinload(Agreement.chain),
            selectinload(R.created_by),
            selectinload(R.approved_by),
            selectinload(R.reopened_by),
            selectinload(R.paid_by),
        ],
    )


def live_runs_of_range(partner_id, date_from: date, date_to: date) -> list[CommissionRun]:
    """The partner's live runs of exactly this range, oldest first, with their agreement and
    chain (the range page shows each)."""
    R = CommissionRun
    return list(
        db.session.scalars(
            select(R)
            .options(selectinload(R.agreement).selectinload(Agreement.chain))
            .where(
                R.partner_id == partner_id,
                R.date_from == date_from,
                R.date_to == date_to,
                R.status.in_(LIVE_STATUSES),
            )
            .order_by(R.created_at)
        )
    )


def run_history(run: CommissionRun) -> list[CommissionRunEvent]:
    """The run's events (commit, approve, reopen, pay, supersede) with their users, oldest
    first."""
    E = CommissionRunEvent
    return list(
        db.session.scalars(
            select(E)
            .options(selectinload(E.user))
            .where(E.run_id == run.run_id)
            .order_by(E.created_at)
        )
    )


def held_by(model, run: CommissionRun):
    """Condition: rows of `model` (lines or exclusions) in a pair the run holds, where they
    are current (a recommit leaves the rows of a pair whose result did not change under
    the run that wrote them). The run's periods are read first (a few dozen ids) and given
    as a list, so that the (agreement, period) indexes serve, also beside an OR."""
    periods = db.session.scalars(select(RP.period_id).where(RP.run_id == run.run_id)).all()
    return (model.agreement_id == run.agreement_id) & model.period_id.in_(periods)


def commission_lines_of(run: CommissionRun):
    """Condition: commission lines of the run's method (with a wallet under wallet
    attribution, without under total revenue: what lets the partial unique indexes serve)."""
    if run.method == Method.WALLET_ATTRIBUTION.value:
        kind_of_line = L.wallet_address.is_not(None)
    else:
        kind_of_line = L.wallet_address.is_(None)
    return (L.line_kind == LineKind.COMMISSION.value) & kind_of_line


def lines_of_run(run: CommissionRun):
    """Condition: the run's lines: the commission lines of its pairs and the adjustments it
    carries."""
    return or_(*lines_of_run_apart(run))


def lines_of_run_apart(run: CommissionRun) -> tuple:
    """`lines_of_run`'s two conditions apart: the commission lines of the run's pairs (read
    through the unique keys), and the adjustments it carries. A read in key order of one
    slice runs each on its own, as an OR would read the whole period to sort it."""
    return (
        held_by(L, run) & commission_lines_of(run),
        (L.run_id == run.run_id) & (L.line_kind == LineKind.ADJUSTMENT.value),
    )


def run_lines(run: CommissionRun):
    """Select: the run's lines, commission lines of its pairs then the adjustments it
    carries, as PartnerCommissionLine rows ordered by period start, validator, component,
    wallet."""
    P = CanonicalPeriod
    return (
        select(L)
        .join(P, P.period_id == L.period_id)
        .where(lines_of_run(run))
        .order_by(L.line_kind.desc(), P.start_time, L.validator_key, L.revenue_component)
        .order_by(L.wallet_address)
    )


def run_component_totals(run: CommissionRun, wallet_address: str) -> list[tuple]:
    """(line_kind, revenue_component, line count, base, commission) of one wallet's lines in
    the run (the run's own totals: `period_sums.run_sums`)."""
    stmt = (
        select(
            L.line_kind,
            L.revenue_component,
            func.count(),
            decimal_sum(L.base_amount_native),
            decimal_sum(L.commission_amount_native),
        )
        .where(lines_of_run(run))
        .group_by(L.line_kind, L.revenue_component)
        .order_by(L.line_kind, L.revenue_component)
    )
    return db.session.execute(stmt.where(L.wallet_address == wallet_address)).all()


def run_exclusions_by_wallet(run: CommissionRun, wallet_filter: str = ""):
    """Select: (wallet, reason, count, held back) of the run's exclusions, by wallet."""
    stmt = (
        select(
            X.wallet_address,
            X.reason,
            func.sum(X.exclusion_count),
            decimal_sum(X.held_back_amount_native),
        )
        .where(held_by(X, run), X.wallet_address.is_not(None))
        .group_by(X.wallet_address, X.reason)
        .order_by(X.wallet_address, X.reason)
    )
    if wallet_filter:
        stmt = stmt.where(X.wallet_address.contains(wallet_filter, autoescape=True))
    return stmt


def run_wallet_line_counts(run: CommissionRun, addresses) -> dict[str, int]:
    """How many commission lines each of `addresses` earned in the run's pairs."""
    if not addresses:
        return {}
    return dict(
        db.session.execute(
            select(L.wallet_address, func.count())
            .where(
                held_by(L, run),
                L.line_kind == LineKind.COMMISSION.value,
                L.wallet_address.in_(list(addresses)),
            )
            .group_by(L.wallet_address)
        ).all()
    )


def latest_day_with_data(chain_ids=None, before: date | None = None) -> date | None:
    """The start day (UTC) of the latest period that has data (validator revenue or staker
    rewards), on the given chains (all when None), starting before `before` when given:
    where pages open."""
    P, R, S = CanonicalPeriod, CanonicalValidatorRevenue, CanonicalStakerRewardsDetail
    has_data = or_(
        select(R.period_id).where(R.period_id == P.period_id).exists(),
        select(S.period_id).where(S.period_id == P.period_id).exists(),
    )
    stmt = select(func.max(P.start_time)).where(has_data)
    if chain_ids is not None:
        stmt = stmt.where(P.chain_id.in_(list(chain_ids)))
    if before is not None:
        stmt = stmt.where(P.start_time < datetime.combine(before, time(), tzinfo=UTC))
    latest = db.session.scalar(stmt)
    return latest.date() if latest is not None else None


# ---- The list of every run: filters, sort, pages, file ---------------------------------------

#: Runs per page of the runs list.
RUNS_LIST_PAGE = 50
#: Statuses the runs list filters by (a preview is never stored).
RUN_LIST_STATUSES = tuple(
    s.value for s in (RunStatus.COMMITTED, RunStatus.APPROVED, RunStatus.PAID, RunStatus.SUPERSEDED)
)
#: Orders of the runs list, each with the direction it takes first.
RUN_LIST_SORTS = {
    "created": "desc",
    "partner": "asc",
    "range": "desc",
    "status": "asc",
    "total": "desc",
}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_RUN_ID_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")


@dataclass
class RunFilters:
    """What the runs list shows: partner, chain, status, month touched, who committed or
    approved, a search (partner or agreement name, run id prefix), and the order."""

    partner: str = ""
    chain: str = ""
    status: str = ""
    month: str = ""
    who: str = ""
    q: str = ""
    sort: str = "created"
    order: str = "desc"

    @classmethod
    def from_args(cls, args) -> "RunFilters":
        """The filters of query arguments; a value that is not allowed is dropped."""
        partner = (args.get("partner") or "").strip()
        try:
            partner = str(uuid.UUID(partner)) if partner else ""
        except ValueError:
            partner = ""
        status = (args.get("status") or "").strip()
        month = (args.get("month") or "").strip()
        match = _MONTH.match(month)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
            month = ""
        sort = (args.get("sort") or "created").strip()
        sort = sort if sort in RUN_LIST_SORTS else "created"
        order = (args.get("order") or "").strip()
        return cls(
            partner=partner,
            chain=(args.get("chain") or "").strip()[:50],
            status=status if status in RUN_LIST_STATUSES else "",
            month=month,
            who=(args.get("who") or "").strip()[:254],
            q=(args.get("q") or "").strip()[:200],
            sort=sort,
            order=order if order in ("asc", "desc") else RUN_LIST_SORTS[sort],
        )

    def as_args(self, **changes) -> dict[str, str]:
        """The filters as query arguments (for url_for), defaults left out."""
        values = {**self.__dict__, **changes}
        if values["sort"] == "created" and values["order"] == "desc":
            values.pop("sort"), values.pop("order")
        elif values["order"] == RUN_LIST_SORTS[values["sort"]]:
            values.pop("order")
        return {key: value for key, value in values.items() if value}

    @property
    def narrowed(self) -> bool:
        """True when a filter or the search hides some runs."""
        return bool(self.partner or self.chain or self.status or self.month or self.who or self.q)

    def month_bounds(self) -> tuple[date, date] | None:
        """The first and last day of the month filtered by, if any."""
        if not self.month:
            return None
        year, month = int(self.month[:4]), int(self.month[5:])
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _runs_where(filters: RunFilters):
    """SELECT of the runs under the filters (run, partner name, agreement name, emails)."""
    R, A, Pn = CommissionRun, Agreement, Partner
    committer, approver = aliased(User), aliased(User)
    stmt = (
        select(R)
        .join(Pn, Pn.partner_id == R.partner_id)
        .join(A, A.agreement_id == R.agreement_id)
        .outerjoin(committer, committer.user_id == R.created_by_user_id)
        .outerjoin(approver, approver.user_id == R.approved_by_user_id)
        .where(R.status.in_(RUN_LIST_STATUSES))
    )
    if filters.partner:
        stmt = stmt.where(R.partner_id == uuid.UUID(filters.partner))
    if filters.chain:
        stmt = stmt.where(A.chain_id == filters.chain)
    if filters.status:
        stmt = stmt.where(R.status == filters.status)
    bounds = filters.month_bounds()
    if bounds:
        stmt = stmt.where(R.date_from <= bounds[1], R.date_to >= bounds[0])
    if filters.who:
        who = _like(filters.who.lower())
        stmt = stmt.where(
            or_(
                func.lower(committer.email).like(who, escape="\\"),
                func.lower(approver.email).like(who, escape="\\"),
            )
        )
    if filters.q:
        text_match = _like(filters.q.lower())
        found = [
            func.lower(Pn.name).like(text_match, escape="\\"),
            func.lower(A.name).like(text_match, escape="\\"),
        ]
        prefix = filters.q.lower()
        if _RUN_ID_PREFIX.match(prefix):
            # Stored with dashes (PostgreSQL) or as 32 hex digits (SQLite): compared without.
            bare = prefix.replace("-", "")
            found.append(func.replace(cast(R.run_id, String), "-", "").like(bare + "%"))
        stmt = stmt.where(or_(*found))
    return stmt, Pn


def _like(text: str) -> str:
    """A LIKE pattern that finds `text` anywhere (its wildcards taken literally)."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _run_order(filters: RunFilters, partner_table) -> list:
    R = CommissionRun
    columns = {
        "created": [R.created_at],
        "partner": [partner_table.name, R.date_from],
        "range": [R.date_from, R.date_to],
        "status": [R.status, R.date_from],
    }[filters.sort]
    descending = filters.order == "desc"
    order = [c.desc() if descending else c.asc() for c in columns]
    # Ties broken the same way every time, so that pages never repeat or skip a run.
    return order + [R.created_at.desc(), R.run_id]


def _with_relations(stmt):
    return stmt.options(
        selectinload(CommissionRun.partner),
        selectinload(CommissionRun.agreement).selectinload(Agreement.chain),
        selectinload(CommissionRun.created_by),
        selectinload(CommissionRun.approved_by),
    )


@dataclass
class RunsPage:
    """One page of the runs list: its runs, their totals and out-of-date notes, the count
    under the filters, and whether pages come before or after it."""

    runs: list[CommissionRun]
    totals: dict
    stale: dict
    total_count: int
    page: int
    has_next: bool

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total_count // RUNS_LIST_PAGE))


def _total_key(total) -> tuple:
    """Order of runs by total: by token, then amount (two tokens never compare)."""
    return (total.token_symbol, total.total_native)


def runs_page(filters: RunFilters, page: int = 1, size: int = RUNS_LIST_PAGE) -> RunsPage:
    """A page of every run under the filters (offset paging), with each run's total from
    `totals.run_totals` (one call) and its out-of-date notes from `staleness.stale_runs`.
    Sorted by total, the totals of every run under the filters are read in that one call
    and the page cut from them."""
    stmt, partner_table = _runs_where(filters)
    total_count = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    start = (page - 1) * size
    if filters.sort == "total":
        ids = list(db.session.scalars(stmt.with_only_columns(CommissionRun.run_id)))
        totals = run_totals(ids)
        ids.sort(key=lambda run_id: str(run_id))
        ids.sort(key=lambda run_id: _total_key(totals[run_id]), reverse=filters.order == "desc")
        page_ids = ids[start : start + size]
        loaded = {
            r.run_id: r
            for r in db.session.scalars(
                _with_relations(select(CommissionRun)).where(CommissionRun.run_id.in_(page_ids))
            )
        }
        runs = [loaded[run_id] for run_id in page_ids]
        totals = {run_id: totals[run_id] for run_id in page_ids}
    else:
        ordered = _with_relations(stmt.order_by(*_run_order(filters, partner_table)))
        runs = list(db.session.scalars(ordered.offset(start).limit(size)))
        totals = run_totals(r.run_id for r in runs)
    return RunsPage(
        runs=runs,
        totals=totals,
        stale=stale_runs(runs),
        total_count=total_count,
        page=page,
        has_next=start + size < total_count,
    )


#: Columns of the runs list file.
RUNS_LIST_HEADER = (
    "run_id",
    "created_at",
    "partner",
    "agreement",
    "chain_id",
    "date_from",
    "date_to",
    "status",
    "committed_by",
    "approved_by",
    "line_count",
    "commission_amount_native",
    "adjustment_amount_native",
    "total_amount_native",
    "token_symbol",
    "out_of_date",
)
#: Runs read at a time for the file (their totals and notes in one call per batch).
RUNS_LIST_BATCH = 500


def runs_list_rows(filters: RunFilters):
    """Every run under the filters, in the list's order, as rows of `RUNS_LIST_HEADER`:
    exact amounts, totals from `totals.run_totals`, out of date from `stale_runs`."""
    page = 1
    while True:
        batch = runs_page(filters, page, RUNS_LIST_BATCH)
        for run in batch.runs:
            total = batch.totals[run.run_id]
            yield (
                str(run.run_id),
                run.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                run.partner.name,
                run.agreement.name,
                run.agreement.chain_id,
                run.date_from.isoformat(),
                run.date_to.isoformat(),
                run.status,
                run.created_by.email if run.created_by else "",
                run.approved_by.email if run.approved_by else "",
                total.total_line_count,
                total.commission_amount_native,
                total.adjustment_amount_native,
                total.total_native,
                total.token_symbol,
                "yes" if run.run_id in batch.stale else "no",
            )
        if not batch.has_next:
            return
        page += 1
