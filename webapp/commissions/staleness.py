"""Runs whose inputs moved after their commit (DOMAIN.md, "Month-end close").

Each (agreement, period) pair a run holds keeps the digest of its inputs at commit
(`commission_run_periods.inputs_digest`, `commissions.fingerprints`). Today's digests of a
run's pairs come from one fingerprint of its agreement over its range; a pair whose digest
differs was computed from inputs that are no longer there.

- A *committed* run with such a pair is **stale**: out of date, commit again before it can be
  approved (`stale_runs`).
- An *approved or paid* run with such a pair may have **late data**: today's data gives
  another figure than the locked one. The engine then measures the difference against the
  locked lines plus the adjustments stored (`late_changes`), so a month a true-up has
  carried shows nothing.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.commissions.fingerprints import PARTS, changed_parts, fingerprint
from webapp.commissions.inputs import period_key, scope_of, terms_of
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CommissionRun,
    CommissionRunPeriod,
    PartnerCommissionLine,
)
from webapp.money import MONEY, ZERO, money_sum
from webapp.run_states import LOCKED_STATUSES
from webapp.vocab import RunStatus


@dataclass
class PairChange:
    """One pair of a run whose inputs are not those it was computed from."""

    period_id: uuid.UUID
    label: str
    start_time: object
    #: False when the period is no longer within the agreement's dates.
    in_scope: bool = True
    #: What changed, in words (`fingerprints.PARTS`); empty when the commit kept no parts.
    what: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.in_scope:
            return f"period {self.label}: no longer within the agreement's dates"
        what = " and ".join(self.what) if self.what else "inputs"
        return f"period {self.label}: {what} changed since commit"


def _words(names: list[str], wallet_attribution: bool) -> list[str]:
    data = "staker rewards" if wallet_attribution else "validator revenue"
    return [data if name == "data" else PARTS[name] for name in names]


@dataclass
class LatePeriod:
    """One locked period that today's data computes differently: what was locked (its lines
    plus the adjustments stored for it), what today's data gives, and the difference."""

    period_id: uuid.UUID
    label: str
    locked_native: Decimal
    difference_native: Decimal
    line_count: int
    wallet_count: int = 0

    @property
    def today_native(self) -> Decimal:
        return MONEY.add(self.locked_native, self.difference_native)


@dataclass
class LateData:
    """A locked run that today's data would compute differently, and by how much."""

    run: CommissionRun
    token_symbol: str
    periods: list[LatePeriod] = field(default_factory=list)

    @property
    def locked_word(self) -> str:
        """What the locked figure is: "paid" or "approved"."""
        return self.run.status

    @property
    def locked_native(self) -> Decimal:
        return money_sum(p.locked_native for p in self.periods)

    @property
    def today_native(self) -> Decimal:
        return money_sum(p.today_native for p in self.periods)

    @property
    def difference_native(self) -> Decimal:
        """Today's data minus what was locked (adjustments stored included)."""
        return money_sum(p.difference_native for p in self.periods)

    def describe(self) -> list[str]:
        return [
            f"period {p.label}: {self.locked_word} {p.locked_native} {self.token_symbol}, "
            f"today's data gives {p.today_native} {self.token_symbol}, "
            f"difference {p.difference_native:+} {self.token_symbol}"
            for p in self.periods
        ]


