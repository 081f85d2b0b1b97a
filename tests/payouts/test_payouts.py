"""Payables, minimum payouts, payouts and statements, on the command line, the pages and the
service; figures worked by hand from the close world of tests/close/test_commissions_close.py:

January, Solana (wallet attribution, MEV 10 %, REWARDS 5 %): PAID MEV 10 -> 1, PAID REWARDS 4
-> 0.2, LATE MEV 2 -> 0.2: 1.4 SOL. January, Ethereum (total revenue, MEV 2.5 %): 8 -> 0.2
ETH. February, Solana: PAID MEV 6 -> 0.6 SOL.
"""

import csv
import io
import re
import threading
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.worlds import FEB, JAN, PAID, ok, refused, rewards_file, setup
from webapp.extensions import db
from webapp.models import AuditLog, CommissionRun, Partner, Payout, User
from webapp.partners.service import find_partner_by_name
from webapp.payouts import service, statements

D = Decimal
YEAR = date.today().year


def person(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def pay_token(runner, symbol: str, reference: str, *extra: str):
    """`flask payouts pay` of Acme Wallet's payable in one token, as Bob."""
    return ok(
        runner,
        *("payouts", "pay", "Acme Wallet", "--token", symbol, "--reference", reference),
        *extra,
        *("--as", "bob@example.com"),
    )


def payable(symbol: str) -> service.Payable | None:
    db.session.expire_all()
    return next((p for p in service.payables() if p.token_symbol == symbol), None)


def close_january(runner, tmp_path):
    partner = setup(runner, tmp_path)
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    return partner


def payouts() -> list[Payout]:
    db.session.expire_all()
    return db.session.scalars(select(Payout).order_by(Payout.created_at)).all()


def test_payables_per_token_never_add_two_tokens(app, runner, tmp_path):
    close_january(runner, tmp_path)
    found = {p.token_symbol: p for p in service.payables()}
    assert set(found) == {"ETH", "SOL"}
    assert found["SOL"].net_amount_native == D("1.4") and found["SOL"].status == "payable"
    assert found["ETH"].net_amount_native == D("0.2") and found["ETH"].status == "payable"
    listing = ok(runner, "payouts", "list").output
    assert "payable\tAcme Wallet\tSOL\t1.400000000000000000 SOL" in listing
    assert "payable\tAcme Wallet\tETH\t0.200000000000000000 ETH" in listing
    assert "1.6" not in listing  # 1.4 SOL + 0.2 ETH is never a figure


def test_minimum_carries_then_pays_with_what_was_carried(app, runner, tmp_path):
    close_january(runner, tmp_path)
    ok(runner, "partners", "set-minimum", "Acme Wallet", "--token", "SOL", "--amount", "2")
    sol = payable("SOL")
    assert sol.status == "carried" and "below the minimum payout of 2 SOL" in sol.carried_reason
    refused(
        runner,
        *("payouts", "pay", "Acme Wallet", "--token", "SOL", "--reference", "R-1"),
        *("--as", "bob@example.com"),
        message="below the minimum",
    )
    assert payouts() == []
    assert (
        "carried\tAcme Wallet\tSOL" in ok(runner, "payouts", "list", "--status", "carried").output
    )

    pay_token(runner, "ETH", "ETH-1", "--paid-on", f"{YEAR}-12-03")
    (eth,) = payouts()
    assert (eth.statement_number, eth.net_amount_native, eth.carried_in_native) == (
        f"acme-wallet-{YEAR}-1",
        D("0.2"),
        D("0"),
    )

    # February's 0.6 SOL brings the net to 2.0, the minimum: paid, 1.4 of it carried in.
    ok(runner, "commissions", "compute", *FEB, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *FEB, "--as", "bob@example.com")
    assert payable("SOL").net_amount_native == D("2.0") and payable("SOL").status == "payable"
    pay_token(runner, "SOL", "SOL-1", "--paid-on", f"{YEAR}-12-04")
    sol_payout = payouts()[-1]
    assert sol_payout.statement_number == f"acme-wallet-{YEAR}-2"
    assert (sol_payout.net_amount_native, sol_payout.carried_in_native) == (D("2.0"), D("1.4"))
    settled = db.session.scalars(
        select(CommissionRun).where(CommissionRun.payout_id == sol_payout.payout_id)
    ).all()
    assert sorted(r.date_from.month for r in settled) == [1, 2]
    assert {r.status for r in settled} == {"paid"}
    assert payable("SOL") is None
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "set_minimum")) == 1


