"""Start page: where things stand at a glance."""

from webapp.main import bp, queries
from webapp.web import render


@bp.route("/")
def index():
    """Counts of the main things, with links to each area."""
    return render("main/index.html", counts=queries.counts())
