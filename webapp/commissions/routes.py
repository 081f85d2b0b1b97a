"""Commission pages: review a partner's breakdown for a date range, commit it, download it,
and read any run with the exclusions that explain a wallet's empty line."""

from datetime import UTC, date, datetime, timedelta

from flask import request
from flask_login import current_user
from sqlalchemy import func, select

from webapp.attribution import REASONS
from webapp.commissions import bp, service
from webapp.commissions.forms import CommissionRangeForm
from webapp.commissions.queries import recent_runs
from webapp.commissions.service import EXPORT_HEADER, CommissionError
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import CommissionExclusion, CommissionRun, PartnerCommissionLine, Role
from webapp.money import money_sum
from webapp.wallets.service import slugify
from webapp.web import csv_download, flash_and_redirect, render, role_required

#: Rows of a run's per-wallet exclusions shown per page.
RUN_WALLET_PAGE = 100
#: Runs shown in the history.
HISTORY_LIMIT = 100


def _breakdown(computation) -> list[dict]:
    """What the template shows per agreement: the agreement and its result."""
    return [{"agreement": o.agreement, "result": o.result} for o in computation.outcomes]


def _grand_totals(computation) -> dict:
    results = [o.result for o in computation.outcomes]
    return {
        "line_count": sum(len(r.lines) for r in results),
        "base": money_sum(r.total_base_native for r in results),
        "commission": money_sum(r.total_commission_native for r in results),
        "excluded": money_sum(r.excluded_amount_native for r in results),
    }


def _review(form, status: int = 200, computation=None):
    """The commissions page (or its review fragment for htmx) for a form and a preview."""
    return render(
        "commissions/index.html",
        "commissions/partial/review.html",
        status=status,
        form=form,
        computation=computation,
        sections=_breakdown(computation) if computation else [],
        totals=_grand_totals(computation) if computation else None,
        runs=recent_runs(limit=HISTORY_LIMIT),
    )


def _last_month() -> tuple[date, date]:
    first_of_this_month = datetime.now(UTC).date().replace(day=1)
    last_day = first_of_this_month - timedelta(days=1)
    return last_day.replace(day=1), last_day


@bp.route("/")
def index():
    """Pick a partner and a range; given a range, the preview of its breakdown; then the history."""
    form = CommissionRangeForm(request.args)
    if not ({"date_from", "date_to"} & request.args.keys()):
        # A first visit (or a link that names only the partner): last month, nothing computed.
        form.date_from.data, form.date_to.data = _last_month()
        return _review(form)
    if not form.validate():
        return _review(form, 400)
    try:
        computation = service.preview(form.chosen_partner, form.date_from.data, form.date_to.data)
    except CommissionError as exc:
        form.date_to.errors.append(str(exc))
        return _review(form, 400)
    return _review(form, computation=computation)


@bp.route("/commit", methods=["POST"])
@role_required(Role.MANAGER)
def commit():
    """Compute and store the partner's lines for the range, then back to the review."""
    form = CommissionRangeForm(request.form)
    if not form.validate():
        return _review(form, 400)
    partner, date_from, date_to = form.chosen_partner, form.date_from.data, form.date_to.data
    computation = service.commit(partner, date_from, date_to, user=current_user)
    runs = len(computation.outcomes)
    lines = sum(len(o.result.lines) for o in computation.outcomes)
    message = (
        f"Committed {runs} run(s) for {partner.name}, {date_from.isoformat()} to "
        f"{date_to.isoformat()}: {lines} line(s)."
        if runs
        else f"{partner.name} has no agreement in effect in that range: nothing committed."
    )
    return flash_and_redirect(
        message,
        "commissions.index",
        category="success" if runs else "warning",
        partner=str(partner.partner_id),
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
    )


@bp.route("/export.csv")
def export():
    """The committed lines of the partner's periods in the range, as CSV for finance."""
    form = CommissionRangeForm(request.args)
    if not form.validate():
        return _review(form, 400)
    partner, date_from, date_to = form.chosen_partner, form.date_from.data, form.date_to.data
    name = (
        f"commissions-{slugify(partner.name)}-{date_from.isoformat()}-to-{date_to.isoformat()}.csv"
    )
    # The lines stream out of the database while the response is sent, inside the request.
    return csv_download(EXPORT_HEADER, service.export_rows(partner, date_from, date_to), name)


def _reason_order(reason: str) -> tuple:
    """Reasons in the order the calculation checks them, as the preview lists them."""
    return (REASONS.index(reason), "") if reason in REASONS else (len(REASONS), reason)


@bp.route("/runs/<uuid:run_id>")
def run_detail(run_id):
    """A run's totals, its stored lines per component, and its exclusions by reason and wallet."""
    run = db.get_or_404(CommissionRun, run_id)
    L, X = PartnerCommissionLine, CommissionExclusion
    components = db.session.execute(
        select(
            L.revenue_component,
            func.count(),
            decimal_sum(L.base_amount_native),
            decimal_sum(L.commission_amount_native),
        )
        .where(L.run_id == run.run_id)
        .group_by(L.revenue_component)
        .order_by(L.revenue_component)
    ).all()
    reasons = sorted(
        db.session.execute(
            select(X.reason, func.count(), decimal_sum(X.held_back_amount_native))
            .where(X.run_id == run.run_id)
            .group_by(X.reason)
        ).all(),
        key=lambda row: _reason_order(row[0]),
    )
    wallet_filter = request.args.get("wallet", "").strip()
    page_number = max(request.args.get("page", 1, type=int) or 1, 1)
    by_wallet = (
        select(X.wallet_address, X.reason, func.count(), decimal_sum(X.held_back_amount_native))
        .where(X.run_id == run.run_id, X.wallet_address.is_not(None))
        .group_by(X.wallet_address, X.reason)
        .order_by(X.wallet_address, X.reason)
    )
    if wallet_filter:
        by_wallet = by_wallet.where(X.wallet_address.contains(wallet_filter, autoescape=True))
    wallet_rows = db.session.execute(
        by_wallet.offset((page_number - 1) * RUN_WALLET_PAGE).limit(RUN_WALLET_PAGE + 1)
    ).all()
    has_next = len(wallet_rows) > RUN_WALLET_PAGE
    wallet_rows = wallet_rows[:RUN_WALLET_PAGE]
    # Whether each wallet on this page earned anything in the run, in one query for the page.
    addresses = sorted({row[0] for row in wallet_rows})
    earned = dict(
        db.session.execute(
            select(L.wallet_address, func.count())
            .where(L.run_id == run.run_id, L.wallet_address.in_(addresses))
            .group_by(L.wallet_address)
        ).all()
        if addresses
        else []
    )
    return render(
        "commissions/run.html",
        "commissions/partial/run_wallets.html",
        run=run,
        components=components,
        reasons=reasons,
        wallet_rows=wallet_rows,
        earned=earned,
        wallet_filter=wallet_filter,
        page_number=page_number,
        has_next=has_next,
    )