def test_clawbacks_larger_than_commission_are_carried(app, runner, tmp_path):
    close_january(runner, tmp_path)
    ok(runner, "commissions", "pay", *JAN, "--reference", "JAN", "--as", "bob@example.com")
    # January corrected down to PAID MEV 1: 0.1 SOL instead of 1.4, a clawback of 1.3.
    corrected = rewards_file(tmp_path, "jan-fixed.csv", [("2025-01", PAID, "MEV", "1")])
    ok(runner, "import", "staker-rewards", corrected, "--provider", "jito", "--replace")
    ok(runner, "commissions", "compute", *FEB, "--commit", "--true-up", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *FEB, "--as", "bob@example.com")
    sol = payable("SOL")
    # February: 0.6 - 1.3 = -0.7.
    assert sol.net_amount_native == D("-0.7") and sol.adjustment_native == D("-1.3")
    assert sol.status == "carried" and "clawbacks exceed commissions" in sol.carried_reason
    refused(
        runner,
        *("payouts", "pay", "Acme Wallet", "--token", "SOL", "--reference", "R"),
        *("--as", "bob@example.com"),
        message="clawbacks exceed",
    )


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_statement_pdf_csv_and_page_show_the_same_figures(app, runner, tmp_path, login, make_user):
    close_january(runner, tmp_path)
    ok(runner, "commissions", "pay", *JAN, "--reference", "JAN-1", "--as", "bob@example.com")
    # January corrected up (PAID MEV 13: +0.3) and down (LATE gone: -0.2): a true-up in
    # February's run, which February's payout settles with its 0.6.
    corrected = rewards_file(
        tmp_path,
        "jan-fixed.csv",
        [("2025-01", PAID, "MEV", "13"), ("2025-01", PAID, "REWARDS", "4")],
    )
    ok(runner, "import", "staker-rewards", corrected, "--provider", "jito", "--replace")
    ok(runner, "commissions", "compute", *FEB, "--commit", "--true-up", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *FEB, "--as", "bob@example.com")
    pay_token(runner, "SOL", "FEB-SOL")
    payout = payouts()[-1]
    jan_sol = next(p for p in payouts() if p.chain_id == "solana" and p is not payout)
    assert payout.net_amount_native == D("0.7")  # 0.6 + 0.3 - 0.2

    pdf_path, csv_path = tmp_path / "s.pdf", tmp_path / "s.csv"
    number = payout.statement_number
    ok(runner, "payouts", "statement", "Acme Wallet", "--number", number, "-o", str(pdf_path))
    ok(runner, "payouts", "statement", "Acme Wallet", "--number", number, "-o", str(csv_path))
    text = _pdf_text(pdf_path.read_bytes())
    rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    by_item = {(r[0], r[1]): r for r in rows[1:]}
    assert D(by_item[("total", "net")][4]) == D("0.7")
    assert D(by_item[("total", "commission")][4]) == D("0.6")
    assert D(by_item[("total", "adjustments")][4]) == D("0.1")
    kinds = sorted((r[0], r[3], D(r[4])) for r in rows if r[0] in ("adjustment", "clawback"))
    assert kinds == [("adjustment", "2025-01", D("0.3")), ("clawback", "2025-01", D("-0.2"))]
    assert all(jan_sol.statement_number in r[2] for r in rows if r[0] in ("adjustment", "clawback"))
    for figure in (
        "0.700000000000000000",
        "0.600000000000000000",
        "-0.200000000000000000",
        "0.300000000000000000",
        number,
        "Acme Wallet",
        "FEB-SOL",
    ):
        assert figure in text, figure
    assert re.search(rf"statement\s+{re.escape(jan_sol.statement_number)}", text)

    client = login(app.test_client(), make_user("viewer"))
    page = client.get(f"/payouts/{payout.payout_id}").get_data(as_text=True)
    for figure in ("0.700000000000000000", "0.600000000000000000", "-0.200000000000000000"):
        assert figure in page  # the exact value behind each shown amount
    downloaded = client.get(f"/payouts/{payout.payout_id}/statement.pdf")
    assert downloaded.mimetype == "application/pdf"
    assert "0.700000000000000000" in _pdf_text(downloaded.data)


