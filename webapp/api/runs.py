"""`POST /runs/{id}/approve` and `POST /runs/{id}/reopen`: the month-end transitions of a run,
made by the run lifecycle (`webapp.commissions.lifecycle`) with the pages' rules."""

from flask_login import current_user

from webapp.api.parsing import Blueprint
from webapp.api.problems import Problem, documents_problems
from webapp.api.schemas import IdempotencyHeaderSchema, RunReopenSchema, RunTransitionSchema
from webapp.commissions import lifecycle
from webapp.commissions.lifecycle import CommissionError
from webapp.extensions import db
from webapp.models import CommissionRun
from webapp.vocab import Role

blp = Blueprint(
    "api_runs", __name__, url_prefix="/api/v1", description="Month-end transitions of runs."
)


def _run_or_404(run_id) -> CommissionRun:
    run = db.session.get(CommissionRun, run_id)
    if run is None:
        raise Problem(404, f"there is no run {run_id}")
    return run


def _require(role: Role, verb: str) -> None:
    if not current_user.can(role):
        raise Problem(403, f"your role ({current_user.role}) may not {verb} a run: {role} or above")


def _transition(run: CommissionRun, action) -> dict:
    """Run one transition; a rule that forbids it is a 409 naming the state found."""
    try:
        action()
    except CommissionError as exc:
        raise Problem(409, str(exc)) from None
    db.session.expire_all()
    run = _run_or_404(run.run_id)
    return {
        "run_id": run.run_id,
        "status": run.status,
        "created_by": run.created_by.email if run.created_by else None,
        "approved_by": run.approved_by.email if run.approved_by else None,
        "approved_at": run.approved_at,
        "reopened_by": run.reopened_by.email if run.reopened_by else None,
        "reopened_at": run.reopened_at,
        "reopen_reason": run.reopen_reason,
    }


@blp.route("/runs/<uuid:run_id>/approve", methods=["POST"])
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.response(200, RunTransitionSchema)
@documents_problems(blp, 401, 403, 404, 409)
def approve_run(run_id, idempotency_key=None):
    """Approve a committed run (a manager or admin who did not commit it): its periods lock."""
    _require(Role.MANAGER, "approve")
    run = _run_or_404(run_id)
    user = current_user._get_current_object()
    return _transition(run, lambda: lifecycle.approve_run(run, user))


@blp.route("/runs/<uuid:run_id>/reopen", methods=["POST"])
@blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@blp.arguments(RunReopenSchema)
@blp.response(200, RunTransitionSchema)
@documents_problems(blp, 401, 403, 404, 409, 422)
def reopen_run(body, run_id, idempotency_key=None):
    """Return an approved, unpaid run to committed (an admin, with a reason): its periods
    unlock."""
    _require(Role.ADMIN, "reopen")
    run = _run_or_404(run_id)
    user = current_user._get_current_object()
    return _transition(run, lambda: lifecycle.reopen_run(run, user, body["reason"].strip()))
