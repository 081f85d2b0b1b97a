"""A run's statuses and the allowed moves between them, as a table; each move written in one
conditional UPDATE (`UPDATE … WHERE status = <the status it leaves>`) whose row count is
checked, and recorded as a run event and an audit entry.

This is the one place that writes a run's status. It knows only the models, so the month-end
services (`commissions.lifecycle`) and an agreement's change of dates (`agreements.pairs`,
which supersedes runs left with no pair) both move runs through it.
"""

from dataclasses import dataclass

from sqlalchemy import select, update

from webapp import audit
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CommissionRun,
    CommissionRunEvent,
    PartnerCommissionLine,
    utcnow,
)
from webapp.money import MONEY, ZERO
from webapp.vocab import LineKind, Role, RunStatus


class CommissionError(ValueError):
    """A computation or transition that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class Transition:
    """One allowed move of a run: from which status to which, by whom, in which words."""

    action: str
    source: RunStatus
    target: RunStatus
    role: Role | None  # None: made by the system (a commit supersedes)
    done: str  # past participle, for refusals: "not approved"


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("approve", RunStatus.COMMITTED, RunStatus.APPROVED, Role.MANAGER, "approved"),
        Transition("reopen", RunStatus.APPROVED, RunStatus.COMMITTED, Role.ADMIN, "reopened"),
        Transition("pay", RunStatus.APPROVED, RunStatus.PAID, Role.MANAGER, "paid"),
        Transition("supersede", RunStatus.COMMITTED, RunStatus.SUPERSEDED, None, "superseded"),
    )
}

#: Statuses whose numbers stand (a superseded run was replaced; a preview is never stored).
LIVE_STATUSES = (RunStatus.COMMITTED.value, RunStatus.APPROVED.value, RunStatus.PAID.value)
#: Statuses whose pairs are locked: their figures change only by a true-up.
LOCKED_STATUSES = (RunStatus.APPROVED.value, RunStatus.PAID.value)


def allowed_actions(status: str) -> list[str]:
    """The transitions the table allows from `status` (none from paid or superseded)."""
    return [t.action for t in TRANSITIONS.values() if t.source.value == status]


def lock_partner(partner_id) -> None:
    """Serialise every change of the partner's runs: FOR UPDATE on its agreement rows
    (PostgreSQL); SQLite serialises writers anyway."""
    db.session.execute(
        select(Agreement.agreement_id)
        .where(Agreement.partner_id == partner_id)
        .order_by(Agreement.agreement_id)
        .with_for_update()
    )


def describe(run: CommissionRun) -> str:
    """The run in words: id, agreement and range."""
    return (
        f"run {run.run_id} ({run.agreement.name}, "
        f"{run.date_from.isoformat()} to {run.date_to.isoformat()})"
    )


def who(user) -> str:
    """The person acting, in words."""
    return user.email if user is not None else "the command line"


def record_event(run: CommissionRun, action: str, before: str | None, user, reason=None, **details):
    """Record a transition (or the commit) of `run` as a run event and an audit entry."""
    db.session.add(
        CommissionRunEvent(
            run_id=run.run_id,
            action=action,
            from_status=before,
            to_status=run.status,
            user_id=getattr(user, "user_id", None),
            reason=reason,
            created_at=utcnow(),
        )
    )
    after = {"status": run.status, **details}
    if reason:
        after["reason"] = reason
    audit.record(
        f"commission_run.{action}",
        "commission_run",
        run.run_id,
        before={"status": before} if before else None,
        after=after,
        user=user,
    )


def refusal(run: CommissionRun, transition: Transition, found: str) -> CommissionError:
    if found == RunStatus.PAID.value:
        return CommissionError(f"{describe(run)} is paid: paid is final, not {transition.done}")
    return CommissionError(
        f"{describe(run)} is {found}, not {transition.source.value}: not {transition.done}"
    )


def move(run: CommissionRun, action: str, user, **values) -> str:
    """Make the transition `action` of `run`, writing `values` with the new status, in one
    conditional UPDATE: refused (nothing written) unless the run is, at that moment, in the
    status the transition leaves. Returns the status left. The caller holds the partner's
    lock and commits."""
    transition = TRANSITIONS[action]
    R = CommissionRun
    written = db.session.execute(
        update(R)
        .where(R.run_id == run.run_id, R.status == transition.source.value)
        .values(status=transition.target.value, **values)
        .execution_options(synchronize_session=False)
    )
    if written.rowcount != 1:
        found = db.session.scalar(select(R.status).where(R.run_id == run.run_id))
        db.session.refresh(run)
        raise refusal(run, transition, found)
    db.session.refresh(run)
    return transition.source.value


def supersede(run: CommissionRun, by: CommissionRun | None, user, reason: str | None = None):
    """Mark a committed run superseded (by `by`, the run that replaced it, if any), inside
    a transaction that holds the partner's lock."""
    by_id = by.run_id if by is not None else None
    before = move(run, "supersede", user, superseded_by_run_id=by_id, superseded_at=utcnow())
    details = {"superseded_by": by_id} if by_id is not None else {}
    record_event(run, "supersede", before, user, reason=reason, **details)


def hand_adjustments_to(run: CommissionRun, heir: CommissionRun) -> None:
    """Move the adjustment lines a superseded `run` carried, with their count and sum, to
    `heir`, the run that takes its place: they stay carried, by a run that counts."""
    if not run.adjustment_count:
        return
    L = PartnerCommissionLine
    db.session.execute(
        update(L)
        .where(L.run_id == run.run_id, L.line_kind == LineKind.ADJUSTMENT.value)
        .values(run_id=heir.run_id)
    )
    heir.adjustment_count = (heir.adjustment_count or 0) + run.adjustment_count
    heir.total_adjustment_native = MONEY.add(
        heir.total_adjustment_native or ZERO, run.total_adjustment_native or ZERO
    )
