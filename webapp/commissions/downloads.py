"""Files for finance, all streamed, formula-safe and with a byte-order mark: the preview's
lines as computed, a run's lines and adjustments, exclusions, and a summary per agreement,
component and token."""

from collections.abc import Iterator
from operator import itemgetter

from flask import request
from sqlalchemy import func, select

from webapp.attribution import LINE_COLUMNS
from webapp.commissions import bp, export, queries, results
from webapp.commissions.export import EXPORT_HEADER, export_row
from webapp.commissions.forms import CommissionRangeForm
from webapp.commissions.lifecycle import CommissionError
from webapp.commissions.run_rows import EXCLUSION_COLUMNS
from webapp.commissions.valuation import Valuation, run_valuation
from webapp.extensions import db
from webapp.labels import slugify
from webapp.models import Agreement, CanonicalPeriod, Chain, CommissionExclusion, CommissionRun
from webapp.money import MONEY, ZERO
from webapp.storage import stream_on_own_connection
from webapp.vocab import LineKind, Method, RunStatus, counted_as, joined_components
from webapp.web import csv_download

#: The exclusion files' columns: the partner, agreement and token, a stored exclusion's
#: columns (`run_rows.EXCLUSION_COLUMNS`, the period by its label), then what it counts.
EXCLUSION_HEADER = (
    "partner",
    "agreement",
    "chain_id",
    "token_symbol",
    *("period" if column == "period_id" else column for column in EXCLUSION_COLUMNS),
    "counted_as",
)
SUMMARY_HEADER = (
    "partner",
    "agreement",
    "chain_id",
    "token_symbol",
    "revenue_component",
    "line_kind",
    "line_count",
    "base_amount_native",
    "commission_amount_native",
)


def _range_or_400():
    form = CommissionRangeForm(request.args)
    if not form.validate():
        errors = "; ".join(e for errors in form.errors.values() for e in errors)
        return None, (errors, 400)
    return (form.chosen_partner, form.date_from.data, form.date_to.data), None


def _file_name(kind: str, partner, date_from, date_to) -> str:
    return (
        f"commissions-{kind}-{slugify(partner.name)}-"
        f"{date_from.isoformat()}-to-{date_to.isoformat()}.csv"
    )


def _preview_or_400():
    chosen, error = _range_or_400()
    if error:
        return None, error
    try:
        return results.preview(*chosen, lines=True), None
    except CommissionError as exc:
        return None, (str(exc), 400)


def preview_line_rows(computation) -> Iterator[tuple]:
    """The preview's lines as computed, in the export's columns (run_status `preview`)."""
    partner = computation.partner
    valuation = Valuation.load(
        p.period_id for outcome in computation.outcomes for p in outcome.result.periods
    )
    for outcome in computation.outcomes:
        agreement, result = outcome.agreement, outcome.result
        chain = agreement.chain
        periods = {p.period_id: p for p in result.periods}
        owner = (partner.name, agreement.name, chain.chain_id, chain.token_symbol)
        for line in result.lines:
            period = periods[line.period_id]
            yield export_row(
                owner,
                (period.label, period.start_time, period.end_time),
                line[1:],
                LineKind.COMMISSION.value,
                RunStatus.PREVIEW.value,
                valuation.value(line.commission_amount_native, line.period_id),
            )


@bp.route("/preview.csv")
def preview_csv():
    """The preview's lines as computed for the range (nothing stored), for checking."""
    computation, error = _preview_or_400()
    if error:
        return error
    c = computation
    name = _file_name("preview", c.partner, c.date_from, c.date_to)
    return csv_download(EXPORT_HEADER, preview_line_rows(c), name)


def grouped_exclusions(exclusions) -> dict[tuple, tuple[str | None, int, object]]:
    """A preview's exclusions grouped as a run stores them: one row per (period, wallet,
    validator, reason), its components (joined as stored), how many exclusions it sums and
    what they held back."""
    groups: dict[tuple, list] = {}
    for ex in exclusions:
        key = (ex.period_id, ex.wallet_address, ex.validator_key, ex.reason)
        group = groups.setdefault(key, [set(), 0, ZERO])
        group[0].add(ex.revenue_component)
        group[1] += 1
        group[2] = MONEY.add(group[2], ex.held_back_amount_native)
    return {key: (joined_components(c), n, held) for key, (c, n, held) in groups.items()}


def _exclusion_row(owner: tuple, label: str, exclusion, per_wallet: bool) -> tuple:
    """A row of `EXCLUSION_HEADER`, the same in the preview's file and a run's: `owner` is
    (partner, agreement, chain, token), `exclusion` (wallet, validator, components, reason,
    exclusions, held back) as a run stores it; `per_wallet`: the agreement's method is
    wallet attribution (what the reason counts as)."""
    wallet, validator, components, reason, count, held = exclusion
    return (
        *owner,
        label,
        wallet or "",
        validator or "",
        components or "",
        reason,
        count,
        held,
        counted_as(reason, per_wallet),
    )


def _exclusion_order(wallet, validator, reason) -> tuple:
    """Within a period, the order of both exclusion files: wallet, validator (none first),
    then reason; the same on either database."""
    return (wallet or "", validator or "", reason)


