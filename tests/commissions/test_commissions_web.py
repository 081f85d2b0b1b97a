"""The commissions pages: preview breakdown, commit, CSV download, run detail and the partner
page's section, with the HX headers htmx really sends, on SQLite and PostgreSQL."""

import csv
import io
import re
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.worlds import (
    W_INACTIVE,
    W_LATE,
    W_OTHER,
    W_PAID,
)
from webapp.commissions import committing, results, routes
from webapp.commissions.export import EXPORT_HEADER
from webapp.extensions import db
from webapp.models import CommissionRun, PartnerCommissionLine
from webapp.money import exact_text

HX = {"HX-Request": "true"}


def shown(value, symbol: str) -> str:
    """How a page carries an amount: its exact 18-place value and its token symbol."""
    return f'data-exact="{exact_text(value)}" data-token="{symbol}"'


FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


def range_args(world, date_from=FIRST, date_to=LAST) -> dict:
    return {
        "partner": str(world.acme.partner_id),
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
    }


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def test_preview_shows_the_breakdown_of_service_preview(manager_client, world):
    response = manager_client.get("/commissions/", query_string=range_args(world))
    assert response.status_code == 200
    page = text_of(response)
    expected = results.preview(world.acme, FIRST, LAST, lines=True)
    # One grand total per token: the SOL and ETH agreements are never added together.
    totals = re.search(r'id="grand-total-commission">(.*?)</ul>', page, re.S).group(1)
    assert re.findall(r'<li data-token="(\w+)">', totals) == ["ETH", "SOL"]
    for outcome in expected.outcomes:
        symbol = outcome.agreement.chain.token_symbol
        assert shown(outcome.result.total_commission_native, symbol) in totals
    assert shown(Decimal("4.55"), "SOL") in totals
    assert "4.550000000 SOL" in totals  # Solana's 9 display decimals
    for outcome in expected.outcomes:
        result, symbol = outcome.result, outcome.agreement.chain.token_symbol
        assert outcome.agreement.name in page
        assert shown(result.total_commission_native, symbol) in page
        for total in result.component_totals():
            assert shown(total.commission_amount_native, symbol) in page
        for excluded in result.exclusion_totals():
            assert excluded.reason in page
            assert shown(excluded.held_back_amount_native, symbol) in page
    # The exact ETH amount (more digits than a float holds) comes out whole, with separators.
    assert "2,499,999,999,999,999,999.987500000000000000 ETH" in page
    # Every wallet is explained in a searchable list (tests/insight/test_insight_wallets.py).
    assert "Every wallet, explained" in page
    assert W_OTHER not in page
    assert "Recent runs" in page and "<html" in page
    assert re.search(r"<button[^>]*>Commit</button>", page)
    db.session.rollback()
    assert count(CommissionRun) == 0 and count(PartnerCommissionLine) == 0


