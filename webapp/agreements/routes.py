"""Agreement pages."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.agreements import bp
from webapp.extensions import db
from webapp.models import Agreement, Partner
from webapp.web import render


@bp.route("/")
def list_agreements():
    """Every agreement with its partner, chain and rules."""
    agreements = db.session.scalars(
        select(Agreement)
        .join(Partner)
        .options(selectinload(Agreement.rules), selectinload(Agreement.partner))
        .order_by(Partner.name, Agreement.chain_id, Agreement.effective_from)
    ).all()
    return render("agreements/list.html", agreements=agreements)
