"""Start page: where things stand at a glance."""

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.main import bp
from webapp.models import Agreement, CanonicalPeriod, Partner, PartnerWallet, StagingPayload
from webapp.web import render


@bp.route("/")
def index():
    """Counts of the main things, with links to each area."""
    counts = {
        label: db.session.scalar(select(func.count()).select_from(model))
        for label, model in (
            ("partners", Partner),
            ("wallets", PartnerWallet),
            ("agreements", Agreement),
            ("periods", CanonicalPeriod),
            ("imports", StagingPayload),
        )
    }
    return render("main/index.html", counts=counts)
