"""Properties of the attribution module on random data, and a differential test against a
deliberately naive implementation of DOMAIN.md's calculation written here."""

import decimal
import os
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.attribution import (
    AgreementTerms,
    Period,
    Rule,
    StakeEvent,
    StakerReward,
    ValidatorRevenue,
    Wallet,
    compute_commissions,
)
from webapp.money import money_sum

#: Examples per property (ATTRIBUTION_EXAMPLES=300 for a deeper search).
EXAMPLES = int(os.environ.get("ATTRIBUTION_EXAMPLES", "100"))

COMPONENTS = ("EXEC_FEES", "MEV", "REWARDS")
VALIDATORS = ("V1", "V2", "V3")
ADDRESSES = ("W1", "W2", "W3", "W4", "W5")
BASE = datetime(2025, 3, 1, tzinfo=UTC)
#: Four daily periods from 1 March 2025.
PERIODS = [
    Period(f"p{i}", str(i), BASE + timedelta(days=i), BASE + timedelta(days=i + 1))
    for i in range(4)
]
FIRST_DAY = BASE.date()

amounts = st.one_of(
    st.integers(0, 10**6).map(lambda n: Decimal(n).scaleb(-6)),
    st.integers(0, 10**38 - 1).map(lambda n: Decimal(n).scaleb(-18)),
    st.integers(0, 50).map(lambda n: Decimal(n).scaleb(-18)),
)
# Instants on and around period boundaries, so ties and edges come up often.
instants = st.builds(
    lambda days, hours: BASE + timedelta(days=days, hours=hours),
    st.integers(-2, 4),
    st.sampled_from([0, 0, 0, 6, 12, 23]),
)
days = st.integers(-3, 5).map(lambda n: FIRST_DAY + timedelta(days=n))


@st.composite
def scenarios(draw):
    """A random agreement with its inputs, small enough to check by hand if it fails."""
    rule_keys = draw(
        st.sets(st.tuples(st.sampled_from(COMPONENTS), st.sampled_from((None,) + VALIDATORS)))
    )
    rules = tuple(Rule(c, v, draw(st.integers(0, 10000))) for c, v in sorted(rule_keys, key=str))
    effective_from = draw(days)
    effective_to = draw(st.one_of(st.none(), days.filter(lambda d: d >= effective_from)))
    terms = AgreementTerms("A", effective_from, effective_to, draw(st.booleans()), rules)
    date_from = draw(days)
    date_to = draw(days.filter(lambda d: d >= date_from))
    addresses = draw(st.lists(st.sampled_from(ADDRESSES), unique=True, max_size=5))
    wallets = [Wallet(a, draw(days), draw(st.booleans())) for a in addresses]
    reward_keys = draw(
        st.sets(
            st.tuples(
                st.sampled_from([p.period_id for p in PERIODS]),
                st.sampled_from(VALIDATORS),
                st.sampled_from(ADDRESSES),
                st.sampled_from(COMPONENTS),
            ),
            max_size=40,
        )
    )
    rewards = [StakerReward(p, v, w, c, draw(amounts)) for p, v, w, c in sorted(reward_keys)]
    events = draw(
        st.lists(
            st.builds(
                StakeEvent,
                st.sampled_from(VALIDATORS),
                st.sampled_from(ADDRESSES),
                st.sampled_from(("STAKE", "RESTAKE", "UNSTAKE", "UNSTAKE")),
                amounts,
                instants,
            ),
            max_size=30,
        )
    )
    revenue_keys = draw(
        st.sets(
            st.tuples(
                st.sampled_from([p.period_id for p in PERIODS]),
                st.sampled_from(VALIDATORS),
                st.sampled_from(COMPONENTS),
            ),
            max_size=20,
        )
    )
    revenue = [ValidatorRevenue(p, v, c, draw(amounts)) for p, v, c in sorted(revenue_keys)]
    return {
        "terms": terms,
        "date_from": date_from,
        "date_to": date_to,
        "wallets": wallets,
        "staker_rewards": rewards,
        "stake_events": events,
        "validator_revenue": revenue,
    }


