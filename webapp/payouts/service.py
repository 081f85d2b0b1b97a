"""Payables, minimum payouts and paying them (DOMAIN.md "Payouts, statements and prices").

A payable is, per partner and token, the net (commission plus adjustments) of its approved,
unpaid runs. A net below the partner's minimum for the token, or below zero, is carried: its
runs stay approved until a later payout. Paying goes through the run lifecycle, which makes
one payout per token and moves each run to paid in one atomic step.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp import audit
from webapp.commissions.lifecycle import (
    CommissionError,
    in_transaction,
    pay_as_payouts,
)
from webapp.commissions.totals import RunTotal, run_totals
from webapp.commissions.valuation import fixed_run_values
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import (
    Agreement,
    Chain,
    CommissionRun,
    Partner,
    PartnerPayoutMinimum,
    Payout,
    utcnow,
)
from webapp.money import MONEY, ZERO, AmountError, money_sum, parse_amount
from webapp.vocab import RunStatus

PAYABLE, CARRIED, PAID = "payable", "carried", "paid"


def usd_value(runs, fixed: dict) -> Decimal | None:
    """The USD value of `runs` (commission plus adjustments) at the prices `fixed` at their
    approval (`valuation.fixed_run_values`); None when a run has none fixed."""
    if any(run.run_id not in fixed for run in runs):
        return None
    return money_sum(MONEY.add(*fixed[run.run_id]) for run in runs)


STATUSES = (PAYABLE, CARRIED, PAID)


@dataclass
class Payable:
    """One partner's approved, unpaid runs of one token, and whether they are paid now."""

    partner: Partner
    chain: Chain
    runs: list[CommissionRun] = field(default_factory=list)
    minimum: Decimal = ZERO
    #: Each run's total (commission plus adjustments), by run id.
    totals: dict[object, RunTotal] = field(default_factory=dict)
    #: Each run's (commission, adjustment) USD values fixed at its approval, by run id.
    usd: dict[object, tuple] = field(default_factory=dict)

    @property
    def value_usd(self) -> Decimal | None:
        """The net's USD value at the prices fixed when each run was approved; None when a
        run has none fixed (no price was known)."""
        return usd_value(self.runs, self.usd)

    @property
    def token_symbol(self) -> str:
        """The token (chain symbol) of every amount here."""
        return self.chain.token_symbol

    @property
    def net_amount_native(self) -> Decimal:
        """Commission plus adjustments of the runs (one token)."""
        return money_sum(self.totals[run.run_id].total_native for run in self.runs)

    @property
    def commission_native(self) -> Decimal:
        """The commission lines' part of the net."""
        return money_sum(self.totals[run.run_id].commission_amount_native for run in self.runs)

    @property
    def adjustment_native(self) -> Decimal:
        """The adjustments' part of the net (negative: clawbacks)."""
        return money_sum(self.totals[run.run_id].adjustment_amount_native for run in self.runs)

    @property
    def carried_reason(self) -> str | None:
        """Why the net is carried to the next payout; None when it is paid now."""
        net = self.net_amount_native
        if net < 0:
            return "clawbacks exceed commissions: carried to the next payout"
        if net < self.minimum:
            return (
                f"below the minimum payout of {self.minimum.normalize():f} "
                f"{self.token_symbol}: carried to the next payout"
            )
        return None

    @property
    def status(self) -> str:
        """`payable` or `carried`."""
        return CARRIED if self.carried_reason else PAYABLE

    @property
    def key(self) -> str:
        """`<partner id>:<chain id>`, for a page's selection."""
        return f"{self.partner.partner_id}:{self.chain.chain_id}"


def minimums(partner_ids=None) -> dict[tuple, Decimal]:
    """{(partner id, chain id): minimum} of the partners (all without ids)."""
    stmt = select(PartnerPayoutMinimum)
    if partner_ids is not None:
        stmt = stmt.where(PartnerPayoutMinimum.partner_id.in_(list(partner_ids)))
    return {(m.partner_id, m.chain_id): m.minimum_amount_native for m in db.session.scalars(stmt)}


