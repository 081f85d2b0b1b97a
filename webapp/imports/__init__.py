"""Canonical data imports with lineage."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports")

from webapp.imports import routes  # noqa: E402,F401
