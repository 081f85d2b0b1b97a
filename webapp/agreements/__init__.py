"""Agreements and their commission rules."""

from flask import Blueprint

bp = Blueprint("agreements", __name__, url_prefix="/agreements")

from webapp.agreements import routes  # noqa: E402,F401
from webapp.agreements.cli import register_cli  # noqa: E402,F401
