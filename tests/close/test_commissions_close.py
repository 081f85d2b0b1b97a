"""Month-end close on the command line, as operators run it, on SQLite and PostgreSQL:
per-token totals, four eyes, locks, reopen, pay, true-ups after a corrected import, the
refusal of an empty range and the export's new columns; every outcome checked in the
database."""

import csv
import io
import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from tests.worlds import (
    FEB,
    JAN,
    LATE,
    MAR,
    PAID,
    count,
    february_carrying_a_true_up,
    ok,
    refused,
    rewards_file,
    runs_of,
    setup,
)
from webapp.commissions import results, true_ups
from webapp.extensions import db
from webapp.models import (
    AuditLog,
    CommissionLock,
    CommissionRun,
    CommissionRunEvent,
    PartnerCommissionLine,
)

D = Decimal


def lines_snapshot():
    """Every stored line as (id, kind, commission), to prove a refusal changed nothing."""
    L = PartnerCommissionLine
    return sorted(
        (str(line_id), kind, amount)
        for line_id, kind, amount in db.session.execute(
            select(L.line_id, L.line_kind, L.commission_amount_native)
        )
    )


def test_per_token_totals_of_a_two_chain_partner(app, runner, tmp_path):
    partner = setup(runner, tmp_path)
    # SOL: PAID MEV 10 x 10% = 1, PAID REWARDS 4 x 5% = 0.2, LATE MEV 2 x 10% = 0.2.
    # ETH: MEV 8 x 2.5% = 0.2. Added together they would read 1.6: they never are.
    preview = ok(runner, "commissions", "compute", *JAN)
    assert "total SOL: 3 line(s), commission 1.4 SOL" in preview.stdout
    assert "total ETH: 1 line(s), commission 0.2 ETH" in preview.stdout
    assert "1.6" not in preview.stdout
    totals = results.preview(
        partner, date(2025, 1, 1), date(2025, 1, 31), lines=True
    ).token_totals()
    assert [(t.token_symbol, t.commission_amount_native) for t in totals] == [
        ("ETH", D("0.2")),
        ("SOL", D("1.4")),
    ]
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    status = ok(runner, "commissions", "status", "Acme Wallet").stdout
    assert "3 line(s), commission 1.4 SOL" in status
    assert "1 line(s), commission 0.2 ETH" in status
    assert status.count(": committed") == 2
    assert "committed by ann@example.com" in status


def test_four_eyes_lock_reopen_recommit_and_pay(app, runner, tmp_path):
    setup(runner, tmp_path)
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    committed = runs_of("committed")
    assert len(committed) == 2

    # Four eyes: the committer cannot approve; a viewer cannot either. Nothing changes.
    refused(runner, "commissions", "approve", *JAN, "--as", "ann@example.com", message="four eyes")
    refused(runner, "commissions", "approve", *JAN, "--as", "vic@example.com", message="manager")
    db.session.expire_all()
    assert {r.status for r in runs_of()} == {"committed"}
    assert count(CommissionLock) == 0

    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    db.session.expire_all()
    approved = runs_of("approved")
    assert len(approved) == 2
    assert {r.approved_by.email for r in approved} == {"bob@example.com"}
    assert count(CommissionLock) == 2  # (SOL, 2025-01) and (ETH, 2025-01)

    # A commit touching a locked pair is refused, naming the run, and changes nothing.
    before, runs_before = lines_snapshot(), count(CommissionRun)
    result = refused(
        runner,
        *("commissions", "compute", *JAN, "--commit", "--as", "bob@example.com"),
        message="is locked by approved run",
    )
    assert any(str(r.run_id) in result.output for r in approved)
    db.session.expire_all()
    assert lines_snapshot() == before
    assert count(CommissionRun) == runs_before

    # Reopen: admins only, with a reason; it unlocks, and the range can be recommitted.
    refused(
        runner,
        *("commissions", "reopen", *JAN, "--reason", "wrong rate", "--as", "bob@example.com"),
        message="admin",
    )
    ok(
        runner,
        *("commissions", "reopen", *JAN, "--reason", "wrong rate", "--as", "root@example.com"),
    )
    db.session.expire_all()
    assert {r.status for r in runs_of()} == {"committed"}
    assert {r.reopen_reason for r in runs_of()} == {"wrong rate"}
    assert count(CommissionLock) == 0
    first_sol = next(r for r in runs_of() if r.agreement.name == "Acme SOL")
    events = db.session.scalars(
        select(CommissionRunEvent.action)
        .where(CommissionRunEvent.run_id == first_sol.run_id)
        .order_by(CommissionRunEvent.created_at)
    ).all()
    assert events == ["commit", "approve", "reopen"]
    assert count(AuditLog, AuditLog.action == "commission_run.reopen") == 2

    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "root@example.com")
    db.session.expire_all()
    assert len(runs_of("superseded")) == 2
    assert len(runs_of("committed")) == 2

    # Pay needs approval first; then it is final.
    pay = ("commissions", "pay", *JAN, "--reference", "PAY-2025-01", "--paid-on", "2025-02-05")
    refused(runner, *pay, "--as", "ann@example.com", message="runs there are committed")
    ok(runner, "commissions", "approve", *JAN, "--as", "ann@example.com")
    ok(runner, *pay, "--as", "ann@example.com")
    db.session.expire_all()
    paid = runs_of("paid")
    assert len(paid) == 2
    assert {(r.payout_reference, r.paid_on, r.paid_by.email) for r in paid} == {
        ("PAY-2025-01", date(2025, 2, 5), "ann@example.com")
    }
    refused(runner, *pay, "--as", "ann@example.com", message="paid is final")
    refused(
        runner,
        *("commissions", "reopen", *JAN, "--reason", "late", "--as", "root@example.com"),
        message="paid is final",
    )
    db.session.expire_all()
    assert len(runs_of("paid")) == 2
    assert count(CommissionLock) == 2
    status = ok(runner, "commissions", "status", *JAN).stdout
    assert "reference PAY-2025-01" in status and status.count(": paid") == 2


