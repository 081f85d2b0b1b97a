"""Commission runs, breakdowns and exports."""

from flask import Blueprint

bp = Blueprint("commissions", __name__, url_prefix="/commissions")

from webapp.commissions import close_routes, downloads, routes  # noqa: E402,F401
from webapp.commissions.cli import register_cli  # noqa: E402,F401
