"""The list of every commission run (/commissions/runs): filters, search, sort, pages, the CSV,
and who may read it.

The hand-made world: three partners, their agreements on Solana and Ethereum, runs made
straight in the database with adjustment lines of known amounts (so that each run's total,
commission plus adjustments, is the sum of the amounts written here), committers and
approvers of known e-mails. The expected rows are built from that table by hand.
"""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import update

from tests import factories
from tests.worlds import PAID, commit_january
from webapp.commissions import queries
from webapp.extensions import db
from webapp.models import CanonicalStakerRewardsDetail, CommissionRun, PartnerCommissionLine

ANN, BOB = "ann@example.com", "bob@example.com"
#: (name, partner, agreement, from, to, status, committer, approver, adjustments, created day)
RUNS = [
    ("r1", "Acme Wallet", "Acme SOL", "2025-01-01", "2025-01-31", "paid", ANN, BOB, ["1.5"], 1),
    ("r2", "Acme Wallet", "Acme SOL", "2025-02-01", "2025-02-28", "approved", ANN, BOB, ["2"], 2),
    ("r3", "Acme Wallet", "Acme ETH", "2025-01-15", "2025-02-15", "committed", BOB, None,
     ["0.000000000000000001"], 3),
    ("r4", "Beta Stake", "Beta SOL", "2025-03-01", "2025-03-31", "committed", ANN, None,
     ["10", "-0.25"], 4),
    ("r5", "Beta Stake", "Beta SOL", "2025-03-01", "2025-03-31", "superseded", BOB, None,
     ["3"], 5),
    ("r6", "=Gamma", "=Gamma SOL", "2024-12-01", "2024-12-31", "approved", BOB, ANN,
     ["-1"], 6),
]  # fmt: skip
TOTALS = {
    "r1": D("1.5"),
    "r2": D("2"),
    "r3": D("0.000000000000000001"),
    "r4": D("9.75"),
    "r5": D("3"),
    "r6": D("-1"),
}
CHAIN_OF = {"Acme SOL": "solana", "Acme ETH": "ethereum", "Beta SOL": "solana"}
CHAIN_OF["=Gamma SOL"] = "solana"


def build_runs() -> dict:
    """The runs of `RUNS`; returns {name: run_id}."""
    factories.chains("solana", "ethereum")
    users = {email: factories.user("manager", email) for email in (ANN, BOB)}
    source = factories.payload(factories.provider("p"), "periods")
    eth_source = factories.payload(factories.provider("q"), "periods", "ethereum")
    sol_period = factories.period(
        source, "2025-01", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    )
    eth_period = factories.period(
        eth_source,
        "2025-01",
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 2, 1, tzinfo=UTC),
        "ethereum",
    )
    partners, agreements, ids = {}, {}, {}
    for _, partner, agreement, *_ in RUNS:
        if partner not in partners:
            partners[partner] = factories.partner(partner)
        if agreement not in agreements:
            agreements[agreement] = factories.agreement(
                partners[partner], "MEV=500", chain_id=CHAIN_OF[agreement], name=agreement
            )
    corrected = None
    for name, partner, agreement, start, end, status, who, approver, amounts, day in RUNS:
        terms = agreements[agreement]
        run = CommissionRun(
            partner_id=partners[partner].partner_id,
            agreement_id=terms.agreement_id,
            date_from=date.fromisoformat(start),
            date_to=date.fromisoformat(end),
            method="total_revenue",
            status=status,
            total_base_native=D(0),
            total_commission_native=D(0),
            excluded_amount_native=D(0),
            created_by_user_id=users[who].user_id,
            approved_by_user_id=users[approver].user_id if approver else None,
            created_at=datetime(2025, 6, day, 12, tzinfo=UTC),
            payout_reference="PAY-1" if status == "paid" else None,
            paid_on=date(2025, 6, 30) if status == "paid" else None,
        )
        db.session.add(run)
        db.session.flush()
        corrected = corrected or run.run_id
        period = eth_period if terms.chain_id == "ethereum" else sol_period
        for amount in amounts:
            db.session.add(
                PartnerCommissionLine(
                    run_id=run.run_id,
                    agreement_id=terms.agreement_id,
                    partner_id=run.partner_id,
                    period_id=period.period_id,
                    validator_key="Vote111",
                    revenue_component="MEV",
                    base_amount_native=D(0),
                    commission_rate_bps=500,
                    commission_amount_native=D(amount),
                    line_kind="adjustment",
                    corrects_run_id=corrected,
                )
            )
        ids[name] = run.run_id
    db.session.commit()
    return ids


