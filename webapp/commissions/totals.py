"""A run's total (DOMAIN.md, "Month-end close"): per token, its commission lines (those of
the pairs it holds, from the sums kept beside each pair) plus the adjustment lines it
carries, with the adjustments' part named: how many, how much, the clawbacks among them
(negative lines), and each run they correct. Every page, file, command and API answer that
shows a run's total takes it from here.

`run_totals` reads any number of runs in a handful of queries, never one per run or pair.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import String, case, cast, func, select

from webapp.commissions import pair_sums
from webapp.commissions.terms import period_key
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    Agreement,
    Chain,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    PartnerCommissionLine,
)
from webapp.money import MONEY, ZERO, totals_by_token
from webapp.vocab import LineKind, Method


@dataclass
class Correction:
    """The adjustment lines of a run that correct one earlier (locked) run."""

    run_id: uuid.UUID
    agreement: str
    date_from: date
    date_to: date
    status: str
    payout_reference: str | None
    paid_on: date | None
    adjustment_count: int = 0
    adjustment_amount_native: Decimal = ZERO
    clawback_count: int = 0
    clawback_amount_native: Decimal = ZERO

    @property
    def is_clawback(self) -> bool:
        """True when the correction takes money back (its net is negative)."""
        return self.adjustment_amount_native < 0


@dataclass
class TokenTotal:
    """Totals of one token (a chain's symbol): commission lines, what exclusions held back,
    and adjustment lines; amounts of two tokens are never added. A preview's and a commit's
    totals per token (`token_totals`), and a run's (`RunTotal`)."""

    token_symbol: str
    chain_id: str
    line_count: int = 0
    base_amount_native: Decimal = ZERO
    commission_amount_native: Decimal = ZERO
    excluded_amount_native: Decimal = ZERO
    adjustment_count: int = 0
    adjustment_amount_native: Decimal = ZERO

    @property
    def total_native(self) -> Decimal:
        """The total: commission plus adjustments."""
        return MONEY.add(self.commission_amount_native, self.adjustment_amount_native)

    @property
    def total_line_count(self) -> int:
        """Commission lines plus adjustment lines."""
        return self.line_count + self.adjustment_count

    def as_dict(self) -> dict:
        """The figures an API answer or a file gives, total included."""
        return {
            "token_symbol": self.token_symbol,
            "chain_id": self.chain_id,
            "line_count": self.line_count,
            "base_amount_native": self.base_amount_native,
            "commission_amount_native": self.commission_amount_native,
            "excluded_amount_native": self.excluded_amount_native,
            "adjustment_count": self.adjustment_count,
            "adjustment_amount_native": self.adjustment_amount_native,
            "total_amount_native": self.total_native,
        }


def token_totals(rows) -> dict[str, TokenTotal]:
    """Rows of (token symbol, chain id, figures) added up per token by
    `money.totals_by_token`, in order of first sight; the figures in `TokenTotal`'s order:
    lines, base, commission, held back, adjustment lines, adjustments."""
    rows = list(rows)
    chains = {symbol: chain_id for symbol, chain_id, _ in rows}
    sums = totals_by_token((symbol, figures) for symbol, _, figures in rows)
    return {
        symbol: TokenTotal(symbol, chains[symbol], *figures) for symbol, figures in sums.items()
    }


@dataclass
class RunTotal(TokenTotal):
    """One run's total in its token: commission lines plus adjustment lines, the clawbacks
    among these, and the runs they correct."""

    run_id: uuid.UUID = field(kw_only=True)
    #: The negative adjustment lines among them: how many, and their sum.
    clawback_count: int = 0
    clawback_amount_native: Decimal = ZERO
    corrections: list[Correction] = field(default_factory=list)
    #: Per period (by key): the commission of the pair the run holds in it; with the
    #: adjustments they add up to `total_native`.
    by_period: dict[str, Decimal] = field(default_factory=dict)

    def add_to_period(self, period_id, amount) -> None:
        key = period_key(period_id)
        self.by_period[key] = MONEY.add(self.by_period.get(key, ZERO), amount or ZERO)

    @property
    def true_up_amount_native(self) -> Decimal:
        """The positive adjustment lines' sum (adjustments less clawbacks)."""
        return MONEY.subtract(self.adjustment_amount_native, self.clawback_amount_native)


def run_total(run: CommissionRun) -> RunTotal:
    """The total of one run (see `run_totals`)."""
    return run_totals([run.run_id])[run.run_id]


def run_totals(run_ids) -> dict[uuid.UUID, RunTotal]:
    """The total of each run (by id): its pairs' commission lines and exclusions, and the
    adjustment lines it carries with the runs they correct. Five queries at most."""
    run_ids = list(dict.fromkeys(run_ids))
    if not run_ids:
        return {}
    R, A, C = CommissionRun, Agreement, Chain
    totals: dict[uuid.UUID, RunTotal] = {}
    runs = {}
    for run_id, agreement_id, method, symbol, chain_id in db.session.execute(
        select(R.run_id, R.agreement_id, R.method, C.token_symbol, C.chain_id)
        .join(A, A.agreement_id == R.agreement_id)
        .join(C, C.chain_id == A.chain_id)
        .where(R.run_id.in_(run_ids))
    ):
        totals[run_id] = RunTotal(symbol, chain_id, run_id=run_id)
        runs[run_id] = (agreement_id, method)
    _add_pairs(totals, runs)
    _add_adjustments(totals)
    return totals


def _add(total: RunTotal, count: int, base, commission) -> None:
    total.line_count += count
    total.base_amount_native = MONEY.add(total.base_amount_native, base or ZERO)
    total.commission_amount_native = MONEY.add(total.commission_amount_native, commission or ZERO)


def _add_pairs(totals: dict, runs: dict) -> None:
    """Commission lines and exclusions of the pairs each run holds, from their kept sums;
    a pair written before sums were kept has its rows summed (two grouped queries)."""
    RP = CommissionRunPeriod
    unsummed: dict = defaultdict(list)
    for run_id, period_id, text in db.session.execute(
        select(RP.run_id, RP.period_id, RP.sums).where(RP.run_id.in_(list(totals)))
    ):
        total = totals[run_id]
        if text is None:
            unsummed[run_id].append(period_id)
            continue
        slices, reasons = pair_sums.load(text)
        for _, _, count, base, commission in slices:
            _add(total, count, base, commission)
            total.add_to_period(period_id, commission)
        for _, _, held in reasons:
            total.excluded_amount_native = MONEY.add(total.excluded_amount_native, held)
    if not unsummed:
        return
    L, X = PartnerCommissionLine, CommissionExclusion
    owner = {(runs[r][0], p): r for r, periods in unsummed.items() for p in periods}
    agreements = {runs[r][0] for r in unsummed}
    periods = {p for ps in unsummed.values() for p in ps}
    for agreement_id, period_id, has_wallet, count, base, commission in db.session.execute(
        select(
            L.agreement_id,
            L.period_id,
            L.wallet_address.is_not(None),
            func.count(),
            decimal_sum(L.base_amount_native),
            decimal_sum(L.commission_amount_native),
        )
        .where(
            L.agreement_id.in_(agreements),
            L.period_id.in_(periods),
            L.line_kind == LineKind.COMMISSION.value,
        )
        .group_by(L.agreement_id, L.period_id, L.wallet_address.is_not(None))
    ):
        run_id = owner.get((agreement_id, period_id))
        # Only the lines of the run's method count (as `queries.commission_lines_of`).
        wallet_method = run_id is not None and runs[run_id][1] == Method.WALLET_ATTRIBUTION.value
        if run_id is not None and bool(has_wallet) == wallet_method:
            _add(totals[run_id], count, base, commission)
            totals[run_id].add_to_period(period_id, commission)
    for agreement_id, period_id, held in db.session.execute(
        select(X.agreement_id, X.period_id, decimal_sum(X.held_back_amount_native))
        .where(X.agreement_id.in_(agreements), X.period_id.in_(periods))
        .group_by(X.agreement_id, X.period_id)
    ):
        run_id = owner.get((agreement_id, period_id))
        if run_id is not None:
            total = totals[run_id]
            total.excluded_amount_native = MONEY.add(total.excluded_amount_native, held or ZERO)


def _add_adjustments(totals: dict) -> None:
    """The adjustment lines each run carries, per run corrected and sign, and the corrected
    runs themselves (two queries)."""
    L = PartnerCommissionLine
    negative = case((cast(L.commission_amount_native, String).startswith("-"), 1), else_=0).label(
        "negative"
    )
    rows = db.session.execute(
        select(
            L.run_id,
            L.corrects_run_id,
            negative,
            func.count(),
            decimal_sum(L.commission_amount_native),
        )
        .where(L.run_id.in_(list(totals)), L.line_kind == LineKind.ADJUSTMENT.value)
        .group_by(L.run_id, L.corrects_run_id, negative)
    ).all()
    if not rows:
        return
    R, A = CommissionRun, Agreement
    corrected = {
        row.run_id: row
        for row in db.session.execute(
            select(
                R.run_id,
                A.name,
                R.date_from,
                R.date_to,
                R.status,
                R.payout_reference,
                R.paid_on,
            )
            .join(A, A.agreement_id == R.agreement_id)
            .where(R.run_id.in_({row[1] for row in rows}))
        )
    }
    add = MONEY.add
    for run_id, corrects, is_negative, count, amount in rows:
        total = totals[run_id]
        amount = amount or ZERO
        correction = next((c for c in total.corrections if c.run_id == corrects), None)
        if correction is None:
            old = corrected[corrects]
            correction = Correction(
                corrects,
                old.name,
                old.date_from,
                old.date_to,
                old.status,
                old.payout_reference,
                old.paid_on,
            )
            total.corrections.append(correction)
        correction.adjustment_count += count
        correction.adjustment_amount_native = add(correction.adjustment_amount_native, amount)
        total.adjustment_count += count
        total.adjustment_amount_native = add(total.adjustment_amount_native, amount)
        if is_negative:
            correction.clawback_count += count
            correction.clawback_amount_native = add(correction.clawback_amount_native, amount)
            total.clawback_count += count
            total.clawback_amount_native = add(total.clawback_amount_native, amount)
    for total in totals.values():
        total.corrections.sort(key=lambda c: (c.date_from, c.date_to, str(c.run_id)))
