"""The list of every commission run, of every partner: filter, search, sort, page, download."""

from flask import request
from sqlalchemy import select

from webapp.commissions import bp
from webapp.commissions.queries import (
    RUN_LIST_SORTS,
    RUN_LIST_STATUSES,
    RUNS_LIST_HEADER,
    RunFilters,
    runs_list_rows,
    runs_page,
)
from webapp.extensions import db
from webapp.models import Chain, Partner
from webapp.web import csv_download, render


def _page_number() -> int:
    # A page number that is not a whole number is refused (400) before any view runs.
    return max(request.args.get("page", 1, type=int) or 1, 1)


@bp.route("/runs")
def runs_list():
    """Every run under the filters, a page at a time; htmx gets the table alone."""
    filters = RunFilters.from_args(request.args)
    listing = runs_page(filters, _page_number())
    return render(
        "commissions/runs.html",
        "commissions/partial/runs_table.html",
        filters=filters,
        listing=listing,
        partners=db.session.execute(
            select(Partner.partner_id, Partner.name).order_by(Partner.name)
        ).all(),
        chains=db.session.scalars(select(Chain.chain_id).order_by(Chain.chain_id)).all(),
        statuses=RUN_LIST_STATUSES,
        sorts=RUN_LIST_SORTS,
    )


@bp.route("/runs.csv")
def runs_list_csv():
    """Every run under the filters (all pages), in the list's order, as CSV."""
    filters = RunFilters.from_args(request.args)
    return csv_download(RUNS_LIST_HEADER, runs_list_rows(filters), "commission-runs.csv")