def test_true_up_after_a_corrected_import_of_a_locked_period(app, runner, tmp_path):
    partner = setup(runner, tmp_path)
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    db.session.expire_all()
    locked_sol = next(r for r in runs_of("approved") if r.agreement.name == "Acme SOL")
    locked_lines = lines_snapshot()
    assert true_ups.changes_since_approval(partner) == []

    # The corrected January file: PAID's MEV is 13 (was 10), LATE's reward is gone.
    corrected = rewards_file(
        tmp_path,
        "rewards-fixed.csv",
        [("2025-01", PAID, "MEV", "13"), ("2025-01", PAID, "REWARDS", "4")],
    )
    ok(runner, "import", "staker-rewards", corrected, "--provider", "jito", "--replace")

    # By hand: PAID MEV 13 x 10% - 1 = +0.3 (base +3); LATE MEV 0 - 0.2 = -0.2 (base -2).
    (change,) = true_ups.changes_since_approval(partner)
    assert change.run.run_id == locked_sol.run_id and change.token_symbol == "SOL"
    (period,) = change.periods
    assert (period.label, period.net_commission_native, period.wallet_count) == (
        "2025-01",
        D("0.1"),
        2,
    )
    expected = {
        (PAID, D("3"), 1000, D("0.3")),
        (LATE, D("-2"), 1000, D("-0.2")),
    }
    assert {
        (d.wallet_address, d.base_amount_native, d.commission_rate_bps, d.commission_amount_native)
        for d in period.lines
    } == expected

    # Without --true-up the February commit carries nothing.
    ok(runner, "commissions", "compute", *FEB, "--commit", "--as", "ann@example.com")
    assert count(PartnerCommissionLine, PartnerCommissionLine.line_kind == "adjustment") == 0
    # With it, the differences become adjustment lines naming the locked run.
    result = ok(
        runner, "commissions", "compute", *FEB, "--commit", "--true-up", "--as", "ann@example.com"
    )
    assert "adjustments 0.1 SOL (2 line(s))" in result.stdout
    db.session.expire_all()
    L = PartnerCommissionLine
    adjustments = db.session.scalars(select(L).where(L.line_kind == "adjustment")).all()
    assert {
        (a.wallet_address, a.base_amount_native, a.commission_rate_bps, a.commission_amount_native)
        for a in adjustments
    } == expected
    feb_run = next(r for r in runs_of("committed") if r.date_from == date(2025, 2, 1))
    assert {(a.corrects_run_id, a.run_id) for a in adjustments} == {
        (locked_sol.run_id, feb_run.run_id)
    }
    assert (feb_run.adjustment_count, feb_run.total_adjustment_native) == (2, D("0.1"))
    # Locked lines never change.
    commission_lines = [line for line in lines_snapshot() if line[1] == "commission"]
    assert set(locked_lines) <= set(commission_lines)
    assert true_ups.changes_since_approval(partner) == []

    # February recommitted without --true-up: the adjustments move to the new run.
    ok(runner, "commissions", "compute", *FEB, "--commit", "--as", "ann@example.com")
    db.session.expire_all()
    new_feb = next(r for r in runs_of("committed") if r.date_from == date(2025, 2, 1))
    assert new_feb.run_id != feb_run.run_id
    assert (new_feb.adjustment_count, new_feb.total_adjustment_native) == (2, D("0.1"))
    assert {a.run_id for a in db.session.scalars(select(L).where(L.line_kind == "adjustment"))} == {
        new_feb.run_id
    }

    # A second true-up (the March commit) finds nothing left to carry.
    ok(runner, "commissions", "compute", *MAR, "--commit", "--true-up", "--as", "ann@example.com")
    assert count(L, L.line_kind == "adjustment") == 2

    # The export: February's line, then the adjustments carried by February's run.
    feb = ok(runner, "commissions", "export", *FEB).stdout
    rows = list(csv.DictReader(io.StringIO(feb)))
    assert [(r["period"], r["line_kind"], r["run_status"], r["token_symbol"]) for r in rows] == [
        ("2025-02", "commission", "committed", "SOL"),
        ("2025-01", "adjustment", "committed", "SOL"),
        ("2025-01", "adjustment", "committed", "SOL"),
    ]
    assert sorted(r["commission_amount_native"] for r in rows) == ["-0.2", "0.3", "0.6"]
    jan = list(csv.DictReader(io.StringIO(ok(runner, "commissions", "export", *JAN).stdout)))
    assert {(r["line_kind"], r["run_status"]) for r in jan} == {("commission", "approved")}
    assert sorted((r["token_symbol"], r["commission_amount_native"]) for r in jan) == [
        ("ETH", "0.2"),
        ("SOL", "0.2"),
        ("SOL", "0.2"),
        ("SOL", "1"),
    ]


