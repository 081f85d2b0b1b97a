"""Commission runs, breakdowns and exports."""

from flask import Blueprint

bp = Blueprint("commissions", __name__, url_prefix="/commissions", cli_group="commissions")
