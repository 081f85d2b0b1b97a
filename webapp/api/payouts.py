"""`/payouts`: payables per partner and token, payouts made, statements, and paying."""

from datetime import date

from flask import Response, request
from flask_login import current_user
from marshmallow import fields, validate

from webapp.api.parsing import Blueprint
from webapp.api.partners import partner_or_404
from webapp.api.problems import Problem, documents_problems
from webapp.api.schemas import IdempotencyHeaderSchema, QuerySchema, Schema, amount
from webapp.commissions.lifecycle import CommissionError
from webapp.commissions.totals import run_totals
from webapp.commissions.valuation import fixed_run_values
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Payout
from webapp.money import ZERO
from webapp.payouts import service, statements

blp = Blueprint(
    "api_payouts",
    __name__,
    url_prefix="/api/v1",
    description="Payables, payouts and statements.",
)


class PayoutArgsSchema(QuerySchema):
    partner_id = fields.UUID(load_default=None)
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(service.STATUSES),
        metadata={"example": "payable"},
    )


class RunRefSchema(Schema):
    run_id = fields.UUID(required=True)
    agreement = fields.String(required=True)
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)
    net_amount_native = amount(required=True)


class PayableSchema(Schema):
    partner_id = fields.UUID(required=True)
    partner = fields.String(required=True)
    token_symbol = fields.String(required=True)
    chain_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "payable or carried"})
    commission_amount_native = amount(required=True)
    adjustment_amount_native = amount(required=True)
    net_amount_native = amount(required=True)
    minimum_payout_native = amount(required=True)
    carried_amount_native = amount(required=True)
    value_usd = amount(allow_none=True)
    why_carried = fields.String(allow_none=True)
    runs = fields.List(fields.Nested(RunRefSchema), required=True)


class PayoutSchema(Schema):
    payout_id = fields.UUID(required=True)
    partner_id = fields.UUID(required=True)
    partner = fields.String(required=True)
    token_symbol = fields.String(required=True)
    chain_id = fields.String(required=True)
    statement_number = fields.String(required=True)
    net_amount_native = amount(required=True)
    carried_in_amount_native = amount(required=True)
    payout_reference = fields.String(required=True)
    value_usd = amount(allow_none=True)
    paid_on = fields.Date(required=True)
    paid_by = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    runs = fields.List(fields.Nested(RunRefSchema), required=True)


class PayoutListSchema(Schema):
    payables = fields.List(fields.Nested(PayableSchema), required=True)
    payouts = fields.List(fields.Nested(PayoutSchema), required=True)


class NewPayoutSchema(Schema):
    partner_id = fields.UUID(required=True)
    token = fields.String(required=True, validate=validate.Length(min=1, max=20))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=200))
    paid_on = fields.Date(load_default=None)


def _run_refs(runs) -> list[dict]:
    totals = run_totals([r.run_id for r in runs])
    return [
        {
            "run_id": r.run_id,
            "agreement": r.agreement.name,
            "date_from": r.date_from,
            "date_to": r.date_to,
            "net_amount_native": totals[r.run_id].total_native,
        }
        for r in runs
    ]


def _payable(p: service.Payable) -> dict:
    return {
        "partner_id": p.partner.partner_id,
        "partner": p.partner.name,
        "token_symbol": p.token_symbol,
        "chain_id": p.chain.chain_id,
        "status": p.status,
        "commission_amount_native": p.commission_native,
        "adjustment_amount_native": p.adjustment_native,
        "net_amount_native": p.net_amount_native,
        "minimum_payout_native": p.minimum,
        "carried_amount_native": p.net_amount_native if p.carried_reason else ZERO,
        "value_usd": p.value_usd,
        "why_carried": p.carried_reason,
        "runs": _run_refs(p.runs),
    }


def _payout(payout: Payout) -> dict:
    settled = service.settled_runs(payout)
    value = service.usd_value(settled, fixed_run_values([r.run_id for r in settled]))
    return {
        "payout_id": payout.payout_id,
        "partner_id": payout.partner_id,
        "partner": payout.partner.name,
        "token_symbol": payout.chain.token_symbol,
        "chain_id": payout.chain_id,
        "statement_number": payout.statement_number,
        "net_amount_native": payout.net_amount_native,
        "carried_in_amount_native": payout.carried_in_native,
        "payout_reference": payout.payout_reference,
        "value_usd": value,
        "paid_on": payout.paid_on,
        "paid_by": payout.paid_by.email if payout.paid_by else None,
        "created_at": payout.created_at,
        "runs": _run_refs(settled),
    }


@blp.route("/payouts")
@blp.arguments(PayoutArgsSchema, location="query", as_kwargs=True)
@blp.response(200, PayoutListSchema)
@documents_problems(blp, 401, 404, 422)
def list_payouts(partner_id=None, status=None):
    """Payables per partner and token (net, runs, carried amount and why) and payouts made."""
    if partner_id is not None:
        partner_or_404(partner_id)
    payables = [_payable(p) for p in service.payables(partner_id) if status in (None, p.status)]
    made = [] if status in (service.PAYABLE, service.CARRIED) else service.payouts_made(partner_id)
    return {"payables": payables, "payouts": [_payout(p) for p in made]}


def _payout_or_404(payout_id) -> Payout:
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        raise Problem(404, f"there is no payout {payout_id}")
    return payout


@blp.route("/payouts/<uuid:payout_id>")
@blp.response(200, PayoutSchema)
@documents_problems(blp, 401, 404)
def get_payout(payout_id):
    """A payout: runs settled, net, reference, statement number."""
    return _payout(_payout_or_404(payout_id))


@blp.route("/payouts/<uuid:payout_id>/statement")
@blp.response(
    200,
    content_type="application/pdf",
    description="The statement: `Accept: application/pdf` (default) or `text/csv`",
)
@documents_problems(blp, 401, 404)
def get_statement(payout_id):
    """The payout's statement, as PDF or CSV by the Accept header."""
    payout = _payout_or_404(payout_id)
    kind = request.accept_mimetypes.best_match(["application/pdf", "text/csv"])
    if kind is None:
        raise Problem(406, "ask for application/pdf or text/csv")
    statement = statements.statement_of(payout)
    if kind == "text/csv":
        return Response(statements.statement_csv(statement), mimetype="text/csv")
    return Response(statements.statement_pdf(statement), mimetype="application/pdf")


@blp.route("/payouts", methods=["POST"])
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.arguments(NewPayoutSchema)
@blp.response(201, PayoutSchema)
@documents_problems(blp, 401, 403, 404, 409, 422)
def create_payout(body, idempotency_key=None):
    """Pay a partner's payable of one token: one payout settling its approved unpaid runs."""
    partner = partner_or_404(body["partner_id"])
    try:
        chain = service.chain_of_symbol(body["token"])
    except FieldError as exc:
        raise Problem(422, str(exc), errors=[{"field": "token", "message": str(exc)}]) from None
    paid_on: date | None = body["paid_on"]
    try:
        payout = service.pay(partner, chain.chain_id, current_user, body["reference"], paid_on)
    except CommissionError as exc:
        db.session.rollback()
        raise Problem(409, str(exc)) from None
    return _payout(payout)
