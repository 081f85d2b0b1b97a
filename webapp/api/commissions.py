"""`/partners/{id}/commissions` and `/runs/{id}`: breakdowns, runs and their lines, read
through the commission modules (`results`, `queries`, `lifecycle`); nothing is computed here but
sums of what those services give, per token."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.addresses import canonical_if_valid
from webapp.api.paging import decode_cursor, encode_cursor
from webapp.api.parsing import Blueprint
from webapp.api.partners import partner_or_404
from webapp.api.problems import Problem, documents_problems
from webapp.api.schemas import (
    CommissionArgsSchema,
    CommissionBreakdownSchema,
    PageArgsSchema,
    RunLinePageSchema,
    RunSchema,
)
from webapp.attribution import AttributionResult
from webapp.commissions import lifecycle, period_sums, queries, results
from webapp.commissions.lifecycle import CommissionError
from webapp.commissions.totals import run_total, token_totals
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CommissionExclusion,
    CommissionRun,
    CommissionRunEvent,
    PartnerCommissionLine,
)
from webapp.money import ZERO
from webapp.vocab import LineKind, RunStatus

blp = Blueprint(
    "api_commissions", __name__, url_prefix="/api/v1", description="Commissions and runs."
)

L, X = PartnerCommissionLine, CommissionExclusion


def _range_problem(error: CommissionError) -> Problem:
    return Problem(422, str(error), errors=[{"field": "to", "message": str(error)}])


def _section_figures(section: dict):
    """(lines, base, commission, held back, adjustment lines, adjustments) of each row of a
    section, for `totals_by_token`; a section without rows still names its token."""
    yield (0, ZERO, ZERO, ZERO, 0, ZERO)
    for row in section["components"]:
        count, base, commission = (
            row["line_count"],
            row["base_amount_native"],
            row["commission_amount_native"],
        )
        if row["line_kind"] == LineKind.ADJUSTMENT.value:
            yield (0, ZERO, ZERO, ZERO, count, commission)
        else:
            yield (count, base, commission, ZERO, 0, ZERO)
    for row in section["exclusions"]:
        yield (0, ZERO, ZERO, row["held_back_amount_native"], 0, ZERO)


def _totals_by_token(sections: list[dict]) -> list[dict]:
    """Per token symbol: lines, base, commission, held back and adjustments of the sections."""
    sums = token_totals(
        (section["token_symbol"], section["chain_id"], figures)
        for section in sections
        for figures in _section_figures(section)
    )
    return [sums[symbol].as_dict() for symbol in sorted(sums)]


def _component_rows(rows) -> list[dict]:
    return [
        {
            "line_kind": str(kind),
            "revenue_component": str(component),
            "line_count": count,
            "base_amount_native": base or ZERO,
            "commission_amount_native": commission or ZERO,
        }
        for kind, component, count, base, commission in rows
    ]


def _exclusion_rows(rows) -> list[dict]:
    return [
        {"reason": reason, "count": int(count or 0), "held_back_amount_native": held or ZERO}
        for reason, count, held in rows
    ]


def _result_rows(result: AttributionResult, line_kind: str) -> tuple[list, list]:
    components = [
        {
            "line_kind": line_kind,
            "revenue_component": t.revenue_component,
            "line_count": t.line_count,
            "base_amount_native": t.base_amount_native,
            "commission_amount_native": t.commission_amount_native,
        }
        for t in result.component_totals()
    ]
    exclusions = [
        {"reason": t.reason, "count": t.count, "held_back_amount_native": t.held_back_amount_native}
        for t in result.exclusion_totals()
    ]
    return components, exclusions


def _section(agreement, method: str, run, components, exclusions) -> dict:
    return {
        "agreement_id": agreement.agreement_id,
        "agreement": agreement.name,
        "chain_id": agreement.chain_id,
        "token_symbol": agreement.chain.token_symbol,
        "method": method,
        "run": run,
        "components": components,
        "exclusions": exclusions,
    }


def _preview_sections(partner, date_from, date_to, wallet: str) -> tuple[list, list]:
    """The breakdown of the range, stored nowhere; narrowed to one wallet if asked (from the
    lines, which only then are computed)."""
    try:
        computation = results.preview(partner, date_from, date_to, lines=bool(wallet))
    except CommissionError as exc:
        raise _range_problem(exc) from None
    sections = []
    for outcome in computation.outcomes:
        result = outcome.result
        if wallet:
            address = canonical_if_valid(wallet, outcome.agreement.chain.address_format)
            result = AttributionResult(
                result.agreement_id,
                result.method,
                result.periods,
                [line for line in result.lines if line.wallet_address == address],
                [ex for ex in result.exclusions if ex.wallet_address == address],
            )
        components, exclusions = _result_rows(result, LineKind.COMMISSION.value)
        if outcome.adjustments and not wallet:
            adjustments = AttributionResult(
                result.agreement_id, result.method, result.periods, outcome.adjustments, []
            )
            components += _result_rows(adjustments, LineKind.ADJUSTMENT.value)[0]
        sections.append(_section(outcome.agreement, result.method, None, components, exclusions))
    return sections, list(computation.warnings)


def _run_summary(run: CommissionRun) -> dict:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "date_from": run.date_from,
        "date_to": run.date_to,
        "created_at": run.created_at,
    }


def _wallet_exclusions(run: CommissionRun, address: str) -> list[dict]:
    by_wallet = queries.run_exclusions_by_wallet(run, address).where(X.wallet_address == address)
    return _exclusion_rows(
        (reason, count, held) for _, reason, count, held in db.session.execute(by_wallet)
    )


def _committed_sections(partner, date_from, date_to, wallet: str) -> list[dict]:
    """The committed runs of the range (not superseded), each with its lines' totals."""
    try:
        lifecycle.check_range(date_from, date_to)
    except CommissionError as exc:
        raise _range_problem(exc) from None
    runs = [
        run
        for run in lifecycle.runs_within(partner, date_from, date_to)
        if run.status != RunStatus.SUPERSEDED.value
    ]
    sections = []
    for run in runs:
        agreement = run.agreement
        if wallet:
            address = canonical_if_valid(wallet, agreement.chain.address_format)
            components = _component_rows(queries.run_component_totals(run, address))
            exclusions = _wallet_exclusions(run, address)
        else:
            sums = period_sums.run_sums(run)
            components = _component_rows(sums.kind_totals())
            exclusions = _exclusion_rows(sums.reason_totals())
        sections.append(_section(agreement, run.method, _run_summary(run), components, exclusions))
    return sections


