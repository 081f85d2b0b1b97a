"""Drill-down pages and fragments of previews and runs, wallet explanations, and the method
comparison of an agreement. Read-only: nothing here changes data."""

from collections.abc import Callable
from datetime import date
from urllib.parse import quote_plus

from flask import abort, request, url_for
from sqlalchemy.orm import selectinload

from webapp import charts
from webapp.attribution import METHOD_WALLET_ATTRIBUTION
from webapp.commissions import period_sums
from webapp.extensions import db
from webapp.insight import bp, compare, drill, explain
from webapp.models import Agreement, CanonicalPeriod, CommissionRun
from webapp.money import unit_of
from webapp.vocab import RevenueComponent
from webapp.web import render


def _agreement_or_404(agreement_id) -> Agreement:
    return db.get_or_404(
        Agreement,
        agreement_id,
        options=[selectinload(Agreement.partner), selectinload(Agreement.chain)],
    )


def _run_or_404(run_id) -> CommissionRun:
    return db.get_or_404(
        CommissionRun,
        run_id,
        options=[
            selectinload(CommissionRun.partner),
            selectinload(CommissionRun.agreement).selectinload(Agreement.chain),
        ],
    )


def _found_or_404(value):
    if value is None:
        abort(404)
    return value


def _period_or_404(period_id, chain_id: str) -> CanonicalPeriod:
    period = db.get_or_404(CanonicalPeriod, period_id)
    if period.chain_id != chain_id:
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
    """The page explaining one wallet of a preview's agreement (over its range) or of a run."""
    if kind == "run":
        return url_for("insight.run_wallet", address=address, **owner)
    if "date_from" not in owner:
        return None
    return url_for("insight.preview_wallet", address=address, **owner)


def _range_dates() -> dict[str, date]:
    """The preview range a drill-down was opened from, when the query string carries it."""
    values = {}
    for name in ("date_from", "date_to"):
        try:
            values[name] = date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return {}
    return values


def _range_args() -> dict[str, str]:
    """`_range_dates` as the query string gives them on to the next level's links."""
    return {name: day.isoformat() for name, day in _range_dates().items()}


def _preview_owner(agreement) -> dict:
    return {"agreement_id": agreement.agreement_id, **_range_args()}


#: A preview of at most this many periods holds each period's breakdown in the page, shown
#: in place without a request; a longer one (a month of daily periods) opens a period's
#: breakdown on demand, as a run's page does, instead of drawing every one hidden.
INLINE_PERIODS = 12


@bp.app_template_global()
def preview_insight(agreement, result, date_from: date, date_to: date) -> dict:
    """Periods, totals and chart of one agreement's preview, for its section of the page."""
    rows = period_sums.result_periods(result)
    unit = unit_of(agreement.chain)
    return {
        "rows": rows,
        "totals": period_sums.totals_of(rows),
        "chart": period_sums.commission_chart(
            rows, unit, f"Commission per period, {agreement.name}"
        ),
        "unit": unit,
        "per_wallet": agreement.wallet_attribution_enabled,
        "owner": {
            "agreement_id": agreement.agreement_id,
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
        },
        "kind": "agreement",
        "inline": len(rows) <= INLINE_PERIODS,
    }


#: What url_for leaves unquoted in a query value (werkzeug's `_urlencode`), and two stand-ins
#: for the values that `slice_urls` puts in; url_for leaves them as they are.
_QUERY_SAFE = "!$'()*,/:;?@"
_VALIDATOR, _COMPONENT = "SLICEVALIDATORMARK", "SLICECOMPONENTMARK"


def _query_value(value) -> str:
    """A query value as url_for writes it."""
    return quote_plus(value if isinstance(value, str) else str(value), safe=_QUERY_SAFE)


@bp.app_template_global()
def slice_urls(endpoint: str, period_id, owner: dict) -> Callable[[object, object], str]:
    """The link of each slice of a period: (validator, component) -> url_for(endpoint,
    period_id=..., validator=..., component=..., **owner), the same text, from one url_for
    for the period (a preview shows every period's slices, dozens each, and url_for was the
    dearest call of its page)."""
    template = url_for(
        endpoint, period_id=period_id, validator=_VALIDATOR, component=_COMPONENT, **owner
    )
    if template.count(_VALIDATOR) != 1 or template.count(_COMPONENT) != 1:
        return lambda validator, component: url_for(
            endpoint, period_id=period_id, validator=validator, component=component, **owner
        )
    head, rest = template.split(_VALIDATOR)
    middle, tail = rest.split(_COMPONENT)
    return lambda validator, component: (
        f"{head}{_query_value(validator)}{middle}{_query_value(component)}{tail}"
    )


