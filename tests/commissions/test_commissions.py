"""The commission service and command line on a real database: preview stores nothing,
commit replaces lines in one go and supersedes the earlier run, export writes the lines."""

import csv
import io
import json
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from tests import factories
from tests.worlds import (
    V1,
    W_INACTIVE,
    W_LATE,
    W_OTHER,
    W_PAID,
    W_UNSTAKED,
    build_world,
    count,
    world_with_agreements,
)
from webapp.commissions import committing, lifecycle, results
from webapp.commissions.export import EXPORT_HEADER
from webapp.extensions import db
from webapp.models import (
    CanonicalStakerRewardsDetail,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    Partner,
    PartnerCommissionLine,
)

D = Decimal


def lines_of(agreement):
    return db.session.scalars(
        select(PartnerCommissionLine).where(
            PartnerCommissionLine.agreement_id == agreement.agreement_id
        )
    ).all()


# ---- preview ----------------------------------------------------------------------------------


def expected_solana_lines(world):
    """(period label, wallet, validator, component) -> commission, worked out by hand.

    W_PAID earns every period: MEV 1.5 x 10% = 0.15, REWARDS 10.000000000000000001 x 5%
    = 0.50000000000000000005 -> 0.5 (half to even); its EXEC_FEES with V2 is not staked.
    W_LATE (introduced 2 Jan) earns 2 and 3 Jan. W_UNSTAKED earns 1 and 2 Jan (unstaked
    at 12:00 on 2 Jan), not 3 Jan.
    """
    expected = {}
    for label, wallets in (
        ("701", [W_PAID, W_UNSTAKED]),
        ("702", [W_PAID, W_LATE, W_UNSTAKED]),
        ("703", [W_PAID, W_LATE]),
    ):
        for wallet in wallets:
            expected[(label, wallet, V1, "MEV")] = D("0.15")
            expected[(label, wallet, V1, "REWARDS")] = D("0.5")
    return expected


def test_preview_computes_every_agreement_and_stores_nothing(world):
    computation = results.preview(world.acme, date(2025, 1, 1), date(2025, 1, 3), lines=True)
    by_name = {o.agreement.name: o.result for o in computation.outcomes}
    solana = by_name["Acme SOL"]
    labels = {p.period_id: p.label for p in solana.periods}
    got = {
        (
            labels[ln.period_id],
            ln.wallet_address,
            ln.validator_key,
            ln.revenue_component,
        ): ln.commission_amount_native
        for ln in solana.lines
    }
    assert got == expected_solana_lines(world)
    assert solana.total_commission_native == D("0.65") * 7
    reasons = {(labels[ex.period_id], ex.wallet_address, ex.reason) for ex in solana.exclusions}
    assert reasons == {
        *{(label, W_INACTIVE, "wallet inactive") for label in ("701", "702", "703")},
        ("701", W_LATE, "introduced after period start"),
        *{
            (label, W_PAID, "not staked with validator during period")
            for label in ("701", "702", "703")
        },
        ("703", W_UNSTAKED, "not staked with validator during period"),
    }
    assert not any(ex.wallet_address == W_OTHER for ex in solana.exclusions)

    ethereum = by_name["Acme ETH"]
    assert [(ln.revenue_component, ln.commission_amount_native) for ln in ethereum.lines] == [
        ("MEV", D("2499999999999999999.9875"))
    ]
    assert [(ex.reason, ex.held_back_amount_native) for ex in ethereum.exclusions] == [
        ("no rule", D("3"))
    ]
    db.session.rollback()
    assert count(PartnerCommissionLine) == 0
    assert count(CommissionRun) == 0
    assert count(CommissionExclusion) == 0


