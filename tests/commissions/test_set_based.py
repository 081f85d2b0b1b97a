"""The set-based wallet-attribution sums (PostgreSQL) equal the engine's, on random worlds
full of the cases the rules turn on: stakes that blip inside a period or at its start, a
STAKE and an UNSTAKE of the same amount at one instant, UNSTAKEs beyond the balance, events
on period boundaries, late and inactive wallets, a stranger's wallet, validators with their
own rule or with none, and products that fall exactly half way between two 18-place values.

The engine's side comes from its lines; the wallets paid are counted here by hand."""

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from decimal import Decimal as D

import pytest
from sqlalchemy import select, text

from tests import factories
from webapp.commissions import inputs, set_based
from webapp.commissions.terms import terms_of
from webapp.extensions import db
from webapp.insight import compare
from webapp.models import CanonicalStakerRewardsDetail, KeptSummary, PartnerWallet
from webapp.money import format_amount

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


def _wallets_paid(result):
    """Distinct wallets with a line, per period and in all, counted from the engine's lines."""
    per_period = defaultdict(set)
    for line in result.lines:
        per_period[line.period_id].add(line.wallet_address)
    everyone = set().union(*per_period.values()) if per_period else set()
    return {p: len(w) for p, w in per_period.items()}, len(everyone)


@pytest.mark.postgres_only
@pytest.mark.parametrize("seed", range(8))
def test_set_based_summary_equals_the_engine_on_random_worlds(app, seed):
    agreement = _world(seed)
    computed = inputs.compute_agreement(agreement, date(2025, 3, 1), date(2025, 3, 31))
    engine = computed.result
    assert engine.lines and engine.exclusions  # the world pays and holds back something

    terms = terms_of(agreement)
    scope = inputs.scope_of(agreement, date(2025, 3, 1), date(2025, 3, 31))
    summary = set_based.wallet_attribution_summary(
        agreement.partner_id, agreement.chain_id, terms, scope, count_wallets=True
    )

    # Every cell, every reason, every count, to the last digit.
    assert summary.slice_sums() == engine.slice_sums()
    assert summary.held_sums() == engine.held_sums()
    assert summary.component_totals() == engine.component_totals()
    assert summary.exclusion_totals() == engine.exclusion_totals()
    assert (summary.line_count, summary.total_commission_native) == (
        len(engine.lines),
        sum((line.commission_amount_native for line in engine.lines), D(0)),
    )
    assert summary.excluded_amount_native == sum(
        (ex.held_back_amount_native for ex in engine.exclusions), D(0)
    )
    assert (summary.wallets_by_period, summary.wallet_count) == _wallets_paid(engine)
    without = [p for p in scope if p.period_id not in summary.periods_with_rows]
    assert without == computed.periods_without_data


def _one_day_agreement(name: str, rule: str, rewards: list[tuple]):
    """A partner whose wallets (those named in `rewards`: validator, wallet, component,
    amount) are all staked with their validators through one day-long period, and its
    wallet-attribution agreement with one rule."""
    partner = factories.partner(name, "solana")
    source = factories.provider()
    payloads = {k: factories.payload(source, k) for k in ("periods", "rewards", "events")}
    period = factories.period(payloads["periods"], "T1", FIRST, FIRST + timedelta(days=1))
    staked = sorted({(validator, wallet) for validator, wallet, _, _ in rewards})
    for wallet in sorted({wallet for _, wallet in staked}):
        factories.wallet(partner, wallet, introduced=date(2025, 1, 1))
    factories.events(
        payloads["events"],
        period,
        [(v, w, "STAKE", Decimal(1), FIRST - timedelta(days=1)) for v, w in staked],
    )
    factories.rewards(payloads["rewards"], period, rewards)
    agreement = factories.agreement(partner, rule, wallet_attribution=True)
    db.session.commit()
    return agreement


def _day_summary(agreement):
    """The set-based summary and the engine's result of the agreement's one day."""
    day = date(2025, 3, 1)
    terms = terms_of(agreement)
    scope = inputs.scope_of(agreement, day, day)
    summary = set_based.wallet_attribution_summary(agreement.partner_id, "solana", terms, scope)
    return summary, inputs.compute_agreement(agreement, day, day).result


