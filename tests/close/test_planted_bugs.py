"""Rules of the month-end close and of the engine that one-line mistakes once broke without a
test noticing: locks held by paid runs, true-ups that respect locks, pay only after approval,
the rate of an adjustment line, the digest of a rule's validator, a narrower commit's periods,
a 0 bps validator rule, half-to-even rounding of a line, and a commit that names its committer
(page and command line). Every expected figure is worked out by hand in the test; every
outcome is checked in the rows stored, on SQLite and PostgreSQL."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.worlds import V2, W_PAID, W_UNSTAKED, world_with_agreements
from webapp.attribution import commission_amount
from webapp.commissions import committing, inputs, lifecycle, results, set_based
from webapp.commissions.lifecycle import CommissionError
from webapp.commissions.terms import period_uuid, terms_of
from webapp.extensions import db
from webapp.models import (
    AgreementRule,
    CanonicalStakerRewardsDetail,
    CommissionLock,
    CommissionRun,
    CommissionRunEvent,
    CommissionRunPeriod,
    PartnerCommissionLine,
)

D = Decimal
TINY = D(1).scaleb(-18)
FIRST, SECOND, LAST = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
ANN, BOB = "ann@example.com", "bob@example.com"


@pytest.fixture
def world(app):
    """Acme's three daily Solana periods (wallet attribution, MEV=1000, REWARDS=500@Vote111)
    and one Ethereum period (total revenue, MEV=250), as `build_world` makes them; Ann and
    Bob, two managers (Ann commits, Bob approves and pays)."""
    made = world_with_agreements()
    made.ann = factories.user("manager", ANN)
    made.bob = factories.user("manager", BOB)
    db.session.commit()
    return made


def state():
    """Everything a refused commit must leave as it was: lines, runs, pairs held, locks."""
    db.session.expire_all()
    L, R, RP, K = PartnerCommissionLine, CommissionRun, CommissionRunPeriod, CommissionLock
    return (
        sorted(
            (str(a), str(b), str(c), d, e)
            for a, b, c, d, e in db.session.execute(
                select(L.line_id, L.run_id, L.period_id, L.line_kind, L.commission_amount_native)
            )
        ),
        sorted((str(a), b) for a, b in db.session.execute(select(R.run_id, R.status))),
        sorted(tuple(map(str, row)) for row in db.session.execute(select(RP.period_id, RP.run_id))),
        sorted(tuple(map(str, row)) for row in db.session.execute(select(K.period_id, K.run_id))),
    )


def sol_run(computation) -> CommissionRun:
    return next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")


def stored(run_id) -> CommissionRun:
    db.session.expire_all()
    return db.session.get(CommissionRun, run_id)


def held_periods(run_id) -> set:
    RP = CommissionRunPeriod
    return set(db.session.scalars(select(RP.period_id).where(RP.run_id == run_id)))


def rule_of(agreement, component: str) -> AgreementRule:
    return db.session.scalars(
        select(AgreementRule).where(
            AgreementRule.agreement_id == agreement.agreement_id,
            AgreementRule.revenue_component == component,
        )
    ).one()


def close(world, date_from=FIRST, date_to=LAST, pay: bool = False):
    """Ann commits the range, Bob approves (and pays) every run of it."""
    computation = committing.commit(world.acme, date_from, date_to, user=world.ann)
    for outcome in computation.outcomes:
        lifecycle.approve_run(outcome.run, world.bob)
        if pay:
            lifecycle.pay_run(outcome.run, world.bob, "PAYOUT-1", date(2025, 2, 5))
    return computation


def correct_a_reward(world):
    """W_PAID's MEV on 2 Jan becomes 2.5 (was 1.5): a recomputation would differ."""
    R = CanonicalStakerRewardsDetail
    db.session.scalars(
        select(R).where(
            R.period_id == world.periods[1].period_id,
            R.staker_address == W_PAID,
            R.revenue_component == "MEV",
        )
    ).one().reward_amount_native = D("2.5")
    db.session.commit()


# ---- a. A paid run's pairs stay locked -------------------------------------------------


