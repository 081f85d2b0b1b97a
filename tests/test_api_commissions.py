"""The commission breakdown and the runs through the API, against amounts worked out by hand
(the world of tests/test_commissions.py)."""

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.api_helpers import bearer
from tests.test_commissions import W_PAID, add_agreements, build_world
from webapp.commissions import committing, lifecycle
from webapp.extensions import db
from webapp.models import CommissionRun, PartnerCommissionLine

D = Decimal
API = "/api/v1"
RANGE = {"from": "2025-01-01", "to": "2025-01-03"}
#: Worked out in tests/test_commissions.py: 7 wallet-periods of 0.15 MEV and 0.5 REWARDS.
SOL_MEV, SOL_REWARDS = D("0.15") * 7, D("0.5") * 7
ETH_MEV = "2499999999999999999.9875"


@pytest.fixture
def world(app):
    world = build_world()
    world.solana, world.ethereum = add_agreements(world.acme)
    return world


@pytest.fixture
def reader(make_user):
    return bearer(make_user("viewer"), "read")


def commissions(client, world, headers, **query):
    url = f"{API}/partners/{world.acme.partner_id}/commissions"
    response = client.get(url, query_string=RANGE | query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def by_agreement(body) -> dict:
    return {section["agreement"]: section for section in body["sections"]}


def components(section) -> dict:
    return {
        (row["line_kind"], row["revenue_component"]): (
            row["line_count"],
            row["commission_amount_native"],
        )
        for row in section["components"]
    }


def assert_full_breakdown(body):
    sections = by_agreement(body)
    assert components(sections["Acme SOL"]) == {
        ("commission", "MEV"): (7, "1.05"),
        ("commission", "REWARDS"): (7, "3.5"),
    }
    assert components(sections["Acme ETH"]) == {("commission", "MEV"): (1, ETH_MEV)}
    eth_exclusions = sections["Acme ETH"]["exclusions"]
    assert eth_exclusions == [{"reason": "no rule", "count": 1, "held_back_amount_native": "3"}]
    totals = {t["token_symbol"]: t for t in body["token_totals"]}
    assert set(totals) == {"SOL", "ETH"}
    assert totals["SOL"]["commission_amount_native"] == str(SOL_MEV + SOL_REWARDS)
    assert totals["SOL"]["line_count"] == 14
    assert totals["ETH"]["commission_amount_native"] == ETH_MEV
    assert totals["ETH"]["excluded_amount_native"] == "3"


def test_preview_gives_the_engines_breakdown_per_token_and_stores_nothing(client, world, reader):
    body = commissions(client, world, reader, preview="true")
    assert body["preview"] is True
    assert_full_breakdown(body)
    assert all(section["run"] is None for section in body["sections"])
    assert db.session.scalar(select(func.count()).select_from(CommissionRun)) == 0


def test_the_committed_breakdown_names_its_runs(client, world, reader):
    assert commissions(client, world, reader)["sections"] == []
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    body = commissions(client, world, reader)
    assert body["preview"] is False
    assert_full_breakdown(body)
    stored = {
        str(run.run_id): run.status for run in db.session.scalars(select(CommissionRun)).all()
    }
    assert {s["run"]["run_id"]: s["run"]["status"] for s in body["sections"]} == stored
    assert set(stored.values()) == {"committed"}


@pytest.mark.parametrize("preview", ["true", "false"])
def test_one_wallet_with_its_exclusions(client, world, reader, preview):
    if preview == "false":
        committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    body = commissions(client, world, reader, preview=preview, wallet=W_PAID)
    assert body["wallet"] == W_PAID
    solana = by_agreement(body)["Acme SOL"]
    # W_PAID earns every period: 0.15 MEV and 0.5 REWARDS with V1; its EXEC_FEES with V2
    # (0.25 a period) is held back as not staked with that validator.
    assert components(solana) == {
        ("commission", "MEV"): (3, "0.45"),
        ("commission", "REWARDS"): (3, "1.5"),
    }
    assert [
        (e["reason"], e["count"], e["held_back_amount_native"]) for e in solana["exclusions"]
    ] == [("not staked with validator during period", 3, "0.75")]
    sol_total = next(t for t in body["token_totals"] if t["token_symbol"] == "SOL")
    assert sol_total["commission_amount_native"] == "1.95"


def test_commission_errors(client, world, reader):
    url = f"{API}/partners/{world.acme.partner_id}/commissions"
    response = client.get(
        url, query_string={"from": "2025-01-03", "to": "2025-01-01"}, headers=reader
    )
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "to"
    missing = client.get(url, query_string={"from": "2025-01-03"}, headers=reader)
    assert missing.status_code == 422
    unknown = client.get(
        f"{API}/partners/{uuid.uuid4()}/commissions", query_string=RANGE, headers=reader
    )
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"


# --- runs -------------------------------------------------------------------------------------


@pytest.fixture
def sol_run(world, make_user):
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3), user=make_user("manager"))
    return db.session.scalar(
        select(CommissionRun).where(CommissionRun.agreement_id == world.solana.agreement_id)
    )


def test_a_run_with_its_status_history_and_totals(client, world, sol_run, reader, make_user):
    approver = make_user("manager")
    lifecycle.approve_run(sol_run, approver)
    body = client.get(f"{API}/runs/{sol_run.run_id}", headers=reader).get_json()
    assert body["status"] == "approved" and body["token_symbol"] == "SOL"
    assert (body["date_from"], body["date_to"]) == ("2025-01-01", "2025-01-03")
    assert [(e["action"], e["to_status"]) for e in body["history"]] == [
        ("commit", "committed"),
        ("approve", "approved"),
    ]
    assert body["history"][1]["user"] == approver.email
    (total,) = body["token_totals"]
    assert total["commission_amount_native"] == str(SOL_MEV + SOL_REWARDS)
    assert total["line_count"] == 14
    assert client.get(f"{API}/runs/{uuid.uuid4()}", headers=reader).status_code == 404


def test_run_lines_page_to_the_end_and_add_up(client, sol_run, reader):
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        body = client.get(
            f"{API}/runs/{sol_run.run_id}/lines", query_string=query, headers=reader
        ).get_json()
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and len(seen) == 14
    assert len({line["line_id"] for line in seen}) == 14
    stored = set(
        db.session.scalars(
            select(PartnerCommissionLine.line_id).where(
                PartnerCommissionLine.run_id == sol_run.run_id
            )
        )
    )
    assert {uuid.UUID(line["line_id"]) for line in seen} == stored
    assert sum(D(line["commission_amount_native"]) for line in seen) == SOL_MEV + SOL_REWARDS
    assert all(isinstance(line["base_amount_native"], str) for line in seen)
    assert {line["period"] for line in seen} == {"701", "702", "703"}


def test_run_lines_refuse_a_foreign_cursor(client, sol_run, reader):
    response = client.get(
        f"{API}/runs/{sol_run.run_id}/lines", query_string={"cursor": "WyJ4Il0"}, headers=reader
    )
    assert response.status_code == 422
    assert client.get(f"{API}/runs/{uuid.uuid4()}/lines", headers=reader).status_code == 404