def listed(client, **query) -> list[str]:
    """The run ids of the list's table, in its order."""
    response = client.get("/commissions/runs", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return re.findall(r'class="run-row" data-run="([0-9a-f-]+)"', response.get_data(as_text=True))


def names(ids: dict, found: list[str]) -> list[str]:
    by_id = {str(run_id): name for name, run_id in ids.items()}
    return [by_id[run_id] for run_id in found]


@pytest.fixture
def world(app):
    return build_runs()


def test_every_run_newest_first_with_its_total(world, viewer_client):
    assert names(world, listed(viewer_client)) == ["r6", "r5", "r4", "r3", "r2", "r1"]
    page = viewer_client.get("/commissions/runs").get_data(as_text=True)
    # Each run's total is commission plus adjustments, exact in the cell.
    for name, run_id in world.items():
        row = page.split(f'data-run="{run_id}"')[1].split("</tr>")[0]
        assert D(re.search(r'data-total="([^"]+)"', row).group(1)) == TOTALS[name], name
    assert "committed by ann@example.com" in page and "approved by bob@example.com" in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"status": "committed"}, ["r4", "r3"]),
        ({"status": "superseded"}, ["r5"]),
        ({"chain": "ethereum"}, ["r3"]),
        # Runs whose range touches February: r2 (February) and r3 (15 Jan to 15 Feb).
        ({"month": "2025-02"}, ["r3", "r2"]),
        ({"month": "2024-12"}, ["r6"]),
        ({"month": "2025-13"}, ["r6", "r5", "r4", "r3", "r2", "r1"]),
        # Who: the committer or the approver.
        ({"who": "ann@"}, ["r6", "r4", "r2", "r1"]),
        ({"who": "BOB"}, ["r6", "r5", "r3", "r2", "r1"]),
        ({"who": "ann", "status": "approved"}, ["r6", "r2"]),
        # Search: partner or agreement name, any case; wildcards taken literally.
        ({"q": "beta"}, ["r5", "r4"]),
        ({"q": "eth"}, ["r3"]),
        ({"q": "=gam"}, ["r6"]),
        ({"q": "%"}, []),
        ({"q": "a_me"}, []),
    ],
)
def test_filters_and_search(world, viewer_client, query, expected):
    assert names(world, listed(viewer_client, **query)) == expected


def test_filter_by_partner_and_search_by_run_id_prefix(world, viewer_client):
    r4 = db.session.get(CommissionRun, world["r4"])
    assert names(world, listed(viewer_client, partner=str(r4.partner_id))) == ["r5", "r4"]
    prefix = str(world["r4"])[:13]  # with its dash, as the address shows it
    assert names(world, listed(viewer_client, q=prefix)) == ["r4"]
    assert names(world, listed(viewer_client, q=prefix.upper())) == ["r4"]
    one = viewer_client.get("/commissions/runs", query_string={"q": prefix})
    assert "<strong>1</strong> run matches these filters" in one.get_data(as_text=True)
    two = viewer_client.get("/commissions/runs", query_string={"partner": str(r4.partner_id)})
    assert "<strong>2</strong> runs match these filters" in two.get_data(as_text=True)
    assert names(world, listed(viewer_client, partner="not-an-id")) == [
        "r6", "r5", "r4", "r3", "r2", "r1"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "sort, order, expected",
    [
        ("created", "asc", ["r1", "r2", "r3", "r4", "r5", "r6"]),
        # Partner A to Z ("=Gamma" first), then range start; a tie newest committed first.
        ("partner", None, ["r6", "r1", "r3", "r2", "r5", "r4"]),
        # Range start, latest first; the same range newest committed first.
        ("range", None, ["r5", "r4", "r2", "r3", "r1", "r6"]),
        ("status", None, ["r6", "r2", "r3", "r4", "r1", "r5"]),
        # Total per token (ETH before SOL), largest first within it.
        ("total", "asc", ["r3", "r6", "r1", "r2", "r5", "r4"]),
        ("total", None, ["r4", "r5", "r2", "r1", "r6", "r3"]),
    ],
)
def test_sort(world, viewer_client, sort, order, expected):
    query = {"sort": sort} | ({"order": order} if order else {})
    assert names(world, listed(viewer_client, **query)) == expected


def test_status_sort_breaks_ties_by_range(world, viewer_client):
    # approved: r6 (December) before r2 (February); reversed, the status and range both turn.
    assert names(world, listed(viewer_client, sort="status"))[:2] == ["r6", "r2"]
    assert names(world, listed(viewer_client, sort="status", order="desc"))[:3] == [
        "r5", "r1", "r4"
    ]  # fmt: skip


def test_pages_of_the_list(world, viewer_client, monkeypatch):
    monkeypatch.setattr(queries, "RUNS_LIST_PAGE", 4)
    monkeypatch.setattr(queries.runs_page, "__defaults__", (1, 4))
    first = names(world, listed(viewer_client))
    second = names(world, listed(viewer_client, page=2))
    assert first == ["r6", "r5", "r4", "r3"] and second == ["r2", "r1"]
    assert names(world, listed(viewer_client, page=3)) == []
    by_total = names(world, listed(viewer_client, sort="total", page=2))
    assert by_total == ["r6", "r3"]
    page = viewer_client.get("/commissions/runs", query_string={"status": "committed"})
    html = page.get_data(as_text=True)
    assert "Page 1 of" not in html  # two runs fit on one page
    html = viewer_client.get("/commissions/runs").get_data(as_text=True)
    assert "Page 1 of 2" in html and "page=2" in html