def test_preview_query_count_does_not_grow_with_wallets(app):
    world = world_with_agreements(40)
    db.session.refresh(world.acme)  # loaded now, so the count is the computation's own
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        computation = results.preview(world.acme, date(2025, 1, 1), date(2025, 1, 3), lines=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    solana = next(o.result for o in computation.outcomes if o.agreement.name == "Acme SOL")
    assert len(solana.lines) == 14 + 40 * 3 * 2
    # Agreements (+ rules), then per agreement: periods and wallets, rewards, events or revenue.
    assert len(statements) <= 8, statements


# ---- commit -----------------------------------------------------------------------------------


def test_commit_stores_lines_run_and_exclusions(world, make_user):
    user = make_user("manager")
    computation = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3), user=user)
    db.session.expire_all()
    solana_run = next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")
    run = db.session.get(CommissionRun, solana_run.run_id)
    assert run.status == "committed"
    assert run.method == "wallet_attribution"
    assert (run.date_from, run.date_to, run.period_count, run.line_count) == (
        date(2025, 1, 1),
        date(2025, 1, 3),
        3,
        14,
    )
    assert run.total_commission_native == D("4.55")
    assert run.total_base_native == D("1.5") * 7 + D("10.000000000000000001") * 7
    assert run.excluded_amount_native == (D("11.500000000000000001") * 5 + D("0.25") * 3)
    assert run.created_by_user_id == user.user_id
    payloads = json.loads(run.input_payload_ids)
    assert payloads == {
        "periods": [str(world.sources["periods"].payload_id)],
        "staker_rewards": [str(world.sources["staker-rewards"].payload_id)],
        "stake_events": [str(world.sources["stake-events"].payload_id)],
    }
    labels = {p.period_id: p.label for p in world.periods}
    stored = {
        (
            labels[ln.period_id],
            ln.wallet_address,
            ln.validator_key,
            ln.revenue_component.value,
        ): ln.commission_amount_native
        for ln in lines_of(world.solana)
    }
    assert stored == expected_solana_lines(world)
    assert all(
        ln.run_id == run.run_id and ln.partner_id == world.acme.partner_id
        for ln in lines_of(world.solana)
    )
    exclusions = db.session.scalars(
        select(CommissionExclusion).where(CommissionExclusion.run_id == run.run_id)
    ).all()
    # One row per (period, wallet, validator, reason): W_UNSTAKED's MEV and REWARDS of 3 Jan
    # (not staked) share a row; 3 inactive, 1 introduced after, 3 W_PAID with V2 are alone.
    assert len(exclusions) == 8
    assert sum(ex.exclusion_count for ex in exclusions) == 9
    (unstaked,) = [ex for ex in exclusions if ex.wallet_address == W_UNSTAKED]
    assert (unstaked.validator_key, unstaked.exclusion_count) == (V1, 2)
    assert unstaked.held_back_amount_native == D("11.500000000000000001")
    assert (
        sum((ex.held_back_amount_native for ex in exclusions), D(0)) == run.excluded_amount_native
    )

    (eth_line,) = lines_of(world.ethereum)
    assert eth_line.wallet_address is None
    assert eth_line.base_amount_native == D("99999999999999999999.5")
    assert eth_line.commission_amount_native == D("2499999999999999999.9875")


def test_commit_twice_replaces_lines_and_supersedes_the_first_run(world):
    first = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    first_ids = {o.run.run_id for o in first.outcomes}
    line_ids = set(db.session.scalars(select(PartnerCommissionLine.line_id)))
    second = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    db.session.expire_all()
    assert count(PartnerCommissionLine) == 15
    second_ids = {o.run.run_id for o in second.outcomes}
    # The result did not change: its lines stay as written, the new runs hold every pair.
    assert set(db.session.scalars(select(PartnerCommissionLine.line_id))) == line_ids
    assert set(db.session.scalars(select(CommissionRunPeriod.run_id))) == second_ids
    assert count(CommissionRunPeriod) == 4
    for run_id in first_ids:
        run = db.session.get(CommissionRun, run_id)
        assert run.status == "superseded"
        assert run.superseded_by_run_id in second_ids
        assert run.superseded_at is not None
    assert all(db.session.get(CommissionRun, r).status == "committed" for r in second_ids)


