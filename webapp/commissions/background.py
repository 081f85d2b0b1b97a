"""A commission commit as a background job: how large a commit is, the job that runs it, and
the sentence that tells what it stored (the same whether it ran in the request or a job)."""

import uuid
from datetime import date

from sqlalchemy import func, select

from webapp.agreements.queries import agreements_of_partner
from webapp.commissions.committing import commit
from webapp.commissions.inputs import scope_of
from webapp.commissions.lifecycle import CommissionError, check_range
from webapp.commissions.terms import period_uuid
from webapp.extensions import db
from webapp.jobs.queue import JobFailed, kind
from webapp.models import CanonicalStakerRewardsDetail, CanonicalValidatorRevenue, Partner
from webapp.vocab import Role

COMMIT = "commission-commit"


def estimated_rows(partner: Partner, date_from: date, date_to: date, limit: int) -> int:
    """The input rows a commit of the range reads (staker rewards, or validator revenue under
    the total-revenue method), counted up to `limit` + 1 only: enough to choose the way.
    A range the commit would refuse is refused here, before anything is queued."""
    check_range(date_from, date_to)
    counted = 0
    for agreement in agreements_of_partner(partner.partner_id, date_from, date_to):
        scope = [period_uuid(p.period_id) for p in scope_of(agreement, date_from, date_to)]
        if not scope:
            continue
        model = (
            CanonicalStakerRewardsDetail
            if agreement.wallet_attribution_enabled
            else CanonicalValidatorRevenue
        )
        rows = (
            select(model.period_id)
            .where(model.chain_id == agreement.chain_id, model.period_id.in_(scope))
            .limit(limit + 1 - counted)
            .subquery()
        )
        counted += db.session.scalar(select(func.count()).select_from(rows))
        if counted > limit:
            break
    return counted


def committed_message(computation) -> str:
    """What a commit stored, in one or two sentences."""
    partner, runs = computation.partner, len(computation.outcomes)
    lines = sum(o.result.line_count for o in computation.outcomes)
    standing = sum(1 for o in computation.outcomes if o.unchanged)
    message = (
        f"Committed {runs} run(s) for {partner.name}, {computation.date_from.isoformat()} to "
        f"{computation.date_to.isoformat()}: {lines:,} line(s)."
        if runs
        else f"{partner.name} has no agreement in effect in that range: nothing committed."
    )
    if standing:
        message += (
            f" {standing} of them found no input changed: the earlier run's result was "
            "carried over, nothing computed or written."
        )
    return message


def commit_parameters(partner: Partner, date_from: date, date_to: date, true_up: bool) -> dict:
    """A commit's job parameters (JSON)."""
    return {
        "partner_id": str(partner.partner_id),
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "true_up": true_up,
    }


@kind(COMMIT, "Commission commit", Role.MANAGER)
def run_commit(parameters: dict, user, progress) -> dict:
    """Commit the range as the job's creator; the result links back to the range's review."""
    partner = db.session.get(Partner, uuid.UUID(parameters["partner_id"]))
    if partner is None:
        raise JobFailed("the partner was deleted before the commit ran: nothing committed")
    date_from = date.fromisoformat(parameters["date_from"])
    date_to = date.fromisoformat(parameters["date_to"])
    try:
        computation = commit(
            partner,
            date_from,
            date_to,
            user=user,
            true_up=bool(parameters.get("true_up")),
            progress=progress,
        )
    except CommissionError as error:
        raise JobFailed(str(error)) from None
    return {
        "summary": committed_message(computation),
        "endpoint": "commissions.index",
        "values": {
            "partner": parameters["partner_id"],
            "date_from": parameters["date_from"],
            "date_to": parameters["date_to"],
        },
        "link": f"Back to {partner.name}'s commissions for the range",
    }
