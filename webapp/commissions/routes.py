"""Commission pages: review a partner's breakdown for a date range, commit it, download it,
and read any run with the exclusions that explain a wallet's empty line."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import request
from flask_login import current_user

from webapp.attribution import METHOD_WALLET_ATTRIBUTION, REASONS, AttributionResult
from webapp.commissions import bp, queries, service
from webapp.commissions.forms import CommissionRangeForm
from webapp.commissions.queries import recent_runs
from webapp.commissions.service import EXPORT_HEADER, CommissionError
from webapp.extensions import db
from webapp.models import CommissionRun, LineKind, Role
from webapp.money import MONEY, ZERO
from webapp.wallets.service import slugify
from webapp.web import csv_download, flash_and_redirect, render, role_required

#: Wallet rows shown in a preview; a larger partner gets a note and the first ones by address.
PREVIEW_WALLET_LIMIT = 200
#: Rows of a run's per-wallet exclusions shown per page.
RUN_WALLET_PAGE = 100
#: Runs shown in the history.
HISTORY_LIMIT = 100


@dataclass
class WalletSummary:
    """One wallet's share of a preview: its lines, and what held the rest back, by reason."""

    wallet_address: str
    line_count: int = 0
    base_amount_native: Decimal = ZERO
    commission_amount_native: Decimal = ZERO
    held_back: dict[str, list] = field(default_factory=dict)

    @property
    def earned_nothing(self) -> bool:
        """True when no line of the wallet made it into the breakdown."""
        return self.line_count == 0


@dataclass
class WalletTable:
    """The wallets of a preview: how many, how many earned nothing, and the rows shown."""

    wallet_count: int
    idle_count: int
    wallets: list[WalletSummary]


def wallet_table(result: AttributionResult, limit: int) -> WalletTable:
    """Per wallet of a wallet-attribution result, at most `limit` rows: wallets that earned
    nothing first (they are what a manager asks about), then by address.

    Only the rows shown are summed: at a large partner's scale, adding up every wallet's
    lines would cost more than the rest of the page.
    """
    earning = {line.wallet_address for line in result.lines}
    every = earning.union(ex.wallet_address for ex in result.exclusions)
    order = sorted(every, key=lambda address: (address in earning, address))
    wallets = {address: WalletSummary(address) for address in order[:limit]}
    add = MONEY.add
    for line in result.lines:
        entry = wallets.get(line.wallet_address)
        if entry is not None:
            entry.line_count += 1
            entry.base_amount_native = add(entry.base_amount_native, line.base_amount_native)
            entry.commission_amount_native = add(
                entry.commission_amount_native, line.commission_amount_native
            )
    for ex in result.exclusions:
        entry = wallets.get(ex.wallet_address)
        if entry is not None:
            held = entry.held_back.setdefault(ex.reason, [0, ZERO])
            held[0] += 1
            held[1] = add(held[1], ex.held_back_amount_native)
    return WalletTable(len(every), len(every) - len(earning), list(wallets.values()))


def _breakdown(computation) -> list[dict]:
    """What the template shows per agreement: its result and, for wallets, the capped table."""
    sections = []
    for outcome in computation.outcomes:
        section = {"agreement": outcome.agreement, "result": outcome.result, "wallets": None}
        if outcome.result.method == METHOD_WALLET_ATTRIBUTION:
            section["wallets"] = wallet_table(outcome.result, PREVIEW_WALLET_LIMIT)
        sections.append(section)
    return sections


def _grand_totals(computation) -> list[dict]:
    """The preview's totals per token symbol, in agreement order: two chains never add up."""
    by_token: dict[str, dict] = {}
    add = MONEY.add
    for outcome in computation.outcomes:
        chain, result = outcome.agreement.chain, outcome.result
        entry = by_token.setdefault(
            chain.token_symbol,
            {"chain": chain, "line_count": 0, "base": ZERO, "commission": ZERO, "excluded": ZERO},
        )
        entry["line_count"] += len(result.lines)
        entry["base"] = add(entry["base"], result.total_base_native)
        entry["commission"] = add(entry["commission"], result.total_commission_native)
        entry["excluded"] = add(entry["excluded"], result.excluded_amount_native)
    return list(by_token.values())


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
        wallet_limit=PREVIEW_WALLET_LIMIT,
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
    try:
        computation = service.commit(
            partner,
            date_from,
            date_to,
            user=current_user,
            true_up=bool(request.form.get("true_up")),
        )
    except CommissionError as exc:
        form.date_to.errors.append(str(exc))
        return _review(form, 400)
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
    components = [
        row[1:] for row in queries.run_component_totals(run) if row[0] == LineKind.COMMISSION
    ]
    reasons = sorted(queries.run_exclusion_reasons(run), key=lambda row: _reason_order(row[0]))
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
        components=components,
        reasons=reasons,
        wallet_rows=wallet_rows,
        earned=earned,
        wallet_filter=wallet_filter,
        page_number=page_number,
        has_next=has_next,
    )