def test_a_paid_runs_periods_are_locked_against_any_later_commit(world):
    closed = close(world, pay=True)
    assert {stored(o.run.run_id).status for o in closed.outcomes} == {"paid"}
    correct_a_reward(world)
    before = state()
    for low, high in ((FIRST, LAST), (SECOND, SECOND), (date(2024, 12, 1), date(2025, 1, 31))):
        with pytest.raises(CommissionError, match="locked by paid run") as refused:
            committing.commit(world.acme, low, high, user=world.ann)
        assert any(str(o.run.run_id) in str(refused.value) for o in closed.outcomes)
        assert state() == before  # the paid lines, runs and locks are as they were


# ---- b. A true-up respects locks -------------------------------------------------------


def test_a_true_up_commit_of_a_locked_range_is_refused(world):
    close(world)
    correct_a_reward(world)
    before = state()
    with pytest.raises(CommissionError, match="locked by approved run"):
        committing.commit(world.acme, FIRST, LAST, user=world.ann, true_up=True)
    with pytest.raises(CommissionError, match="locked by approved run"):
        committing.commit(world.acme, SECOND, SECOND, user=world.ann, true_up=True)
    assert state() == before


def test_a_true_up_commit_of_a_locked_range_is_refused_on_the_command_line(world, runner):
    close(world)
    correct_a_reward(world)
    before = state()
    result = runner.invoke(
        args=[
            *("commissions", "compute", "Acme Wallet", "--from", "2025-01-01"),
            *("--to", "2025-01-03", "--commit", "--true-up", "--as", ANN),
        ]
    )
    assert result.exit_code != 0, result.output
    assert "locked by approved run" in result.output
    assert state() == before


# ---- c. Pay only after approval, from the page too -------------------------------------


def test_the_page_does_not_pay_a_committed_run(world, login, app):
    run = sol_run(committing.commit(world.acme, FIRST, LAST, user=world.ann))
    bob = login(app.test_client(), world.bob)
    form = {"payout_reference": "TX-1", "paid_on": "2025-02-05"}
    before = state()

    response = bob.post(f"/commissions/runs/{run.run_id}/pay", data=form)
    assert response.status_code == 302
    row = stored(run.run_id)
    assert row.status == "committed"
    assert (row.paid_at, row.paid_on, row.paid_by_user_id, row.payout_reference) == (None,) * 4
    events = select(func.count()).where(
        CommissionRunEvent.run_id == run.run_id, CommissionRunEvent.action == "pay"
    )
    assert db.session.scalar(events) == 0
    assert state() == before

    # The same form pays the run once it is approved (the refusal above was the status's).
    lifecycle.approve_run(stored(run.run_id), world.bob)
    assert bob.post(f"/commissions/runs/{run.run_id}/pay", data=form).status_code == 302
    row = stored(run.run_id)
    assert (row.status, row.payout_reference, row.paid_on) == ("paid", "TX-1", date(2025, 2, 5))
    assert db.session.scalar(events) == 1


# ---- d. An adjustment line carries the recomputed rate ---------------------------------


def test_a_true_up_after_a_rate_edit_carries_the_new_rate(world):
    locked = sol_run(close(world, FIRST, FIRST))
    locked_lines = state()[0]
    rule_of(world.solana, "MEV").commission_rate_bps = 2000
    db.session.commit()

    later = sol_run(committing.commit(world.acme, SECOND, LAST, user=world.ann, true_up=True))

    L = PartnerCommissionLine
    adjustments = db.session.execute(
        select(
            L.wallet_address,
            L.revenue_component,
            L.base_amount_native,
            L.commission_rate_bps,
            L.commission_amount_native,
            L.corrects_run_id,
            L.run_id,
        ).where(L.line_kind == "adjustment")
    ).all()
    # On 1 Jan, W_PAID and W_UNSTAKED each had MEV 1.5: 1.5 x 20% - 1.5 x 10% = 0.15, base
    # unchanged (difference 0), at the rate the line has today: 2000.
    assert sorted((str(w), str(c), b, r, a) for w, c, b, r, a, _, _ in adjustments) == [
        (W_UNSTAKED, "MEV", D(0), 2000, D("0.15")),
        (W_PAID, "MEV", D(0), 2000, D("0.15")),
    ]
    assert {(c, r) for *_, c, r in adjustments} == {(locked.run_id, later.run_id)}
    assert stored(later.run_id).total_adjustment_native == D("0.3")
    # The locked lines are as they were: rate 1000.
    still = {row for row in state()[0] if row[1] == str(locked.run_id)}
    assert still == {row for row in locked_lines if row[1] == str(locked.run_id)}
    assert set(
        db.session.scalars(select(L.commission_rate_bps).where(L.run_id == locked.run_id))
    ) == {1000, 500}


