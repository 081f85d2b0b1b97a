"""Stale runs and late data on closed months (DOMAIN.md, "Month-end close").

World (`test_commissions_close.setup`): Acme Wallet, Acme SOL (wallet attribution, MEV 10%,
REWARDS 5%) and Acme ETH (total revenue, MEV 2.5%), monthly periods. January by hand: SOL
PAID MEV 10 x 10% = 1, PAID REWARDS 4 x 5% = 0.2, LATE MEV 2 x 10% = 0.2, so 1.4; ETH MEV
8 x 2.5% = 0.2. The corrected rewards file (PAID MEV 13, REWARDS 4; LATE's row gone) makes
SOL January 1.3 + 0.2 = 1.5: a difference of +0.1 (+0.3 and a -0.2 clawback).
"""

import io
import re
from datetime import date
from decimal import Decimal as D

from sqlalchemy import select, update

from tests.worlds import FEB, JAN, LATE, PAID, commit_january, ok, rewards_file
from webapp.commissions import staleness
from webapp.commissions.staleness import late_changes, stale_runs
from webapp.extensions import db
from webapp.models import (
    AgreementRule,
    CanonicalStakerRewardsDetail,
    CommissionRun,
    PartnerWallet,
)

CORRECTED = [("2025-01", PAID, "MEV", "13"), ("2025-01", PAID, "REWARDS", "4")]


def runs(status=None, date_from=date(2025, 1, 1)) -> dict[str, CommissionRun]:
    db.session.expire_all()
    stmt = select(CommissionRun).where(CommissionRun.date_from == date_from)
    if status:
        stmt = stmt.where(CommissionRun.status == status)
    return {run.agreement.name: run for run in db.session.scalars(stmt)}


def live_runs() -> list[CommissionRun]:
    db.session.expire_all()
    return db.session.scalars(
        select(CommissionRun).where(CommissionRun.status != "superseded")
    ).all()


def page(client, url, **query) -> str:
    response = client.get(url, query_string=query)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def january_cell(client) -> str:
    home = page(client, "/", until="2025-01", months=1)
    return re.search(r'data-month="2025-01".*?</td>', home, re.S).group(0)


def test_a_committed_run_whose_inputs_changed_is_stale_until_committed_again(
    app, runner, tmp_path, viewer_client, monkeypatch
):
    january = commit_january(runner, tmp_path)
    sol, eth = january["Acme SOL"], january["Acme ETH"]
    assert stale_runs(live_runs()) == {}

    # A late correction of one reward row: only the Solana run's period moved.
    R = CanonicalStakerRewardsDetail
    db.session.execute(
        update(R)
        .where(R.staker_address == PAID, R.revenue_component == "MEV")
        .values(reward_amount_native=D("11"))
    )
    db.session.commit()
    # One fingerprint per run, not per period, all runs' asked at once.
    calls = []
    real = staleness.fingerprints_of
    monkeypatch.setattr(
        staleness, "fingerprints_of", lambda asked: calls.append(asked) or real(asked)
    )
    assert stale_runs(live_runs()) == {
        sol.run_id: ["period 2025-01: staker rewards changed since commit"]
    }
    assert [set(asked) for asked in calls] == [{sol.run_id, eth.run_id}]
    monkeypatch.undo()

    # The pages say so: run page, home page, range page.
    run_page = page(viewer_client, f"/commissions/runs/{sol.run_id}")
    assert "Out of date: commit again." in run_page
    assert "period 2025-01: staker rewards changed since commit" in run_page
    assert "Out of date" not in page(viewer_client, f"/commissions/runs/{eth.run_id}")
    cell = january_cell(viewer_client)
    assert "out of date: commit again" in cell and f"/commissions/runs/{sol.run_id}" in cell
    review = page(
        viewer_client,
        "/commissions/",
        partner=sol.partner_id,
        date_from="2025-01-01",
        date_to="2025-01-31",
    )
    state = review.split('id="range-state"')[1]
    assert "out of date: commit again" in state
    assert "period 2025-01: staker rewards changed since commit" in state
    status = runner.invoke(args=["commissions", "status", "Acme Wallet"]).output
    assert (
        "out of date: commit again (period 2025-01: staker rewards changed since commit)" in status
    )

    # A rule edit reaches the other agreement's run.
    db.session.execute(
        update(AgreementRule)
        .where(AgreementRule.agreement_id == eth.agreement_id)
        .values(commission_rate_bps=300)
    )
    db.session.commit()
    stale = stale_runs(live_runs())
    assert set(stale) == {sol.run_id, eth.run_id}
    assert stale[eth.run_id] == ["period 2025-01: the agreement's rates changed since commit"]
    # A wallet's introduced date moves: the Solana run says so too.
    db.session.execute(
        update(PartnerWallet)
        .where(PartnerWallet.wallet_address == LATE)
        .values(introduced_date=date(2024, 12, 2))
    )
    db.session.commit()
    assert stale_runs(live_runs())[sol.run_id] == [
        "period 2025-01: the partner's wallets or their introduced dates and staker rewards "
        "changed since commit"
    ]

    # Committed again: fresh, and the notices are gone.
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    assert stale_runs(live_runs()) == {}
    assert "out of date" not in january_cell(viewer_client)


