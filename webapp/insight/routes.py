"""Drill-down pages and fragments of previews and runs, wallet explanations, and the method
comparison of an agreement. Read-only: nothing here changes data."""

import uuid

from flask import abort, request
from sqlalchemy.orm import selectinload

from webapp import charts
from webapp.agreements.service import get_agreement
from webapp.attribution import METHOD_WALLET_ATTRIBUTION
from webapp.commissions import insight
from webapp.extensions import db
from webapp.insight import bp
from webapp.models import CanonicalPeriod, Chain, CommissionRun, RevenueComponent
from webapp.web import or_404, render


def _uuid_or_404(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        abort(404)


def _agreement_or_404(agreement_id):
    return or_404(get_agreement(agreement_id))


def _run_or_404(run_id) -> CommissionRun:
    return or_404(
        db.session.get(
            CommissionRun,
            _uuid_or_404(run_id),
            options=[selectinload(CommissionRun.partner), selectinload(CommissionRun.agreement)],
        )
    )


def _period_or_404(period_id, chain_id: str) -> CanonicalPeriod:
    period = db.session.get(CanonicalPeriod, _uuid_or_404(period_id))
    if period is None or period.chain_id != chain_id:
        abort(404)
    return period


def _slice_args() -> tuple[str, str]:
    validator = request.args.get("validator", "")
    component = request.args.get("component", "")
    if not validator or component not in {c.value for c in RevenueComponent}:
        abort(404)
    return validator, component


def _per_wallet(subject) -> bool:
    """True when the agreement (or run) pays per wallet."""
    if isinstance(subject, CommissionRun):
        return subject.method == METHOD_WALLET_ATTRIBUTION
    return subject.wallet_attribution_enabled


@bp.app_template_global()
def wallet_url(kind: str, owner: dict, address: str) -> str | None:
    """The page explaining one wallet of a preview's agreement or of a run."""
    return None


@bp.app_template_global()
def preview_insight(agreement, result) -> dict:
    """Periods, totals and chart of one agreement's preview, for its section of the page."""
    rows = insight.result_periods(result)
    unit = agreement.chain.token_symbol
    return {
        "rows": rows,
        "totals": insight.totals_of(rows),
        "chart": insight.commission_chart(rows, unit, f"Commission per period, {agreement.name}"),
        "unit": unit,
        "owner": {"agreement_id": agreement.agreement_id},
        "kind": "agreement",
    }


@bp.app_template_global()
def run_insight(run) -> dict:
    """Periods, totals and chart of a committed run's stored lines, for its page."""
    rows = insight.run_periods(run)
    unit = run.agreement.chain.token_symbol
    return {
        "rows": rows,
        "totals": insight.totals_of(rows),
        "chart": insight.commission_chart(rows, unit, "Commission per period"),
        "unit": unit,
        "owner": {"run_id": run.run_id},
        "kind": "run",
    }


@bp.app_template_global()
def revenue_chart(totals, chain_id: str) -> charts.Chart:
    """Imported validator revenue per period of a chain, stacked by component, oldest first."""
    chain = db.session.get(Chain, chain_id)
    rows = list(reversed(totals))
    components = [c for c in insight.COMPONENTS if any(c in row.revenue for row in rows)]
    values = {
        (row.period.label, str(component)): amount
        for row in rows
        for component, amount in row.revenue.items()
    }
    return charts.build(
        f"Imported validator revenue per period, {chain_id}",
        chain.token_symbol if chain else chain_id,
        [row.period.label for row in rows],
        components,
        values,
    )


def _render_period(owner: dict, kind: str, subject, period, row, unit):
    return render(
        "insight/period.html",
        "insight/partial/slices.html",
        owner=owner,
        kind=kind,
        subject=subject,
        period=period,
        row=row,
        unit=unit,
        per_wallet=_per_wallet(subject),
    )


@bp.route("/agreements/<agreement_id>/periods/<period_id>")
def preview_period(agreement_id, period_id):
    """One period of an agreement as computed now, by validator and component."""
    agreement = _agreement_or_404(agreement_id)
    period = _period_or_404(period_id, agreement.chain_id)
    row = insight.preview_period_row(agreement, period)
    return _render_period(
        {"agreement_id": agreement.agreement_id},
        "agreement",
        agreement,
        period,
        row,
        agreement.chain.token_symbol,
    )


@bp.route("/runs/<run_id>/periods/<period_id>")
def run_period(run_id, period_id):
    """One period of a committed run, by validator and component."""
    run = _run_or_404(run_id)
    period = _period_or_404(period_id, run.agreement.chain_id)
    row = insight.run_period_row(run, period.period_id)
    return _render_period(
        {"run_id": run.run_id}, "run", run, period, row, run.agreement.chain.token_symbol
    )


def _render_lines(owner, kind, subject, period, validator, component, rows, next_cursor, unit):
    return render(
        "insight/lines.html",
        "insight/partial/wallet_lines.html",
        owner=owner,
        kind=kind,
        subject=subject,
        period=period,
        validator=validator,
        component=component,
        lines=rows,
        next_cursor=next_cursor,
        after=request.args.get("after", ""),
        unit=unit,
        per_wallet=_per_wallet(subject),
    )


@bp.route("/agreements/<agreement_id>/periods/<period_id>/lines")
def preview_lines(agreement_id, period_id):
    """A page of wallets of one period, validator and component, as computed now."""
    agreement = _agreement_or_404(agreement_id)
    period = _period_or_404(period_id, agreement.chain_id)
    validator, component = _slice_args()
    rows, next_cursor = insight.preview_wallet_lines(
        agreement, period, validator, component, request.args.get("after", ""), insight.WALLET_PAGE
    )
    return _render_lines(
        {"agreement_id": agreement.agreement_id},
        "agreement",
        agreement,
        period,
        validator,
        component,
        rows,
        next_cursor,
        agreement.chain.token_symbol,
    )


@bp.route("/runs/<run_id>/periods/<period_id>/lines")
def run_lines(run_id, period_id):
    """A page of a run's lines of one period, validator and component, by wallet."""
    run = _run_or_404(run_id)
    period = _period_or_404(period_id, run.agreement.chain_id)
    validator, component = _slice_args()
    rows, next_cursor = insight.run_wallet_lines(
        run,
        period.period_id,
        validator,
        component,
        request.args.get("after", ""),
        insight.WALLET_PAGE,
    )
    return _render_lines(
        {"run_id": run.run_id},
        "run",
        run,
        period,
        validator,
        component,
        rows,
        next_cursor,
        run.agreement.chain.token_symbol,
    )
