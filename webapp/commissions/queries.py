"""Reads of commission runs that pages need."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import CommissionRun

#: Runs shown on a partner's page.
PARTNER_PAGE_RUNS = 10


def recent_runs(partner_id=None, limit: int = PARTNER_PAGE_RUNS) -> list[CommissionRun]:
    """The newest runs (of one partner, when given), with partner and agreement loaded."""
    stmt = (
        select(CommissionRun)
        .options(selectinload(CommissionRun.partner), selectinload(CommissionRun.agreement))
        .order_by(CommissionRun.created_at.desc())
    )
    if partner_id is not None:
        stmt = stmt.where(CommissionRun.partner_id == partner_id)
    return list(db.session.scalars(stmt.limit(limit)))
