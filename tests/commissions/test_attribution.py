"""The commission rules of DOMAIN.md, one small hand-computed case per rule."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from webapp import attribution
from webapp.attribution import (
    REASON_INTRODUCED_AFTER,
    REASON_NO_RULE,
    REASON_NOT_STAKED,
    REASON_WALLET_INACTIVE,
    AgreementTerms,
    Period,
    Rule,
    StakeEvent,
    StakerReward,
    ValidatorRevenue,
    Wallet,
    commission_amount,
    compute_commissions,
)

D = Decimal
ALICE, BOB = "AliceWallet", "BobWallet"
V1, V2 = "Validator1", "Validator2"


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant in January 2025, UTC."""
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


#: Three daily periods: 1 Jan, 2 Jan, 3 Jan (half-open).
P1 = Period("p1", "1", at(1), at(2))
P2 = Period("p2", "2", at(2), at(3))
P3 = Period("p3", "3", at(3), at(4))
PERIODS = [P1, P2, P3]
MEV_10_PERCENT = (Rule("MEV", None, 1000),)
ALICE_SINCE_2024 = (Wallet(ALICE, date(2024, 1, 1), True),)


def terms(rules=MEV_10_PERCENT, wallet=True, effective_from=date(2025, 1, 1), to=None):
    return AgreementTerms("agreement", effective_from, to, wallet, tuple(rules))


def stake(wallet, validator, amount, when, kind="STAKE"):
    return StakeEvent(validator, wallet, kind, D(amount), when)


def reward(period, wallet, amount, validator=V1, component="MEV"):
    return StakerReward(period.period_id, validator, wallet, component, D(amount))


def run(
    rules=MEV_10_PERCENT,
    wallets=ALICE_SINCE_2024,
    rewards=(),
    events=(),
    periods=(P1,),
    date_from=date(2025, 1, 1),
    date_to=date(2025, 1, 31),
    **kwargs,
):
    return compute_commissions(
        terms(rules, **kwargs),
        periods,
        date_from,
        date_to,
        wallets=wallets,
        staker_rewards=rewards,
        stake_events=events,
    )


def amounts(result):
    """(period, wallet, validator, component) -> commission, for readable assertions."""
    return {
        (ln.period_id, ln.wallet_address, ln.validator_key, ln.revenue_component): (
            ln.commission_amount_native
        )
        for ln in result.lines
    }


def reasons(result):
    return [
        (ex.period_id, ex.wallet_address, ex.reason, ex.held_back_amount_native)
        for ex in result.exclusions
    ]


# ---- wallet-level exclusions ----------------------------------------------------------------


def test_inactive_wallet_is_excluded_with_its_rewards_held_back():
    result = run(
        wallets=[Wallet(ALICE, date(2024, 1, 1), False)],
        rewards=[reward(P1, ALICE, "2"), reward(P1, ALICE, "3", validator=V2)],
        events=[stake(ALICE, V1, "10", at(1))],
    )
    assert result.lines == []
    assert reasons(result) == [("p1", ALICE, REASON_WALLET_INACTIVE, D("5"))]
    assert result.excluded_amount_native == D("5")


def test_inactive_wallet_without_rewards_still_explained():
    result = run(wallets=[Wallet(ALICE, date(2024, 1, 1), False)])
    assert reasons(result) == [("p1", ALICE, REASON_WALLET_INACTIVE, D("0"))]


def test_introduced_after_period_start_is_excluded_but_same_day_counts():
    events = [stake(ALICE, V1, "10", at(1)), stake(BOB, V1, "10", at(1))]
    result = run(
        wallets=[Wallet(ALICE, date(2025, 1, 2), True), Wallet(BOB, date(2025, 1, 1), True)],
        rewards=[reward(P1, ALICE, "4"), reward(P1, BOB, "6")],
        events=events,
    )
    assert amounts(result) == {("p1", BOB, V1, "MEV"): D("0.6")}
    assert reasons(result) == [("p1", ALICE, REASON_INTRODUCED_AFTER, D("4"))]


