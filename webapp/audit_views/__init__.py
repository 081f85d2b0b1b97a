"""The audit history: every change, who made it, before and after; filtered, paged, as CSV."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")
