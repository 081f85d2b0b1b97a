"""The set-based wallet-attribution sums (PostgreSQL) equal the engine's, on random worlds
full of the cases the rules turn on: stakes that blip inside a period or at its start, a
STAKE and an UNSTAKE of the same amount at one instant, UNSTAKEs beyond the balance, events
on period boundaries, late and inactive wallets, a stranger's wallet, validators with their
own rule or with none, and products that fall exactly half way between two 18-place values.

The engine's side is added up here from its lines, by hand, not by the code under test."""

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests import factories
from webapp.commissions import compare, explain, set_based
from webapp.commissions.inputs import scope_of
from webapp.extensions import db

VALIDATORS = ("VoteA", "VoteB", "VoteC")
COMPONENTS = ("EXEC_FEES", "MEV", "REWARDS")
FIRST = factories.utc(2025, 3, 1)
#: Periods of uneven lengths, back to back: 12 h, 24 h, 6 h, 30 h.
HOURS = (12, 24, 6, 30)
TINY = Decimal(1).scaleb(-18)


def _amount(rnd: random.Random) -> Decimal:
    choice = rnd.random()
    if choice < 0.25:
        # 1 to 9 units of the last place: with a 50% or 25% rate, ties half way.
        return TINY * rnd.randrange(1, 10)
    if choice < 0.5:
        return Decimal(rnd.randrange(1, 10**6)).scaleb(-rnd.randrange(0, 19))
    return Decimal(rnd.randrange(1, 10**20)).scaleb(-18)


def _world(seed: int):
    """A partner with 14 wallets over four periods, and the agreement to compute."""
    rnd = random.Random(seed)
    partner = factories.partner(f"Partner {seed}", "solana")
    stranger = factories.partner(f"Stranger {seed}")
    source = factories.provider(f"provider {seed}")
    payloads = {k: factories.payload(source, k) for k in ("periods", "rewards", "events")}
    periods, start = [], FIRST
    for n, hours in enumerate(HOURS):
        end = start + timedelta(hours=hours)
        periods.append(factories.period(payloads["periods"], f"P{n}", start, end))
        start = end
    boundaries = [p.start_time for p in periods] + [periods[-1].end_time]

    addresses = [f"W{seed}x{n:02d}" for n in range(14)]
    for address in addresses:
        introduced = date(2025, 2, 1) if rnd.random() < 0.7 else FIRST.date() + timedelta(1)
        factories.wallet(partner, address, introduced=introduced, active=rnd.random() > 0.15)
    factories.wallet(stranger, f"S{seed}", introduced=date(2025, 1, 1))

    def moment():
        if rnd.random() < 0.4:  # on a boundary, or a second before or after one
            return rnd.choice(boundaries) + timedelta(seconds=rnd.choice((-1, 0, 0, 1)))
        return FIRST + timedelta(minutes=rnd.randrange(-3000, sum(HOURS) * 60 + 600))

    events = []
    for address in [*addresses, f"S{seed}"]:
        for validator in rnd.sample(VALIDATORS, rnd.randrange(0, 3)):
            for _ in range(rnd.randrange(1, 7)):
                when = moment()
                kind = rnd.choice(("STAKE", "RESTAKE", "UNSTAKE", "UNSTAKE"))
                amount = Decimal(rnd.randrange(0, 6))
                events.append((validator, address, kind, amount, when))
                if rnd.random() < 0.2:  # a second event at the very same instant
                    other = "STAKE" if kind == "UNSTAKE" else "UNSTAKE"
                    events.append((validator, address, other, amount, when))
    factories.events(payloads["events"], periods[0], events)
    for period in periods:
        factories.rewards(
            payloads["rewards"],
            period,
            [
                (validator, address, component, _amount(rnd))
                for address in [*addresses, f"S{seed}"]
                for validator in VALIDATORS
                for component in COMPONENTS
                if rnd.random() < 0.45
            ],
        )
    others = ["REWARDS=2500", "REWARDS=1@VoteB", "EXEC_FEES=3333@VoteA", "MEV=7@VoteC"]
    rates = ["MEV=5000", *rnd.sample(others, rnd.randrange(0, len(others) + 1))]
    agreement = factories.agreement(partner, *rates, wallet_attribution=True)
    db.session.commit()
    return agreement


