"""The commission calculation of DOMAIN.md, as plain Python: plain data in, plain data out.

This is the only place the commission rules live, written in the order DOMAIN.md gives them
(periods in scope, rule lookup, the two methods, staked-during, line amounts). It imports
neither Flask nor SQLAlchemy: the commission service loads the rows and writes the lines.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

from webapp.money import MONEY, QUANTUM, ROUNDING, ZERO, money_sum, quantize
from webapp.vocab import MAX_BPS, REASONS, ExclusionReason, Method, StakeEventType

# The domain words as the plain strings the calculation compares and returns.
METHOD_TOTAL_REVENUE = Method.TOTAL_REVENUE.value
METHOD_WALLET_ATTRIBUTION = Method.WALLET_ATTRIBUTION.value

REASON_WALLET_INACTIVE = ExclusionReason.WALLET_INACTIVE.value
REASON_INTRODUCED_AFTER = ExclusionReason.INTRODUCED_AFTER.value
REASON_NOT_STAKED = ExclusionReason.NOT_STAKED.value
REASON_NO_RULE = ExclusionReason.NO_RULE.value

STAKE = StakeEventType.STAKE.value
RESTAKE = StakeEventType.RESTAKE.value
UNSTAKE = StakeEventType.UNSTAKE.value
BPS_PER_UNIT = MAX_BPS


# ---- Plain data in ------------------------------------------------------------------------
# NamedTuples rather than dataclasses: a large partner brings a million reward rows, and
# building a tuple is several times cheaper than building a frozen dataclass.


class Period(NamedTuple):
    """A canonical period of the chain, half-open [start_time, end_time), UTC instants."""

    period_id: Hashable
    label: str
    start_time: datetime
    end_time: datetime

    @property
    def start_date(self) -> date:
        """The UTC date the period starts on (what date ranges are compared with)."""
        return _utc(self.start_time).date()


class Rule(NamedTuple):
    """A commission rate for a component, for one validator or (validator_key None) for all."""

    revenue_component: str
    validator_key: str | None
    commission_rate_bps: int


class AgreementTerms(NamedTuple):
    """What the calculation needs of an agreement: its dates, its method and its rules."""

    agreement_id: Hashable
    effective_from: date
    effective_to: date | None
    wallet_attribution_enabled: bool
    rules: tuple[Rule, ...]

    @property
    def method(self) -> str:
        """`wallet_attribution` or `total_revenue`."""
        if self.wallet_attribution_enabled:
            return METHOD_WALLET_ATTRIBUTION
        return METHOD_TOTAL_REVENUE


class Wallet(NamedTuple):
    """A wallet the partner introduced on the agreement's chain."""

    wallet_address: str
    introduced_date: date
    is_active: bool


class StakerReward(NamedTuple):
    """The reward of one staker with one validator in one period for one component."""

    period_id: Hashable
    validator_key: str
    staker_address: str
    revenue_component: str
    reward_amount_native: Decimal


class StakeEvent(NamedTuple):
    """A STAKE, RESTAKE or UNSTAKE of a staker with a validator (from any period)."""

    validator_key: str
    staker_address: str
    event_type: str
    stake_amount_native: Decimal
    event_timestamp: datetime


class ValidatorRevenue(NamedTuple):
    """The revenue of one validator in one period for one component."""

    period_id: Hashable
    validator_key: str
    revenue_component: str
    amount_native: Decimal


# ---- Plain data out -----------------------------------------------------------------------


class CommissionLine(NamedTuple):
    """One commission amount; wallet_address is None for the total-revenue method."""

    period_id: Hashable
    validator_key: str
    revenue_component: str
    wallet_address: str | None
    base_amount_native: Decimal
    commission_rate_bps: int
    commission_amount_native: Decimal


#: A line's columns, in their order: the one list of them. A stored line has them
#: (`run_rows.write_lines`), a true-up difference has them between its agreement and the run
#: it corrects (`true_ups.Difference`), and the commission export names them as
#: `LINE_EXPORT_NAMES` says (`export.EXPORT_HEADER`).
LINE_COLUMNS = CommissionLine._fields
#: The commission export's names (DOMAIN.md) of the line's columns it names otherwise: the
#: period as its label, start and end. Every other column keeps its name.
LINE_EXPORT_NAMES = {"period_id": ("period", "period_start", "period_end")}


