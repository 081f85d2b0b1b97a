"""Partners: the people and firms that bring stakers."""

from flask import Blueprint

bp = Blueprint("partners", __name__, url_prefix="/partners")

from webapp.partners import routes  # noqa: E402,F401
from webapp.partners.cli import register_cli  # noqa: E402,F401
