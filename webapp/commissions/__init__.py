"""Commission runs, breakdowns and exports."""

from flask import Blueprint

bp = Blueprint("commissions", __name__, url_prefix="/commissions", cli_group="commissions")

from webapp.commissions import cli, close_routes, downloads, routes  # noqa: E402,F401 - attach the pages and commands to bp