@bp.app_template_global()
def preview_insight_owner(agreement, computation) -> dict:
    """The agreement and range a preview's drill-downs and wallet pages are opened with."""
    return {
        "agreement_id": agreement.agreement_id,
        "date_from": computation.date_from.isoformat(),
        "date_to": computation.date_to.isoformat(),
    }


@bp.app_template_global()
def revenue_chart(totals, chain_id: str, unit) -> charts.Chart:
    """Imported validator revenue per period of a chain, stacked by component, oldest first,
    in the chain's unit."""
    rows = list(reversed(totals))
    components = [c for c in period_sums.COMPONENTS if any(c in row.revenue for row in rows)]
    values = {
        (row.period.label, str(component)): amount
        for row in rows
        for component, amount in row.revenue.items()
    }
    return charts.build(
        f"Imported validator revenue per period, {chain_id}",
        unit,
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


@bp.route("/agreements/<uuid:agreement_id>/periods/<uuid:period_id>")
def preview_period(agreement_id, period_id):
    """One period of an agreement as computed now, by validator and component."""
    agreement = _agreement_or_404(agreement_id)
    period = _period_or_404(period_id, agreement.chain_id)
    row = drill.preview_period_row(agreement, period, **_range_dates())
    return _render_period(
        _preview_owner(agreement),
        "agreement",
        agreement,
        period,
        row,
        unit_of(agreement.chain),
    )


@bp.route("/runs/<uuid:run_id>/periods/<uuid:period_id>")
def run_period(run_id, period_id):
    """One period of a committed run, by validator and component."""
    run = _run_or_404(run_id)
    period = _period_or_404(period_id, run.agreement.chain_id)
    row = drill.run_period_row(run, period.period_id)
    return _render_period(
        {"run_id": run.run_id}, "run", run, period, row, unit_of(run.agreement.chain)
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


@bp.route("/agreements/<uuid:agreement_id>/periods/<uuid:period_id>/lines")
def preview_lines(agreement_id, period_id):
    """A page of wallets of one period, validator and component, as computed now."""
    agreement = _agreement_or_404(agreement_id)
    period = _period_or_404(period_id, agreement.chain_id)
    validator, component = _slice_args()
    rows, next_cursor = drill.preview_wallet_lines(
        agreement, period, validator, component, request.args.get("after", ""), drill.WALLET_PAGE
    )
    return _render_lines(
        _preview_owner(agreement),
        "agreement",
        agreement,
        period,
        validator,
        component,
        rows,
        next_cursor,
        unit_of(agreement.chain),
    )


@bp.route("/runs/<uuid:run_id>/periods/<uuid:period_id>/lines")
def run_lines(run_id, period_id):
    """A page of a run's lines of one period, validator and component, by wallet."""
    run = _run_or_404(run_id)
    period = _period_or_404(period_id, run.agreement.chain_id)
    validator, component = _slice_args()
    rows, next_cursor = drill.run_wallet_lines(
        run,
        period.period_id,
        validator,
        component,
        request.args.get("after", ""),
        drill.WALLET_PAGE,
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
        unit_of(run.agreement.chain),
    )


# ---- Every wallet explained ----------------------------------------------------------------


def _preview_range_or_404() -> tuple[date, date]:
    values = _range_dates()
    if not values or values["date_to"] < values["date_from"]:
        abort(404)
    return values["date_from"], values["date_to"]


def _render_wallets(kind, owner, subject, explanations, next_cursor, query):
    return render(
        "insight/wallets.html",
        "insight/partial/wallet_rows.html",
        kind=kind,
        owner=owner,
        subject=subject,
        explanations=explanations,
        next_cursor=next_cursor,
        after=request.args.get("after", ""),
        q=query,
        unit=unit_of(subject.agreement.chain if kind == "run" else subject.chain),
    )


@bp.route("/agreements/<uuid:agreement_id>/wallets")
def preview_wallets(agreement_id):
    """The partner's wallets on the agreement's chain, searched by address, a page at a time,
    each with what the preview of the range pays it or why not."""
    agreement = _agreement_or_404(agreement_id)
    date_from, date_to = _preview_range_or_404()
    query = request.args.get("q", "").strip()
    wallets, next_cursor = explain.wallet_page(
        agreement.partner_id, agreement.chain_id, query, request.args.get("after", "")
    )
    explanations = explain.explain_preview(agreement, date_from, date_to, wallets)
    return _render_wallets(
        "agreement", _preview_owner(agreement), agreement, explanations, next_cursor, query
    )


@bp.route("/runs/<uuid:run_id>/wallets")
def run_wallets(run_id):
    """The partner's wallets on the run's chain, searched by address, a page at a time, each
    with what the run paid it or why not."""
    run = _run_or_404(run_id)
    query = request.args.get("q", "").strip()
    wallets, next_cursor = explain.wallet_page(
        run.partner_id, run.agreement.chain_id, query, request.args.get("after", "")
    )
    explanations = explain.explain_run(run, wallets)
    return _render_wallets("run", {"run_id": run.run_id}, run, explanations, next_cursor, query)


def _render_wallet(kind, owner, subject, explanation, unit):
    return render(
        "insight/wallet.html",
        kind=kind,
        owner=owner,
        subject=subject,
        explanation=explanation,
        unit=unit,
        title=explanation.wallet_address,
    )


@bp.route("/agreements/<uuid:agreement_id>/wallets/<address>")
def preview_wallet(agreement_id, address):
    """One wallet across every period of the preview's range: paid, on which lines, or why
    not."""
    agreement = _agreement_or_404(agreement_id)
    date_from, date_to = _preview_range_or_404()
    wallet = _found_or_404(explain.wallet_of(agreement.partner_id, agreement.chain_id, address))
    [explanation] = explain.explain_preview(agreement, date_from, date_to, [wallet])
    explain.add_stake_evidence(agreement, date_from, date_to, explanation)
    return _render_wallet(
        "agreement",
        _preview_owner(agreement),
        agreement,
        explanation,
        unit_of(agreement.chain),
    )


@bp.route("/runs/<uuid:run_id>/wallets/<address>")
def run_wallet(run_id, address):
    """One wallet across every period of a committed run."""
    run = _run_or_404(run_id)
    wallet = _found_or_404(explain.wallet_of(run.partner_id, run.agreement.chain_id, address))
    [explanation] = explain.explain_run(run, [wallet])
    explain.add_stake_evidence(run.agreement, run.date_from, run.date_to, explanation)
    return _render_wallet(
        "run", {"run_id": run.run_id}, run, explanation, unit_of(run.agreement.chain)
    )


# ---- Method comparison ---------------------------------------------------------------------


def _compare_range(agreement) -> tuple[date | None, date | None, dict[str, str]]:
    """The range asked for, or the default (last three months with data); errors by field."""
    errors = {}
    values = {}
    for name, label in (("date_from", "From"), ("date_to", "To")):
        raw = request.args.get(name, "").strip()
        if not raw:
            continue
        try:
            values[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = f"{label}: give a date as YYYY-MM-DD, not {raw!r}."
    if errors:
        return None, None, errors
    if len(values) < 2:
        default = compare.default_range(agreement)
        if default is None:
            return None, None, {}
        values.setdefault("date_from", default[0])
        values.setdefault("date_to", default[1])
    if values["date_to"] < values["date_from"]:
        return None, None, {"date_to": "To: the last day is before the first day."}
    return values["date_from"], values["date_to"], {}


@bp.route("/agreements/<uuid:agreement_id>/compare")
def compare_methods(agreement_id):
    """Each method's commission per period and component over a range, the difference, and
    what each counts (wallets, revenue); with `switch`, the confirmation of a method switch."""
    agreement = _agreement_or_404(agreement_id)
    date_from, date_to, errors = _compare_range(agreement)
    comparison = None
    if date_from is not None and not errors:
        comparison = compare.compare(agreement, date_from, date_to)
    return render(
        "insight/compare.html",
        status=400 if errors else 200,
        agreement=agreement,
        comparison=comparison,
        errors=errors,
        date_from=date_from or request.args.get("date_from", ""),
        date_to=date_to or request.args.get("date_to", ""),
        switching=request.args.get("switch") == "1",
        unit=unit_of(agreement.chain),
        title="Compare the methods",
        kind="agreement",
        subject=agreement,
    )
