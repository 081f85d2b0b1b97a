"""A run's page adds up the sums kept beside each pair it holds (`pair_sums`) instead of its
lines. Held here to the stored rows themselves, added up in Python: after a first commit
(both methods, every exclusion reason), after a recommit that rewrites one period and
carries the others, for a run carrying a true-up's adjustments, and for pairs written
before sums were kept."""

from datetime import date
from decimal import Decimal as D

from sqlalchemy import select, update

from tests.worlds import V1, W_PAID, february_carrying_a_true_up
from webapp.commissions import committing, period_sums
from webapp.extensions import db
from webapp.models import (
    CanonicalStakerRewardsDetail,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    PartnerCommissionLine,
)

FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


def rows_added_up(run: CommissionRun) -> tuple[dict, dict]:
    """The run's lines and exclusions, each row read and added up here: the commission
    lines and exclusions of the pairs it holds, and the adjustments it carries."""
    L, X, RP = PartnerCommissionLine, CommissionExclusion, CommissionRunPeriod
    periods = set(db.session.scalars(select(RP.period_id).where(RP.run_id == run.run_id)))
    lines: dict = {}
    for line in db.session.scalars(select(L).where(L.agreement_id == run.agreement_id)):
        mine = line.run_id == run.run_id if line.line_kind == "adjustment" else None
        if mine is None:
            mine = line.period_id in periods
        if not mine:
            continue
        key = (line.line_kind, line.period_id, line.validator_key, str(line.revenue_component))
        count, base, commission = lines.get(key, (0, D(0), D(0)))
        lines[key] = (
            count + 1,
            base + line.base_amount_native,
            commission + line.commission_amount_native,
        )
    held: dict = {}
    for ex in db.session.scalars(select(X).where(X.agreement_id == run.agreement_id)):
        if ex.period_id in periods:
            count, amount = held.get((ex.period_id, ex.reason), (0, D(0)))
            held[(ex.period_id, ex.reason)] = (
                count + ex.exclusion_count,
                amount + ex.held_back_amount_native,
            )
    return lines, held


def as_read(run: CommissionRun) -> tuple[dict, dict]:
    sums = period_sums.run_sums(run)
    lines = {tuple(row[:4]): tuple(row[4:]) for row in sums.lines}
    held = {tuple(row[:2]): tuple(row[2:]) for row in sums.held}
    assert len(lines) == len(sums.lines) and len(held) == len(sums.held)
    return lines, held


def committed_runs() -> list[CommissionRun]:
    db.session.expire_all()
    return db.session.scalars(
        select(CommissionRun).where(CommissionRun.status == "committed")
    ).all()


def test_a_first_commit_and_a_recommit_of_one_changed_period(world):
    committing.commit(world.acme, FIRST, LAST)
    runs = committed_runs()
    assert {run.method for run in runs} == {"wallet_attribution", "total_revenue"}
    for run in runs:
        lines, held = rows_added_up(run)
        assert lines and as_read(run) == (lines, held)
    solana = next(run for run in runs if run.method == "wallet_attribution")
    before = rows_added_up(solana)[0]
    assert {reason for _, reason in rows_added_up(solana)[1]} == {
        "wallet inactive",
        "introduced after period start",
        "not staked with validator during period",
    }

    # The second day's reward of W_PAID changes: that pair is written again, the two
    # others are carried with the sums kept when they were written.
    R = CanonicalStakerRewardsDetail
    db.session.scalars(
        select(R).where(
            R.period_id == world.periods[1].period_id,
            R.staker_address == W_PAID,
            R.revenue_component == "MEV",
            R.validator_key == V1,
        )
    ).one().reward_amount_native = D("2.5")
    db.session.commit()
    committing.commit(world.acme, FIRST, LAST)
    recommitted = next(run for run in committed_runs() if run.method == "wallet_attribution")
    assert recommitted.run_id != solana.run_id
    lines, held = rows_added_up(recommitted)
    # By hand: that slice's base grew by 2.5 - 1.5, its commission by 10% of that.
    count, base, commission = before[("commission", world.periods[1].period_id, V1, "MEV")]
    assert lines[("commission", world.periods[1].period_id, V1, "MEV")] == (
        count,
        base + D("1"),
        commission + D("0.1"),
    )
    assert as_read(recommitted) == (lines, held)


def test_pairs_written_before_sums_were_kept_are_added_up_from_their_rows(world):
    committing.commit(world.acme, FIRST, LAST)
    expected = {run.run_id: rows_added_up(run) for run in committed_runs()}
    RP = CommissionRunPeriod
    db.session.execute(
        update(RP).where(RP.period_id == world.periods[0].period_id).values(sums=None)
    )
    db.session.commit()
    for run in committed_runs():
        assert as_read(run) == expected[run.run_id]


def test_a_run_carrying_adjustments(app, runner, tmp_path):
    february = february_carrying_a_true_up(runner, tmp_path)
    assert february.adjustment_count == 2
    lines, held = rows_added_up(february)
    assert {key[0] for key in lines} == {"commission", "adjustment"}
    assert as_read(february) == (lines, held)
