"""The month-end overview on the home page: partners down, months across, each cell's data,
state and commission per token, and a link to the next step; bulk queries only."""

import re
from datetime import date

import pytest
from sqlalchemy import event

from tests.test_commissions import add_agreements, build_world
from webapp.commissions import service
from webapp.extensions import db
from webapp.main.queries import last_months
from webapp.money import exact_text
from webapp.partners.service import create_partner

WINDOW = {"until": "2025-02", "months": "3"}


@pytest.fixture
def world(app):
    world = build_world()
    world.solana, world.ethereum = add_agreements(world.acme)
    return world


def cells_of(page: str, partner: str) -> dict[str, str]:
    row = re.search(rf">{partner}</a></th>(.*?)</tr>", page, re.S).group(1)
    return dict(re.findall(r'data-month="([\d-]+)" data-state="[^"]*">(.*?)</td>', row, re.S))


def state_of(page: str, partner: str) -> dict[str, str]:
    row = re.search(rf">{partner}</a></th>(.*?)</tr>", page, re.S).group(1)
    return dict(re.findall(r'data-month="([\d-]+)" data-state="([^"]*)"', row))


def test_last_months_are_calendar_months_oldest_first():
    months = last_months(3, date(2025, 2, 14))
    assert [(m.first, m.last) for m in months] == [
        (date(2024, 12, 1), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 1, 31)),
        (date(2025, 2, 1), date(2025, 2, 28)),
    ]


def test_cells_say_data_in_then_committed_with_amounts_per_token(viewer_client, world):
    create_partner("Beta Exchange")  # no agreement at all
    page = viewer_client.get("/", query_string=WINDOW).get_data(as_text=True)
    assert [m for m in re.findall(r'<th scope="col">([\d-]+)</th>', page)] == [
        "2024-12",
        "2025-01",
        "2025-02",
    ]
    assert state_of(page, "Acme Wallet") == {
        "2024-12": "no agreement",
        "2025-01": "data in",
        "2025-02": "no data",
    }
    assert state_of(page, "Beta Exchange") == {
        m: "no agreement" for m in ("2024-12", "2025-01", "2025-02")
    }
    january = cells_of(page, "Acme Wallet")["2025-01"]
    assert "Preview and commit" in january
    assert "date_from=2025-01-01" in january and "date_to=2025-01-31" in january

    computation = service.commit(world.acme, date(2025, 1, 1), date(2025, 1, 31))
    page = viewer_client.get("/", query_string=WINDOW).get_data(as_text=True)
    assert state_of(page, "Acme Wallet")["2025-01"] == "committed"
    january = cells_of(page, "Acme Wallet")["2025-01"]
    by_symbol = {
        o.agreement.chain.token_symbol: o.result.total_commission_native
        for o in computation.outcomes
    }
    # One amount per token, never one sum of both chains.
    assert set(re.findall(r'data-token="(\w+)"', january)) == {"SOL", "ETH"}
    for symbol, amount in by_symbol.items():
        assert f'data-exact="{exact_text(amount)}" data-token="{symbol}"' in january
    assert "4.550000000 SOL" in january
    run = next(o.run for o in computation.outcomes)
    assert "/commissions/runs/" in january and ">Approve<" in january
    assert any(f"/commissions/runs/{o.run.run_id}" in january for o in computation.outcomes)
    assert run.status == "committed"


def test_overview_query_count_does_not_grow_with_partners(viewer_client, world):
    service.commit(world.acme, date(2025, 1, 1), date(2025, 1, 31))
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def count_page() -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert viewer_client.get("/", query_string=WINDOW).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len(statements)

    few = count_page()
    for index in range(5):
        partner = create_partner(f"Partner {index}")
        add_agreements(partner)  # agreements on both chains, each with a committed run
        service.commit(partner, date(2025, 1, 1), date(2025, 1, 31))
    many = count_page()
    assert many == few, (few, many)
    assert many <= 8


def test_without_a_window_the_overview_ends_the_month_after_the_latest_data(viewer_client, world):
    # build_world's periods all start in January 2025: the next month to import is February,
    # so the default view ends there rather than in an empty current month.
    page = viewer_client.get("/").get_data(as_text=True)
    months = re.findall(r'<th scope="col">([\d-]+)</th>', page)
    assert months[-1] == "2025-02"
    assert len(months) == 6