def test_htmx_preview_is_the_review_fragment_only(manager_client, world):
    response = manager_client.get("/commissions/", query_string=range_args(world), headers=HX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    fragment = text_of(response)
    assert 'id="commission-review"' in fragment and "<html" not in fragment
    assert "Recent runs" not in fragment
    assert 'id="grand-total-commission"' in fragment


def test_first_visit_and_partner_link_compute_nothing(manager_client, world):
    page = text_of(manager_client.get("/commissions/"))
    assert "grand-total-commission" not in page
    assert "No commission runs yet" in page
    chosen = manager_client.get("/commissions/", query_string={"partner": world.acme.partner_id})
    assert chosen.status_code == 200
    assert re.search(rf'<option selected value="{world.acme.partner_id}">', text_of(chosen))
    assert "grand-total-commission" not in text_of(chosen)


def test_commit_stores_lines_and_redirects_to_the_review(manager_client, world):
    response = manager_client.post("/commissions/commit", data=range_args(world))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/commissions/?partner=")
    runs = db.session.scalars(select(CommissionRun)).all()
    assert sorted(r.agreement.name for r in runs) == ["Acme ETH", "Acme SOL"]
    assert {r.status for r in runs} == {"committed"}
    assert count(PartnerCommissionLine) == 14 + 1
    page = text_of(manager_client.get(response.headers["Location"]))
    assert "Committed 2 run(s) for Acme Wallet, 2025-01-01 to 2025-01-03: 15 line(s)." in page
    for run in runs:
        assert f'/commissions/runs/{run.run_id}"' in page


def test_committed_lines_file_is_offered_only_once_the_range_holds_lines(manager_client, world):
    def offered() -> bool:
        page = text_of(manager_client.get("/commissions/", query_string=range_args(world)))
        return "Committed lines (CSV)" in page and "/commissions/export.csv?" in page

    assert not offered() and count(PartnerCommissionLine) == 0
    manager_client.post("/commissions/commit", data=range_args(world))
    assert count(PartnerCommissionLine) == 15 and offered()
    # A range inside the committed one holds some of its lines: the file has rows there too.
    assert "Committed lines (CSV)" in text_of(
        manager_client.get("/commissions/", query_string=range_args(world, FIRST, FIRST))
    )


def test_commit_again_supersedes_and_history_says_so(manager_client, world):
    manager_client.post("/commissions/commit", data=range_args(world))
    manager_client.post("/commissions/commit", data=range_args(world))
    page = text_of(manager_client.get("/commissions/"))
    assert page.count("superseded</span>") == 2
    assert count(PartnerCommissionLine) == 15


def test_viewer_sees_no_commit_button_and_cannot_commit(viewer_client, world):
    page = text_of(viewer_client.get("/commissions/", query_string=range_args(world)))
    assert "grand-total-commission" in page
    assert not re.search(r"<button[^>]*>Commit</button>", page)
    assert viewer_client.post("/commissions/commit", data=range_args(world)).status_code == 403
    assert count(CommissionRun) == 0


def test_commit_without_token_is_refused(app, make_user, login, world):
    client = login(app.test_client(), make_user("manager"))
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post("/commissions/commit", data=range_args(world)).status_code == 400
    assert count(CommissionRun) == 0


def test_csv_download_has_the_export_header_and_safe_cells(manager_client, world):
    committing.commit(world.acme, FIRST, LAST)
    response = manager_client.get("/commissions/export.csv", query_string=range_args(world))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        'filename="commissions-acme-wallet-2025-01-01-to-2025-01-03.csv"'
        in response.headers["Content-Disposition"]
    )
    # A browser download starts with a UTF-8 byte-order mark, for spreadsheets.
    assert response.get_data().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert tuple(rows[0]) == EXPORT_HEADER
    assert len(rows) == 1 + 15
    eth = [r for r in rows[1:] if r[2] == "ethereum"]
    assert eth == [
        [
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
    ]
    assert sorted({r[9] for r in rows[1:] if r[2] == "solana" and r[4] == "703"}) == sorted(
        [W_LATE, W_PAID]
    )
    assert any(r[9] == W_PAID and r[8] == "MEV" and r[12] == "0.15" for r in rows[1:])


def test_csv_download_of_nothing_committed_is_the_header(viewer_client, world):
    response = viewer_client.get("/commissions/export.csv", query_string=range_args(world))
    assert response.status_code == 200
    text = response.get_data().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [list(EXPORT_HEADER)]


def test_run_detail_shows_exclusions_by_reason_and_wallet(manager_client, world):
    computation = committing.commit(world.acme, FIRST, LAST)
    run = next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")
    response = manager_client.get(f"/commissions/runs/{run.run_id}")
    assert response.status_code == 200
    page = text_of(response)
    total = re.search(r'id="run-total-commission">(.*?)</strong>', page, re.S).group(1)
    assert shown(run.total_commission_native, "SOL") in total and "4.550000000 SOL" in total
    reasons = re.search(r'class="striped exclusion-reasons">.*?</table>', page, re.S).group(0)
    assert re.search(r"<td>wallet inactive</td><td class=\"num\">3 wallet-periods</td>", reasons)
    assert re.findall(r"<tr><td>(.*?)</td>", reasons) == [
        "wallet inactive",
        "introduced after period start",
        "not staked with validator during period",
    ]
    inactive = re.search(rf"<code>{W_INACTIVE}</code>.*?</tr>", page, re.S).group(0)
    assert "wallet inactive" in inactive and "nothing</span>" in inactive
    # W_PAID has a held-back reward (V2, not staked) but earned lines all the same.
    paid = re.search(rf"<code>{W_PAID}</code>.*?</tr>", page, re.S).group(0)
    assert "not staked with validator during period" in paid and "6 line(s)" in paid


def test_run_detail_wallet_search_and_pages(manager_client, world, monkeypatch):
    computation = committing.commit(world.acme, FIRST, LAST)
    run = next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")
    url = f"/commissions/runs/{run.run_id}"
    found = manager_client.get(url, query_string={"wallet": W_INACTIVE[:8]}, headers=HX)
    fragment = text_of(found)
    assert 'id="run-wallets"' in fragment and "<html" not in fragment
    assert W_INACTIVE in fragment and W_PAID not in fragment
    monkeypatch.setattr(routes, "RUN_WALLET_PAGE", 1)
    first = text_of(manager_client.get(url, headers=HX))
    second = text_of(manager_client.get(url, query_string={"page": 2}, headers=HX))
    assert "page=2" in first and "Previous" not in first
    assert "Previous" in second
    assert re.findall(r"<code>(.*?)</code>", first) != re.findall(r"<code>(.*?)</code>", second)


def test_run_detail_of_unknown_run_is_404(viewer_client, world):
    assert viewer_client.get("/commissions/runs/not-a-uuid").status_code == 404
    assert viewer_client.get(f"/commissions/runs/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"date_from": "2025-01-05", "date_to": "2025-01-01"}, "The last day is before the first"),
        ({"date_from": "2025-02-30"}, "Not a valid date value"),
        ({"date_to": ""}, "Give the last day, YYYY-MM-DD."),
        ({"partner": str(uuid.UUID(int=7))}, "There is no such partner."),
        ({"partner": "'; drop table partners"}, "There is no such partner."),
        ({"partner": ""}, "Pick a partner."),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_input_is_a_readable_400(manager_client, world, change, message, htmx):
    args = {**range_args(world), **change}
    response = manager_client.get("/commissions/", query_string=args, headers=HX if htmx else {})
    assert response.status_code == 400
    page = text_of(response)
    assert message in page and 'role="alert"' in page
    assert ("<html" in page) is not htmx
    assert manager_client.post("/commissions/commit", data=args).status_code == 400
    assert message in text_of(manager_client.get("/commissions/export.csv", query_string=args))
    assert count(CommissionRun) == 0


def test_partner_page_lists_its_runs_and_links_to_the_review(manager_client, world):
    page = text_of(manager_client.get(f"/partners/{world.acme.partner_id}"))
    assert "No commission run for Acme Wallet yet." in page
    assert f'href="/commissions/?partner={world.acme.partner_id}"' in page
    computation = committing.commit(world.acme, FIRST, LAST)
    page = text_of(manager_client.get(f"/partners/{world.acme.partner_id}"))
    section = re.search(r'<section id="commissions".*?</section>', page, re.S).group(0)
    for outcome in computation.outcomes:
        assert f"/commissions/runs/{outcome.run.run_id}" in section


def test_run_detail_says_when_a_later_commit_replaced_its_lines(manager_client, world):
    whole = committing.commit(world.acme, FIRST, LAST)
    first = next(o.run for o in whole.outcomes if o.agreement.name == "Acme SOL")
    committing.commit(world.acme, date(2025, 1, 3), LAST)
    page = text_of(manager_client.get(f"/commissions/runs/{first.run_id}"))
    # The 3 Jan commit replaced that day's 4 lines (W_PAID and W_LATE, MEV and REWARDS).
    assert "4 of this run's 14 lines were replaced by a later commit" in page
    committing.commit(world.acme, FIRST, LAST)
    page = text_of(manager_client.get(f"/commissions/runs/{first.run_id}"))
    assert "superseded</span>" in page
    assert "The 14 line(s) of this run were replaced by a later commit" in page
