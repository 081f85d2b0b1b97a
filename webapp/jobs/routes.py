"""A job's page: its progress while it runs (htmx asks again every second), then its result
or its error."""

from flask import abort
from flask_login import current_user

from webapp.extensions import db
from webapp.jobs import bp
from webapp.jobs.queue import KINDS
from webapp.models import Job
from webapp.vocab import JobStatus
from webapp.web import render


@bp.route("/<uuid:job_id>")
def show(job_id):
    """The job's progress panel (alone for htmx), readable by the role that may start it."""
    job = db.get_or_404(Job, job_id)
    kind = KINDS.get(job.kind)
    if kind is None or not current_user.can(kind.role):
        abort(403)
    return render(
        "jobs/job.html",
        "jobs/partial/progress.html",
        job=job,
        kind=kind,
        waiting=job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
    )