class Exclusion(NamedTuple):
    """Why an amount earned no commission, and the amount it held back.

    Wallet-level reasons (inactive, introduced after) name no validator or component.
    """

    period_id: Hashable
    wallet_address: str | None
    validator_key: str | None
    revenue_component: str | None
    reason: str
    held_back_amount_native: Decimal


@dataclass(frozen=True)
class ComponentTotal:
    """Lines, base and commission of one revenue component."""

    revenue_component: str
    line_count: int
    base_amount_native: Decimal
    commission_amount_native: Decimal


@dataclass(frozen=True)
class ExclusionTotal:
    """How many exclusions of one reason, and the amount they held back."""

    reason: str
    count: int
    held_back_amount_native: Decimal


@dataclass
class AttributionResult:
    """The outcome for one agreement: periods in scope, lines, exclusions, and their totals.

    Totals are worked out once, on first use, from the lines as they are then.
    """

    agreement_id: Hashable
    method: str
    periods: list[Period]
    lines: list[CommissionLine]
    exclusions: list[Exclusion]

    @cached_property
    def _component_totals(self) -> list[ComponentTotal]:
        add = MONEY.add
        sums: dict[str, list] = {}
        for line in self.lines:
            entry = sums.get(line.revenue_component)
            if entry is None:
                entry = sums[line.revenue_component] = [0, ZERO, ZERO]
            entry[0] += 1
            entry[1] = add(entry[1], line.base_amount_native)
            entry[2] = add(entry[2], line.commission_amount_native)
        merged: dict[str, list] = {}
        for component, (count, base, commission) in sums.items():
            # StrEnum and str name the same component; group them under the plain name.
            entry = merged.setdefault(str(component), [0, ZERO, ZERO])
            entry[0] += count
            entry[1], entry[2] = add(entry[1], base), add(entry[2], commission)
        return [ComponentTotal(c, *merged[c]) for c in sorted(merged)]

    @cached_property
    def _exclusion_totals(self) -> list[ExclusionTotal]:
        add = MONEY.add
        sums: dict[str, list] = {}
        for ex in self.exclusions:
            entry = sums.get(ex.reason)
            if entry is None:
                entry = sums[ex.reason] = [0, ZERO]
            entry[0] += 1
            entry[1] = add(entry[1], ex.held_back_amount_native)
        return [ExclusionTotal(r, *sums[r]) for r in REASONS if r in sums]

    @property
    def line_count(self) -> int:
        """How many lines."""
        return len(self.lines)

    @property
    def total_base_native(self) -> Decimal:
        """The sum of the lines' base amounts."""
        return money_sum(t.base_amount_native for t in self._component_totals)

    @property
    def total_commission_native(self) -> Decimal:
        """The sum of the rounded line commissions (so the lines always add up)."""
        return money_sum(t.commission_amount_native for t in self._component_totals)

    @property
    def excluded_amount_native(self) -> Decimal:
        """The sum of every amount an exclusion held back."""
        return money_sum(t.held_back_amount_native for t in self._exclusion_totals)

    def component_totals(self) -> list[ComponentTotal]:
        """Line count, base and commission per revenue component, by component name."""
        return list(self._component_totals)

    def slice_sums(self) -> dict[tuple, list]:
        """(period id, validator, component) -> [lines, base, commission]."""
        add = MONEY.add
        sums: dict[tuple, list] = {}
        for line in self.lines:
            key = (line.period_id, line.validator_key, line.revenue_component)
            entry = sums.get(key)
            if entry is None:
                entry = sums[key] = [0, ZERO, ZERO]
            entry[0] += 1
            entry[1] = add(entry[1], line.base_amount_native)
            entry[2] = add(entry[2], line.commission_amount_native)
        return sums

    def held_sums(self) -> dict[tuple, list]:
        """(period id, reason) -> [exclusions, held back]."""
        add = MONEY.add
        sums: dict[tuple, list] = {}
        for ex in self.exclusions:
            key = (ex.period_id, ex.reason)
            entry = sums.get(key)
            if entry is None:
                entry = sums[key] = [0, ZERO]
            entry[0] += 1
            entry[1] = add(entry[1], ex.held_back_amount_native)
        return sums

    def exclusion_totals(self) -> list[ExclusionTotal]:
        """Count and held-back amount per exclusion reason, in the order they are checked."""
        return list(self._exclusion_totals)


