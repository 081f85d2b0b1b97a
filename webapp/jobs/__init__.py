"""Long work in the background: the job queue (the `jobs` table), its worker and job pages."""

from flask import Blueprint

bp = Blueprint("jobs", __name__, url_prefix="/jobs", cli_group="jobs")
