"""Every wallet explained, and the stake events behind a "not staked": from the engine run
on a slice of an agreement's inputs (`inputs.compute_slice`: some wallets, one validator and
component, or the other method; read-only, nothing stored), or from a run's stored rows.

The calculation is per period and wallet (or per validator revenue row), so the lines and
exclusions of a slice are exactly those the whole computation gives for it: a wallet's
explanation or a page of a drill-down costs a few small queries instead of the partner's
whole computation.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import String, cast, select

from webapp import attribution
from webapp.attribution import (
    UNSTAKE,
    AttributionResult,
    StakeEvent,
)
from webapp.commissions import queries
from webapp.commissions.inputs import InputSlice, compute_slice, scope_of
from webapp.commissions.terms import period_key
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalStakeEvent,
    CommissionExclusion,
    PartnerCommissionLine,
    PartnerWallet,
)
from webapp.money import MONEY, ZERO, format_amount, money_sum

# ---- Every wallet explained ----------------------------------------------------------------

#: Wallets per page of the wallet list.
WALLET_PAGE = 50

NO_REWARDS = "no staker rewards in this period"
TOTAL_REVENUE_NOTE = (
    "This agreement pays on the validators' total revenue: wallets are not counted one by "
    "one, so no wallet is paid or excluded on its own."
)


@dataclass(frozen=True)
class PaidLine:
    """A line of a wallet: validator, component, base, rate and commission."""

    validator_key: str
    revenue_component: str
    base_amount_native: Decimal
    commission_rate_bps: int
    commission_amount_native: Decimal


@dataclass(frozen=True)
class HeldBack:
    """Why part of a wallet's reward earned nothing, and how much it held back."""

    reason: str
    validator_key: str | None
    revenue_component: str | None
    held_back_amount_native: Decimal


@dataclass
class PeriodExplanation:
    """One period of one wallet: what it was paid, on which lines, and what was held back."""

    period_id: str
    label: str
    lines: list[PaidLine] = field(default_factory=list)
    held: list[HeldBack] = field(default_factory=list)
    last_label: str | None = None
    #: Per validator held back as "not staked": the stake events that decided it
    #: (`add_stake_evidence`).
    stake_evidence: list["StakeEvidence"] = field(default_factory=list)

    @property
    def commission(self) -> Decimal:
        return money_sum(line.commission_amount_native for line in self.lines)

    @property
    def held_back(self) -> Decimal:
        return money_sum(h.held_back_amount_native for h in self.held)

    @property
    def verdict(self) -> str:
        """paid, partly paid, not paid, or no rewards."""
        if self.lines:
            return "partly paid" if self.held else "paid"
        return "not paid" if self.held else "no rewards"

    @property
    def summary(self) -> str:
        """One sentence a manager reads: why this period came out as it did."""
        if self.lines and not self.held:
            return f"paid on {len(self.lines)} line(s)"
        if self.lines:
            return f"paid on {len(self.lines)} line(s); " + self._reasons()
        if not self.held:
            return NO_REWARDS
        text = self._reasons()
        if self.held_back == ZERO:
            text += f"; and {NO_REWARDS}, so nothing is held back"
        return text

    def _reasons(self) -> str:
        return ", ".join(dict.fromkeys(h.reason for h in self.held))

    @property
    def is_quiet(self) -> bool:
        """Nothing paid and nothing held back: one of a run of periods that can be merged."""
        return not self.lines and self.held_back == ZERO


