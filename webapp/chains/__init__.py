"""Chains: the networks validators run on, and their address formats."""

from flask import Blueprint

bp = Blueprint("chains", __name__, url_prefix="/chains")

from webapp.chains import routes  # noqa: E402,F401
from webapp.chains.cli import register_cli  # noqa: E402,F401
