"""Canonical data imports with lineage: periods, validator revenue, staker rewards, stake events."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports", cli_group="import")