def test_inactive_wins_over_introduced_after():
    result = run(wallets=[Wallet(ALICE, date(2026, 1, 1), False)], rewards=[reward(P1, ALICE, "1")])
    assert [ex.reason for ex in result.exclusions] == [REASON_WALLET_INACTIVE]


def test_retroactive_introduced_date_pays_the_earlier_periods():
    rewards = [reward(p, ALICE, "1") for p in PERIODS]
    events = [stake(ALICE, V1, "5", at(1))]
    # Introduced on 2 Jan: 1 Jan is excluded, 2 and 3 Jan are paid.
    later = run(
        wallets=[Wallet(ALICE, date(2025, 1, 2), True)],
        rewards=rewards,
        events=events,
        periods=PERIODS,
    )
    assert sorted(k[0] for k in amounts(later)) == ["p2", "p3"]
    # The same wallet recorded later with an introduced_date in the past earns every period.
    retro = run(
        wallets=[Wallet(ALICE, date(2024, 12, 1), True)],
        rewards=rewards,
        events=events,
        periods=PERIODS,
    )
    assert sorted(k[0] for k in amounts(retro)) == ["p1", "p2", "p3"]
    assert retro.total_commission_native == D("0.3")
    assert retro.exclusions == []


# ---- staked during the period ---------------------------------------------------------------


def staked(events, period=P2):
    result = run(rewards=[reward(period, ALICE, "1")], events=events, periods=[period])
    return bool(result.lines)


def test_no_events_means_not_staked():
    result = run(rewards=[reward(P1, ALICE, "7")])
    assert result.lines == []
    assert result.exclusions[0].reason == REASON_NOT_STAKED
    assert result.exclusions[0].held_back_amount_native == D("7")
    assert result.exclusions[0].validator_key == V1


def test_stake_from_an_earlier_period_counts():
    assert staked([stake(ALICE, V1, "1", at(1, 5))])


def test_stake_with_another_validator_does_not_count():
    assert not staked([stake(ALICE, V2, "1", at(1, 5))])


def test_stake_exactly_at_period_start_counts():
    assert staked([stake(ALICE, V1, "1", at(2))])


def test_stake_exactly_at_period_end_does_not_count():
    assert not staked([stake(ALICE, V1, "1", at(3))])
    # ... but it counts for the next period, which starts at that instant.
    assert staked([stake(ALICE, V1, "1", at(3))], period=P3)


def test_unstake_exactly_at_period_start_leaves_nothing_staked():
    assert not staked([stake(ALICE, V1, "1", at(1, 5)), stake(ALICE, V1, "1", at(2), "UNSTAKE")])


def test_unstake_exactly_at_period_end_still_staked_during_it():
    assert staked([stake(ALICE, V1, "1", at(1, 5)), stake(ALICE, V1, "1", at(3), "UNSTAKE")])


def test_stake_inside_period_then_unstake_still_staked_during_it():
    events = [stake(ALICE, V1, "1", at(2, 6)), stake(ALICE, V1, "1", at(2, 7), "UNSTAKE")]
    assert staked(events)


def test_unstaked_before_period_is_not_staked():
    events = [stake(ALICE, V1, "1", at(1, 5)), stake(ALICE, V1, "1", at(1, 6), "UNSTAKE")]
    assert not staked(events)


def test_equal_timestamps_apply_stake_before_unstake():
    # Balance 3, then at the period's start UNSTAKE 5 and STAKE 2 (listed in that order).
    # STAKE first: 3 + 2 - 5 = 0, not staked. UNSTAKE first would give max(0, 3-5) + 2 = 2.
    events = [
        stake(ALICE, V1, "3", at(1, 5)),
        stake(ALICE, V1, "5", at(2), "UNSTAKE"),
        stake(ALICE, V1, "2", at(2), "STAKE"),
    ]
    assert not staked(events)
    # RESTAKE also applies before UNSTAKE.
    events[2] = stake(ALICE, V1, "2", at(2), "RESTAKE")
    assert not staked(events)