def changed_pairs(runs) -> dict[uuid.UUID, list[PairChange]]:
    """Per run (any status), the pairs it holds whose inputs digest differs from today's,
    in period order. One fingerprint per run; a pair committed before digests were kept
    counts as changed only for locked runs (the engine then decides)."""
    runs = [r for r in runs if r.status != RunStatus.SUPERSEDED.value]
    if not runs:
        return {}
    RP, P = CommissionRunPeriod, CanonicalPeriod
    held = defaultdict(list)
    for run_id, period_id, digest, parts, label, start in db.session.execute(
        select(RP.run_id, RP.period_id, RP.inputs_digest, RP.inputs_parts, P.label, P.start_time)
        .join(P, P.period_id == RP.period_id)
        .where(RP.run_id.in_([r.run_id for r in runs]))
        .order_by(P.start_time)
    ):
        held[run_id].append((period_id, digest, parts, label, start))
    agreements = {
        a.agreement_id: a
        for a in db.session.scalars(
            select(Agreement)
            .options(selectinload(Agreement.rules))
            .where(Agreement.agreement_id.in_({r.agreement_id for r in runs}))
        )
    }
    changed: dict[uuid.UUID, list[PairChange]] = {}
    for run in runs:
        pairs = held.get(run.run_id)
        if not pairs:
            continue
        agreement = agreements[run.agreement_id]
        scope = scope_of(agreement, run.date_from, run.date_to)
        prints = fingerprint(agreement.partner_id, agreement.chain_id, terms_of(agreement), scope)
        found = []
        for period_id, digest, parts, label, start in pairs:
            key = period_key(period_id)
            today = prints.digests.get(key)
            if today is None:
                found.append(PairChange(period_id, label, start, in_scope=False))
            elif digest is None:
                if run.status in LOCKED_STATUSES:
                    found.append(PairChange(period_id, label, start))
            elif today != digest:
                names = changed_parts(parts, prints.parts.get(key))
                what = _words(names, agreement.wallet_attribution_enabled)
                found.append(PairChange(period_id, label, start, what=what))
        if found:
            changed[run.run_id] = found
    return changed


def stale_runs(runs) -> dict[uuid.UUID, list[str]]:
    """Per committed run whose inputs changed since its commit: what changed, in words a
    manager reads ("period 2025-10-03: inputs changed since commit"). Fresh runs, and runs
    of any other status, are absent."""
    committed = [r for r in runs if r.status == RunStatus.COMMITTED.value]
    return {
        run_id: [pair.describe() for pair in pairs]
        for run_id, pairs in changed_pairs(committed).items()
    }


def is_stale(run: CommissionRun) -> list[str]:
    """What changed since the commit of one run (empty when it is fresh or not committed)."""
    return stale_runs([run]).get(run.run_id, [])


def late_changes(runs) -> dict[uuid.UUID, LateData]:
    """Per approved or paid run whose pairs' inputs changed since the commit and that
    today's data computes differently from what was locked plus the adjustments stored:
    the difference per period. A run whose late data a true-up has carried is absent."""
    # true_ups.py may call this module (approve refuses a stale run): imported here, not above.
    from webapp.commissions.true_ups import changes_since_approval

    locked = [r for r in runs if r.status in LOCKED_STATUSES]
    candidates = changed_pairs(locked)
    changes = {}
    for run in locked:
        if candidates.get(run.run_id):
            for change in changes_since_approval(run.partner, run):
                if change.run.run_id == run.run_id and change.periods:
                    changes[run.run_id] = change
    if not changes:
        return {}
    locked_sums = _locked_sums(
        {(c.run.agreement_id, p.period_id) for c in changes.values() for p in c.periods}
    )
    found: dict[uuid.UUID, LateData] = {}
    for run_id, change in changes.items():
        late = found[run_id] = LateData(change.run, change.token_symbol)
        for p in change.periods:
            late.periods.append(
                LatePeriod(
                    p.period_id,
                    p.label,
                    locked_sums.get((change.run.agreement_id, p.period_id), ZERO),
                    p.net_commission_native,
                    len(p.lines),
                    p.wallet_count,
                )
            )
    return found


def _locked_sums(pairs: set) -> dict:
    """Per (agreement, period): the commission of its lines, adjustments stored included
    (one grouped query)."""
    L = PartnerCommissionLine
    agreements = {a for a, _ in pairs}
    periods = {p for _, p in pairs}
    rows = db.session.execute(
        select(L.agreement_id, L.period_id, decimal_sum(L.commission_amount_native))
        .where(L.agreement_id.in_(agreements), L.period_id.in_(periods))
        .group_by(L.agreement_id, L.period_id)
    ).all()
    return {(a, p): amount or ZERO for a, p, amount in rows if (a, p) in pairs}