@pytest.mark.postgres_only
def test_a_half_way_product_rounds_to_even_in_both(app):
    """0.5 x 1e-18 is a tie between 0 and 1e-18 (to even: 0); 0.5 x 3e-18 one between
    1e-18 and 2e-18 (to even: 2e-18), by hand."""
    agreement = _one_day_agreement(
        "Ties", "MEV=5000", [("VoteA", "One", "MEV", TINY), ("VoteA", "Three", "MEV", 3 * TINY)]
    )
    summary, engine = _day_summary(agreement)
    assert summary.total_commission_native == 2 * TINY
    assert summary.total_base_native == 4 * TINY
    assert [line.commission_amount_native for line in engine.lines] == [0 * TINY, 2 * TINY]
    # The comparison page reads the same figures on this database.
    figures = compare.compare(agreement, date(2025, 3, 1), date(2025, 3, 1))
    assert figures.wallet_attribution.commission == 2 * TINY
    assert figures.wallet_attribution.wallet_count == 2


@pytest.mark.postgres_only
def test_only_lines_with_more_than_18_places_are_rounded_and_each_on_its_own(app):
    """At 1 bps a base with 15 decimals gives a product with 19: 0.000000000000127 x 0.0001
    = 12.7e-18, rounded to 13e-18 on each of three lines (39e-18, where rounding their sum
    would give 38e-18); a base with 14 decimals gives exactly 12e-18. By hand: 51e-18."""
    fifteen, fourteen = Decimal("0.000000000000127"), Decimal("0.00000000000012")
    agreement = _one_day_agreement(
        "Places",
        "REWARDS=1",
        [("VoteA", a, "REWARDS", fifteen) for a in "ABC"] + [("VoteA", "D", "REWARDS", fourteen)],
    )
    summary, engine = _day_summary(agreement)
    assert summary.total_commission_native == 51 * TINY
    assert sorted(line.commission_amount_native for line in engine.lines) == [
        12 * TINY,
        13 * TINY,
        13 * TINY,
        13 * TINY,
    ]


def _march_summary(agreement):
    """The agreement's terms and periods in scope for March 2025, and a function that asks
    for their set-based summary."""
    terms = terms_of(agreement)
    scope = inputs.scope_of(agreement, date(2025, 3, 1), date(2025, 3, 31))

    def ask():
        return set_based.wallet_attribution_summary(
            agreement.partner_id, agreement.chain_id, terms, scope
        )

    return terms, scope, ask


@pytest.mark.postgres_only
def test_a_summary_asked_again_is_reused_until_an_input_changes(app, monkeypatch):
    agreement = _world(3)
    _, _, ask = _march_summary(agreement)
    summed = []
    real = set_based._summed

    def counted(*args):
        summed.append(args)
        return real(*args)

    monkeypatch.setattr(set_based, "_summed", counted)
    first = ask()
    # Asked again (by this worker or another): read back, not summed, the same figures.
    assert ask() == first and len(summed) == 1
    # One reward of the partner's changes: the next summary is summed again, and right.
    reward = db.session.scalars(
        select(CanonicalStakerRewardsDetail)
        .join(
            PartnerWallet,
            PartnerWallet.wallet_address == CanonicalStakerRewardsDetail.staker_address,
        )
        .where(PartnerWallet.partner_id == agreement.partner_id)
        .limit(1)
    ).one()
    reward.reward_amount_native += 7
    db.session.commit()
    second = ask()
    assert len(summed) == 2 and second != first
    engine = inputs.compute_agreement(agreement, date(2025, 3, 1), date(2025, 3, 31)).result
    assert second.slice_sums() == engine.slice_sums()
    assert second.held_sums() == engine.held_sums()


@pytest.mark.postgres_only
def test_a_change_while_a_summary_is_read_is_not_kept_under_the_new_digests(app, monkeypatch):
    """A summary and the digests it is kept by come from one snapshot: a wallet deactivated
    after the summing began, before the digests were read, is not hidden by a kept summary
    of the wallets as they were."""
    agreement = _world(4)
    _, _, ask = _march_summary(agreement)
    active = db.session.scalars(
        select(PartnerWallet).where(
            PartnerWallet.partner_id == agreement.partner_id, PartnerWallet.is_active
        )
    ).all()
    real = set_based.period_digests

    def changed_meanwhile(*args):
        for wallet in active:
            wallet.is_active = False
        db.session.commit()  # on the request's own connection, as another user would
        return real(*args)

    monkeypatch.setattr(set_based, "period_digests", changed_meanwhile)
    before = ask()
    assert before.line_count > 0  # summed while the wallets were active
    monkeypatch.setattr(set_based, "period_digests", real)
    after = ask()
    assert after.line_count == 0 and after.total_commission_native == 0
    engine = inputs.compute_agreement(agreement, date(2025, 3, 1), date(2025, 3, 31)).result
    assert after.held_sums() == engine.held_sums()