def test_partial_unstake_leaves_the_wallet_staked():
    events = [stake(ALICE, V1, "10", at(1, 5)), stake(ALICE, V1, "4", at(1, 6), "UNSTAKE")]
    assert staked(events)
    events.append(stake(ALICE, V1, "6", at(1, 7), "UNSTAKE"))
    assert not staked(events)


def test_unstake_never_takes_the_balance_below_zero():
    # 5 - 8 floors at 0; a later 2 leaves 2 staked (a negative balance would give -1).
    events = [
        stake(ALICE, V1, "5", at(1, 5)),
        stake(ALICE, V1, "8", at(1, 6), "UNSTAKE"),
        stake(ALICE, V1, "2", at(2, 6), "RESTAKE"),
    ]
    assert staked(events)


def test_stake_and_unstake_of_one_amount_at_one_instant_inside_the_period_do_not_count():
    # Balance 0 before; at 2 Jan 06:00 STAKE 4 then UNSTAKE 4: 0 + 4 - 4 = 0 at that instant.
    events = [stake(ALICE, V1, "4", at(2, 6), "UNSTAKE"), stake(ALICE, V1, "4", at(2, 6))]
    assert not staked(events)
    # A RESTAKE with the UNSTAKE is the same blip.
    assert not staked([stake(ALICE, V1, "4", at(2, 6), "RESTAKE"), events[0]])
    # An UNSTAKE of less leaves 1 staked at that instant: staked.
    assert staked([stake(ALICE, V1, "4", at(2, 6)), stake(ALICE, V1, "3", at(2, 6), "UNSTAKE")])


def test_a_blip_next_to_other_events_counts_the_instant_as_a_whole():
    # 2 Jan 06:00: STAKE 2, STAKE 3, UNSTAKE 5 -> 0; 2 Jan 08:00: UNSTAKE 1 (floors at 0).
    events = [
        stake(ALICE, V1, "2", at(2, 6)),
        stake(ALICE, V1, "5", at(2, 6), "UNSTAKE"),
        stake(ALICE, V1, "3", at(2, 6)),
        stake(ALICE, V1, "1", at(2, 8), "UNSTAKE"),
    ]
    assert not staked(events)
    # A STAKE at a later instant inside the period makes it staked.
    assert staked([*events, stake(ALICE, V1, "1", at(2, 9))])


def test_a_blip_exactly_at_the_period_start_without_earlier_stake_does_not_count():
    events = [stake(ALICE, V1, "4", at(2)), stake(ALICE, V1, "4", at(2), "UNSTAKE")]
    assert not staked(events)
    # Nor for the period before, which ends at that instant (excluded).
    assert not staked(events, period=P1)


def test_a_blip_exactly_at_the_period_start_over_an_earlier_stake_leaves_it_staked():
    # 1 before the period, then +4 -4 at its start: the balance at s is 1.
    events = [
        stake(ALICE, V1, "1", at(1, 5)),
        stake(ALICE, V1, "4", at(2), "UNSTAKE"),
        stake(ALICE, V1, "4", at(2)),
    ]
    assert staked(events)
    # Taking the earlier 1 as well (UNSTAKE 5 at s) leaves 0 at s and nothing after: not staked.
    events[1] = stake(ALICE, V1, "5", at(2), "UNSTAKE")
    assert not staked(events)


def test_unstake_at_the_start_then_stake_inside_the_period_is_staked():
    events = [
        stake(ALICE, V1, "1", at(1, 5)),
        stake(ALICE, V1, "1", at(2), "UNSTAKE"),
        stake(ALICE, V1, "2", at(2, 12)),
    ]
    assert staked(events)
    # ... and the period before was staked too (1 from 1 Jan 05:00 to its end).
    assert staked(events, period=P1)