# ---- e. A rule moved to another validator is an input change ----------------------------


def test_a_rule_moved_to_another_validator_makes_the_recommit_compute(world):
    first = sol_run(committing.commit(world.acme, FIRST, LAST, user=world.ann))
    assert first.line_count == 14
    rule_of(world.solana, "REWARDS").validator_key = V2  # V2 has no REWARDS rows
    db.session.commit()

    again = committing.commit(world.acme, FIRST, LAST, user=world.ann)
    outcome = next(o for o in again.outcomes if o.agreement.name == "Acme SOL")
    assert not outcome.unchanged
    run = stored(outcome.run.run_id)
    # The REWARDS rows are all on V1, which has no rule now: the 7 MEV lines are due, each
    # 1.5 x 10% = 0.15.
    assert (run.line_count, run.total_commission_native) == (7, D("1.05"))
    L = PartnerCommissionLine
    current = db.session.execute(
        select(L.revenue_component, L.commission_amount_native)
        .join(CommissionRunPeriod, CommissionRunPeriod.run_id == L.run_id)
        .where(
            L.agreement_id == world.solana.agreement_id,
            CommissionRunPeriod.period_id == L.period_id,
        )
    ).all()
    assert sorted((str(c), a) for c, a in current) == [("MEV", D("0.15"))] * 7


# ---- f. A narrower commit holds its own periods only -----------------------------------


def test_an_unchanged_commit_of_one_day_holds_that_day_only(world):
    whole = sol_run(committing.commit(world.acme, FIRST, LAST, user=world.ann))
    day = committing.commit(world.acme, SECOND, SECOND, user=world.ann)
    outcome = next(o for o in day.outcomes if o.agreement.name == "Acme SOL")
    assert [period_uuid(p.period_id) for p in outcome.result.periods] == [
        world.periods[1].period_id
    ]

    run = stored(outcome.run.run_id)
    # 2 Jan: W_PAID, W_LATE and W_UNSTAKED each MEV 1.5 x 10% and REWARDS
    # 10.000000000000000001 x 5% = 0.50000000000000000005 -> 0.5: 6 lines, 1.95.
    assert (run.period_count, run.line_count) == (1, 6)
    assert run.total_commission_native == D("1.95")
    assert held_periods(run.run_id) == {world.periods[1].period_id}
    # The three-day run keeps its two other days and stands.
    earlier = stored(whole.run_id)
    assert earlier.status == "committed"
    assert held_periods(earlier.run_id) == {world.periods[0].period_id, world.periods[2].period_id}


# ---- g. A 0 bps rule for a validator beats the general rule ----------------------------

DAY = date(2025, 3, 1)
START = factories.utc(2025, 3, 1)


def zero_rule_world():
    """Zed, on one day of Solana (wallet attribution) and of Ethereum (total revenue), with
    MEV at 500 bps in general and 0 bps on validator Vzero, and revenue on Vzero and Vfull."""
    zed = factories.partner("Zed Wallet", "solana", "ethereum")
    source = factories.provider()
    payloads = {k: factories.payload(source, k) for k in ("periods", "rewards", "events")}
    eth = factories.payload(source, "validator-revenue", "ethereum")
    day = factories.period(payloads["periods"], "T1", START, START + timedelta(days=1))
    eth_day = factories.period(eth, "T1", START, START + timedelta(days=1), "ethereum")
    factories.wallet(zed, "WalletZ", introduced=date(2025, 1, 1))
    factories.events(
        payloads["events"],
        day,
        [(v, "WalletZ", "STAKE", D(1), START - timedelta(days=1)) for v in ("Vzero", "Vfull")],
    )
    factories.rewards(
        payloads["rewards"],
        day,
        [("Vzero", "WalletZ", "MEV", "4"), ("Vfull", "WalletZ", "MEV", "4")],
    )
    factories.revenue(eth, eth_day, [("0xzero", "MEV", "8"), ("0xfull", "MEV", "8")])
    sol = factories.agreement(
        zed, "MEV=500", "MEV=0@Vzero", name="Zed SOL", wallet_attribution=True
    )
    ether = factories.agreement(zed, "MEV=500", "MEV=0@0xzero", chain_id="ethereum", name="Zed ETH")
    committer = factories.user("manager")
    db.session.commit()
    return zed, sol, ether, committer