# ---- The calculation, step by step --------------------------------------------------------

#: The version of the rules below. Bump it whenever they compute anything differently: a run
#: carried over and a summary kept are reused only under the version they were computed by.
#: `tests/test_rules_version.py` holds it to the code of the rules.
RULES_VERSION = "2026-11-25"


def _utc(instant: datetime) -> datetime:
    # A naive instant is UTC by convention (DOMAIN.md: a missing offset means UTC).
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def scope_window(terms: AgreementTerms, date_from: date, date_to: date) -> tuple[date, date]:
    """The days a period may start on to be in scope: [from, to] within the agreement's
    dates (an empty `effective_to` is open-ended). Empty when the first is after the second."""
    lowest = max(date_from, terms.effective_from)
    highest = date_to if terms.effective_to is None else min(date_to, terms.effective_to)
    return lowest, highest


def periods_in_scope(
    terms: AgreementTerms, periods: Iterable[Period], date_from: date, date_to: date
) -> list[Period]:
    """Step 1: periods whose UTC start date is within [from, to] and the agreement's dates,
    by start, their instants in UTC."""
    lowest, highest = scope_window(terms, date_from, date_to)
    chosen = [
        p._replace(start_time=_utc(p.start_time), end_time=_utc(p.end_time))
        for p in periods
        if lowest <= p.start_date <= highest
    ]
    return sorted(chosen, key=lambda p: p.start_time)


class RuleBook:
    """Step 2: the rule naming the validator beats the rule with no validator; else none."""

    def __init__(self, rules: Iterable[Rule]):
        self._rates: dict[tuple[str, str | None], int] = {}
        for rule in rules:
            key = (str(rule.revenue_component), rule.validator_key)
            if key in self._rates:
                raise ValueError(f"two rules for {key[0]} and validator {key[1] or 'any'}")
            self._rates[key] = rule.commission_rate_bps

    def rate_bps(self, revenue_component: str, validator_key: str) -> int | None:
        """The rate for (component, validator), or None when no rule applies."""
        rate = self._rates.get((revenue_component, validator_key))
        if rate is None:
            rate = self._rates.get((revenue_component, None))
        return rate

    def lookup(self) -> "dict[tuple[str, str], int | None]":
        """A memo of rate_bps by (component, validator), filled on first use; for hot loops."""
        return _RateMemo(self)


class _RateMemo(dict):
    """rate_bps by (component, validator), computed once per pair."""

    def __init__(self, rules: RuleBook):
        super().__init__()
        self._rules = rules

    def __missing__(self, key):
        rate = self[key] = self._rules.rate_bps(*key)
        return rate


def rate_fraction(commission_rate_bps: int) -> Decimal:
    """The rate as an exact fraction: basis points / 10000."""
    return Decimal(commission_rate_bps).scaleb(-4)


class _FractionMemo(dict):
    """rate_fraction by rate, computed once per rate."""

    def __missing__(self, rate):
        fraction = self[rate] = rate_fraction(rate)
        return fraction


def commission_amount(base_amount_native: Decimal, commission_rate_bps: int) -> Decimal:
    """Step 6: base x rate_bps / 10000, rounded to 18 decimal places half-to-even."""
    # The product of a NUMERIC(38,18) and a 5-digit fraction is exact in MONEY (which traps
    # any inexact result), so the quantize is the one and only rounding.
    return quantize(MONEY.multiply(base_amount_native, rate_fraction(commission_rate_bps)))


def _line(period_id, validator_key, component, wallet_address, base, rate) -> CommissionLine:
    return CommissionLine(
        period_id,
        validator_key,
        component,
        wallet_address,
        base,
        rate,
        commission_amount(base, rate),
    )