def test_events_at_the_period_end_are_left_out():
    # A blip and a plain STAKE at e: neither counts for [s, e).
    assert not staked([stake(ALICE, V1, "4", at(3)), stake(ALICE, V1, "4", at(3), "UNSTAKE")])
    assert not staked(
        [
            stake(ALICE, V1, "2", at(2, 6)),
            stake(ALICE, V1, "2", at(2, 6), "UNSTAKE"),
            stake(ALICE, V1, "7", at(3)),
        ]
    )


# ---- rules ------------------------------------------------------------------------------------


def test_validator_specific_rule_beats_the_general_one():
    rules = [Rule("MEV", None, 1000), Rule("MEV", V1, 500)]
    events = [stake(ALICE, V1, "1", at(1)), stake(ALICE, V2, "1", at(1))]
    result = run(
        rules=rules,
        rewards=[reward(P1, ALICE, "10", V1), reward(P1, ALICE, "10", V2)],
        events=events,
    )
    assert amounts(result) == {
        ("p1", ALICE, V1, "MEV"): D("0.5"),
        ("p1", ALICE, V2, "MEV"): D("1"),
    }
    assert {ln.validator_key: ln.commission_rate_bps for ln in result.lines} == {V1: 500, V2: 1000}


def test_no_rule_for_the_pair_is_explained():
    rules = [Rule("MEV", V2, 1000)]
    events = [stake(ALICE, V1, "1", at(1))]
    result = run(
        rules=rules,
        rewards=[reward(P1, ALICE, "3", V1, "MEV"), reward(P1, ALICE, "4", V1, "REWARDS")],
        events=events,
    )
    assert result.lines == []
    assert [
        (ex.revenue_component, ex.reason, ex.held_back_amount_native) for ex in result.exclusions
    ] == [
        ("MEV", REASON_NO_RULE, D("3")),
        ("REWARDS", REASON_NO_RULE, D("4")),
    ]


def test_not_staked_is_checked_before_no_rule():
    result = run(rules=[Rule("REWARDS", None, 1)], rewards=[reward(P1, ALICE, "3")])
    assert [ex.reason for ex in result.exclusions] == [REASON_NOT_STAKED]


def test_zero_rate_rule_gives_a_zero_line_not_an_exclusion():
    result = run(
        rules=[Rule("MEV", None, 0)],
        rewards=[reward(P1, ALICE, "3")],
        events=[stake(ALICE, V1, "1", at(1))],
    )
    assert amounts(result) == {("p1", ALICE, V1, "MEV"): D("0")}
    assert result.exclusions == []


def test_two_rules_for_the_same_pair_are_refused():
    with pytest.raises(ValueError, match="two rules"):
        attribution.RuleBook([Rule("MEV", None, 1), Rule("MEV", None, 2)])


# ---- periods in scope -------------------------------------------------------------------------


def test_effective_dates_cut_the_periods_in_scope():
    scope = attribution.periods_in_scope(
        terms(effective_from=date(2025, 1, 2), to=date(2025, 1, 2)),
        PERIODS,
        date(2025, 1, 1),
        date(2025, 1, 31),
    )
    assert [p.period_id for p in scope] == ["p2"]


def test_requested_range_cuts_the_periods_in_scope_by_start_date():
    # A period starting at 23:00 on 31 Dec belongs to 31 Dec, even though it ends in January.
    late = Period("late", "0", datetime(2024, 12, 31, 23, tzinfo=UTC), at(1, 23))
    scope = attribution.periods_in_scope(
        terms(effective_from=date(2024, 1, 1)),
        [P3, late, P1, P2],
        date(2025, 1, 1),
        date(2025, 1, 2),
    )
    assert [p.period_id for p in scope] == ["p1", "p2"]


def test_open_ended_agreement_reaches_every_later_period():
    scope = attribution.periods_in_scope(terms(), PERIODS, date(2025, 1, 3), date(2030, 1, 1))
    assert [p.period_id for p in scope] == ["p3"]