def _engine_sums(agreement):
    """Per (period, component): lines, base and commission; per period and in all: the
    distinct wallets paid, all added up from the engine's lines."""
    result = explain.compute(agreement, date(2025, 3, 1), date(2025, 3, 31))
    cells = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    wallets = defaultdict(set)
    for line in result.lines:
        period = str(explain.period_key(line.period_id))
        cell = cells[(period, str(line.revenue_component))]
        cell[0] += 1
        cell[1] += line.base_amount_native
        cell[2] += line.commission_amount_native
        wallets[period].add(line.wallet_address)
    everyone = set().union(*wallets.values()) if wallets else set()
    return dict(cells), {p: len(w) for p, w in wallets.items()}, len(everyone), len(result.lines)


@pytest.mark.postgres_only
@pytest.mark.parametrize("seed", range(8))
def test_set_based_sums_equal_the_engine_on_random_worlds(app, seed):
    agreement = _world(seed)
    cells, wallets_per_period, wallets, line_count = _engine_sums(agreement)
    assert line_count > 0  # the world pays something, so the comparison means something

    terms = explain.terms_with_method(agreement, True)
    scope = scope_of(agreement, date(2025, 3, 1), date(2025, 3, 31))
    sums = set_based.wallet_attribution_sums(agreement.partner_id, agreement.chain_id, terms, scope)

    got = {
        (str(explain.period_key(p)), c): [s.line_count, s.revenue, s.commission]
        for (p, c), s in sums.by_component.items()
    }
    assert got == cells
    assert {
        str(explain.period_key(p)): s.wallet_count for p, s in sums.by_period.items()
    } == wallets_per_period
    assert sums.total.wallet_count == wallets
    assert sums.total.line_count == line_count


@pytest.mark.postgres_only
def test_a_half_way_product_rounds_to_even_in_both(app):
    """0.5 x 1e-18 is a tie between 0 and 1e-18 (to even: 0); 0.5 x 3e-18 one between
    1e-18 and 2e-18 (to even: 2e-18), by hand."""
    partner = factories.partner("Ties", "solana")
    source = factories.provider()
    payloads = {k: factories.payload(source, k) for k in ("periods", "rewards", "events")}
    period = factories.period(payloads["periods"], "T1", FIRST, FIRST + timedelta(days=1))
    for address in ("One", "Three"):
        factories.wallet(partner, address, introduced=date(2025, 1, 1))
    factories.events(
        payloads["events"],
        period,
        [("VoteA", a, "STAKE", Decimal(1), FIRST - timedelta(days=1)) for a in ("One", "Three")],
    )
    factories.rewards(
        payloads["rewards"],
        period,
        [("VoteA", "One", "MEV", TINY), ("VoteA", "Three", "MEV", 3 * TINY)],
    )
    agreement = factories.agreement(partner, "MEV=5000", wallet_attribution=True)
    db.session.commit()

    terms = explain.terms_with_method(agreement, True)
    scope = scope_of(agreement, date(2025, 3, 1), date(2025, 3, 1))
    sums = set_based.wallet_attribution_sums(partner.partner_id, "solana", terms, scope)
    assert sums.total.commission == 2 * TINY
    assert sums.total.revenue == 4 * TINY
    assert _engine_sums(agreement)[0] == {
        (str(explain.period_key(period.period_id)), "MEV"): [2, 4 * TINY, 2 * TINY]
    }
    # The comparison page reads the same figures on this database.
    figures = compare.compare(agreement, date(2025, 3, 1), date(2025, 3, 1))
    assert figures.wallet_attribution.commission == 2 * TINY
    assert figures.wallet_attribution.wallet_count == 2
