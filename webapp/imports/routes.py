"""Data imports page."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.imports import bp
from webapp.models import StagingPayload
from webapp.web import render


@bp.route("/")
def index():
    """History of imported files."""
    payloads = db.session.scalars(
        select(StagingPayload)
        .options(selectinload(StagingPayload.provider), selectinload(StagingPayload.created_by))
        .order_by(StagingPayload.created_at.desc())
        .limit(100)
    ).all()
    return render("imports/index.html", payloads=payloads)
