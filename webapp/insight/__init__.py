"""Insight into commissions: drill-downs, every wallet explained, method comparison.

The pages are in `routes`; what they show is read beside them: `drill` (below a period),
`explain` (every wallet explained) and `compare` (the two methods side by side).
"""

from flask import Blueprint

bp = Blueprint("insight", __name__, url_prefix="/insight")