def test_partly_overlapping_commit_replaces_only_its_periods(world):
    first = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 2))
    second = committing.commit(world.acme, date(2025, 1, 2), date(2025, 1, 3))
    db.session.expire_all()
    first_run = next(o.run for o in first.outcomes if o.agreement.name == "Acme SOL")
    second_run = next(o.run for o in second.outcomes if o.agreement.name == "Acme SOL")
    by_period = dict(
        db.session.execute(
            select(CommissionRunPeriod.period_id, CommissionRunPeriod.run_id).where(
                CommissionRunPeriod.agreement_id == world.solana.agreement_id
            )
        ).all()
    )
    day1, day2, day3 = (p.period_id for p in world.periods)
    assert by_period == {day1: first_run.run_id, day2: second_run.run_id, day3: second_run.run_id}
    assert {ln.period_id for ln in lines_of(world.solana)} == {day1, day2, day3}
    # Day 1 still has the first run's lines, so it stays committed.
    assert db.session.get(CommissionRun, first_run.run_id).status == "committed"
    third = committing.commit(world.acme, date(2024, 12, 1), date(2025, 1, 31))
    db.session.expire_all()
    third_run = next(o.run for o in third.outcomes if o.agreement.name == "Acme SOL")
    for run in (first_run, second_run):
        stored = db.session.get(CommissionRun, run.run_id)
        assert (stored.status, stored.superseded_by_run_id) == ("superseded", third_run.run_id)
    assert len(lines_of(world.solana)) == 14


def test_commit_with_no_periods_in_range_is_refused(world):
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    runs, lines = count(CommissionRun), count(PartnerCommissionLine)
    with pytest.raises(lifecycle.CommissionError, match="no period in scope"):
        committing.commit(world.acme, date(2025, 2, 1), date(2025, 2, 28))
    assert (count(CommissionRun), count(PartnerCommissionLine)) == (runs, lines)


@pytest.mark.postgres_only
def test_two_commits_at_once_never_mix_lines(app, world):
    """Two real connections commit the same partner and range at the same moment."""
    barrier = threading.Barrier(2)
    errors = []
    partner_id = world.acme.partner_id
    db.session.rollback()

    def commit_in_own_session():
        try:
            with app.app_context():
                partner = db.session.get(Partner, partner_id)
                barrier.wait()
                committing.commit(partner, date(2025, 1, 1), date(2025, 1, 3))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=commit_in_own_session) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    db.session.expire_all()
    lines = db.session.scalars(select(PartnerCommissionLine)).all()
    assert len(lines) == 15
    runs = db.session.scalars(select(CommissionRun)).all()
    committed = [r for r in runs if r.status == "committed"]
    superseded = [r for r in runs if r.status == "superseded"]
    assert len(committed) == 2 and len(superseded) == 2
    # Every pair is held by the committed run of its agreement, and its lines are one run's.
    held = db.session.scalars(select(CommissionRunPeriod.run_id)).all()
    assert set(held) == {r.run_id for r in committed}
    by_agreement = {}
    for line in lines:
        by_agreement.setdefault(line.agreement_id, set()).add(line.run_id)
    assert all(len(run_ids) == 1 for run_ids in by_agreement.values())
    assert {r.superseded_by_run_id for r in superseded} == {r.run_id for r in committed}


# ---- the command line, end to end --------------------------------------------------------