# ---- total-revenue method ------------------------------------------------------------------


def test_total_revenue_lines_and_no_rule():
    revenue = [
        ValidatorRevenue("p1", V1, "MEV", D("100")),
        ValidatorRevenue("p1", V1, "REWARDS", D("50")),
        ValidatorRevenue("p2", V1, "MEV", D("10")),
        ValidatorRevenue("other", V1, "MEV", D("999")),  # not a period in scope
    ]
    result = compute_commissions(
        terms([Rule("MEV", None, 250)], wallet=False),
        [P1, P2],
        date(2025, 1, 1),
        date(2025, 1, 31),
        validator_revenue=revenue,
    )
    assert result.method == "total_revenue"
    assert [
        (ln.period_id, ln.wallet_address, ln.commission_amount_native) for ln in result.lines
    ] == [
        ("p1", None, D("2.5")),
        ("p2", None, D("0.25")),
    ]
    assert [
        (ex.reason, ex.revenue_component, ex.held_back_amount_native) for ex in result.exclusions
    ] == [(REASON_NO_RULE, "REWARDS", D("50"))]
    assert result.total_base_native == D("110")
    assert [t.reason for t in result.exclusion_totals()] == [REASON_NO_RULE]


# ---- amounts ----------------------------------------------------------------------------------


def test_half_to_even_at_the_eighteenth_place():
    # 5e-18 x 50% = 2.5e-18 -> 2e-18 (even); 15e-18 x 50% = 7.5e-18 -> 8e-18 (even).
    assert commission_amount(D("0.000000000000000005"), 5000) == D("0.000000000000000002")
    assert commission_amount(D("0.000000000000000015"), 5000) == D("0.000000000000000008")
    # 1e-18 x 1 bps = 1e-22 -> 0; 0.000000000000000001 x 5000 = 5e-19 -> 0 (half to even).
    assert commission_amount(D("0.000000000000000001"), 5000) == D("0")
    assert commission_amount(D("0.000000000000000003"), 5000) == D("0.000000000000000002")


def test_twenty_integer_digit_amounts_stay_exact():
    big = D("99999999999999999999.999999999999999999")
    # 3333 bps of big, worked out with integers: 10**38 - 1 units of 1e-18, times 3333 / 10**4.
    units = (10**38 - 1) * 3333
    whole, remainder = divmod(units, 10**4)
    if remainder * 2 > 10**4 or (remainder * 2 == 10**4 and whole % 2):
        whole += 1
    expected = D(whole).scaleb(-18)
    events = [stake(ALICE, V1, "1", at(1)), stake(BOB, V1, "1", at(1))]
    result = run(
        rules=[Rule("MEV", None, 3333)],
        wallets=[Wallet(ALICE, date(2024, 1, 1), True), Wallet(BOB, date(2024, 1, 1), True)],
        rewards=[reward(P1, ALICE, str(big)), reward(P1, BOB, str(big))],
        events=events,
    )
    assert [ln.commission_amount_native for ln in result.lines] == [expected, expected]
    # The totals keep all 39 digits that a 28-digit default context would have rounded.
    assert result.total_commission_native == expected * 2
    assert result.total_base_native == D("199999999999999999999.999999999999999998")


def test_totals_per_component_add_up_to_the_lines():
    events = [stake(ALICE, V1, "1", at(1))]
    result = run(
        rules=[Rule("MEV", None, 1000), Rule("REWARDS", None, 333)],
        rewards=[reward(P1, ALICE, "1", V1, "MEV"), reward(P1, ALICE, "0.1", V1, "REWARDS")],
        events=events,
    )
    totals = {t.revenue_component: t for t in result.component_totals()}
    assert totals["MEV"].commission_amount_native == D("0.1")
    assert totals["REWARDS"].commission_amount_native == D("0.00333")
    assert result.total_commission_native == D("0.10333")