def test_a_zero_rate_validator_rule_gives_zero_on_its_lines(app):
    zed, sol, ether, committer = zero_rule_world()
    # By hand: Vzero 4 x 0% = 0, Vfull 4 x 5% = 0.2; 0xzero 8 x 0% = 0, 0xfull 8 x 5% = 0.4.
    expected = {
        sol.agreement_id: [("Vfull", 500, D("0.2")), ("Vzero", 0, D(0))],
        ether.agreement_id: [("0xfull", 500, D("0.4")), ("0xzero", 0, D(0))],
    }
    for agreement in (sol, ether):
        lines = inputs.compute_agreement(agreement, DAY, DAY).result.lines
        got = sorted(
            (x.validator_key, x.commission_rate_bps, x.commission_amount_native) for x in lines
        )
        assert got == expected[agreement.agreement_id], agreement.name
    committing.commit(zed, DAY, DAY, user=committer)
    L = PartnerCommissionLine
    for agreement in (sol, ether):
        rows = db.session.execute(
            select(L.validator_key, L.commission_rate_bps, L.commission_amount_native).where(
                L.agreement_id == agreement.agreement_id
            )
        ).all()
        assert sorted(tuple(r) for r in rows) == expected[agreement.agreement_id]


@pytest.mark.postgres_only
def test_a_zero_rate_validator_rule_gives_zero_in_the_set_based_summary(app):
    zed, sol, _, _ = zero_rule_world()
    scope = inputs.scope_of(sol, DAY, DAY)
    summary = set_based.wallet_attribution_summary(zed.partner_id, "solana", terms_of(sol), scope)
    period = scope[0].period_id
    assert summary.slices[(period, "Vzero", "MEV")][1:] == [D(4), D(0)]
    assert summary.slices[(period, "Vfull", "MEV")][1:] == [D(4), D("0.2")]
    assert summary.total_commission_native == D("0.2")
    # The preview of a page reads the same figure.
    preview = results.preview(zed, DAY, DAY)
    figures = {o.agreement.name: o.result.total_commission_native for o in preview.outcomes}
    assert figures == {"Zed SOL": D("0.2"), "Zed ETH": D("0.4")}


# ---- h. A line is rounded once, half to even -------------------------------------------

#: (base, rate in bps, commission by hand): each product lies exactly halfway between two
#: units of 1e-18; half to even goes down on an even unit below, up on an odd one.
HALVES = [
    (5 * TINY, 5000, 2 * TINY),  # 2.5e-18 -> 2e-18 (down to even)
    (3 * TINY, 5000, 2 * TINY),  # 1.5e-18 -> 2e-18 (up to even)
    (D("1.000000000000000005"), 5000, D("0.500000000000000002")),  # ...2.5 -> ...2 (down)
    (D("1.000000000000000007"), 5000, D("0.500000000000000004")),  # ...3.5 -> ...4 (up)
    (D("0.000000000000025"), 1, 2 * TINY),  # 2.5e-18 -> 2e-18 (down)
    (D("0.000000000000035"), 1, 4 * TINY),  # 3.5e-18 -> 4e-18 (up)
]


def test_commission_amount_rounds_half_to_even():
    for base, rate, expected in HALVES:
        assert commission_amount(base, rate) == expected, (base, rate)


