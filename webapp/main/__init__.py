"""The start page."""

from flask import Blueprint

bp = Blueprint("main", __name__, cli_group=None)

from webapp.main import routes  # noqa: E402,F401 - attach the pages to bp
