"""Partners: the people and firms that bring stakers."""

from flask import Blueprint

bp = Blueprint("partners", __name__, url_prefix="/partners", cli_group="partners")

from webapp.partners import cli, routes  # noqa: E402,F401 - attach the pages and commands to bp