def total_revenue_lines(
    scope: list[Period], rules: RuleBook, validator_revenue: Iterable[ValidatorRevenue]
) -> tuple[list[CommissionLine], list[Exclusion]]:
    """Step 3: one line per validator revenue row in scope with a rule, wallet left empty."""
    order = {p.period_id: index for index, p in enumerate(scope)}
    rows = sorted(
        (r for r in validator_revenue if r.period_id in order),
        key=lambda r: (order[r.period_id], r.validator_key, str(r.revenue_component)),
    )
    lines, exclusions = [], []
    for row in rows:
        component = str(row.revenue_component)
        rate = rules.rate_bps(component, row.validator_key)
        if rate is None:
            exclusions.append(
                Exclusion(
                    row.period_id,
                    None,
                    row.validator_key,
                    component,
                    REASON_NO_RULE,
                    row.amount_native,
                )
            )
        else:
            lines.append(
                _line(row.period_id, row.validator_key, component, None, row.amount_native, rate)
            )
    return lines, exclusions


class StakeHistory:
    """Step 5: whether a wallet was staked with a validator during a period.

    Events of (wallet, validator) are replayed in timestamp order, STAKE and RESTAKE before
    UNSTAKE at equal timestamps; UNSTAKE never takes the balance below zero. The balance
    counts per instant, after all of that instant's events: a STAKE and an UNSTAKE of the
    same amount at one instant leave nothing staked there. Staked during [s, e) when the
    balance at s (after every event at or before s) is above zero, or the balance at the
    instant of some event with s < timestamp < e is. No events: not staked.
    """

    def __init__(self, stake_events: Iterable[StakeEvent]):
        grouped: dict[tuple[str, str], list[StakeEvent]] = defaultdict(list)
        for event in stake_events:
            grouped[(event.staker_address, event.validator_key)].append(event)
        self._timelines = {key: self._replay(events) for key, events in grouped.items()}

    @staticmethod
    def _replay(events: list[StakeEvent]):
        events.sort(key=lambda ev: (_utc(ev.event_timestamp), ev.event_type == UNSTAKE))
        # times: the distinct instants, ascending; positive[i]: the balance after every
        # event of instant i is above zero.
        times: list[datetime] = []
        positive: list[bool] = []
        balance = ZERO
        last = None
        for event in events:
            if event.event_type == UNSTAKE:
                balance = max(ZERO, MONEY.subtract(balance, event.stake_amount_native))
            elif event.event_type in (STAKE, RESTAKE):
                balance = MONEY.add(balance, event.stake_amount_native)
            else:
                raise ValueError(f"unknown stake event type {event.event_type!r}")
            instant = _utc(event.event_timestamp)
            if instant != last:
                last = instant
                times.append(instant)
                positive.append(balance > ZERO)
            else:
                positive[-1] = balance > ZERO
        # next_positive[i]: the first instant j >= i whose balance is above zero (len if
        # none), so "some instant inside the period left a positive balance" is one comparison.
        next_positive = [len(positive)] * (len(positive) + 1)
        for index in range(len(positive) - 1, -1, -1):
            next_positive[index] = index if positive[index] else next_positive[index + 1]
        return times, positive, next_positive

    def staked_during(self, wallet_address: str, validator_key: str, period: Period) -> bool:
        """True when the wallet had a positive stake with the validator at some point in p.

        The period's instants are compared as given: periods_in_scope hands them out in UTC.
        """
        timeline = self._timelines.get((wallet_address, validator_key))
        if timeline is None:
            return False
        times, positive, next_positive = timeline
        start, end = period.start_time, period.end_time
        up_to_start = bisect_right(times, start)
        if up_to_start and positive[up_to_start - 1]:
            return True
        before_end = bisect_left(times, end)
        return next_positive[up_to_start] < before_end


