"""The life of a commission run as a table, and each transition made in one atomic step.

A run is committed; a manager who did not commit it approves it (its pairs lock); an admin
may reopen an approved, unpaid run (its pairs unlock); an approved run is paid, which is
final; a later commit of the same scope supersedes a committed run. Every transition, from
the pages, the command line or the API, goes through `move`: it takes the partner's lock,
writes the new status with `UPDATE … WHERE status = <the one it leaves>` and checks that
exactly that row changed, so of two transitions at once one wins and the other is refused,
naming the state it found. Each transition is a run event and an audit entry.
"""

import uuid
from datetime import date

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from webapp import audit
from webapp.commissions import staleness
from webapp.commissions.totals import run_totals
from webapp.commissions.valuation import fix_prices
from webapp.extensions import db
from webapp.labels import slugify
from webapp.models import (
    CommissionLock,
    CommissionRun,
    CommissionRunPeriod,
    Payout,
    User,
    utcnow,
)
from webapp.money import money_sum
from webapp.run_states import (  # noqa: F401 - the lifecycle's words, for its callers
    LIVE_STATUSES,
    TRANSITIONS,
    CommissionError,
    Transition,
    allowed_actions,
    describe,
    lock_partner,
    move,
    record_event,
    refusal,
    supersede,
    who,
)
from webapp.vocab import RunStatus


