"""The history pages: every change in the audit log (written by `webapp.audit`), who made
it, before and after; filtered, paged, as CSV. Under /audit/, as the blueprint `audit`
(`audit.history`, `audit.export`)."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")
