"""Reads the commission pages need: recent runs, a run's lines (those of the pairs it holds,
and the adjustments it carries), a wallet's totals per component in a run, a run's
exclusions by wallet. (The periods locked by approval: `agreements.queries`; a run's own totals:
`insight.run_sums`; what changed since approval is worked out by the engine:
`runs.changes_since_approval`.)"""

from datetime import UTC, date, datetime, time

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    PartnerCommissionLine,
)
from webapp.vocab import LineKind, Method

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
    return or_(
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
    the run (the run's own totals: `insight.run_sums`)."""
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
