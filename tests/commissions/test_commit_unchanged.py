"""A commit whose inputs are all as the earlier run was computed from carries that run's
result over without computing it: a new committed run with the same figures supersedes the
earlier one, and no line or exclusion is written. Any change to what a period's result
depends on makes the next commit compute again, and its run shows the change."""

import json
from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.worlds import V1, W_PAID, count
from webapp.commissions import committing, results
from webapp.extensions import db
from webapp.models import (
    AgreementRule,
    AuditLog,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    PartnerCommissionLine,
    PartnerWallet,
)

FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


def _rows():
    """Every stored line and exclusion, with its id: what a carried result must not touch."""
    L, X = PartnerCommissionLine, CommissionExclusion
    lines = db.session.execute(
        select(L.line_id, L.run_id, L.period_id, L.wallet_address, L.commission_amount_native)
    ).all()
    exclusions = db.session.execute(select(X.exclusion_id, X.run_id, X.held_back_amount_native))
    return set(lines), set(exclusions.all())


def _run_of(computation, agreement):
    return next(o for o in computation.outcomes if o.agreement == agreement)


def test_a_commit_of_unchanged_inputs_carries_the_result_over(world):
    first = committing.commit(world.acme, FIRST, LAST)
    before = _rows()
    events = count(AuditLog)

    second = committing.commit(world.acme, FIRST, LAST)
    db.session.expire_all()

    assert _rows() == before  # nothing written, nothing deleted
    for agreement in (world.solana, world.ethereum):
        old, new = _run_of(first, agreement), _run_of(second, agreement)
        assert new.unchanged and not old.unchanged
        assert new.carried_from == old.run.run_id
        earlier = db.session.get(CommissionRun, old.run.run_id)
        later = db.session.get(CommissionRun, new.run.run_id)
        assert (earlier.status, earlier.superseded_by_run_id) == ("superseded", later.run_id)
        assert later.status == "committed"
        for column in (
            "line_count",
            "period_count",
            "total_base_native",
            "total_commission_native",
            "excluded_amount_native",
            "input_payload_ids",
            "method",
        ):
            assert getattr(later, column) == getattr(earlier, column), column
        # The new run holds every pair; the figures read back are the first commit's.
        held = db.session.scalars(
            select(CommissionRunPeriod.run_id).where(
                CommissionRunPeriod.agreement_id == agreement.agreement_id
            )
        ).all()
        assert set(held) == {later.run_id}
        assert new.result.component_totals() == old.result.component_totals()
        assert new.result.exclusion_totals() == old.result.exclusion_totals()
    # The commit and the supersede of each agreement's run are on record.
    assert count(AuditLog) == events + 4


def test_the_command_line_says_the_result_was_carried_over(world, runner):
    args = ["commissions", "compute", "Acme Wallet"]
    args += ["--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--commit"]
    args += ["--as", factories.user("manager").email]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert "carried over" not in first.output
    assert again.output.count("no input changed, nothing computed or written") == 2
    for run in db.session.scalars(
        select(CommissionRun).where(CommissionRun.status == "superseded")
    ):
        assert f"result carried over from run {run.run_id}" in again.output

    def figures(output):  # the per-component, total and exclusion lines of each agreement
        return [line for line in output.splitlines() if line.startswith("  ")]

    # Read back from the database, they are what the first commit computed.
    assert figures(again.output) == figures(first.output)
    assert any("excluded:" in line for line in figures(first.output))


def _reward(period, address=W_PAID, component="MEV"):
    R = CanonicalStakerRewardsDetail
    return db.session.scalars(
        select(R).where(
            R.period_id == period.period_id,
            R.staker_address == address,
            R.revenue_component == component,
            R.validator_key == V1,
        )
    ).one()


def _change_reward(world):
    _reward(world.periods[1]).reward_amount_native = D("2.5")


def _change_event(world):
    # W_PAID leaves on 1 Jan at noon: not staked on 2 and 3 Jan.
    factories.events(
        world.sources["stake-events"],
        world.periods[0],
        [(V1, W_PAID, "UNSTAKE", "100", factories.utc(2025, 1, 1, 12))],
    )


def _change_wallet(world):
    W = PartnerWallet
    db.session.scalars(select(W).where(W.wallet_address == W_PAID)).one().introduced_date = date(
        2025, 1, 3
    )


def _deactivate_wallet(world):
    W = PartnerWallet
    db.session.scalars(select(W).where(W.wallet_address == W_PAID)).one().is_active = False


def _change_rule(world):
    rule = db.session.scalars(
        select(AgreementRule).where(
            AgreementRule.agreement_id == world.solana.agreement_id,
            AgreementRule.revenue_component == "MEV",
        )
    ).one()
    rule.commission_rate_bps = 2000


