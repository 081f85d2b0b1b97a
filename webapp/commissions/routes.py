"""Commission pages: review a partner's breakdown for a date range, commit it, download it,
and read any run with the exclusions that explain a wallet's empty line."""

from datetime import UTC, date, datetime, timedelta

from flask import current_app, request
from flask_login import current_user

from webapp.agreements.queries import agreements_of_partner
from webapp.commissions import (
    background,
    bp,
    close_view,
    committing,
    large,
    period_sums,
    queries,
    results,
)
from webapp.commissions.close_routes import range_close_state
from webapp.commissions.export import EXPORT_HEADER, export_rows, has_committed_lines
from webapp.commissions.forms import CommissionRangeForm
from webapp.commissions.lifecycle import CommissionError
from webapp.commissions.queries import recent_runs
from webapp.commissions.totals import run_totals
from webapp.commissions.valuation import preview_usd, run_usd_totals
from webapp.extensions import db
from webapp.jobs.queue import enqueue
from webapp.labels import slugify
from webapp.models import CommissionRun
from webapp.partners.service import get_partner
from webapp.vocab import LineKind, Role
from webapp.web import (
    csv_download,
    flash_and_redirect,
    is_htmx,
    render,
    role_required,
    to_job_page,
)

#: Rows of a run's per-wallet exclusions shown per page.
RUN_WALLET_PAGE = 100
#: Runs shown in the history.
HISTORY_LIMIT = 100


def _breakdown(computation) -> list[dict]:
    """What the template shows per agreement: the agreement and its result."""
    return [{"agreement": o.agreement, "result": o.result} for o in computation.outcomes]


def _grand_totals(computation) -> list[dict]:
    """The preview's totals per token symbol, in agreement order: two chains never add up."""
    usd, usd_warnings = preview_usd(computation)
    chains = {o.agreement.chain.token_symbol: o.agreement.chain for o in computation.outcomes}
    return [
        {
            "chain": chains[symbol],
            "line_count": total.line_count,
            "base": total.base_amount_native,
            "commission": total.commission_amount_native,
            "excluded": total.excluded_amount_native,
            "usd": usd.get(symbol),
            "usd_warnings": usd_warnings,
        }
        for symbol, total in results.token_totals(computation.outcomes).items()
    ]


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
        close=range_close_state(computation) if computation else None,
        committed_lines=bool(computation)
        and has_committed_lines(computation.partner, computation.date_from, computation.date_to),
        **_history(),
    )


def _history() -> dict:
    """The recent runs and their totals, for the history below the review."""
    runs = recent_runs(limit=HISTORY_LIMIT)
    return {"runs": runs, "run_totals": run_totals(r.run_id for r in runs)}


def _last_month() -> tuple[date, date]:
    first_of_this_month = datetime.now(UTC).date().replace(day=1)
    last_day = first_of_this_month - timedelta(days=1)
    return last_day.replace(day=1), last_day


def _latest_month_with_data(partner_id=None) -> tuple[date, date]:
    """The calendar month of the latest period with data (last month when there is none): the
    range the page opens on. Given a partner with agreements, only their chains count."""
    chains = {a.chain_id for a in agreements_of_partner(partner_id)} if partner_id else set()
    latest = queries.latest_day_with_data(chains or None)
    if latest is None:
        return _last_month()
    first = latest.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


@bp.route("/")
def index():
    """Pick a partner and a range; given a range, the preview of its breakdown; then the history."""
    form = CommissionRangeForm(request.args)
    if not ({"date_from", "date_to"} & request.args.keys()):
        # A first visit (or a link that names only the partner): the latest month with data,
        # nothing computed.
        partner = get_partner(form.partner.data) if form.partner.data else None
        form.date_from.data, form.date_to.data = _latest_month_with_data(
            partner.partner_id if partner else None
        )
        return _review(form)
    if not form.validate():
        return _review(form, 400)
    large.queue_if_large(form.chosen_partner.partner_id)
    try:
        computation = results.preview(form.chosen_partner, form.date_from.data, form.date_to.data)
    except CommissionError as exc:
        form.date_to.errors.append(str(exc))
        return _review(form, 400)
    return _review(form, computation=computation)


@bp.route("/commit", methods=["POST"])
@role_required(Role.MANAGER)
def commit():
    """Compute and store the partner's lines for the range, then back to the review; a large
    range is committed by a background job, whose progress page the answer leads to."""
    form = CommissionRangeForm(request.form)
    if not form.validate():
        return _review(form, 400)
    partner, date_from, date_to = form.chosen_partner, form.date_from.data, form.date_to.data
    true_up = bool(request.form.get("true_up"))
    threshold = current_app.config["BACKGROUND_AFTER_ROWS"]
    try:
        if background.estimated_rows(partner, date_from, date_to, threshold) > threshold:
            committing.check_committable(partner, date_from, date_to)
            job = enqueue(
                background.COMMIT,
                background.commit_parameters(partner, date_from, date_to, true_up),
                current_user,
            )
            return to_job_page(job)
        computation = committing.commit(
            partner, date_from, date_to, user=current_user, true_up=true_up
        )
    except CommissionError as exc:
        form.date_to.errors.append(str(exc))
        return _review(form, 400)
    return flash_and_redirect(
        background.committed_message(computation),
        "commissions.index",
        category="success" if computation.outcomes else "warning",
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
    # The lines stream out of the database while the response is sent, after the view has
    # returned: from a connection of their own, as the request's session is gone by then.
    return csv_download(EXPORT_HEADER, export_rows(partner, date_from, date_to), name)


@bp.route("/runs/<uuid:run_id>")
def run_detail(run_id):
    """A run's totals, its stored lines per component, and its exclusions by reason and wallet."""
    run = queries.run_for_page(run_id)
    totals = {}
    if not is_htmx():
        # The page's totals at every level (per period, per component, per reason) from one
        # read of the run's sums; a page of the wallet list (htmx) needs none of them.
        sums = period_sums.run_sums(run)
        states = close_view.run_states([run])
        totals = {
            "view": period_sums.run_view(run, sums),
            "components": sums.component_totals(LineKind.COMMISSION.value),
            "reasons": sums.reason_totals(),
            "total": states.totals[run.run_id],
            "stale": states.stale.get(run.run_id),
            "late": states.late.get(run.run_id),
            "history": queries.run_history(run),
        }
    wallet_filter = request.args.get("wallet", "").strip()
    page_number = max(request.args.get("page", 1, type=int) or 1, 1)
    by_wallet = queries.run_exclusions_by_wallet(run, wallet_filter)
    wallet_rows = db.session.execute(
        by_wallet.offset((page_number - 1) * RUN_WALLET_PAGE).limit(RUN_WALLET_PAGE + 1)
    ).all()
    has_next = len(wallet_rows) > RUN_WALLET_PAGE
    wallet_rows = wallet_rows[:RUN_WALLET_PAGE]
    # Whether each wallet on this page earned anything in the run, in one query for the page.
    earned = queries.run_wallet_line_counts(run, {row[0] for row in wallet_rows})
    return render(
        "commissions/run.html",
        "commissions/partial/run_wallets.html",
        run=run,
        wallet_rows=wallet_rows,
        earned=earned,
        wallet_filter=wallet_filter,
        page_number=page_number,
        has_next=has_next,
        **totals,
    )


@bp.route("/runs/<uuid:run_id>/usd")
def run_usd(run_id):
    """The run's value in USD, the sum of its lines' values: it reads every line of the run,
    so the run's page loads it after it is shown."""
    run = db.get_or_404(CommissionRun, run_id)
    return render("commissions/partial/run_usd.html", usd=run_usd_totals(run))
