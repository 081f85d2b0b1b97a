"""Agreements over time against month-end close (DOMAIN.md, "Agreements over time").

A change of an agreement's dates (edit, end, successor) never moves a locked (agreement,
period) pair: out of its agreement, or to another one. The committed, unlocked pairs that
leave an agreement stop being current at once: their lines and exclusions go, the runs that
held them lose their figures, and a run left with no pair is superseded. So for one
partner, chain and period, the lines of at most one agreement are current.

Agreements lie below commissions: this module reads and writes the run tables directly.
A period belongs to an agreement when its UTC start date lies within the agreement's dates.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import delete, false, func, or_, select, tuple_

from webapp.db_types import decimal_sum
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CommissionExclusion,
    CommissionLock,
    CommissionRun,
    CommissionRunPeriod,
    PartnerCommissionLine,
)
from webapp.money import MONEY, ZERO
from webapp.run_states import hand_adjustments_to, supersede
from webapp.vocab import LineKind, RunStatus

#: What a date change refused for a locked pair says, after naming it.
TRUE_UP_HINT = "a locked period is corrected by a true-up, never by moving it"


@dataclass(frozen=True)
class NewDates:
    """An agreement's dates after a change (`agreement_id` None: an agreement still to be
    created, a successor). A later `NewDates` wins over an earlier one where both claim a
    period (a successor over its predecessor's old dates)."""

    agreement_id: uuid.UUID | None
    effective_from: date
    effective_to: date | None


@dataclass
class Release:
    """The committed pairs a change of dates took out of their agreement: each pair's period
    label, and the runs it left with no pair (superseded)."""

    labels: list[str] = field(default_factory=list)
    superseded: list[uuid.UUID] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _within(start_column, effective_from: date, effective_to: date | None):
    """SQL: the period starting at `start_column` lies within the dates (UTC start day)."""
    condition = start_column >= _day_start(effective_from)
    if effective_to is not None and effective_to < date.max:
        condition = condition & (start_column < _day_start(effective_to + timedelta(days=1)))
    return condition


def _moving(agreement_column, start_column, changes: list[NewDates]):
    """SQL: the pair (agreement, period starting at `start_column`) would change hands: its
    agreement's new dates leave it out, or another agreement's new dates take it in."""
    conditions = []
    for change in changes:
        inside = _within(start_column, change.effective_from, change.effective_to)
        if change.agreement_id is None:
            conditions.append(inside)
        else:
            conditions.append((agreement_column == change.agreement_id) & ~inside)
            conditions.append((agreement_column != change.agreement_id) & inside)
    return or_(*conditions) if conditions else false()


def _scope(partner_id, chain_id):
    """SQL: the agreement (joined as `Agreement`) is the partner's on the chain."""
    return (Agreement.partner_id == partner_id) & (Agreement.chain_id == chain_id)


def refuse_locked_moves(partner_id, chain_id: str, changes: list[NewDates]) -> None:
    """Refuse (FieldError naming the locking run) when the new dates would take a locked
    pair of the partner on the chain out of its agreement or give it to another."""
    K, P, R = CommissionLock, CanonicalPeriod, CommissionRun
    row = db.session.execute(
        select(Agreement, P.label, P.start_time, R.run_id, R.status, R.date_from, R.date_to)
        .select_from(K)
        .join(Agreement, Agreement.agreement_id == K.agreement_id)
        .join(P, P.period_id == K.period_id)
        .join(R, R.run_id == K.run_id)
        .where(_scope(partner_id, chain_id), _moving(K.agreement_id, P.start_time, changes))
        .order_by(P.start_time)
        .limit(1)
    ).first()
    if row is None:
        return
    agreement, label, start, run_id, status, low, high = row
    mine = next((c for c in changes if c.agreement_id == agreement.agreement_id), None)
    leaves = mine is not None and not _contains(mine, start.date())
    what = "leave" if leaves else "move to another agreement from"
    raise FieldError(
        f"period {label} would {what} {agreement.name}, but it is locked by {status} run "
        f"{run_id} ({low.isoformat()} to {high.isoformat()}): {TRUE_UP_HINT}; nothing changed",
        "effective_from"
        if mine is not None and start.date() < mine.effective_from
        else "effective_to",
    )


def _contains(change: NewDates, day: date) -> bool:
    return change.effective_from <= day and (
        change.effective_to is None or day <= change.effective_to
    )


def leaving_pairs(partner_id, chain_id: str, changes: list[NewDates]) -> list[tuple]:
    """The committed pairs the new dates would take out of their agreement:
    (agreement id, period id, label, holding run id), by period start."""
    RP, P = CommissionRunPeriod, CanonicalPeriod
    return db.session.execute(
        select(RP.agreement_id, RP.period_id, P.label, RP.run_id)
        .join(Agreement, Agreement.agreement_id == RP.agreement_id)
        .join(P, P.period_id == RP.period_id)
        .where(_scope(partner_id, chain_id), _moving(RP.agreement_id, P.start_time, changes))
        .order_by(P.start_time, RP.agreement_id)
    ).all()


def committed_periods(agreement: Agreement) -> list[tuple[str, date, bool]]:
    """The agreement's current pairs as (period label, start day, locked), by start: what
    a change of its dates may move (the unlocked ones) or may not (the locked ones)."""
    RP, P, K = CommissionRunPeriod, CanonicalPeriod, CommissionLock
    locked = select(K.period_id).where(K.agreement_id == agreement.agreement_id)
    rows = db.session.execute(
        select(P.label, P.start_time, RP.period_id.in_(locked))
        .join(P, P.period_id == RP.period_id)
        .where(RP.agreement_id == agreement.agreement_id)
        .order_by(P.start_time)
    ).all()
    return [(label, start.date(), bool(is_locked)) for label, start, is_locked in rows]


def release_pairs(partner_id, chain_id: str, changes: list[NewDates], user=None) -> Release:
    """Take the committed pairs that the new dates move out of their agreement: delete their
    run-period rows, commission lines and exclusions, take their figures off the runs that
    held them, and supersede each committed run left with no pair (moving the adjustments it
    carried to a committed run of its agreement that keeps a pair). Refused (FieldError,
    before any write) when an adjustment line belongs to a leaving pair, or an emptied run
    carries adjustments with nowhere to go. Writes in the caller's transaction."""
    pairs = leaving_pairs(partner_id, chain_id, changes)
    if not pairs:
        return Release()
    keys = [(agreement_id, period_id) for agreement_id, period_id, _, _ in pairs]
    _refuse_adjusted(keys)
    leaving_by_run: dict = defaultdict(int)
    for _, _, _, run_id in pairs:
        leaving_by_run[run_id] += 1
    runs = {
        run.run_id: run
        for run in db.session.scalars(
            select(CommissionRun).where(CommissionRun.run_id.in_(list(leaving_by_run)))
        )
    }
    RP = CommissionRunPeriod
    held = dict(
        db.session.execute(
            select(RP.run_id, func.count())
            .where(RP.run_id.in_(list(leaving_by_run)))
            .group_by(RP.run_id)
        ).all()
    )
    emptied = [runs[r] for r in leaving_by_run if held.get(r, 0) <= leaving_by_run[r]]
    heirs = _heirs(emptied, leaving_by_run)
    figures = _figures(keys)

    L, X = PartnerCommissionLine, CommissionExclusion
    for model in (RP, X):
        db.session.execute(
            delete(model).where(tuple_(model.agreement_id, model.period_id).in_(keys))
        )
    db.session.execute(
        delete(L).where(
            tuple_(L.agreement_id, L.period_id).in_(keys),
            L.line_kind == LineKind.COMMISSION.value,
        )
    )
    for run_id, count in leaving_by_run.items():
        _take_off(runs[run_id], count, *figures.get(run_id, (0, ZERO, ZERO, ZERO)))
    for run in emptied:
        _supersede(run, heirs.get(run.run_id), user)
    return Release([label for _, _, label, _ in pairs], [run.run_id for run in emptied])


def _refuse_adjusted(keys: list[tuple]) -> None:
    """Refuse when a leaving pair carries adjustment lines: they correct the pair's locked
    lines, which would no longer count."""
    L, P, R = PartnerCommissionLine, CanonicalPeriod, CommissionRun
    row = db.session.execute(
        select(P.label, Agreement.name, R.run_id, R.status)
        .select_from(L)
        .join(P, P.period_id == L.period_id)
        .join(Agreement, Agreement.agreement_id == L.agreement_id)
        .join(R, R.run_id == L.run_id)
        .where(
            tuple_(L.agreement_id, L.period_id).in_(keys),
            L.line_kind == LineKind.ADJUSTMENT.value,
        )
        .order_by(P.start_time)
        .limit(1)
    ).first()
    if row is not None:
        label, name, run_id, status = row
        raise FieldError(
            f"period {label} of {name} carries adjustments in {status} run {run_id}: it cannot "
            "leave the agreement while they correct it; nothing changed",
            "effective_to",
        )


def _heirs(emptied: list[CommissionRun], leaving_by_run: dict) -> dict:
    """For each emptied run carrying adjustments, the committed run of its agreement that
    keeps a pair and takes them over (the latest); refused when there is none."""
    carrying = [run for run in emptied if run.adjustment_count]
    if not carrying:
        return {}
    R, RP = CommissionRun, CommissionRunPeriod
    emptied_ids = [run.run_id for run in emptied]
    candidates = db.session.scalars(
        select(R)
        .where(
            R.agreement_id.in_({run.agreement_id for run in carrying}),
            R.status == RunStatus.COMMITTED.value,
            R.run_id.not_in(emptied_ids),
            select(RP.run_id).where(RP.run_id == R.run_id).exists(),
        )
        .order_by(R.created_at.desc())
    ).all()
    heirs = {}
    for run in carrying:
        heir = next((c for c in candidates if c.agreement_id == run.agreement_id), None)
        if heir is None:
            raise FieldError(
                f"{run.status} run {run.run_id} ({run.date_from.isoformat()} to "
                f"{run.date_to.isoformat()}) would hold no period, and its "
                f"{run.adjustment_count} adjustment line(s) no run of the agreement to move "
                "to: commit a range within the new dates first; nothing changed",
                "effective_to",
            )
        heirs[run.run_id] = heir
    return heirs


def _figures(keys: list[tuple]) -> dict:
    """Per run holding leaving pairs: lines, base, commission and held back of those pairs."""
    RP, L, X = CommissionRunPeriod, PartnerCommissionLine, CommissionExclusion
    in_keys = tuple_(RP.agreement_id, RP.period_id).in_(keys)
    lines = db.session.execute(
        select(
            RP.run_id,
            func.count(),
            decimal_sum(L.base_amount_native),
            decimal_sum(L.commission_amount_native),
        )
        .join(L, (L.agreement_id == RP.agreement_id) & (L.period_id == RP.period_id))
        .where(in_keys, L.line_kind == LineKind.COMMISSION.value)
        .group_by(RP.run_id)
    ).all()
    held = dict(
        db.session.execute(
            select(RP.run_id, decimal_sum(X.held_back_amount_native))
            .join(X, (X.agreement_id == RP.agreement_id) & (X.period_id == RP.period_id))
            .where(in_keys)
            .group_by(RP.run_id)
        ).all()
    )
    figures = {
        run_id: (count, base or ZERO, commission or ZERO, held.get(run_id) or ZERO)
        for run_id, count, base, commission in lines
    }
    for run_id, amount in held.items():
        figures.setdefault(run_id, (0, ZERO, ZERO, amount or ZERO))
    return figures


def _take_off(run: CommissionRun, pairs: int, lines: int, base, commission, held) -> None:
    """The run's figures without those of the pairs it no longer holds."""
    subtract = MONEY.subtract
    run.period_count = max(0, (run.period_count or 0) - pairs)
    run.line_count = max(0, (run.line_count or 0) - lines)
    run.total_base_native = subtract(run.total_base_native, Decimal(base))
    run.total_commission_native = subtract(run.total_commission_native, Decimal(commission))
    run.excluded_amount_native = subtract(run.excluded_amount_native, Decimal(held))


def _supersede(run: CommissionRun, heir: CommissionRun | None, user) -> None:
    """Mark a committed run left with no pair superseded (through the run's table of
    moves: a run event and an audit entry); its adjustments go to `heir`."""
    reason = "its periods left the agreement when the agreement's dates changed"
    if heir is not None and run.adjustment_count:
        reason += f"; its {run.adjustment_count} adjustment(s) moved to run {heir.run_id}"
        hand_adjustments_to(run, heir)
    supersede(run, heir, user, reason)