def _switch_method(world):
    world.solana.wallet_attribution_enabled = False


def _change_revenue(world):
    V = CanonicalValidatorRevenue
    row = db.session.scalars(select(V).where(V.revenue_component == "MEV")).one()
    row.amount_native = D("4")


@pytest.mark.parametrize(
    "change",
    [
        _change_reward,
        _change_event,
        _change_wallet,
        _deactivate_wallet,
        _change_rule,
        _switch_method,
        _change_revenue,
    ],
)
def test_any_change_an_input_makes_the_next_commit_compute_again(world, change):
    first = committing.commit(world.acme, FIRST, LAST)
    # The first runs' figures as committed (the next commit takes their pairs, and figures,
    # over).
    committed = {
        o.agreement.agreement_id: (o.run.line_count, o.run.total_commission_native)
        for o in first.outcomes
    }
    change(world)
    db.session.commit()
    # What the engine computes from the changed inputs, before the commit stores anything.
    expected = {
        o.agreement.agreement_id: (o.result.line_count, o.result.total_commission_native)
        for o in results.preview(world.acme, FIRST, LAST, lines=True).outcomes
    }
    second = committing.commit(world.acme, FIRST, LAST)
    db.session.expire_all()
    changed = 0
    for outcome in second.outcomes:
        run = db.session.get(CommissionRun, outcome.run.run_id)
        assert (run.line_count, run.total_commission_native) == expected[
            outcome.agreement.agreement_id
        ]
        stored = db.session.scalar(
            select(func.count()).where(
                PartnerCommissionLine.agreement_id == outcome.agreement.agreement_id
            )
        )
        assert stored == run.line_count
        if committed[outcome.agreement.agreement_id] != (
            run.line_count,
            run.total_commission_native,
        ):
            changed += 1
            assert not outcome.unchanged
    assert changed == 1  # each change moves exactly one agreement's figures


def test_a_true_up_never_takes_the_shortcut(world):
    committing.commit(world.acme, FIRST, LAST)
    again = committing.commit(world.acme, FIRST, LAST, true_up=True)
    assert not any(o.unchanged for o in again.outcomes)


def test_pairs_committed_before_digests_existed_are_computed_once_more(world):
    committing.commit(world.acme, FIRST, LAST)
    db.session.execute(CommissionRunPeriod.__table__.update().values(inputs_digest=None))
    db.session.commit()
    again = committing.commit(world.acme, FIRST, LAST)
    assert not any(o.unchanged for o in again.outcomes)
    third = committing.commit(world.acme, FIRST, LAST)
    assert all(o.unchanged for o in third.outcomes)


def test_the_digest_of_each_input_kind_moves_with_it(world):
    """Independent of the commit: the fingerprint of a period changes when one reward of
    that period changes, and only that period's."""
    from webapp.commissions.fingerprints import fingerprint
    from webapp.commissions.inputs import scope_of
    from webapp.commissions.terms import terms_of

    agreement = world.solana
    scope = scope_of(agreement, FIRST, LAST)

    def prints():
        return fingerprint(agreement.partner_id, "solana", terms_of(agreement), scope).digests

    before = prints()
    assert len(set(before.values())) == 3
    _change_reward(world)
    db.session.commit()
    after = prints()
    assert [before[k] == after[k] for k in before] == [True, False, True]