@dataclass
class WalletExplanation:
    """One wallet of the partner across the periods in scope."""

    wallet_address: str
    introduced_date: date | None
    is_active: bool | None
    periods: list[PeriodExplanation]
    per_wallet: bool = True

    @property
    def commission(self) -> Decimal:
        return money_sum(p.commission for p in self.periods)

    @property
    def held_back(self) -> Decimal:
        return money_sum(p.held_back for p in self.periods)

    @property
    def line_count(self) -> int:
        return sum(len(p.lines) for p in self.periods)

    @property
    def periods_paid(self) -> int:
        return sum(1 for p in self.periods if p.lines)

    @property
    def headline(self) -> str:
        """The wallet's story over the range in a few words."""
        if not self.per_wallet:
            return "not counted one by one (total revenue)"
        if not self.periods:
            return "no period in scope"
        if self.periods_paid:
            return f"paid in {self.periods_paid} of {len(self.periods)} period(s)"
        reasons = {p.summary for p in self.periods}
        if len(reasons) == 1:
            return f"{next(iter(reasons))} (every period)"
        held = dict.fromkeys(h.reason for p in self.periods for h in p.held)
        if held:
            return "not paid: " + ", ".join(held)
        return NO_REWARDS + " (every period)"

    def merged_periods(self) -> list[PeriodExplanation]:
        """The periods, with each run of quiet periods that read the same merged into one
        row (from its first to its last label): an inactive or late wallet is one line,
        not one per period."""
        merged: list[PeriodExplanation] = []
        for period in self.periods:
            last = merged[-1] if merged else None
            if (
                last is not None
                and period.is_quiet
                and last.is_quiet
                and last.summary == period.summary
                and len(last.held) == len(period.held)
            ):
                last.last_label = period.label
                continue
            merged.append(
                PeriodExplanation(
                    period.period_id,
                    period.label,
                    list(period.lines),
                    list(period.held),
                    stake_evidence=list(period.stake_evidence),
                )
            )
        return merged


def explain_result(
    scope, result: AttributionResult, wallets: list, per_wallet: bool = True
) -> list[WalletExplanation]:
    """Explanations of `wallets` ((address, introduced, active) rows) from a result that
    covers them, period by period in scope order."""
    by_key: dict[tuple[str, str], PeriodExplanation] = {}
    explained = []
    for address, introduced, active in wallets:
        periods = []
        for period in scope:
            key = period_key(period.period_id)
            item = PeriodExplanation(key, period.label)
            by_key[(address, key)] = item
            periods.append(item)
        explained.append(WalletExplanation(address, introduced, active, periods, per_wallet))
    if not per_wallet or result is None:
        return explained
    keys = {p.period_id: period_key(p.period_id) for p in scope}
    for line in result.lines:
        item = by_key.get((line.wallet_address, keys[line.period_id]))
        if item is not None:
            item.lines.append(
                PaidLine(
                    line.validator_key,
                    str(line.revenue_component),
                    line.base_amount_native,
                    line.commission_rate_bps,
                    line.commission_amount_native,
                )
            )
    for ex in result.exclusions:
        item = by_key.get((ex.wallet_address, keys[ex.period_id]))
        if item is not None:
            item.held.append(
                HeldBack(
                    ex.reason,
                    ex.validator_key,
                    None if ex.revenue_component is None else str(ex.revenue_component),
                    ex.held_back_amount_native,
                )
            )
    return explained


def wallet_page(partner_id, chain_id: str, query: str, after: str, size: int | None = None):
    """A page of the partner's wallets on the chain, by address after `after`, whose address
    contains `query`; and the cursor of the next page."""
    size = size or WALLET_PAGE
    W = PartnerWallet
    stmt = (
        select(W.wallet_address, W.introduced_date, W.is_active)
        .where(W.partner_id == partner_id, W.chain_id == chain_id)
        .order_by(W.wallet_address)
        .limit(size + 1)
    )
    if query:
        stmt = stmt.where(W.wallet_address.contains(query, autoescape=True))
    if after:
        stmt = stmt.where(W.wallet_address > after)
    rows = [tuple(row) for row in db.session.execute(stmt)]
    return rows[:size], (rows[size - 1][0] if len(rows) > size else None)


