"""Canonical data imports with lineage: periods, validator revenue, staker rewards, stake events."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports")

from webapp.imports import routes  # noqa: E402,F401
from webapp.imports.cli import register_cli  # noqa: E402,F401