def wallet_attribution_lines(
    scope: list[Period],
    rules: RuleBook,
    wallets: Iterable[Wallet],
    staker_rewards: Iterable[StakerReward],
    stake_events: Iterable[StakeEvent],
) -> tuple[list[CommissionLine], list[Exclusion]]:
    """Step 4: per period in scope and wallet, the first check that applies wins.

    `scope` comes from periods_in_scope (UTC instants). Lines come out by period, wallet,
    validator and component, whatever the order of the inputs.
    """
    in_scope = {p.period_id for p in scope}
    rewards: dict[tuple[str, Hashable], list[StakerReward]] = defaultdict(list)
    for row in staker_rewards:
        if row.period_id in in_scope:
            rewards[(row.staker_address, row.period_id)].append(row)
    history = StakeHistory(stake_events)
    staked_during = history.staked_during
    ordered_wallets = sorted(wallets, key=lambda w: w.wallet_address)
    rate_of = rules.lookup()
    no_rows: list[StakerReward] = []
    # Bound once: this loop runs once per reward row of a large partner.
    multiply = MONEY.multiply
    fraction_of = _FractionMemo()

    lines, exclusions = [], []
    add_line, add_exclusion = lines.append, exclusions.append
    for period in scope:
        period_id, start_date = period.period_id, period.start_date
        for wallet in ordered_wallets:
            address = wallet.wallet_address
            rows = rewards.get((address, period_id), no_rows)
            if not wallet.is_active:
                add_exclusion(_wallet_exclusion(period, address, REASON_WALLET_INACTIVE, rows))
                continue
            if wallet.introduced_date > start_date:
                add_exclusion(_wallet_exclusion(period, address, REASON_INTRODUCED_AFTER, rows))
                continue
            # One (validator, component) per row, so plain tuple order sorts by them.
            rows.sort()
            staked: dict[str, bool] = {}
            for _, validator, _, component, base in rows:
                is_staked = staked.get(validator)
                if is_staked is None:
                    is_staked = staked[validator] = staked_during(address, validator, period)
                if not is_staked:
                    reason = REASON_NOT_STAKED
                elif (rate := rate_of[(component, validator)]) is None:
                    reason = REASON_NO_RULE
                else:
                    # commission_amount, inlined: the exact product, then the one rounding.
                    amount = multiply(base, fraction_of[rate]).quantize(QUANTUM, context=ROUNDING)
                    add_line(
                        CommissionLine(period_id, validator, component, address, base, rate, amount)
                    )
                    continue
                add_exclusion(Exclusion(period_id, address, validator, component, reason, base))
    return lines, exclusions


def _wallet_exclusion(period: Period, address: str, reason: str, rows) -> Exclusion:
    held_back = money_sum(row.reward_amount_native for row in rows)
    return Exclusion(period.period_id, address, None, None, reason, held_back)


def compute_commissions(
    terms: AgreementTerms,
    periods: Iterable[Period],
    date_from: date,
    date_to: date,
    *,
    wallets: Iterable[Wallet] = (),
    staker_rewards: Iterable[StakerReward] = (),
    stake_events: Iterable[StakeEvent] = (),
    validator_revenue: Iterable[ValidatorRevenue] = (),
) -> AttributionResult:
    """The commission lines and exclusions of one agreement over [date_from, date_to].

    `periods` are the chain's periods; `wallets` the partner's wallets on the chain (active or
    not); `staker_rewards` the rewards of those wallets; `stake_events` every event of those
    wallets up to the last period's end; `validator_revenue` the chain's revenue rows.
    """
    scope = periods_in_scope(terms, periods, date_from, date_to)
    return compute_in_scope(
        terms,
        scope,
        wallets=wallets,
        staker_rewards=staker_rewards,
        stake_events=stake_events,
        validator_revenue=validator_revenue,
    )


def compute_in_scope(
    terms: AgreementTerms,
    scope: list[Period],
    *,
    wallets: Iterable[Wallet] = (),
    staker_rewards: Iterable[StakerReward] = (),
    stake_events: Iterable[StakeEvent] = (),
    validator_revenue: Iterable[ValidatorRevenue] = (),
) -> AttributionResult:
    """Steps 2 to 6 over periods already chosen by `periods_in_scope` (step 1), for a caller
    that needed the scope first to know which inputs to load."""
    rules = RuleBook(terms.rules)
    if terms.wallet_attribution_enabled:
        lines, exclusions = wallet_attribution_lines(
            scope, rules, wallets, staker_rewards, stake_events
        )
    else:
        lines, exclusions = total_revenue_lines(scope, rules, validator_revenue)
    return AttributionResult(terms.agreement_id, terms.method, scope, lines, exclusions)
