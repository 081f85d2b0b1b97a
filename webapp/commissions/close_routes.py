"""Run lifecycle in the browser: approve (four eyes), reopen (admin, with a reason), pay
(reference and date), and the "changed since approval" notices with their differing lines.

Every rule lives in the commission service; these views parse, call and render.
"""

from flask import request
from flask_login import current_user
from sqlalchemy import select

from webapp.commissions import bp, close_view, lifecycle, queries, staleness, true_ups
from webapp.commissions.close_forms import ApproveForm, PayForm, ReopenForm
from webapp.commissions.lifecycle import (
    TRANSITIONS,
    CommissionError,
    allowed_actions,
)
from webapp.extensions import db
from webapp.models import CommissionRun, Partner
from webapp.run_states import LOCKED_STATUSES
from webapp.vocab import Role, RunStatus
from webapp.web import flash_and_redirect, render, role_required


@bp.app_template_global()
def run_actions(run) -> dict:
    """What the signed-in user may do to the run now, with a reason when something is not
    allowed that the user might expect (the four-eyes rule)."""
    user = current_user
    actions = {
        "approve": False,
        "approve_blocked": None,
        "reopen": False,
        "pay": False,
        "pay_form": PayForm(formdata=None),
        "reopen_form": ReopenForm(formdata=None),
    }
    for action in allowed_actions(run.status):
        if action == "supersede" or not user.can(TRANSITIONS[action].role):
            continue
        if action == "approve" and run.created_by_user_id in (None, user.user_id):
            actions["approve_blocked"] = (
                "You committed this run: another manager or an admin approves it (four eyes)."
                if run.created_by_user_id is not None
                else "This run names no committer: commit it again as a named person."
            )
            continue
        actions[action] = True
    return actions


def _back(run, message: str, category: str = "success"):
    return flash_and_redirect(message, "commissions.run_detail", category, run_id=run.run_id)


def _transition(run_id, form, action, done: str):
    run = db.get_or_404(CommissionRun, run_id)
    if not form.validate_on_submit():
        errors = "; ".join(e for errors in form.errors.values() for e in errors)
        return _back(run, errors or "The form was incomplete.", "error")
    try:
        action(run)
    except CommissionError as exc:
        db.session.rollback()
        return _back(run, str(exc), "error")
    return _back(run, done)


@bp.route("/runs/<uuid:run_id>/approve", methods=["POST"])
@role_required(Role.MANAGER)
def approve(run_id):
    """Approve a committed run: its periods are locked. The committer cannot approve."""
    return _transition(
        run_id,
        ApproveForm(),
        lambda run: lifecycle.approve_run(run, current_user),
        "Run approved: its periods are locked.",
    )


@bp.route("/runs/<uuid:run_id>/reopen", methods=["POST"])
@role_required(Role.ADMIN)
def reopen(run_id):
    """Return an approved, unpaid run to committed, with a reason: its periods unlock."""
    form = ReopenForm()
    return _transition(
        run_id,
        form,
        lambda run: lifecycle.reopen_run(run, current_user, form.reason.data),
        "Run reopened: its periods are unlocked and can be committed again.",
    )


@bp.route("/runs/<uuid:run_id>/pay", methods=["POST"])
@role_required(Role.MANAGER)
def pay(run_id):
    """Mark an approved run paid with its payout reference and date; paid is final."""
    form = PayForm()
    return _transition(
        run_id,
        form,
        lambda run: lifecycle.pay_run(
            run, current_user, form.payout_reference.data, form.paid_on.data
        ),
        "Run marked paid.",
    )


def _locked_runs(partner_id) -> list:
    """The partner's approved and paid runs, oldest first."""
    return db.session.scalars(
        select(CommissionRun)
        .where(
            CommissionRun.partner_id == partner_id,
            CommissionRun.status.in_(staleness.LOCKED_STATUSES),
        )
        .order_by(CommissionRun.date_from, CommissionRun.created_at)
    ).all()


@bp.route("/partners/<uuid:partner_id>/changes")
def partner_changes(partner_id):
    """The partner's late data on closed months (loaded into its pages by htmx)."""
    partner = db.get_or_404(Partner, partner_id)
    late = staleness.late_changes(_locked_runs(partner.partner_id))
    return render(
        "commissions/partial/changes.html",
        "commissions/partial/changes.html",
        changes=list(late.values()),
        partner=partner,
    )


@bp.route("/runs/<uuid:run_id>/changes")
def run_changes(run_id):
    """The run's late data; with ?period=, its differing lines."""
    run = db.get_or_404(CommissionRun, run_id)
    period = request.args.get("period")
    if period:
        changes = true_ups.changes_since_approval(run.partner, run)
        lines = [
            line
            for change in changes
            for p in change.periods
            if str(p.period_id) == period
            for line in p.lines
        ]
        return render(
            "commissions/partial/change_lines.html",
            "commissions/partial/change_lines.html",
            run=run,
            lines=lines,
        )
    late = staleness.late_changes([run])
    return render(
        "commissions/partial/changes.html",
        "commissions/partial/changes.html",
        changes=list(late.values()),
        partner=run.partner,
    )


def range_close_state(computation) -> dict:
    """Where the previewed range stands: its live runs with their totals, which are out of
    date (stale) and which locked ones late data reached, whether a Commit button belongs on
    the page, and the true-up differences a commit could carry, per token."""
    partner = computation.partner
    runs = queries.live_runs_of_range(
        partner.partner_id, computation.date_from, computation.date_to
    )
    outcomes = {o.agreement.agreement_id: o.result for o in computation.outcomes}
    # A committed (not yet approved) range may be committed again when the data changed.
    changed = any(
        run.status == RunStatus.COMMITTED.value
        and (
            run.agreement_id not in outcomes
            or run.total_commission_native != outcomes[run.agreement_id].total_commission_native
            or run.line_count != outcomes[run.agreement_id].line_count
        )
        for run in runs
    )
    states = close_view.run_states(runs)
    changed = changed or any(run.run_id in states.stale for run in runs)
    locked = any(run.status in LOCKED_STATUSES for run in runs)
    in_scope = computation.period_count > 0
    state = {
        "runs": runs,
        "totals": states.totals,
        "stale": states.stale,
        "late": [states.late[run.run_id] for run in runs if run.run_id in states.late],
        "in_scope": in_scope,
        "can_commit": in_scope and (not runs or (changed and not locked)),
        "recommit": bool(runs) and changed and not locked,
        "true_up": [],
    }
    if state["can_commit"] and current_user.can(Role.MANAGER):
        state["true_up"] = staleness.true_up_summary(partner, computation.date_to)
    return state