def test_page_pays_two_partners_at_once_each_its_own_payout(
    app, runner, tmp_path, login, make_user
):
    close_january(runner, tmp_path)
    bob = login(app.test_client(), make_user("manager"))
    acme = find_partner_by_name("Acme Wallet")
    page = bob.get("/payouts/").get_data(as_text=True)
    assert "Pay selected" in page
    keys = [f"{acme.partner_id}:solana", f"{acme.partner_id}:ethereum"]
    answer = bob.post(
        "/payouts/pay",
        data={
            "selected": keys,
            f"reference-{keys[0]}": "SOL-REF",
            f"reference-{keys[1]}": "ETH-REF",
            "paid_on": f"{YEAR}-12-03",
        },
    )
    assert answer.status_code == 302
    made = {p.chain_id: p for p in payouts()}
    assert set(made) == {"solana", "ethereum"}
    assert (made["solana"].payout_reference, made["solana"].net_amount_native) == (
        "SOL-REF",
        D("1.4"),
    )
    assert (made["ethereum"].payout_reference, made["ethereum"].net_amount_native) == (
        "ETH-REF",
        D("0.2"),
    )
    assert len({p.statement_number for p in made.values()}) == 2
    # Paying again finds nothing: each pair is paid once.
    again = bob.post("/payouts/pay", data={"selected": keys[:1], f"reference-{keys[0]}": "X"})
    assert again.status_code == 302 and len(payouts()) == 2


def test_a_viewer_cannot_pay_and_nothing_changes(app, runner, tmp_path, viewer_client):
    close_january(runner, tmp_path)
    acme = find_partner_by_name("Acme Wallet")
    key = f"{acme.partner_id}:solana"
    answer = viewer_client.post("/payouts/pay", data={"selected": [key], f"reference-{key}": "R"})
    assert answer.status_code == 403 and payouts() == []