def test_htmx_gets_the_table_alone(world, viewer_client):
    response = viewer_client.get(
        "/commissions/runs", query_string={"status": "paid"}, headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert 'id="runs-table"' in html
    assert "<html" not in html and 'id="run-filters"' not in html
    assert names(world, re.findall(r'data-run="([0-9a-f-]+)"', html)) == ["r1"]
    assert "HX-Request" in response.headers.get("Vary", "")


def read_csv(response) -> list[dict]:
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_csv_holds_every_filtered_run_exactly(world, viewer_client):
    response = viewer_client.get("/commissions/runs.csv", query_string={"sort": "total"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "commission-runs.csv" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert list(rows[0]) == list(queries.RUNS_LIST_HEADER)
    by_name = {name: row for name, *row in RUNS}
    expected = []
    for name in ["r4", "r5", "r2", "r1", "r6", "r3"]:
        partner, agreement, start, end, status, who, approver, amounts, day = by_name[name]
        expected.append(
            {
                "run_id": str(world[name]),
                "created_at": f"2025-06-{day:02d}T12:00:00Z",
                # A cell that a spreadsheet would run as a formula is quoted as text.
                "partner": "'" + partner if partner.startswith("=") else partner,
                "agreement": "'" + agreement if agreement.startswith("=") else agreement,
                "chain_id": CHAIN_OF[agreement],
                "date_from": start,
                "date_to": end,
                "status": status,
                "committed_by": who,
                "approved_by": approver or "",
                "line_count": str(len(amounts)),
                "commission_amount_native": "0",
                "adjustment_amount_native": str(TOTALS[name]),
                "total_amount_native": str(TOTALS[name]),
                "token_symbol": "ETH" if CHAIN_OF[agreement] == "ethereum" else "SOL",
                "out_of_date": "no",
            }
        )
    normalise = {"commission_amount_native", "adjustment_amount_native", "total_amount_native"}
    for row in rows:
        for key in normalise:
            row[key] = str(D(row[key].lstrip("'")).normalize()) if row[key] else row[key]
    for row in expected:
        for key in normalise:
            row[key] = str(D(row[key]).normalize())
    assert rows == expected
    # The 18th decimal place is kept, not rounded away.
    raw = viewer_client.get("/commissions/runs.csv", query_string={"chain": "ethereum"})
    assert "0.000000000000000001" in raw.get_data(as_text=True)


def test_csv_follows_the_filters_across_pages(world, viewer_client, monkeypatch):
    monkeypatch.setattr(queries, "RUNS_LIST_BATCH", 2)
    rows = read_csv(viewer_client.get("/commissions/runs.csv", query_string={"who": "bob"}))
    assert [r["run_id"] for r in rows] == [str(world[n]) for n in ["r6", "r5", "r3", "r2", "r1"]]
    rows = read_csv(viewer_client.get("/commissions/runs.csv", query_string={"q": "nobody"}))
    assert rows == []


def test_out_of_date_runs_are_marked(app, runner, tmp_path, viewer_client):
    january = commit_january(runner, tmp_path)
    sol, eth = january["Acme SOL"], january["Acme ETH"]
    R = CanonicalStakerRewardsDetail
    db.session.execute(
        update(R)
        .where(R.staker_address == PAID, R.revenue_component == "MEV")
        .values(reward_amount_native=D("11"))
    )
    db.session.commit()
    html = viewer_client.get("/commissions/runs").get_data(as_text=True)
    sol_row = html.split(f'data-run="{sol.run_id}"')[1].split("</tr>")[0]
    eth_row = html.split(f'data-run="{eth.run_id}"')[1].split("</tr>")[0]
    assert "out of date" in sol_row and "out of date" not in eth_row
    # The totals as the test world's docstring works them out by hand: 1.4 SOL and 0.2 ETH.
    assert 'data-total="1.4' in sol_row and 'data-total="0.2' in eth_row
    rows = {r["run_id"]: r for r in read_csv(viewer_client.get("/commissions/runs.csv"))}
    assert rows[str(sol.run_id)]["out_of_date"] == "yes"
    assert rows[str(eth.run_id)]["out_of_date"] == "no"
    assert D(rows[str(sol.run_id)]["total_amount_native"]) == D("1.4")


def test_sign_in_needed_and_viewers_read(app, client, world, viewer_client):
    for url in ("/commissions/runs", "/commissions/runs.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        assert viewer_client.get(url).status_code == 200


def test_the_commissions_page_links_the_list(world, viewer_client):
    html = viewer_client.get("/commissions/").get_data(as_text=True)
    assert 'href="/commissions/runs"' in html


def test_unknown_run_id_prefix_finds_nothing(world, viewer_client):
    assert listed(viewer_client, q=uuid.uuid4().hex[:8] + "zz") == []
    assert listed(viewer_client, q="0000-0000") == []