def test_the_engine_rounds_each_line_half_to_even_with_either_method(app):
    """Each HALVES row as a reward of its own wallet (wallet attribution) and as a validator's
    revenue (total revenue), each with the one rule its rate needs."""
    tie = factories.partner("Tie Wallet", "solana", "ethereum")
    source = factories.provider()
    payloads = {k: factories.payload(source, k) for k in ("periods", "rewards", "events")}
    eth = factories.payload(source, "validator-revenue", "ethereum")
    day = factories.period(payloads["periods"], "T1", START, START + timedelta(days=1))
    eth_day = factories.period(eth, "T1", START, START + timedelta(days=1), "ethereum")
    component = {5000: "MEV", 1: "REWARDS"}
    for n, (base, rate, _) in enumerate(HALVES):
        factories.wallet(tie, f"Wallet{n}", introduced=date(2025, 1, 1))
        factories.events(
            payloads["events"], day, [("Vote", f"Wallet{n}", "STAKE", D(1), START - timedelta(1))]
        )
        factories.rewards(payloads["rewards"], day, [("Vote", f"Wallet{n}", component[rate], base)])
    factories.revenue(
        eth,
        eth_day,
        [(f"0xv{n}", component[rate], base) for n, (base, rate, _) in enumerate(HALVES)],
    )
    rules = ("MEV=5000", "REWARDS=1")
    sol = factories.agreement(tie, *rules, name="Tie SOL", wallet_attribution=True)
    ether = factories.agreement(tie, *rules, chain_id="ethereum", name="Tie ETH")
    committer = factories.user("manager")
    db.session.commit()

    want = {
        sol.agreement_id: sorted((f"Wallet{n}", h[2]) for n, h in enumerate(HALVES)),
        ether.agreement_id: sorted((f"0xv{n}", h[2]) for n, h in enumerate(HALVES)),
    }

    def key(line):
        return line.wallet_address or line.validator_key

    for agreement in (sol, ether):
        lines = inputs.compute_agreement(agreement, DAY, DAY).result.lines
        got = sorted((key(x), x.commission_amount_native) for x in lines)
        assert got == want[agreement.agreement_id], agreement.name
    committing.commit(tie, DAY, DAY, user=committer)
    L = PartnerCommissionLine
    for agreement in (sol, ether):
        rows = db.session.execute(
            select(L.wallet_address, L.validator_key, L.commission_amount_native).where(
                L.agreement_id == agreement.agreement_id
            )
        ).all()
        got = sorted((wallet or validator, amount) for wallet, validator, amount in rows)
        assert got == want[agreement.agreement_id], agreement.name


# ---- i. A commit names its committer ---------------------------------------------------


def test_a_commit_from_the_page_stores_who_committed(world, login, app):
    ann = login(app.test_client(), world.ann)
    form = {"partner": str(world.acme.partner_id), "date_from": "2025-01-01"}
    response = ann.post("/commissions/commit", data={**form, "date_to": "2025-01-03"})
    assert response.status_code == 302
    db.session.expire_all()
    runs = db.session.scalars(select(CommissionRun)).all()
    assert sorted(r.agreement.name for r in runs) == ["Acme ETH", "Acme SOL"]
    assert {r.created_by_user_id for r in runs} == {world.ann.user_id}
    E = CommissionRunEvent
    assert set(db.session.scalars(select(E.user_id).where(E.action == "commit"))) == {
        world.ann.user_id
    }
    # So Ann cannot approve what she committed; Bob can.
    with pytest.raises(CommissionError, match="four eyes"):
        lifecycle.approve_run(runs[0], world.ann)


def test_a_commit_from_the_command_line_without_a_person_is_refused(world, runner):
    span = ["Acme Wallet", "--from", "2025-01-01", "--to", "2025-01-03"]
    for extra in ([], ["--true-up"], ["--as", " "]):
        result = runner.invoke(args=["commissions", "compute", *span, "--commit", *extra])
        assert result.exit_code != 0, result.output
        assert result.output.strip().splitlines() == [
            "Error: a commit names a person: give --as EMAIL (nothing committed)"
        ]
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(CommissionRun)) == 0
        assert db.session.scalar(select(func.count()).select_from(PartnerCommissionLine)) == 0
    # Named, it commits, and the run says who.
    result = runner.invoke(args=["commissions", "compute", *span, "--commit", "--as", ANN])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    committers = db.session.scalars(select(CommissionRun.created_by_user_id)).all()
    assert committers == [world.ann.user_id] * 2