@bp.route("/preview-exclusions.csv")
def preview_exclusions_csv():
    """Why each wallet of the previewed range earned nothing, one row per exclusion."""
    computation, error = _preview_or_400()
    if error:
        return error

    def rows():
        for outcome in computation.outcomes:
            agreement, chain = outcome.agreement, outcome.agreement.chain
            owner = (computation.partner.name, agreement.name, chain.chain_id, chain.token_symbol)
            periods = {p.period_id: p for p in outcome.result.periods}
            for (period_id, wallet, validator, reason), (components, count, held) in sorted(
                grouped_exclusions(outcome.result.exclusions).items(),
                key=lambda item: (periods[item[0][0]].start_time, *_exclusion_order(*item[0][1:])),
            ):
                yield _exclusion_row(
                    owner,
                    periods[period_id].label,
                    (wallet, validator, components, reason, count, held),
                    agreement.wallet_attribution_enabled,
                )

    c = computation
    name = _file_name("preview-exclusions", c.partner, c.date_from, c.date_to)
    return csv_download(EXCLUSION_HEADER, rows(), name)


def summary_rows(partner, export_rows) -> Iterator[tuple]:
    """Per agreement, component, token and line kind: lines, base and commission, summed
    exactly from the export's rows (never across tokens)."""
    totals: dict[tuple, list] = {}
    add = MONEY.add
    for row in export_rows:
        agreement, chain_id, symbol, component, kind = row[1], row[2], row[3], row[8], row[13]
        entry = totals.setdefault((agreement, chain_id, symbol, component, kind), [0, ZERO, ZERO])
        entry[0] += 1
        entry[1] = add(entry[1], row[10])
        entry[2] = add(entry[2], row[12])
    for key in sorted(totals):
        agreement, chain_id, symbol, component, kind = key
        count, base, commission = totals[key]
        yield (partner.name, agreement, chain_id, symbol, component, kind, count, base, commission)


@bp.route("/summary.csv")
def summary_csv():
    """The committed lines and carried adjustments of the range, summed per agreement,
    component and token: the figures to pay."""
    chosen, error = _range_or_400()
    if error:
        return error
    partner, date_from, date_to = chosen
    rows = summary_rows(partner, export.export_rows(partner, date_from, date_to))
    return csv_download(SUMMARY_HEADER, rows, _file_name("summary", *chosen))


def _run_file(run: CommissionRun, kind: str) -> str:
    return (
        f"commission-run-{kind}-{slugify(run.partner.name)}-{slugify(run.agreement.name)}-"
        f"{run.date_from.isoformat()}-to-{run.date_to.isoformat()}.csv"
    )


@bp.route("/runs/<uuid:run_id>/lines.csv")
def run_lines_csv(run_id):
    """The run's lines: the commission lines of the periods it holds, then the adjustments
    it carries (each in the period it corrects)."""
    run = db.get_or_404(CommissionRun, run_id)
    partner_name, status = run.partner.name, run.status
    agreement_name, chain_id = run.agreement.name, run.agreement.chain_id
    symbol = run.agreement.chain.token_symbol
    valuation, run_key = run_valuation(run), run.run_id
    P = CanonicalPeriod
    lines = queries.run_lines(run).subquery()
    stmt = (
        select(lines, P.label, P.start_time, P.end_time)
        .join(P, P.period_id == lines.c.period_id)
        .order_by(lines.c.line_kind.desc(), P.start_time, lines.c.validator_key)
        .order_by(lines.c.revenue_component, lines.c.wallet_address)
    )

    owner = (partner_name, agreement_name, chain_id, symbol)
    line_of = itemgetter(*LINE_COLUMNS[1:])

    def rows():
        for row in stream_on_own_connection(db.session, stmt):
            row = row._mapping
            value = valuation.value(
                row["commission_amount_native"], row["period_id"], run_key, status
            )
            yield export_row(
                owner,
                (row["label"], row["start_time"], row["end_time"]),
                line_of(row),
                row["line_kind"],
                status,
                value,
            )

    return csv_download(EXPORT_HEADER, rows(), _run_file(run, "lines"))


@bp.route("/runs/<uuid:run_id>/exclusions.csv")
def run_exclusions_csv(run_id):
    """The run's stored exclusions: why each wallet earned nothing, and what it held back."""
    run = db.get_or_404(CommissionRun, run_id)
    partner_name = run.partner.name
    per_wallet = run.method == Method.WALLET_ATTRIBUTION
    X, P, A, C = CommissionExclusion, CanonicalPeriod, Agreement, Chain
    stmt = (
        select(
            A.name,
            A.chain_id,
            C.token_symbol,
            P.label,
            X.wallet_address,
            X.validator_key,
            X.revenue_component,
            X.reason,
            X.exclusion_count,
            X.held_back_amount_native,
        )
        .join(P, P.period_id == X.period_id)
        .join(A, A.agreement_id == X.agreement_id)
        .join(C, C.chain_id == A.chain_id)
        .where(queries.held_by(X, run))
        .order_by(
            P.start_time,
            # As `_exclusion_order`: an empty wallet or validator first, on either database.
            func.coalesce(X.wallet_address, ""),
            func.coalesce(X.validator_key, ""),
            X.reason,
        )
    )

    def rows():
        for name, chain_id, symbol, label, *exclusion in stream_on_own_connection(db.session, stmt):
            yield _exclusion_row(
                (partner_name, name, chain_id, symbol), label, exclusion, per_wallet
            )

    return csv_download(EXCLUSION_HEADER, rows(), _run_file(run, "exclusions"))
