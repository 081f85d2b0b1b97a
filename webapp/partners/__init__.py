"""Partners: the people and firms that bring stakers."""

from flask import Blueprint

bp = Blueprint("partners", __name__, url_prefix="/partners", cli_group="partners")
