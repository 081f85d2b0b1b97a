"""Agreements and their commission rules."""

from flask import Blueprint

bp = Blueprint("agreements", __name__, url_prefix="/agreements", cli_group="agreements")

from webapp.agreements import cli, routes  # noqa: E402,F401 - attach the pages and commands to bp
