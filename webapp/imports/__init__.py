"""Canonical data imports with lineage: periods, validator revenue, staker rewards, stake events."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports", cli_group="import")

from webapp.imports import cli, routes  # noqa: E402,F401 - attach the pages and commands to bp