def compute(scenario, periods=PERIODS):
    inputs = dict(scenario)
    return compute_commissions(
        inputs.pop("terms"), periods, inputs.pop("date_from"), inputs.pop("date_to"), **inputs
    )


@settings(max_examples=EXAMPLES, deadline=None)
@given(scenarios())
def test_lines_add_up_to_the_totals_exactly(scenario):
    result = compute(scenario)
    components = result.component_totals()
    # money_sum, not sum(): the default 28-digit context would round these totals.
    assert result.total_commission_native == money_sum(
        t.commission_amount_native for t in components
    )
    assert result.total_base_native == money_sum(t.base_amount_native for t in components)
    assert sum(t.line_count for t in components) == len(result.lines)
    excluded = result.exclusion_totals()
    assert result.excluded_amount_native == money_sum(t.held_back_amount_native for t in excluded)
    assert sum(t.count for t in excluded) == len(result.exclusions)
    for line in result.lines:
        with decimal.localcontext(prec=100):
            exact = line.base_amount_native * line.commission_rate_bps / Decimal(10000)
        assert abs(line.commission_amount_native - exact) <= Decimal("0.5e-18")
        assert line.commission_amount_native.as_tuple().exponent >= -18


@settings(max_examples=EXAMPLES, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order(scenario, rnd):
    shuffled = {
        key: (rnd.sample(value, len(value)) if isinstance(value, list) else value)
        for key, value in scenario.items()
    }
    shuffled_periods = rnd.sample(PERIODS, len(PERIODS))
    first, second = compute(scenario), compute(shuffled, shuffled_periods)
    assert first.lines == second.lines
    assert first.exclusions == second.exclusions
    assert first.periods == second.periods


@settings(max_examples=EXAMPLES, deadline=None)
@given(scenarios(), st.data())
def test_moving_introduced_date_earlier_never_lowers_a_commission(scenario, data):
    if not scenario["wallets"]:
        return
    index = data.draw(st.integers(0, len(scenario["wallets"]) - 1))
    wallet = scenario["wallets"][index]
    earlier = wallet.introduced_date - timedelta(days=data.draw(st.integers(1, 10)))
    moved = dict(scenario)
    moved["wallets"] = list(scenario["wallets"])
    moved["wallets"][index] = wallet._replace(introduced_date=earlier)
    before, after = compute(scenario), compute(moved)
    paid_before = {
        (ln.period_id, ln.wallet_address, ln.validator_key, ln.revenue_component): ln
        for ln in before.lines
    }
    paid_after = {
        (ln.period_id, ln.wallet_address, ln.validator_key, ln.revenue_component): ln
        for ln in after.lines
    }
    for key, line in paid_before.items():
        assert paid_after[key].commission_amount_native >= line.commission_amount_native
    assert after.total_commission_native >= before.total_commission_native


# ---- the differential test ------------------------------------------------------------------


def naive_commissions(terms, periods, date_from, date_to, wallets, rewards, events, revenue):
    """DOMAIN.md's calculation read literally, with loops and no cleverness at all."""
    quantum = Decimal("0.000000000000000001")
    with decimal.localcontext(prec=120, rounding=decimal.ROUND_HALF_EVEN):
        scope = []
        for period in periods:
            start_day = period.start_time.date()
            if start_day < date_from or start_day > date_to:
                continue
            if start_day < terms.effective_from:
                continue
            if terms.effective_to is not None and start_day > terms.effective_to:
                continue
            scope.append(period)

        def rate_for(component, validator):
            for rule in terms.rules:
                if rule.revenue_component == component and rule.validator_key == validator:
                    return rule.commission_rate_bps
            for rule in terms.rules:
                if rule.revenue_component == component and rule.validator_key is None:
                    return rule.commission_rate_bps
            return None

        def staked(address, validator, period):
            mine = [
                e for e in events if e.staker_address == address and e.validator_key == validator
            ]
            mine.sort(key=lambda e: (e.event_timestamp, 1 if e.event_type == "UNSTAKE" else 0))
            # The balance of each instant, after all of that instant's events.
            balance = Decimal(0)
            at_instant: dict = {}
            for event in mine:
                if event.event_type == "UNSTAKE":
                    balance = balance - event.stake_amount_native
                    if balance < 0:
                        balance = Decimal(0)
                else:
                    balance = balance + event.stake_amount_native
                at_instant[event.event_timestamp] = balance
            balance_at_start = Decimal(0)
            positive_inside = False
            for instant, value in at_instant.items():
                if instant <= period.start_time:
                    balance_at_start = value
                elif instant < period.end_time and value > 0:
                    positive_inside = True
            return balance_at_start > 0 or positive_inside

        def line(period, validator, component, wallet, base, rate):
            amount = (base * rate / Decimal(10000)).quantize(quantum)
            return (period.period_id, validator, component, wallet, base, rate, amount)

        lines, exclusions = [], []
        if not terms.wallet_attribution_enabled:
            for period in scope:
                for row in revenue:
                    if row.period_id != period.period_id:
                        continue
                    rate = rate_for(row.revenue_component, row.validator_key)
                    if rate is None:
                        exclusions.append(
                            (
                                period.period_id,
                                None,
                                row.validator_key,
                                row.revenue_component,
                                "no rule",
                                row.amount_native,
                            )
                        )
                    else:
                        lines.append(
                            line(
                                period,
                                row.validator_key,
                                row.revenue_component,
                                None,
                                row.amount_native,
                                rate,
                            )
                        )
            return lines, exclusions

        for period in scope:
            for wallet in wallets:
                mine = [
                    r
                    for r in rewards
                    if r.staker_address == wallet.wallet_address and r.period_id == period.period_id
                ]
                held = sum((r.reward_amount_native for r in mine), Decimal(0))
                if not wallet.is_active:
                    exclusions.append(
                        (
                            period.period_id,
                            wallet.wallet_address,
                            None,
                            None,
                            "wallet inactive",
                            held,
                        )
                    )
                    continue
                if wallet.introduced_date > period.start_time.date():
                    exclusions.append(
                        (
                            period.period_id,
                            wallet.wallet_address,
                            None,
                            None,
                            "introduced after period start",
                            held,
                        )
                    )
                    continue
                for row in mine:
                    if not staked(wallet.wallet_address, row.validator_key, period):
                        reason = "not staked with validator during period"
                    elif rate_for(row.revenue_component, row.validator_key) is None:
                        reason = "no rule"
                    else:
                        rate = rate_for(row.revenue_component, row.validator_key)
                        lines.append(
                            line(
                                period,
                                row.validator_key,
                                row.revenue_component,
                                wallet.wallet_address,
                                row.reward_amount_native,
                                rate,
                            )
                        )
                        continue
                    exclusions.append(
                        (
                            period.period_id,
                            wallet.wallet_address,
                            row.validator_key,
                            row.revenue_component,
                            reason,
                            row.reward_amount_native,
                        )
                    )
        return lines, exclusions


def random_scenario(rnd: random.Random) -> dict:
    """Random inputs from a seeded generator (independent of hypothesis's shrinking)."""

    def amount():
        kind = rnd.random()
        if kind < 0.2:
            return Decimal(rnd.randrange(10**38)).scaleb(-18)
        if kind < 0.3:
            return Decimal(rnd.randrange(30)).scaleb(-18)
        return Decimal(rnd.randrange(10**9)).scaleb(-rnd.randrange(0, 19))

    def day():
        return FIRST_DAY + timedelta(days=rnd.randrange(-3, 6))

    rules = {}
    for _ in range(rnd.randrange(0, 7)):
        key = (rnd.choice(COMPONENTS), rnd.choice((None,) + VALIDATORS))
        rules[key] = Rule(key[0], key[1], rnd.randrange(0, 10001))
    effective_from = day()
    effective_to = rnd.choice([None, effective_from + timedelta(days=rnd.randrange(0, 5))])
    date_from = day()
    wallets = [
        Wallet(address, day(), rnd.random() < 0.85)
        for address in rnd.sample(ADDRESSES, rnd.randrange(0, len(ADDRESSES) + 1))
    ]
    rewards = {}
    for _ in range(rnd.randrange(0, 60)):
        key = (
            rnd.choice(PERIODS).period_id,
            rnd.choice(VALIDATORS),
            rnd.choice(ADDRESSES),
            rnd.choice(COMPONENTS),
        )
        rewards[key] = StakerReward(*key, amount())
    events = [
        StakeEvent(
            rnd.choice(VALIDATORS),
            rnd.choice(ADDRESSES),
            rnd.choice(("STAKE", "RESTAKE", "UNSTAKE", "UNSTAKE")),
            amount(),
            BASE + timedelta(days=rnd.randrange(-2, 5), hours=rnd.choice([0, 0, 5, 12])),
        )
        for _ in range(rnd.randrange(0, 50))
    ]
    # Blips: a STAKE and an UNSTAKE of one amount at one instant (nothing staked there).
    # They come last, from a generator of their own, so the rest of the data stays as it was.
    blips = random.Random(len(events) * 7919 + len(rewards))
    for _ in range(blips.randrange(0, 4)):
        validator, address = blips.choice(VALIDATORS), blips.choice(ADDRESSES)
        blip = Decimal(blips.randrange(1, 10**9)).scaleb(-blips.randrange(0, 19))
        instant = BASE + timedelta(days=blips.randrange(-2, 5), hours=blips.choice([0, 5, 12]))
        events += [
            StakeEvent(validator, address, "UNSTAKE", blip, instant),
            StakeEvent(validator, address, "STAKE", blip, instant),
        ]
    revenue = {}
    for _ in range(rnd.randrange(0, 25)):
        key = (rnd.choice(PERIODS).period_id, rnd.choice(VALIDATORS), rnd.choice(COMPONENTS))
        revenue[key] = ValidatorRevenue(*key, amount())
    return {
        "terms": AgreementTerms(
            "A", effective_from, effective_to, rnd.random() < 0.7, tuple(rules.values())
        ),
        "date_from": date_from,
        "date_to": date_from + timedelta(days=rnd.randrange(0, 6)),
        "wallets": wallets,
        "staker_rewards": list(rewards.values()),
        "stake_events": events,
        "validator_revenue": list(revenue.values()),
    }


def test_matches_a_naive_implementation_on_random_data():
    rnd = random.Random(20250301)
    seen = Counter()
    for _ in range(1500):
        scenario = random_scenario(rnd)
        result = compute(scenario)
        expected_lines, expected_exclusions = naive_commissions(
            scenario["terms"],
            PERIODS,
            scenario["date_from"],
            scenario["date_to"],
            scenario["wallets"],
            scenario["staker_rewards"],
            scenario["stake_events"],
            scenario["validator_revenue"],
        )
        assert Counter(tuple(ln) for ln in result.lines) == Counter(expected_lines), scenario
        assert Counter(tuple(ex) for ex in result.exclusions) == Counter(expected_exclusions), (
            scenario
        )
        seen["lines"] += len(expected_lines)
        seen.update(ex[4] for ex in expected_exclusions)
    # The random data really exercised every outcome, not only the easy ones.
    assert seen["lines"] > 500
    for reason in (
        "wallet inactive",
        "introduced after period start",
        "not staked with validator during period",
        "no rule",
    ):
        assert seen[reason] > 50, seen