def test_empty_range_is_refused_and_missing_data_is_named(app, runner, tmp_path):
    setup(runner, tmp_path)
    refused(
        runner,
        *("commissions", "compute", "Acme Wallet", "--from", "2026-01-01", "--to", "2026-01-31"),
        *("--commit", "--as", "ann@example.com"),
        message="no period in scope",
    )
    assert count(CommissionRun) == 0 and count(PartnerCommissionLine) == 0
    april = ("Acme Wallet", "--from", "2025-04-01", "--to", "2025-04-30")
    result = ok(runner, "commissions", "compute", *april, "--commit", "--as", "ann@example.com")
    assert "warning: Acme SOL: no staker rewards in period(s) 2025-04" in result.stdout
    assert count(CommissionRun) == 1


def test_run_page_of_a_run_carrying_adjustments(app, runner, tmp_path, viewer_client):
    """February's run carries the true-up of locked January: its page counts February's own
    lines by component, and shows January's adjustments as a period of their own; every
    figure as worked out by hand."""
    feb_sol = february_carrying_a_true_up(runner, tmp_path)
    page = viewer_client.get(f"/commissions/runs/{feb_sol.run_id}").get_data(as_text=True)

    # Lines by component: February's one line, PAID's MEV 6 x 10% (the adjustments are not
    # lines of this run's periods).
    components = page.split("<h2>Lines by component</h2>")[1].split("</table>")[0]
    cells = [
        [re.sub(r"<.*?>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]
        for row in re.findall(r"<tr><td>.*?</tr>", components, re.S)
    ]
    assert cells == [
        [
            "MEV",
            "1",
            "6.000000000 SOL (exactly 6.000000000000000000 SOL)",
            "0.600000000 SOL (exactly 0.600000000000000000 SOL)",
        ]
    ]
    # By period: February's line; January's two adjustments, +3 x 10% and -2 x 10%.
    periods = {
        label: [
            re.sub(r"<.*?>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)
        ]
        for label, row in re.findall(
            r'data-period="([\d-]+)">\s*<th scope="row"[^>]*>[^<]*</th>(.*?)</tr>', page, re.S
        )
    }

    def exact(cell: str):
        """An amount cell's exact value, a count cell as it reads."""
        found = re.search(r"exactly (-?[\d.,]+)", cell)
        return D(found.group(1).replace(",", "")) if found else cell

    assert [[exact(c) for c in periods[label][:3]] for label in ("2025-01", "2025-02")] == [
        ["2", D("1"), D("0.1")],
        ["1", D("6"), D("0.6")],
    ]
