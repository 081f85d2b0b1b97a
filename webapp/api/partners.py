"""`/partners` and `/periods/by-date-range`: the read-only lists."""

import uuid

from webapp.api.paging import page_after
from webapp.api.parsing import Blueprint
from webapp.api.problems import Problem, documents_problems
from webapp.api.schemas import (
    PartnerListArgsSchema,
    PartnerPageSchema,
    PartnerSchema,
    PeriodArgsSchema,
    PeriodPageSchema,
)
from webapp.commissions.inputs import load_periods
from webapp.commissions.lifecycle import CommissionError, check_range
from webapp.partners.service import get_partner, search_partners
from webapp.wallets.checks import load_chains

blp = Blueprint("api_partners", __name__, url_prefix="/api/v1", description="Partners and periods.")


def partner_or_404(partner_id):
    """The partner of a path, or a 404 problem."""
    partner = get_partner(partner_id)
    if partner is None:
        raise Problem(404, f"there is no partner {partner_id}")
    return partner


@blp.route("/partners")
@blp.arguments(PartnerListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, PartnerPageSchema)
@documents_problems(blp, 401, 422)
def list_partners(q, limit, cursor):
    """Partners by name; `q` searches name and contact."""
    partners = search_partners(q)
    items, next_cursor = page_after(
        partners, lambda p: (p.name.lower(), str(p.partner_id)), 2, cursor, limit
    )
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/partners/<uuid:partner_id>")
@blp.response(200, PartnerSchema)
@documents_problems(blp, 401, 404)
def get_one_partner(partner_id):
    """One partner."""
    return partner_or_404(partner_id)


@blp.route("/periods/by-date-range")
@blp.arguments(PeriodArgsSchema, location="query", as_kwargs=True)
@blp.response(200, PeriodPageSchema)
@documents_problems(blp, 401, 422)
def periods_by_date_range(chain_id, date_from, date_to, limit, cursor):
    """The chain's periods whose UTC start date lies within [from, to], oldest first."""
    if chain_id not in load_chains():
        raise Problem(
            422,
            f"unknown chain {chain_id!r}",
            errors=[{"field": "chain_id", "message": f"unknown chain {chain_id!r}"}],
        )
    try:
        check_range(date_from, date_to)
    except CommissionError:
        message = f"to {date_to.isoformat()} is before from {date_from.isoformat()}"
        raise Problem(422, message, errors=[{"field": "to", "message": message}]) from None
    periods = load_periods(chain_id, date_from, date_to)
    items, next_cursor = page_after(
        periods, lambda p: (p.start_time.isoformat(), str(p.period_id)), 2, cursor, limit
    )
    return {
        "items": [
            {
                "period_id": uuid.UUID(str(p.period_id)),  # text in the calculation
                "chain_id": chain_id,
                "label": p.label,
                "start_time": p.start_time,
                "end_time": p.end_time,
            }
            for p in items
        ],
        "next_cursor": next_cursor,
    }
