"""Commission pages."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.commissions import bp
from webapp.extensions import db
from webapp.models import CommissionRun
from webapp.web import render


@bp.route("/")
def index():
    """Recent commission runs."""
    runs = db.session.scalars(
        select(CommissionRun)
        .options(selectinload(CommissionRun.partner), selectinload(CommissionRun.agreement))
        .order_by(CommissionRun.created_at.desc())
        .limit(100)
    ).all()
    return render("commissions/index.html", runs=runs)