def test_the_web_commit_says_so(manager_client, world):
    data = {
        "partner": str(world.acme.partner_id),
        "date_from": FIRST.isoformat(),
        "date_to": LAST.isoformat(),
    }
    manager_client.post("/commissions/commit", data=data)
    page = manager_client.post("/commissions/commit", data=data, follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "2 of them found no input changed" in text
    assert count(CommissionRun) == 4


def test_a_carried_run_shows_every_period_it_holds(world, manager_client):
    """The rows of a carried run stay where the first commit wrote them; the run's drill-down,
    wallet explanations and files read them through the pairs the run holds."""
    from webapp.commissions import period_sums
    from webapp.insight import drill, explain

    first = _run_of(committing.commit(world.acme, FIRST, LAST), world.solana).run
    second = _run_of(committing.commit(world.acme, FIRST, LAST), world.solana).run
    db.session.expire_all()
    earlier = db.session.get(CommissionRun, first.run_id)
    later = db.session.get(CommissionRun, second.run_id)

    rows = period_sums.run_periods(later)
    assert [r.label for r in rows] == ["701", "702", "703"]
    assert sum(r.sums.line_count for r in rows) == later.line_count == 14
    assert (
        sum((r.sums.commission_amount_native for r in rows), D(0)) == later.total_commission_native
    )
    wallet = explain.explain_run(later, [(W_PAID, date(2024, 12, 1), True)])[0]
    assert wallet.line_count == 6  # 3 days x MEV and REWARDS on V1 (never staked with V2)
    held = drill.run_wallet_lines(later, world.periods[0].period_id, V1, "MEV", "", 50)[0]
    assert W_PAID in {line.wallet_address for line in held}

    files = {
        kind: manager_client.get(f"/commissions/runs/{later.run_id}/{kind}.csv")
        .get_data(as_text=True)
        .splitlines()
        for kind in ("lines", "exclusions")
    }
    assert len(files["lines"]) - 1 == 14
    assert len(files["exclusions"]) - 1 == db.session.scalar(
        select(func.count()).where(CommissionExclusion.agreement_id == world.solana.agreement_id)
    )
    # The superseded run holds no pair any more: its drill-down is empty.
    assert period_sums.run_periods(earlier) == []


def test_after_one_period_changed_only_that_period_is_computed(world, monkeypatch):
    from webapp.commissions import committing, inputs, set_based_lines

    committing.commit(world.acme, FIRST, LAST)
    L = PartnerCommissionLine
    kept_before = set(
        db.session.scalars(select(L.line_id).where(L.period_id != world.periods[1].period_id))
    )
    _change_reward(world)
    db.session.commit()
    expected = {
        o.agreement.agreement_id: o.result
        for o in results.preview(world.acme, FIRST, LAST, lines=True).outcomes
    }

    computed = []
    real = committing.compute_scope

    def spy(agreement, terms, scope):
        computed.append((agreement.name, [p.label for p in scope]))
        return real(agreement, terms, scope)

    monkeypatch.setattr(committing, "compute_scope", spy)
    # On PostgreSQL a wallet-attribution commit computes in the database instead.
    figures = set_based_lines.period_figures

    def written(agreement, periods, run=None, write=()):
        if write:
            computed.append((agreement.name, [p.label for p in periods]))
        return figures(agreement, periods, run, write)

    monkeypatch.setattr(set_based_lines, "period_figures", written)
    second = committing.commit(world.acme, FIRST, LAST)
    db.session.expire_all()

    assert computed == [("Acme SOL", ["702"])]  # the ETH agreement was carried over whole
    for outcome in second.outcomes:
        run = db.session.get(CommissionRun, outcome.run.run_id)
        engine = expected[outcome.agreement.agreement_id]
        assert (
            run.line_count,
            run.total_base_native,
            run.total_commission_native,
            run.excluded_amount_native,
        ) == (
            engine.line_count,
            engine.total_base_native,
            engine.total_commission_native,
            engine.excluded_amount_native,
        )
        assert outcome.result.component_totals() == engine.component_totals()
        assert outcome.result.exclusion_totals() == engine.exclusion_totals()
        full = inputs.compute_agreement(outcome.agreement, FIRST, LAST)
        assert json.loads(run.input_payload_ids) == full.lineage
    assert kept_before <= set(db.session.scalars(select(L.line_id)))


def test_every_digested_column_of_a_row_moves_the_digest(world):
    """Each value an input row's digest is made of, changed on its own in place, changes
    the digests: the rows stay the same rows (no count changes), so only the hash of that
    column can tell."""
    from webapp.commissions.fingerprints import fingerprint
    from webapp.commissions.inputs import scope_of
    from webapp.commissions.terms import terms_of
    from webapp.models import CanonicalStakeEvent

    agreement = world.solana
    scope = scope_of(agreement, FIRST, LAST)
    E, W = CanonicalStakeEvent, PartnerWallet

    def prints():
        return fingerprint(
            agreement.partner_id, agreement.chain_id, terms_of(agreement), scope
        ).digests

    reward = _reward(world.periods[1])
    event = db.session.scalars(
        select(E).where(E.staker_address == W_PAID, E.event_type == "STAKE")
    ).one()
    wallet = db.session.scalars(select(W).where(W.wallet_address == W_PAID)).one()
    other = db.session.scalars(select(W).where(W.wallet_address != W_PAID)).first()
    changes = [
        (reward, "validator_key", "VoteMoved"),
        (reward, "staker_address", other.wallet_address),
        (reward, "revenue_component", "REWARDS"),
        (reward, "reward_amount_native", reward.reward_amount_native + D("0.000000001")),
        (event, "validator_key", "VoteMoved"),
        (event, "event_type", "RESTAKE"),
        (event, "stake_amount_native", event.stake_amount_native + 1),
        (event, "event_timestamp", event.event_timestamp.replace(hour=1)),
        (wallet, "introduced_date", date(2024, 11, 30)),
    ]
    before = prints()
    for row, column, value in changes:
        setattr(row, column, value)
        db.session.commit()
        after = prints()
        assert after != before, column
        before = after

    # Validator revenue, for an agreement paid on total revenue on its chain.
    revenue = db.session.scalars(select(CanonicalValidatorRevenue)).first()
    agreement = world.solana if revenue.chain_id == "solana" else world.ethereum
    agreement.wallet_attribution_enabled = False
    db.session.commit()
    scope = scope_of(agreement, FIRST, LAST)
    before = prints()
    for column, value in (
        ("validator_key", "VoteMoved"),
        ("revenue_component", "REWARDS" if revenue.revenue_component != "REWARDS" else "MEV"),
        ("amount_native", revenue.amount_native / 2),
    ):
        setattr(revenue, column, value)
        db.session.commit()
        after = prints()
        assert after != before, column
        before = after


def test_after_a_new_periods_rewards_only_that_period_is_computed(world, monkeypatch):
    """The last period's staker rewards arrive after a first commit of the range: the next
    commit computes that period alone (by the engine on SQLite, in the database on
    PostgreSQL), and its run's figures are those of a preview computed from nothing."""
    from webapp.commissions import set_based_lines

    R = CanonicalStakerRewardsDetail
    last = world.periods[2]
    taken = db.session.scalars(select(R).where(R.period_id == last.period_id)).all()
    rows = [
        (r.validator_key, r.staker_address, r.revenue_component, r.reward_amount_native)
        for r in taken
    ]
    assert rows
    for row in taken:
        db.session.delete(row)
    db.session.commit()
    committing.commit(world.acme, FIRST, LAST)

    factories.rewards(factories.payload(factories.provider("late"), "rewards"), last, rows)
    db.session.commit()
    expected = {
        o.agreement.agreement_id: o.result
        for o in results.preview(world.acme, FIRST, LAST, lines=True).outcomes
    }
    computed = []
    real = committing.compute_scope

    def spy(agreement, terms, scope):
        computed.append((agreement.name, [p.label for p in scope]))
        return real(agreement, terms, scope)

    figures = set_based_lines.period_figures

    def written(agreement, periods, run=None, write=()):
        if write:
            computed.append((agreement.name, [p.label for p in periods]))
        return figures(agreement, periods, run, write)

    monkeypatch.setattr(committing, "compute_scope", spy)
    monkeypatch.setattr(set_based_lines, "period_figures", written)
    second = committing.commit(world.acme, FIRST, LAST)
    db.session.expire_all()

    assert computed == [("Acme SOL", [last.label])]
    for outcome in second.outcomes:
        run = db.session.get(CommissionRun, outcome.run.run_id)
        engine = expected[outcome.agreement.agreement_id]
        assert (
            run.line_count,
            run.total_base_native,
            run.total_commission_native,
            run.excluded_amount_native,
        ) == (
            engine.line_count,
            engine.total_base_native,
            engine.total_commission_native,
            engine.excluded_amount_native,
        )
        assert outcome.result.exclusion_totals() == engine.exclusion_totals()


def test_a_narrower_commit_carries_no_run_that_holds_more(world):
    """Every pair of a narrower range is held, unchanged, by one run that holds more: that
    run's result is not carried whole. The new run takes the range's pairs with their rows
    and figures; the earlier run keeps the rest and stays committed."""
    first = _run_of(committing.commit(world.acme, FIRST, LAST), world.solana).run
    first_id, third_day = first.run_id, world.periods[2].period_id
    second = _run_of(committing.commit(world.acme, FIRST, date(2025, 1, 2)), world.solana)
    db.session.expire_all()

    assert second.carried_from is None
    run = db.session.get(CommissionRun, second.run.run_id)
    assert run.period_count == 2
    RP, L = CommissionRunPeriod, PartnerCommissionLine
    held = dict(
        db.session.execute(
            select(RP.period_id, RP.run_id).where(RP.agreement_id == world.solana.agreement_id)
        ).all()
    )
    assert held == {
        world.periods[0].period_id: run.run_id,
        world.periods[1].period_id: run.run_id,
        third_day: first_id,
    }
    assert db.session.get(CommissionRun, first_id).status == "committed"
    # The new run's total is that of the lines of its own two days (worked out by
    # `test_commissions.expected_solana_lines`: W_PAID 0.65 a day, W_LATE 0.65 on the 2nd,
    # W_UNSTAKED 0.65 on the 1st and 2nd).
    two_days = db.session.scalar(
        select(func.count()).where(
            L.agreement_id == world.solana.agreement_id, L.period_id != third_day
        )
    )
    assert run.line_count == two_days
    assert run.total_commission_native == D("0.65") * 5
