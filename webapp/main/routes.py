"""Home page: the month-end overview, partners down and the last months across."""

from datetime import UTC, date, datetime, timedelta

from flask import request

from webapp.main import bp
from webapp.main.queries import last_months, latest_period_start, month_overview
from webapp.web import render

#: Months shown by default, and at most.
DEFAULT_MONTHS, MAX_MONTHS = 6, 24


def _until() -> date:
    """The last month shown: `?until=YYYY-MM`; else the current month, or, when the data
    stop earlier, the month after the latest period (the next one to import and close)."""
    raw = request.args.get("until", "")
    try:
        return date.fromisoformat(f"{raw}-01")
    except ValueError:
        today = datetime.now(UTC).date()
    latest = latest_period_start()
    if latest is None or latest.year >= 9999:
        return today
    return min(today, (latest.replace(day=1) + timedelta(days=32)).replace(day=1))


@bp.route("/")
def index():
    """Each active partner's last months: data in or not, run states, commission per token."""
    count = request.args.get("months", DEFAULT_MONTHS, type=int) or DEFAULT_MONTHS
    months = last_months(max(1, min(count, MAX_MONTHS)), _until())
    first = months[0].first
    earlier = (first - timedelta(days=1)).strftime("%Y-%m") if first > date.min else None
    overview = month_overview(months)
    # The current month first: on a phone it is the column on screen, older ones scroll in.
    overview.months.reverse()
    for _, cells in overview.rows:
        cells.reverse()
    return render(
        "main/index.html",
        overview=overview,
        month_count=len(months),
        earlier=earlier,
    )