def test_approved_and_paid_runs_are_never_stale(app, runner, tmp_path):
    january = commit_january(runner, tmp_path)
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    path = rewards_file(tmp_path, "fixed.csv", CORRECTED)
    ok(runner, "import", "staker-rewards", path, "--provider", "jito", "--replace")
    assert stale_runs(live_runs()) == {}
    assert set(late_changes(live_runs())) == {january["Acme SOL"].run_id}


def test_late_data_on_a_closed_month_shows_paid_today_and_difference_until_a_true_up(
    app, runner, tmp_path, viewer_client, manager_client
):
    january = commit_january(runner, tmp_path)
    sol = january["Acme SOL"]
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    assert late_changes(live_runs()) == {}

    # The import preview names the locked period its rows touch.
    fixed = rewards_file(tmp_path, "fixed.csv", CORRECTED)
    dry = ok(
        runner, "import", "staker-rewards", fixed, "--provider", "jito", "--replace", "--dry-run"
    )
    assert "touches 1 locked period(s): 2025-01 of Acme SOL (Acme Wallet), approved" in dry.output
    with open(fixed, encoding="utf-8") as handle:
        body = handle.read()
    preview = manager_client.post(
        "/imports/preview",
        data={
            "file": (io.BytesIO(body.encode()), "fixed.csv"),
            "kind": "staker-rewards",
            "provider": "jito",
            "replace": "y",
        },
        headers={"HX-Request": "true"},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    locked = preview.split('id="import-locked-periods"')[1].split("</div>")[0]
    assert "solana 2025-01: Acme SOL (Acme Wallet)" in locked
    assert f"/commissions/runs/{sol.run_id}" in locked
    # April's rows touch no locked period.
    april = rewards_file(tmp_path, "apr.csv", [("2025-04", PAID, "MEV", "7")])
    dry = ok(runner, "import", "staker-rewards", april, "--provider", "jito", "--dry-run")
    assert "locked" not in dry.output

    ok(runner, "import", "staker-rewards", fixed, "--provider", "jito", "--replace")
    [late] = late_changes(live_runs()).values()
    assert late.run.run_id == sol.run_id
    [period] = late.periods
    # By hand: approved 1.4, today's data 1.5, difference +0.1 (over 2 lines, 2 wallets).
    assert (period.label, period.locked_native, period.today_native) == (
        "2025-01",
        D("1.4"),
        D("1.5"),
    )
    assert (period.difference_native, period.line_count) == (D("0.1"), 2)

    def named(html: str, word: str) -> None:
        notice = html.split('class="flash flash-warning change-notice late-data"')[1]
        notice = notice.split("</div>")[0]
        assert f"what was {word}" in notice and "today's data gives" in notice
        assert "difference" in notice
        figures = dict(
            re.findall(r'<span data-(\w+)><data class="amount"[^>]*data-exact="([^"]+)"', notice)
        )
        assert {k: D(v) for k, v in figures.items()} == {
            "locked": D("1.4"),
            "today": D("1.5"),
            "difference": D("0.1"),
        }

    range_query = {"partner": sol.partner_id, "date_from": "2025-01-01", "date_to": "2025-01-31"}
    for word in ("approved", "paid"):
        named(page(viewer_client, f"/commissions/runs/{sol.run_id}"), word)
        named(page(viewer_client, f"/commissions/partners/{sol.partner_id}/changes"), word)
        review = page(viewer_client, "/commissions/", **range_query)
        named(review, word)
        # Never today's recomputation presented as what was approved or paid.
        assert "the committed ones, recomputed" not in review
        assert "not what was approved or paid" in review
        cell = january_cell(viewer_client)
        assert "late data" in cell and f"{word} " in cell
        cell_figures = dict(
            re.findall(r'<span data-(\w+)><data class="amount"[^>]*data-exact="([^"]+)"', cell)
        )
        assert {k: D(v) for k, v in cell_figures.items()} == {
            "locked": D("1.4"),
            "today": D("1.5"),
            "difference": D("0.1"),
        }
        if word == "approved":
            ok(
                runner,
                "commissions",
                "pay",
                *JAN,
                "--reference",
                "SEPA-1",
                "--as",
                "bob@example.com",
            )
    assert 'data-state="paid"' in january_cell(viewer_client)

    # February's commit with the true-up carries the difference: no late data any more.
    ok(runner, "commissions", "compute", *FEB, "--commit", "--true-up", "--as", "ann@example.com")
    assert late_changes(live_runs()) == {}
    assert "late data" not in january_cell(viewer_client)
    assert "Late data" not in page(viewer_client, f"/commissions/runs/{sol.run_id}")
    review = page(viewer_client, "/commissions/", **range_query)
    assert "Late data" not in review and "not what was approved or paid" not in review