@blp.route("/partners/<uuid:partner_id>/commissions")
@blp.arguments(CommissionArgsSchema, location="query", as_kwargs=True)
@blp.response(200, CommissionBreakdownSchema)
@documents_problems(blp, 401, 404, 422)
def partner_commissions(partner_id, date_from, date_to, preview, wallet):
    """The breakdown of a range: the committed runs' lines per agreement, component and
    token (or, with `preview=true`, the engine's computation, stored nowhere)."""
    partner = partner_or_404(partner_id)
    wallet = wallet.strip()
    if preview:
        sections, warnings = _preview_sections(partner, date_from, date_to, wallet)
    else:
        sections, warnings = _committed_sections(partner, date_from, date_to, wallet), []
    return {
        "partner_id": partner.partner_id,
        "date_from": date_from,
        "date_to": date_to,
        "preview": preview,
        "wallet": wallet or None,
        "token_totals": _totals_by_token(sections),
        "sections": sections,
        "warnings": warnings,
    }


def _run_or_404(run_id) -> CommissionRun:
    run = db.session.get(
        CommissionRun,
        run_id,
        options=[selectinload(CommissionRun.agreement), selectinload(CommissionRun.partner)],
    )
    if run is None:
        raise Problem(404, f"there is no run {run_id}")
    return run


@blp.route("/runs/<uuid:run_id>")
@blp.response(200, RunSchema)
@documents_problems(blp, 401, 404)
def get_run(run_id):
    """A run: its scope, status and history, and its totals per token and component."""
    run = _run_or_404(run_id)
    agreement = run.agreement
    events = db.session.scalars(
        select(CommissionRunEvent)
        .options(selectinload(CommissionRunEvent.user))
        .where(CommissionRunEvent.run_id == run.run_id)
        .order_by(CommissionRunEvent.created_at)
    ).all()
    sums = period_sums.run_sums(run)
    components = _component_rows(sums.kind_totals())
    total = run_total(run)
    return {
        "run_id": run.run_id,
        "partner_id": run.partner_id,
        "agreement_id": run.agreement_id,
        "agreement": agreement.name,
        "chain_id": agreement.chain_id,
        "token_symbol": agreement.chain.token_symbol,
        "date_from": run.date_from,
        "date_to": run.date_to,
        "method": run.method,
        "status": run.status,
        "period_count": run.period_count,
        "created_at": run.created_at,
        "superseded_by_run_id": run.superseded_by_run_id,
        "paid_on": run.paid_on,
        "payout_reference": run.payout_reference,
        "history": [
            {
                "action": event.action,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "user": event.user.email if event.user else None,
                "reason": event.reason,
                "created_at": event.created_at,
            }
            for event in events
        ],
        "token_totals": [total.as_dict()],
        "corrections": [
            {
                "run_id": c.run_id,
                "status": c.status,
                "date_from": c.date_from,
                "date_to": c.date_to,
                "payout_reference": c.payout_reference,
                "adjustment_count": c.adjustment_count,
                "adjustment_amount_native": c.adjustment_amount_native,
                "clawback_amount_native": c.clawback_amount_native,
            }
            for c in total.corrections
        ],
        "components": components,
    }


@blp.route("/runs/<uuid:run_id>/lines")
@blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
@blp.response(200, RunLinePageSchema)
@documents_problems(blp, 401, 404, 422)
def run_lines(run_id, limit, cursor):
    """The run's lines, commission lines first and then the adjustments it carries."""
    run = _run_or_404(run_id)
    stmt = (
        queries.run_lines(run)
        .add_columns(CanonicalPeriod.label, CanonicalPeriod.start_time)
        .order_by(None)
        .order_by(L.line_kind.desc(), L.line_id)
    )
    if cursor:
        kind, line_id = decode_cursor(cursor, 2)
        try:
            after = uuid.UUID(line_id)
        except ValueError:
            decode_cursor("", 2)
        # Commission lines come before adjustments (line_kind descending), then by id.
        stmt = stmt.where((L.line_kind < kind) | ((L.line_kind == kind) & (L.line_id > after)))
    rows = db.session.execute(stmt.limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1][0]
        next_cursor = encode_cursor([last.line_kind, str(last.line_id)])
    return {
        "items": [
            {
                "line_id": line.line_id,
                "line_kind": line.line_kind,
                "period_id": line.period_id,
                "period": label,
                "period_start": start,
                "validator_key": line.validator_key,
                "revenue_component": str(line.revenue_component),
                "wallet_address": line.wallet_address,
                "base_amount_native": line.base_amount_native,
                "commission_rate_bps": line.commission_rate_bps,
                "commission_amount_native": line.commission_amount_native,
                "corrects_run_id": line.corrects_run_id,
            }
            for line, label, start in page
        ],
        "next_cursor": next_cursor,
    }