def _current(run: CommissionRun) -> CommissionRun:
    """The run as stored now (after the partner's lock), not as the caller read it."""
    return db.session.execute(
        select(CommissionRun)
        .where(CommissionRun.run_id == run.run_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _may(user, transition: Transition, what: str) -> None:
    if user is None or not user.can(transition.role):
        raise CommissionError(f"{who(user)} may not {what}")


# ---- The transitions ----------------------------------------------------------------------


def _approve(run: CommissionRun, user) -> None:
    _may(user, TRANSITIONS["approve"], "approve: a manager or admin approves runs")
    run = _current(run)
    if run.status != RunStatus.COMMITTED.value:
        raise refusal(run, TRANSITIONS["approve"], run.status)
    if run.created_by_user_id is None:
        raise CommissionError(
            f"{describe(run)} names no committer, so no second person can approve it "
            "(four eyes): commit it again as a named person"
        )
    if run.created_by_user_id == user.user_id:
        raise CommissionError(
            f"{user.email} committed {describe(run)} and cannot also approve it (four eyes)"
        )
    _refuse_stale(run)
    now = utcnow()
    before = move(run, "approve", user, approved_by_user_id=user.user_id, approved_at=now)
    RP = CommissionRunPeriod
    pairs = db.session.execute(
        select(RP.agreement_id, RP.period_id).where(RP.run_id == run.run_id)
    ).all()
    if pairs:
        db.session.execute(
            insert(CommissionLock),
            [
                {"agreement_id": a, "period_id": p, "run_id": run.run_id, "locked_at": now}
                for a, p in pairs
            ],
        )
    # Approval fixes the run's USD values at today's prices (a missing price is named).
    missing = fix_prices(run)
    details = {"missing_prices": missing} if missing else {}
    record_event(run, "approve", before, user, locked_periods=len(pairs), **details)


def _refuse_stale(run: CommissionRun) -> None:
    """Refuse to approve a run whose inputs changed after its commit."""
    changes = staleness.stale_runs([run]).get(run.run_id)
    if changes:
        raise CommissionError(
            f"{describe(run)} is out of date: commit again before approving ("
            + "; ".join(changes)
            + ")"
        )


def _reopen(run: CommissionRun, user, reason: str) -> None:
    _may(user, TRANSITIONS["reopen"], "reopen: an admin reopens runs")
    reason = (reason or "").strip()
    if not reason:
        raise CommissionError("a reopening needs a reason")
    before = move(
        run,
        "reopen",
        user,
        reopened_by_user_id=user.user_id,
        reopened_at=utcnow(),
        reopen_reason=reason,
    )
    db.session.execute(delete(CommissionLock).where(CommissionLock.run_id == run.run_id))
    record_event(run, "reopen", before, user, reason=reason)


def _check_payment(user, reference: str) -> str:
    _may(user, TRANSITIONS["pay"], "mark runs paid: a manager or admin does")
    reference = (reference or "").strip()
    if not reference:
        raise CommissionError("a payment needs a payout reference")
    return reference


def _pay(run: CommissionRun, user, reference: str, paid_on: date, payout: Payout) -> None:
    run = _current(run)
    if run.status != RunStatus.APPROVED.value:
        raise refusal(run, TRANSITIONS["pay"], run.status)
    before = move(
        run,
        "pay",
        user,
        paid_by_user_id=user.user_id,
        paid_at=payout.created_at,
        paid_on=paid_on,
        payout_reference=reference,
        payout_id=payout.payout_id,
    )
    record_event(
        run,
        "pay",
        before,
        user,
        payout_reference=reference,
        paid_on=paid_on,
        statement_number=payout.statement_number,
    )


def _statement_number(partner, year: int) -> tuple[str, int]:
    """The partner's next statement number of the year: `<slug>-<year>-<n>`."""
    prefix = f"{slugify(partner.name)}-{year}-"
    P = Payout
    taken = db.session.scalar(
        select(func.max(P.sequence)).where(
            P.partner_id == partner.partner_id, P.statement_number.like(f"{prefix}%")
        )
    )
    sequence = (taken or 0) + 1
    return f"{prefix}{sequence}", sequence


def pay_as_payouts(partner, runs, user, reference: str, paid_on: date | None) -> list[Payout]:
    """Pay `runs` (approved, of the partner), one payout per token: each run moves to paid
    naming its payout. The caller holds the partner's lock; refused whole if any run is no
    longer approved."""
    reference = _check_payment(user, reference)
    now = utcnow()
    paid_on = paid_on or now.date()
    nets = {run_id: t.total_native for run_id, t in run_totals([r.run_id for r in runs]).items()}
    by_chain: dict[str, list[CommissionRun]] = {}
    for run in runs:
        by_chain.setdefault(run.agreement.chain_id, []).append(run)
    payouts = []
    for chain_id in sorted(by_chain):
        settled = by_chain[chain_id]
        number, sequence = _statement_number(partner, paid_on.year)
        # Runs approved before the partner's last payout were listed then and not paid:
        # carried (below a minimum, negative, or left for later).
        previous = db.session.scalar(
            select(func.max(Payout.created_at)).where(
                Payout.partner_id == partner.partner_id, Payout.created_at < now
            )
        )
        carried_in = money_sum(
            nets[r.run_id]
            for r in settled
            if previous is not None and r.approved_at is not None and r.approved_at < previous
        )
        payout = Payout(
            payout_id=uuid.uuid4(),
            partner_id=partner.partner_id,
            chain_id=chain_id,
            statement_number=number,
            sequence=sequence,
            net_amount_native=money_sum(nets[r.run_id] for r in settled),
            carried_in_native=carried_in,
            payout_reference=reference,
            paid_on=paid_on,
            paid_by_user_id=user.user_id,
            created_at=now,
        )
        db.session.add(payout)
        db.session.flush()
        for run in settled:
            _pay(run, user, reference, paid_on, payout)
        audit.record(
            "pay",
            "payout",
            payout.payout_id,
            after={
                "statement_number": number,
                "net_amount_native": payout.net_amount_native,
                "runs": [str(r.run_id) for r in settled],
                "payout_reference": reference,
                "paid_on": paid_on,
            },
            user=user,
        )
        payouts.append(payout)
    return payouts


def in_transaction(partner_id, action):
    """Run `action` under the partner's lock and commit, or roll everything back."""
    try:
        lock_partner(partner_id)
        outcome = action()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise CommissionError("a period of this run is already locked by another run") from None
    except BaseException:
        db.session.rollback()
        raise
    return outcome


def approve_run(run: CommissionRun, user) -> CommissionRun:
    """Approve one committed, up-to-date run (a manager or admin who did not commit it):
    locks its pairs."""
    return in_transaction(run.partner_id, lambda: _approve(run, user) or run)


def reopen_run(run: CommissionRun, user, reason: str) -> CommissionRun:
    """Return an approved, unpaid run to committed (an admin, with a reason): unlocks it."""
    return in_transaction(run.partner_id, lambda: _reopen(run, user, reason) or run)


def pay_run(run: CommissionRun, user, reference: str, paid_on: date | None = None):
    """Mark an approved run paid with its payout reference and date (default today, UTC):
    a payout of that run alone."""
    return in_transaction(
        run.partner_id,
        lambda: pay_as_payouts(run.partner, [run], user, reference, paid_on) and run,
    )


def check_range(date_from: date, date_to: date) -> None:
    """Refuse a range that ends before it starts."""
    if date_to < date_from:
        raise CommissionError(
            f"--to {date_to.isoformat()} is before --from {date_from.isoformat()}"
        )


def runs_within(partner, date_from: date | None = None, date_to: date | None = None):
    """The partner's runs whose range lies within [date_from, date_to] (all without a range),
    superseded ones included, oldest first, as stored now."""
    stmt = select(CommissionRun).where(CommissionRun.partner_id == partner.partner_id)
    if date_from is not None:
        stmt = stmt.where(CommissionRun.date_from >= date_from)
    if date_to is not None:
        stmt = stmt.where(CommissionRun.date_to <= date_to)
    stmt = stmt.order_by(CommissionRun.created_at, CommissionRun.date_from)
    return list(db.session.scalars(stmt.execution_options(populate_existing=True)))


def _targets(partner, date_from, date_to, action: str) -> list[CommissionRun]:
    transition = TRANSITIONS[action]
    check_range(date_from, date_to)
    runs = [
        r
        for r in runs_within(partner, date_from, date_to)
        if r.status != RunStatus.SUPERSEDED.value
    ]
    verb = transition.done
    if not runs:
        raise CommissionError(
            f"{partner.name} has no run within {date_from.isoformat()} to "
            f"{date_to.isoformat()}: nothing {verb}"
        )
    targets = [r for r in runs if r.status == transition.source.value]
    if not targets:
        statuses = ", ".join(sorted({r.status for r in runs}))
        final = " (paid is final)" if statuses == RunStatus.PAID.value else ""
        raise CommissionError(
            f"no {transition.source.value} run of {partner.name} within "
            f"{date_from.isoformat()} to {date_to.isoformat()} (runs there are {statuses})"
            f"{final}: nothing {verb}"
        )
    return targets


def approve_runs(partner, date_from: date, date_to: date, user) -> list[CommissionRun]:
    """Approve every committed run of the partner within the range, or none (one refusal)."""

    def action():
        targets = _targets(partner, date_from, date_to, "approve")
        for run in targets:
            _approve(run, user)
        return targets

    return in_transaction(partner.partner_id, action)


def reopen_runs(partner, date_from: date, date_to: date, user, reason: str):
    """Reopen every approved run of the partner within the range, or none."""

    def action():
        targets = _targets(partner, date_from, date_to, "reopen")
        for run in targets:
            _reopen(run, user, reason)
        return targets

    return in_transaction(partner.partner_id, action)


def pay_runs(partner, date_from: date, date_to: date, user, reference: str, paid_on=None):
    """Mark paid every approved run of the partner within the range, or none: one payout
    per token."""

    def action():
        _check_payment(user, reference)
        targets = _targets(partner, date_from, date_to, "pay")
        pay_as_payouts(partner, targets, user, reference, paid_on)
        return targets

    return in_transaction(partner.partner_id, action)


def find_user(email: str | None) -> User | None:
    """The user with that e-mail address (case-insensitive), None for no address; an unknown
    address is an error."""
    if email is None:
        return None
    user = db.session.scalar(select(User).where(User.email.ilike(email.strip())))
    if user is None:
        raise CommissionError(f"no user with e-mail {email!r}")
    return user
