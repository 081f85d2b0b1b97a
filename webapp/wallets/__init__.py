"""Partner wallets: list, inline add and edit, CSV upload and export."""

from flask import Blueprint

bp = Blueprint("wallets", __name__)

from webapp.wallets import routes  # noqa: E402,F401
from webapp.wallets.cli import register_cli  # noqa: E402,F401