def explain_preview(agreement: Agreement, date_from: date, date_to: date, wallets: list):
    """Explanations of some wallets of the agreement's partner, as a preview computes now."""
    scope = scope_of(agreement, date_from, date_to)
    per_wallet = agreement.wallet_attribution_enabled
    if not wallets or not per_wallet:
        return explain_result(scope, None, wallets, per_wallet)
    addresses = tuple(address for address, _, _ in wallets)
    result = compute_slice(agreement, date_from, date_to, InputSlice(addresses=addresses))
    return explain_result(scope, result, wallets, per_wallet)


def explain_run(run, wallets: list) -> list[WalletExplanation]:
    """Explanations of some wallets from a committed run's stored lines and exclusions."""
    agreement = run.agreement
    scope = scope_of(agreement, run.date_from, run.date_to)
    per_wallet = run.method == attribution.METHOD_WALLET_ATTRIBUTION
    if not wallets or not per_wallet:
        return explain_result(scope, None, wallets, per_wallet)
    addresses = [address for address, _, _ in wallets]
    L, X = PartnerCommissionLine, CommissionExclusion
    lines = [
        attribution.CommissionLine(period_key(p), v, _text(c), a, b, r, m)
        for p, v, c, a, b, r, m in db.session.execute(
            select(
                L.period_id,
                L.validator_key,
                L.revenue_component,
                L.wallet_address,
                L.base_amount_native,
                L.commission_rate_bps,
                L.commission_amount_native,
            ).where(queries.lines_of_run(run), L.wallet_address.in_(addresses))
        )
    ]
    exclusions = [
        # A run keeps a wallet's exclusions per validator, its components together.
        attribution.Exclusion(period_key(p), a, v, None, reason, held)
        for p, a, v, reason, held in db.session.execute(
            select(
                X.period_id,
                X.wallet_address,
                X.validator_key,
                X.reason,
                X.held_back_amount_native,
            ).where(queries.held_by(X, run), X.wallet_address.in_(addresses))
        )
    ]
    scope = [p._replace(period_id=period_key(p.period_id)) for p in scope]
    result = AttributionResult(run.agreement_id, run.method, scope, lines, exclusions)
    return explain_result(scope, result, wallets, per_wallet)


def _text(component) -> str:
    return component.value if hasattr(component, "value") else str(component)


def wallet_of(partner_id, chain_id: str, address: str):
    """(address, introduced, active) of one of the partner's wallets, or None."""
    W = PartnerWallet
    row = db.session.execute(
        select(W.wallet_address, W.introduced_date, W.is_active).where(
            W.partner_id == partner_id, W.chain_id == chain_id, W.wallet_address == address
        )
    ).first()
    return tuple(row) if row else None


# ---- Why "not staked": the stake events that decided it ------------------------------------

#: Events before a period shown at most (the newest of those that set its opening balance).
EARLIER_EVENTS_SHOWN = 20


@dataclass(frozen=True)
class StakeStep:
    """One stake event of a wallet with a validator and the balance right after it."""

    event_timestamp: datetime
    event_type: str
    amount_native: Decimal
    balance_native: Decimal
    #: True when another event of the same wallet and validator shares the instant: the
    #: balance that counts there is the one after the instant's last event.
    same_instant: bool = False


@dataclass
class StakeEvidence:
    """Why a wallet was not staked with a validator during a period: the balance at the
    period's start, the events before it that set that balance, and those inside it."""

    validator_key: str
    start_time: datetime
    end_time: datetime
    opening_balance_native: Decimal
    earlier: list[StakeStep] = field(default_factory=list)
    earlier_hidden: int = 0
    during: list[StakeStep] = field(default_factory=list)
    staked: bool = False

    @property
    def summary(self) -> str:
        """The story in one sentence."""
        if not self.earlier and not self.during and not self.earlier_hidden:
            return "no stake event of this wallet with this validator before the period ended"
        text = f"balance {format_amount(self.opening_balance_native)} at the period's start"
        if not self.during:
            return text + ", and no event inside the period"
        if any(step.same_instant for step in self.during):
            return text + "; inside the period, a stake and an unstake at one instant left none"
        return text + "; no event inside the period left a balance above zero"