@pytest.mark.postgres_only
def test_a_period_of_a_kept_summary_answers_while_its_own_inputs_are_unchanged(app):
    """A preview's period opened as a page of its own reads the summary the preview kept:
    the same figures as the engine's for that period; a change to another period's rewards
    leaves it standing; a change to its own rewards, or to the wallets, does not."""
    agreement = _world(6)
    terms, scope, ask = _march_summary(agreement)
    mine, other = scope[1], scope[2]

    def kept():
        return set_based.kept_period(
            agreement.partner_id, agreement.chain_id, terms, scope, mine.period_id
        )

    assert kept() is None  # nothing asked yet
    ask()
    part = kept()
    engine = inputs.compute_agreement(agreement, date(2025, 3, 1), date(2025, 3, 31)).result
    in_mine = {k: v for k, v in engine.slice_sums().items() if k[0] == mine.period_id}
    assert in_mine and part.slice_sums() == in_mine
    assert part.held_sums() == {
        k: v for k, v in engine.held_sums().items() if k[0] == mine.period_id
    }

    def partner_reward_in(period):
        R, W = CanonicalStakerRewardsDetail, PartnerWallet
        return db.session.scalars(
            select(R)
            .join(W, W.wallet_address == R.staker_address)
            .where(W.partner_id == agreement.partner_id, R.period_id == period.period_id)
            .limit(1)
        ).one()

    partner_reward_in(other).reward_amount_native += 1
    db.session.commit()
    assert kept().slice_sums() == in_mine
    partner_reward_in(mine).reward_amount_native += 1
    db.session.commit()
    assert kept() is None

    ask()
    assert kept() is not None
    wallet = db.session.scalars(
        select(PartnerWallet).where(PartnerWallet.partner_id == agreement.partner_id).limit(1)
    ).one()
    wallet.notes = "only a note: not an input"
    db.session.commit()
    assert kept() is not None
    wallet.is_active = not wallet.is_active
    db.session.commit()
    assert kept() is None


@pytest.mark.postgres_only
def test_a_preview_period_page_opened_from_the_preview_reads_its_kept_summary(
    manager_client, monkeypatch
):
    agreement = _world(7)
    span = {"date_from": "2025-03-01", "date_to": "2025-03-31"}
    preview = manager_client.get(
        "/commissions/", query_string={"partner": str(agreement.partner_id), **span}
    )
    assert preview.status_code == 200
    scope = inputs.scope_of(agreement, date(2025, 3, 1), date(2025, 3, 31))
    period = scope[0]
    engine = inputs.compute_agreement(agreement, date(2025, 3, 1), date(2025, 3, 31)).result
    commission = sum(
        (c for (p, _, _), (_, _, c) in engine.slice_sums().items() if p == period.period_id),
        D(0),
    )

    assert commission > 0

    def not_again(*args, **kwargs):
        raise AssertionError("the period was computed again")

    monkeypatch.setattr(inputs, "compute_slice", not_again)
    page = manager_client.get(
        f"/insight/agreements/{agreement.agreement_id}/periods/{period.period_id}",
        query_string=span,
    )
    assert page.status_code == 200
    assert format_amount(commission) in page.get_data(as_text=True)


@pytest.mark.postgres_only
def test_the_planner_settings_of_the_summary_end_with_it(app):
    """The summary plans its statement with hash joins only and parallel workers, on a
    connection of its own: the request's transaction keeps the settings it had."""
    agreement = _world(5)
    settings = "SELECT current_setting('enable_nestloop'), current_setting('work_mem')"
    before = db.session.execute(text(settings)).one()
    set_based.wallet_attribution_summary(
        agreement.partner_id,
        agreement.chain_id,
        terms_of(agreement),
        inputs.scope_of(agreement, date(2025, 3, 1), date(2025, 3, 31)),
    )
    assert db.session.execute(text(settings)).one() == before == ("on", before[1])
    assert before[1] != set_based.SETTINGS["work_mem"]


@pytest.mark.postgres_only
def test_only_the_newest_summaries_of_a_partner_are_kept(app, monkeypatch):
    monkeypatch.setattr(set_based, "KEPT_PER_PARTNER", 2)
    agreement = _world(8)
    terms = terms_of(agreement)
    scope = inputs.scope_of(agreement, date(2025, 3, 1), date(2025, 3, 31))
    for end in range(1, len(scope) + 1):  # four questions: the first 1, 2, 3, 4 periods
        set_based.wallet_attribution_summary(
            agreement.partner_id, agreement.chain_id, terms, scope[:end], count_wallets=True
        )
    kept = db.session.scalars(select(KeptSummary.question)).all()
    assert sorted(kept) == sorted(
        [set_based._question(True, scope[:3]), set_based._question(True, scope)]
    )