@pytest.mark.postgres_only
def test_two_payouts_of_the_same_runs_at_once_one_wins(app, runner, tmp_path):
    close_january(runner, tmp_path)
    partner_id = find_partner_by_name("Acme Wallet").partner_id
    barrier = threading.Barrier(2, timeout=30)
    outcomes = [None, None]

    def pay(index):
        with app.app_context():
            try:
                partner = db.session.get(Partner, partner_id)
                user = person("bob@example.com")
                barrier.wait()
                outcomes[index] = service.pay(partner, "solana", user, f"REF-{index}")
            except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
                outcomes[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(isinstance(o, Exception) for o in outcomes) == 1, outcomes
    made = [p for p in payouts() if p.chain_id == "solana"]
    assert len(made) == 1
    paid = db.session.scalars(select(CommissionRun).where(CommissionRun.status == "paid")).all()
    assert {r.payout_id for r in paid} == {made[0].payout_id}


def test_statement_figures_sum_from_lines(app, runner, tmp_path):
    close_january(runner, tmp_path)
    pay_token(runner, "SOL", "S")
    statement = statements.statement_of(payouts()[0])
    assert {
        (c.agreement, c.revenue_component, c.commission_amount_native) for c in statement.components
    } == {
        ("Acme SOL", "MEV", D("1.2")),
        ("Acme SOL", "REWARDS", D("0.2")),
    }
    assert statement.adjustments == [] and statement.commission_native == D("1.4")


# ---- The API ---------------------------------------------------------------------------------


def test_api_lists_pays_and_serves_statements(app, runner, tmp_path, client):
    from tests.api_helpers import bearer

    close_january(runner, tmp_path)
    acme = find_partner_by_name("Acme Wallet")
    writer, reader = bearer(person("bob@example.com")), bearer(person("ann@example.com"), "read")
    listed = client.get("/api/v1/payouts?status=payable", headers=reader).get_json()
    nets = {(p["token_symbol"], p["net_amount_native"], p["status"]) for p in listed["payables"]}
    assert nets == {("SOL", "1.4", "payable"), ("ETH", "0.2", "payable")}

    body = {"partner_id": str(acme.partner_id), "token": "sol", "reference": "API-1"}
    read_only = client.post("/api/v1/payouts", json=body, headers=reader)
    assert read_only.status_code == 403 and payouts() == []
    made = client.post("/api/v1/payouts", json=body, headers=writer)
    assert made.status_code == 201, made.get_json()
    payout = made.get_json()
    (stored,) = payouts()
    assert (payout["statement_number"], payout["net_amount_native"]) == (
        stored.statement_number,
        "1.4",
    )
    again = client.post("/api/v1/payouts", json=body, headers=writer)
    assert again.status_code == 409 and len(payouts()) == 1
    assert "no approved, unpaid run" in again.get_json()["detail"]

    one = client.get(f"/api/v1/payouts/{stored.payout_id}", headers=reader).get_json()
    assert [r["net_amount_native"] for r in one["runs"]] == ["1.4"]
    as_csv = client.get(
        f"/api/v1/payouts/{stored.payout_id}/statement", headers={**reader, "Accept": "text/csv"}
    )
    assert as_csv.mimetype == "text/csv" and "total,net,,,1.4,SOL" in as_csv.get_data(as_text=True)
    as_pdf = client.get(
        f"/api/v1/payouts/{stored.payout_id}/statement",
        headers={**reader, "Accept": "application/pdf"},
    )
    assert as_pdf.mimetype == "application/pdf"
    assert "1.400000000000000000" in _pdf_text(as_pdf.data)
    paid = client.get("/api/v1/payouts?status=paid", headers=reader).get_json()
    assert [p["statement_number"] for p in paid["payouts"]] == [stored.statement_number]


def test_usd_values_fixed_at_approval_on_payables_statement_and_api(app, runner, tmp_path, client):
    from tests.api_helpers import bearer

    setup(runner, tmp_path)
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "chain_id,date,price_usd\nsolana,2025-01-31,150.25\nethereum,2025-01-31,3000.5\n"
    )
    ok(runner, "import", "prices", str(prices), "--provider", "manual-upload")
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    # By hand: 1.4 SOL x 150.25 = 210.35 USD; 0.2 ETH x 3000.5 = 600.1 USD (each token alone).
    found = {p.token_symbol: p.value_usd for p in service.payables()}
    assert found == {"SOL": D("210.35"), "ETH": D("600.1")}

    # A corrected price after approval changes nothing fixed.
    fixed = tmp_path / "prices-fixed.csv"
    fixed.write_text("chain_id,date,price_usd\nsolana,2025-01-31,999\n")
    ok(runner, "import", "prices", str(fixed), "--provider", "manual-upload", "--replace")
    assert payable("SOL").value_usd == D("210.35")
    pay_token(runner, "SOL", "S")
    payout = payouts()[0]
    statement = statements.statement_of(payout)
    assert statement.value_usd == D("210.35")
    assert [(d.isoformat(), p) for d, p in statement.prices] == [("2025-01-31", D("150.25"))]
    rows = list(csv.reader(io.StringIO(statements.statement_csv(statement))))
    assert ["total", "value_usd", "", "", "210.35", "USD"] in rows
    assert "210.350000000000000000" in _pdf_text(statements.statement_pdf(statement))
    answer = client.get(
        f"/api/v1/payouts/{payout.payout_id}", headers=bearer(person("ann@example.com"), "read")
    ).get_json()
    assert answer["value_usd"] == "210.35"