def payables(partner_id=None, chain_id=None, month: date | None = None) -> list[Payable]:
    """Per partner and token, the approved unpaid runs (of runs whose range touches `month`,
    when given), by partner name then token: one query for the runs, one for minimums."""
    R, A = CommissionRun, Agreement
    stmt = (
        select(R)
        .join(A, A.agreement_id == R.agreement_id)
        .options(joinedload(R.partner), joinedload(R.agreement).joinedload(A.chain))
        .where(R.status == RunStatus.APPROVED.value)
        .order_by(R.date_from, R.created_at)
    )
    if partner_id is not None:
        stmt = stmt.where(R.partner_id == partner_id)
    if chain_id:
        stmt = stmt.where(A.chain_id == chain_id)
    if month is not None:
        first = month.replace(day=1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        stmt = stmt.where(R.date_from < following, R.date_to >= first)
    runs = db.session.scalars(stmt).unique().all()
    found: dict[tuple, Payable] = {}
    for run in runs:
        chain = run.agreement.chain
        key = (run.partner_id, chain.chain_id)
        if key not in found:
            found[key] = Payable(run.partner, chain)
        found[key].runs.append(run)
    least = minimums({p for p, _ in found})
    totals = run_totals([run.run_id for run in runs])
    usd = fixed_run_values([run.run_id for run in runs])
    for key, payable in found.items():
        payable.minimum = least.get(key, ZERO)
        payable.totals = {run.run_id: totals[run.run_id] for run in payable.runs}
        payable.usd = {r.run_id: usd[r.run_id] for r in payable.runs if r.run_id in usd}
    return sorted(found.values(), key=lambda p: (p.partner.name.lower(), p.token_symbol))


def payouts_made(partner_id=None, chain_id=None) -> list[Payout]:
    """Payouts made, newest first."""
    stmt = select(Payout).options(joinedload(Payout.partner), joinedload(Payout.chain))
    if partner_id is not None:
        stmt = stmt.where(Payout.partner_id == partner_id)
    if chain_id:
        stmt = stmt.where(Payout.chain_id == chain_id)
    return db.session.scalars(stmt.order_by(Payout.created_at.desc())).all()


def settled_runs(payout: Payout) -> list[CommissionRun]:
    """The runs a payout settled, oldest range first."""
    return db.session.scalars(
        select(CommissionRun)
        .options(joinedload(CommissionRun.agreement))
        .where(CommissionRun.payout_id == payout.payout_id)
        .order_by(CommissionRun.date_from, CommissionRun.created_at)
    ).all()


def chain_of_symbol(symbol: str) -> Chain:
    """The chain whose token is `symbol` (case-insensitive), or FieldError."""
    chains = db.session.scalars(
        select(Chain).where(Chain.token_symbol.ilike((symbol or "").strip()))
    ).all()
    if len(chains) != 1:
        raise FieldError(f"no single chain has the token {symbol!r}", "token")
    return chains[0]


def pay(partner: Partner, chain_id: str, user, reference: str, paid_on: date | None = None):
    """Pay the partner's payable of one token: one payout settling all of its approved,
    unpaid runs of that token, read again under the partner's lock; refused (nothing
    written) when there is none or it is carried."""

    def action():
        found = payables(partner.partner_id, chain_id)
        if not found:
            raise CommissionError(
                f"{partner.name} has no approved, unpaid run in {chain_id}: nothing paid"
            )
        payable = found[0]
        if payable.carried_reason:
            raise CommissionError(
                f"{partner.name} {payable.token_symbol}: net "
                f"{payable.net_amount_native.normalize():f} is {payable.carried_reason}"
            )
        return pay_as_payouts(partner, payable.runs, user, reference, paid_on)[0]

    return in_transaction(partner.partner_id, action)


def set_minimum(partner: Partner, chain_id: str, amount_text, user=None) -> Decimal:
    """Set the partner's minimum payout in one token (0 removes it); audit-logged."""
    try:
        amount = parse_amount(str(amount_text or "").strip())
    except AmountError as exc:
        raise FieldError(str(exc), "amount") from None
    if db.session.get(Chain, chain_id) is None:
        raise FieldError(f"unknown chain {chain_id!r}", "token")
    row = db.session.get(PartnerPayoutMinimum, (partner.partner_id, chain_id))
    before = row.minimum_amount_native if row is not None else ZERO
    if row is None:
        row = PartnerPayoutMinimum(partner_id=partner.partner_id, chain_id=chain_id)
        db.session.add(row)
    row.minimum_amount_native = amount
    row.updated_at = utcnow()
    if MONEY.compare(before, amount) != 0:
        audit.record(
            "set_minimum",
            "partner",
            partner.partner_id,
            before={"chain_id": chain_id, "minimum_payout": before},
            after={"chain_id": chain_id, "minimum_payout": amount},
            user=user,
        )
    db.session.commit()
    return amount


def payout_by_number(partner: Partner, number: str) -> Payout | None:
    """The partner's payout with that statement number (or, given a bare n, the newest
    payout whose number ends in `-n`)."""
    number = (number or "").strip()
    stmt = select(Payout).where(Payout.partner_id == partner.partner_id)
    if number.isdigit():
        stmt = stmt.where(Payout.sequence == int(number)).order_by(Payout.created_at.desc())
    else:
        stmt = stmt.where(Payout.statement_number == number)
    return db.session.scalars(stmt.limit(1)).first()
