"""Home page: the month-end overview, partners down and the last months across."""

from datetime import UTC, date, datetime, timedelta

from flask import request

from webapp.main import bp
from webapp.main.queries import last_months, month_overview
from webapp.web import render

#: Months shown by default, and at most.
DEFAULT_MONTHS, MAX_MONTHS = 6, 24


def _until() -> date:
    """The last month shown: `?until=YYYY-MM`, else the current month."""
    raw = request.args.get("until", "")
    try:
        return date.fromisoformat(f"{raw}-01")
    except ValueError:
        return datetime.now(UTC).date()


@bp.route("/")
def index():
    """Each active partner's last months: data in or not, run states, commission per token."""
    count = request.args.get("months", DEFAULT_MONTHS, type=int) or DEFAULT_MONTHS
    months = last_months(max(1, min(count, MAX_MONTHS)), _until())
    earlier = (months[0].first - timedelta(days=1)).strftime("%Y-%m")
    return render(
        "main/index.html",
        overview=month_overview(months),
        month_count=len(months),
        earlier=earlier,
    )
