"""The locked (agreement, period) pairs an import reaches (DOMAIN.md, "Late data on closed
months"): a file's rows never change what was approved or paid, but its preview names the
locked months they touch, so that a manager knows a true-up will be due."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from webapp.extensions import db
from webapp.models import Agreement, CanonicalPeriod, CommissionLock, CommissionRun, Partner
from webapp.vocab import PayloadKind


@dataclass(frozen=True)
class LockedPeriod:
    """A locked pair the rows reach, and the run that locks it."""

    chain_id: str
    label: str
    start_time: datetime
    partner: str
    agreement: str
    run_id: uuid.UUID
    status: str

    def describe(self) -> str:
        return f"{self.label} of {self.agreement} ({self.partner}), {self.status}"


def locked_periods(kind: str, touched) -> list[LockedPeriod]:
    """The locked pairs of the (chain_id, period key) pairs `touched` by a file's rows (for
    stake events, of every period ending after the first touched one starts: a stake
    counts in the periods after it), in chain and period order; one query. Periods and
    prices reach no locked line (a run's USD values are fixed when it is approved)."""
    if kind in (PayloadKind.PERIODS.value, PayloadKind.PRICES.value) or not touched:
        return []
    K, P, A, N, R = CommissionLock, CanonicalPeriod, Agreement, Partner, CommissionRun
    ids = {uuid.UUID(bytes=key) if isinstance(key, bytes) else key for _, key in touched}
    if kind == PayloadKind.STAKE_EVENTS.value:
        first: dict = {}
        for chain_id, start in db.session.execute(
            select(P.chain_id, P.start_time).where(P.period_id.in_(ids))
        ):
            first[chain_id] = min(start, first.get(chain_id, start))
        condition = or_(
            *((P.chain_id == chain_id) & (P.end_time > start) for chain_id, start in first.items())
        )
    else:
        condition = P.period_id.in_(ids)
    rows = db.session.execute(
        select(P.chain_id, P.label, P.start_time, N.name, A.name, R.run_id, R.status)
        .select_from(K)
        .join(P, P.period_id == K.period_id)
        .join(A, A.agreement_id == K.agreement_id)
        .join(N, N.partner_id == A.partner_id)
        .join(R, R.run_id == K.run_id)
        .where(condition)
        .order_by(P.chain_id, P.start_time, N.name, A.name)
    ).all()
    return [LockedPeriod(*row) for row in rows]