def read_export(text: str):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def test_command_line_create_compute_commit_twice_export(app, runner, tmp_path):
    build_world()
    create = [
        "agreements",
        "create",
        "Acme Wallet",
        "--chain",
        "solana",
        "--name",
        "Acme SOL",
        "--from",
        "2025-01-01",
        "--wallet-attribution",
        "--rate",
        "MEV=1000",
        "--rate",
        f"REWARDS=500@{V1}",
    ]
    assert runner.invoke(args=create).exit_code == 0
    eth = [
        "agreements",
        "create",
        "Acme Wallet",
        "--chain",
        "ethereum",
        "--name",
        "Acme ETH",
        "--from",
        "2025-01-01",
    ]
    assert runner.invoke(args=[*eth, "--rate", "MEV=250"]).exit_code == 0

    span = ["Acme Wallet", "--from", "2025-01-01", "--to", "2025-01-03"]
    preview = runner.invoke(args=["commissions", "compute", *span])
    assert preview.exit_code == 0, preview.output
    assert (
        "agreement Acme SOL (solana, SOL, wallet attribution): 3 period(s), 14 line(s)"
        in preview.stdout
    )
    assert "MEV        lines        7  base 10.5 SOL  commission 1.05 SOL" in preview.stdout
    assert (
        "REWARDS    lines        7  base 70.000000000000000007 SOL  commission 3.5 SOL"
        in preview.stdout
    )
    assert "excluded: wallet inactive: 3 held back 34.500000000000000003 SOL" in preview.stdout
    assert "excluded: no rule: 1 held back 3 ETH" in preview.stdout
    # Per token, never one sum over two chains.
    assert "total SOL: 14 line(s), commission 4.55 SOL" in preview.stdout
    assert "total ETH: 1 line(s), commission 2499999999999999999.9875 ETH" in preview.stdout
    assert "preview only" in preview.stdout
    assert count(CommissionRun) == 0 and count(PartnerCommissionLine) == 0

    factories.user("manager", "ann@example.com")
    for _ in range(2):
        committed = runner.invoke(
            args=["commissions", "compute", *span, "--commit", "--as", "ann@example.com"]
        )
        assert committed.exit_code == 0, committed.output
        assert "committed 2 run(s)" in committed.stdout
    db.session.expire_all()
    assert count(PartnerCommissionLine) == 15
    assert db.session.scalar(select(func.count()).where(CommissionRun.status == "superseded")) == 2

    out = tmp_path / "acme.csv"
    exported = runner.invoke(args=["commissions", "export", *span, "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "wrote 15 line(s)" in exported.stdout
    header, rows = read_export(out.read_text(encoding="utf-8"))
    assert tuple(header) == EXPORT_HEADER
    assert len(rows) == 15
    # Ethereum first (chain order), its formula-like validator key shown as text.
    assert rows[0] == [
        "Acme Wallet",
        "Acme ETH",
        "ethereum",
        "ETH",
        "2025-01-02",
        "2025-01-02T00:00:00+00:00",
        "2025-01-03T00:00:00+00:00",
        "'=cmd|evil",
        "MEV",
        "",
        "99999999999999999999.5",
        "250",
        "2499999999999999999.9875",
        "commission",
        "committed",
        "",  # no price known: no USD value
        "",
    ]
    assert rows[1][:10] == [
        "Acme Wallet",
        "Acme SOL",
        "solana",
        "SOL",
        "701",
        "2025-01-01T00:00:00+00:00",
        "2025-01-02T00:00:00+00:00",
        V1,
        "MEV",
        W_UNSTAKED,
    ]
    assert rows[1][10:] == ["1.5", "1000", "0.15", "commission", "committed", "", ""]
    solana_keys = [(r[4], r[7], r[8], r[9]) for r in rows[1:]]
    assert solana_keys == sorted(solana_keys)
    assert not any("e" in r[10].lower() or "e" in r[12].lower() for r in rows)

    # Stdout export equals the file; a narrower range exports only its periods.
    to_stdout = runner.invoke(args=["commissions", "export", *span])
    assert to_stdout.stdout == out.read_text(encoding="utf-8")
    one_day = runner.invoke(
        args=["commissions", "export", "Acme Wallet", "--from", "2025-01-03", "--to", "2025-01-03"]
    )
    _, day_rows = read_export(one_day.stdout)
    assert {r[4] for r in day_rows} == {"703"}
    assert len(day_rows) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["commissions", "compute", "Nobody", "--from", "2025-01-01", "--to", "2025-01-31"],
            "no partner named",
        ),
        (
            ["commissions", "compute", "Acme Wallet", "--from", "2025-01-31", "--to", "2025-01-01"],
            "before --from",
        ),
        (
            ["commissions", "compute", "Acme Wallet", "--from", "2020-01-01", "--to", "2020-01-31"],
            "no agreement in effect",
        ),
        (
            ["commissions", "export", "Nobody", "--from", "2025-01-01", "--to", "2025-01-31"],
            "no partner named",
        ),
        (
            ["commissions", "export", "Acme Wallet", "--from", "2025-01-31", "--to", "2025-01-01"],
            "before --from",
        ),
    ],
)
def test_command_line_refusals(world, runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_the_export_header_is_the_column_list_of_domain_md():
    """Written out from DOMAIN.md ("Commission export columns, in this order"), not derived:
    the header is built from the line's one column list and must still say this."""
    assert EXPORT_HEADER == (
        "partner",
        "agreement",
        "chain_id",
        "token_symbol",
        "period",
        "period_start",
        "period_end",
        "validator_key",
        "revenue_component",
        "wallet_address",
        "base_amount_native",
        "commission_rate_bps",
        "commission_amount_native",
        "line_kind",
        "run_status",
        "price_usd",
        "commission_value_usd",
    )


def test_export_of_nothing_committed_is_just_the_header(world, runner):
    result = runner.invoke(
        args=["commissions", "export", "Acme Wallet", "--from", "2025-01-01", "--to", "2025-01-31"]
    )
    assert result.exit_code == 0
    assert result.stdout_bytes == (",".join(EXPORT_HEADER) + "\r\n").encode()


def test_days_are_utc_dates_of_period_starts(world):
    # The period starting 2 Jan 00:00 UTC is in a range ending 2 Jan, not in one from 3 Jan.
    assert timedelta(days=1) == world.periods[1].end_time - world.periods[1].start_time
    computation = results.preview(world.acme, date(2025, 1, 2), date(2025, 1, 2), lines=True)
    solana = next(o.result for o in computation.outcomes if o.agreement.name == "Acme SOL")
    assert [p.label for p in solana.periods] == ["702"]


def test_recommit_rewrites_only_the_periods_whose_result_changed(world):
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    day1, day2, day3 = (p.period_id for p in world.periods)
    L = PartnerCommissionLine
    before = {
        line.line_id: line.period_id
        for line in db.session.scalars(select(L).where(L.agreement_id == world.solana.agreement_id))
    }
    # A corrected reward on 2 Jan: W_PAID's MEV becomes 2.5 (commission 0.25 instead of 0.15).
    reward = db.session.scalars(
        select(CanonicalStakerRewardsDetail).where(
            CanonicalStakerRewardsDetail.period_id == day2,
            CanonicalStakerRewardsDetail.staker_address == W_PAID,
            CanonicalStakerRewardsDetail.revenue_component == "MEV",
            CanonicalStakerRewardsDetail.validator_key == V1,
        )
    ).one()
    reward.reward_amount_native = D("2.5")
    db.session.commit()
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    db.session.expire_all()
    after = {
        line.line_id: (line.period_id, line.wallet_address, line.commission_amount_native)
        for line in db.session.scalars(select(L).where(L.agreement_id == world.solana.agreement_id))
    }
    kept = {line_id for line_id, period_id in before.items() if period_id in (day1, day3)}
    assert kept <= set(after)
    assert not {line_id for line_id, period_id in before.items() if period_id == day2} & set(after)
    assert len(after) == len(before) == 14
    changed = {
        (wallet, amount)
        for period_id, wallet, amount in after.values()
        if period_id == day2 and amount == D("0.25")
    }
    assert changed == {(W_PAID, D("0.25"))}