def stake_steps(events) -> list[StakeStep]:
    """The events of one wallet with one validator replayed as the calculation replays them
    (`attribution.StakeHistory`): timestamp order, STAKE and RESTAKE before UNSTAKE at one
    instant, an UNSTAKE never below zero; each with the balance after it."""
    ordered = sorted(
        events, key=lambda ev: (attribution._utc(ev.event_timestamp), ev.event_type == UNSTAKE)
    )
    instants = [attribution._utc(ev.event_timestamp) for ev in ordered]
    shared = {instant for instant, count in Counter(instants).items() if count > 1}
    steps, balance = [], ZERO
    for event, instant in zip(ordered, instants, strict=True):
        if event.event_type == UNSTAKE:
            balance = max(ZERO, MONEY.subtract(balance, event.stake_amount_native))
        else:
            balance = MONEY.add(balance, event.stake_amount_native)
        amount = event.stake_amount_native
        steps.append(StakeStep(instant, event.event_type, amount, balance, instant in shared))
    return steps


def stake_evidence(events, validator_key: str, period) -> StakeEvidence:
    """The evidence for one period ([start, end)) from the events of one wallet with one
    validator (any before the period's end)."""
    start, end = attribution._utc(period.start_time), attribution._utc(period.end_time)
    steps = [s for s in stake_steps(events) if s.event_timestamp < end]
    earlier = [s for s in steps if s.event_timestamp < start]
    during = [s for s in steps if s.event_timestamp >= start]
    opening = earlier[-1].balance_native if earlier else ZERO
    # The events that set the opening balance: since the balance was last zero (or, when it
    # is zero, the event that emptied it).
    zeros = [i for i, s in enumerate(earlier) if s.balance_native == ZERO]
    if opening > ZERO:
        shown = earlier[zeros[-1] + 1 :] if zeros else earlier
    else:
        shown = earlier[zeros[-1] :] if zeros else []
    hidden = max(0, len(shown) - EARLIER_EVENTS_SHOWN)
    staked = bool(events) and attribution.StakeHistory(list(events)).staked_during(
        events[0].staker_address, validator_key, period._replace(start_time=start, end_time=end)
    )
    return StakeEvidence(
        validator_key,
        start,
        end,
        opening,
        shown[hidden:],
        hidden + (len(earlier) - len(shown)),
        during,
        staked,
    )


def add_stake_evidence(agreement: Agreement, date_from: date, date_to: date, explanation) -> None:
    """Attach to each period of `explanation` where a validator's rewards were held back as
    "not staked" the stake events that decided it; one query for the wallet's events with
    those validators."""
    wanted = {
        (period.period_id, held.validator_key)
        for period in explanation.periods
        for held in period.held
        if held.reason == attribution.REASON_NOT_STAKED and held.validator_key
    }
    if not wanted:
        return
    scope = {period_key(p.period_id): p for p in scope_of(agreement, date_from, date_to)}
    last_end = max(scope[key].end_time for key, _ in wanted if key in scope)
    E = CanonicalStakeEvent
    events = defaultdict(list)
    for v, s, k, amount, when in db.session.execute(
        select(
            E.validator_key,
            E.staker_address,
            cast(E.event_type, String),
            E.stake_amount_native,
            E.event_timestamp,
        ).where(
            E.chain_id == agreement.chain_id,
            E.staker_address == explanation.wallet_address,
            E.validator_key.in_({validator for _, validator in wanted}),
            E.event_timestamp < last_end,
        )
    ):
        events[v].append(StakeEvent(v, s, k, amount, when))
    for period in explanation.periods:
        if period.period_id not in scope:
            continue
        for validator in sorted({v for key, v in wanted if key == period.period_id}):
            period.stake_evidence.append(
                stake_evidence(events.get(validator, []), validator, scope[period.period_id])
            )
