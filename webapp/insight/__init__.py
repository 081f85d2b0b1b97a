"""Insight into commissions: drill-downs, every wallet explained, method comparison."""

from flask import Blueprint

bp = Blueprint("insight", __name__, url_prefix="/insight")
