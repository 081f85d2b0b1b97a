"""Partner wallets: list, inline add and edit, CSV upload and export."""

from flask import Blueprint

bp = Blueprint("wallets", __name__, cli_group="wallets")
