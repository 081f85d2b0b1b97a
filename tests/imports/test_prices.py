"""Prices and USD values, on SQLite and PostgreSQL: the prices import (service, command line,
API, page) with its checks, lineage, duplicate refusal, replace and dry run; the price day
of a period; line values rounded half-to-even and totals as sums of line values; prices
fixed with an approved run; adjustments valued at their own period's price. Every expected
value is worked out by hand in the comments."""

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.api_helpers import bearer
from webapp.commissions.valuation import (
    fix_prices,
    fixed_run_values,
    line_value,
    price_day,
    run_usd_totals,
)
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import (
    AuditLog,
    CanonicalPrice,
    CommissionRun,
    CommissionRunPrice,
    PartnerCommissionLine,
    Provider,
    StagingPayload,
)
from webapp.partners.service import find_partner_by_name

D = Decimal
HEADER = "chain_id,date,price_usd\n"
GOOD = HEADER + (
    "ethereum,2025-10-30,3012.123456789012345678\n"
    "ethereum,2025-10-31,2999.5\n"
    "solana,2025-10-31,151.25\n"
)


@pytest.fixture
def chains(app):
    factories.chains("solana", "ethereum")


@pytest.fixture
def write(tmp_path):
    counter = iter(range(10_000))

    def do_write(text: str, name: str | None = None) -> str:
        path = tmp_path / (name or f"prices{next(counter)}.csv")
        path.write_bytes(text.encode("utf-8"))
        return str(path)

    return do_write


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def stored_prices() -> dict[tuple[str, str], Decimal]:
    P = CanonicalPrice
    return {
        (chain_id, day.isoformat()): price
        for chain_id, day, price in db.session.execute(select(P.chain_id, P.date, P.price_usd))
    }


def reasons(report) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.reason) for e in report.errors.errors]


# --- the import ----------------------------------------------------------------------------


def test_a_good_file_is_stored_exactly_with_lineage(chains, write):
    report = import_file("prices", write(GOOD, "october.csv"), "coingecko")
    assert report.ok, report.headline()
    assert report.row_count == 3
    assert stored_prices() == {
        ("ethereum", "2025-10-30"): D("3012.123456789012345678"),
        ("ethereum", "2025-10-31"): D("2999.5"),
        ("solana", "2025-10-31"): D("151.25"),
    }
    payload = db.session.get(StagingPayload, report.payload_id)
    provider = db.session.scalar(select(Provider).where(Provider.name == "coingecko"))
    assert (payload.kind, payload.file_name, payload.row_count) == ("prices", "october.csv", 3)
    rows = db.session.scalars(select(CanonicalPrice)).all()
    assert {(r.source_payload_id, r.source_provider_id) for r in rows} == {
        (payload.payload_id, provider.provider_id)
    }
    assert dict(report.period_rows) == {
        ("ethereum", "2025-10-30"): 1,
        ("ethereum", "2025-10-31"): 1,
        ("solana", "2025-10-31"): 1,
    }


def test_bad_rows_are_named_per_row_and_nothing_is_stored(chains, write):
    text = HEADER + (
        "ethereum,2025-10-01,3000\n"  # 2: good
        "bitcoin,2025-10-01,60000\n"  # 3: unknown chain
        "ethereum,2025-13-01,3000\n"  # 4: no such month
        "ethereum,01/10/2025,3000\n"  # 5: not YYYY-MM-DD
        "ethereum,2025-10-02,0\n"  # 6: zero
        "ethereum,2025-10-03,-5\n"  # 7: negative
        "ethereum,2025-10-04,3e3\n"  # 8: exponent
        "ethereum,2025-10-05,1.0000000000000000001\n"  # 9: 19 places
        "ethereum,,\n"  # 10: empty date and price
    )
    report = import_file("prices", write(text), "coingecko")
    assert not report.ok
    assert [(line, column) for line, column, _ in reasons(report)] == [
        (3, "chain_id"),
        (4, "date"),
        (5, "date"),
        (6, "price_usd"),
        (7, "price_usd"),
        (8, "price_usd"),
        (9, "price_usd"),
        (10, "date"),
        (10, "price_usd"),
    ]
    messages = dict(((line, column), reason) for line, column, reason in reasons(report))
    assert messages[3, "chain_id"] == "unknown chain 'bitcoin'"
    assert "is not above zero" in messages[6, "price_usd"]
    assert "more than 18 decimal places" in messages[9, "price_usd"]
    assert count(CanonicalPrice) == 0 and count(StagingPayload) == 0


def test_a_day_twice_in_a_file_is_refused_naming_the_first(chains, write):
    text = HEADER + "ethereum,2025-10-31,3000\nsolana,2025-10-31,150\nethereum,2025-10-31,3001\n"
    report = import_file("prices", write(text), "coingecko")
    assert reasons(report) == [(4, "date", "duplicates line 2 (same chain and date)")]
    assert count(CanonicalPrice) == 0


def test_a_stored_day_is_refused_without_replace_naming_its_payload(chains, write):
    first = import_file("prices", write(GOOD, "first.csv"), "coingecko")
    again = HEADER + "solana,2025-10-30,149\nethereum,2025-10-31,2999.5\n"
    report = import_file("prices", write(again), "coingecko")
    ((line, column, reason),) = reasons(report)
    assert (line, column) == (3, "date")
    assert "a row with the same chain and date is stored" in reason
    assert "first.csv" in reason and str(first.payload_id)[:8] in reason
    assert count(CanonicalPrice) == 3  # solana's 2025-10-30 was not stored either


def test_the_same_bytes_twice_are_refused(chains, write):
    first = import_file("prices", write(GOOD), "coingecko")
    second = import_file("prices", write(GOOD), "other-provider")
    assert second.earlier_payload_id == first.payload_id
    assert "the same file was imported before" in second.problem
    assert count(StagingPayload) == 1 and count(CanonicalPrice) == 3


def test_replace_swaps_the_files_days_only_and_is_audited(chains, write):
    first = import_file("prices", write(GOOD), "coingecko")
    fix = HEADER + "ethereum,2025-10-31,2990.25\nethereum,2025-11-01,3100\n"
    report = import_file("prices", write(fix), "manual", replace=True)
    assert report.ok, report.headline()
    assert report.replaced == {("ethereum", "2025-10-31"): 1}
    assert stored_prices() == {
        ("ethereum", "2025-10-30"): D("3012.123456789012345678"),  # not in the file: kept
        ("ethereum", "2025-10-31"): D("2990.25"),
        ("ethereum", "2025-11-01"): D("3100"),
        ("solana", "2025-10-31"): D("151.25"),  # another chain's same day: kept
    }
    (entry,) = db.session.scalars(select(AuditLog).where(AuditLog.action == "replace")).all()
    assert (entry.entity_type, entry.entity_id) == ("prices", "ethereum/2025-10-31")
    before = json.loads(entry.before)
    assert D(before["price_usd"]) == D("2999.5")
    assert before["payloads"] == [str(first.payload_id)]
    assert json.loads(entry.after)["payload_id"] == str(report.payload_id)
    new = db.session.scalar(
        select(CanonicalPrice)
        .where(CanonicalPrice.date == date(2025, 10, 31))
        .where(CanonicalPrice.chain_id == "ethereum")
    )
    assert new.source_payload_id == report.payload_id


def test_dry_run_checks_and_stores_nothing(chains, write):
    report = import_file("prices", write(GOOD), "coingecko", dry_run=True)
    assert report.ok and report.row_count == 3 and report.payload_id is None
    assert "is ready to import: 3 prices" in report.headline()
    assert count(CanonicalPrice) == 0 and count(StagingPayload) == 0
    assert db.session.scalar(select(Provider).where(Provider.name == "coingecko")) is None
    import_file("prices", write(GOOD), "coingecko")
    fix = HEADER + "ethereum,2025-10-31,1\n"
    would = import_file("prices", write(fix), "coingecko", replace=True, dry_run=True)
    assert would.ok and would.replaced == {("ethereum", "2025-10-31"): 1}
    assert stored_prices()[("ethereum", "2025-10-31")] == D("2999.5")


# --- command line, API, page -----------------------------------------------------------------


def test_command_line_imports_refuses_replaces_and_dry_runs(chains, runner, write):
    path = write(GOOD)
    result = runner.invoke(args=["import", "prices", path, "--provider", "coingecko"])
    assert result.exit_code == 0, result.output
    assert "imported 3 prices" in result.output
    again = runner.invoke(args=["import", "prices", path, "--provider", "coingecko"])
    assert again.exit_code == 1 and "the same file was imported before" in again.stderr
    bad = write(HEADER + "ethereum,2025-11-01,-1\n")
    refused = runner.invoke(args=["import", "prices", bad, "--provider", "coingecko"])
    assert refused.exit_code == 1
    assert "line 2, column price_usd: amount '-1' is negative" in refused.stderr
    fix = write(HEADER + "ethereum,2025-10-31,2000\n")
    dry = runner.invoke(
        args=["import", "prices", fix, "--provider", "coingecko", "--replace", "--dry-run"]
    )
    assert dry.exit_code == 0 and "would replace 1 stored rows" in dry.output
    assert stored_prices()[("ethereum", "2025-10-31")] == D("2999.5")
    done = runner.invoke(args=["import", "prices", fix, "--provider", "coingecko", "--replace"])
    assert done.exit_code == 0, done.output
    assert stored_prices()[("ethereum", "2025-10-31")] == D("2000")
    assert count(CanonicalPrice) == 3


def test_api_imports_prices_and_refuses_bad_rows_and_the_same_bytes(
    app, client, chains, make_user, tmp_path
):
    app.instance_path = str(tmp_path / "instance")
    writer = bearer(make_user("manager"), "write")

    def post(text):
        return client.post(
            "/api/v1/imports/prices",
            data=text.encode(),
            content_type="text/csv",
            query_string={"provider": "coingecko"},
            headers=writer,
        )

    created = post(GOOD)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["kind"], body["row_count"]) == ("prices", 3)
    assert count(CanonicalPrice, CanonicalPrice.source_payload_id == uuid.UUID(body["payload_id"]))
    assert post(GOOD).status_code == 409
    bad = post(HEADER + "ethereum,2025-11-01,0\n")
    assert bad.status_code == 422
    assert [(e["line"], e["field"]) for e in bad.get_json()["errors"]] == [(2, "price_usd")]
    assert count(CanonicalPrice) == 3
    document = client.get("/api/v1/openapi.json").get_json()
    assert any(
        "prices" in json.dumps(item)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/imports") or path.startswith("/imports")
    )


def test_page_imports_prices_and_shows_the_days_without_one(
    app, manager_client, chains, write, tmp_path
):
    app.instance_path = str(tmp_path / "instance")
    periods = (
        "chain_id,label,start_time,end_time\n"
        "ethereum,2025-10,2025-10-01T00:00:00Z,2025-11-01T00:00:00Z\n"
        "solana,900,2025-10-30T00:00:00Z,2025-11-01T00:00:00Z\n"
    )
    assert import_file("periods", write(periods), "rpc").ok
    data = {
        "file": (io.BytesIO(GOOD.encode()), "october.csv"),
        "kind": "prices",
        "provider": "coingecko",
    }
    html = manager_client.post(
        "/imports/preview",
        data=data,
        headers={"HX-Request": "true"},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "is ready to import: 3 prices" in html
    token = html.split("/imports/commit/")[1].split('"')[0]
    assert manager_client.post(f"/imports/commit/{token}").status_code == 302
    assert count(CanonicalPrice) == 3
    page = manager_client.get("/imports/").get_data(as_text=True)
    section = page.split('id="missing-prices"')[1].split("</section>")[0]
    # ethereum: October 1 to 31 (the period ends at midnight), priced on the 30th and 31st:
    # 29 days from the 1st to the 29th. solana: October 30 and 31, the 31st priced: the 30th.
    eth = section.split('data-chain="ethereum"')[1].split("</tr>")[0]
    assert "2025-10-01 to 2025-10-31" in eth and ">29<" in eth
    assert "2025-10-01 to 2025-10-29" in eth
    sol = section.split('data-chain="solana"')[1].split("</tr>")[0]
    assert ">1<" in sol and "2025-10-30</span>" in sol


# --- the price day, line values ---------------------------------------------------------------


def test_price_day_is_the_day_of_the_last_instant_of_the_period():
    # Ends at midnight: the last instant is 2025-10-31 23:59:59.999999, so October 31.
    assert price_day(datetime(2025, 11, 1, tzinfo=UTC)) == date(2025, 10, 31)
    # Ends a microsecond after midnight: its last instant is midnight itself, November 1.
    assert price_day(datetime(2025, 11, 1, 0, 0, 0, 1, tzinfo=UTC)) == date(2025, 11, 1)
    assert price_day(datetime(2025, 10, 31, 12, tzinfo=UTC)) == date(2025, 10, 31)
    # 01:00 at UTC+2 is 23:00 UTC the day before.
    plus_two = timezone(timedelta(hours=2))
    assert price_day(datetime(2025, 11, 1, 1, tzinfo=plus_two)) == date(2025, 10, 31)


def test_a_line_value_is_rounded_half_to_even_at_18_places():
    one = D("0.000000000000000001")
    # 1e-18 x 0.5 = 0.5e-18: half, to the even 0.
    assert line_value(one, D("0.5")) == D("0E-18")
    # 3e-18 x 0.5 = 1.5e-18: half, to the even 2e-18.
    assert line_value(3 * one, D("0.5")) == D("0.000000000000000002")
    # 5e-18 x 0.5 = 2.5e-18: half, to the even 2e-18 (half-up would give 3e-18).
    assert line_value(5 * one, D("0.5")) == D("0.000000000000000002")
    # Large: 12345678901234567890.123456789012345678 x 1.5, exact to 18 places.
    big = D("12345678901234567890.123456789012345678")
    assert line_value(big, D("1.5")) == D("18518518351851851835.185185183518518517")
    assert line_value(D("1"), None) is None


# --- USD values of commissions -----------------------------------------------------------------

OCT = ("Acme Wallet", "--from", "2025-10-01", "--to", "2025-10-31")
NOV = ("Acme Wallet", "--from", "2025-11-01", "--to", "2025-11-30")


def ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def eth_world(runner, write, october_price="1.000000000000000001"):
    """Ethereum, monthly periods October and November, total revenue at 2.5%:
    October's lines 20 x 2.5% = 0.5 (A MEV), 0.5 (B MEV), 60 x 2.5% = 1.5 (A REWARDS),
    8 x 2.5% = 0.2 (B REWARDS); November's one line 40 x 2.5% = 1 (A MEV).
    Prices: October 31 (October's price day), November 1 (a trap: the day its end_time
    falls on), November 30 (November's price day)."""
    ok(
        runner,
        *("chains", "add", "ethereum", "--name", "Ethereum", "--symbol", "ETH"),
        *("--decimals", "18", "--address-format", "evm"),
    )
    for email in ("ann@example.com", "bob@example.com"):
        ok(runner, "users", "create", email, "--role", "manager", "--password", "a-long-password")
    ok(
        runner,
        "users",
        "create",
        "root@example.com",
        "--role",
        "admin",
        "--password",
        "a-long-password",
    )
    ok(runner, "partners", "create", "Acme Wallet")
    periods = write(
        "chain_id,label,start_time,end_time\n"
        "ethereum,2025-10,2025-10-01T00:00:00Z,2025-11-01T00:00:00Z\n"
        "ethereum,2025-11,2025-11-01T00:00:00Z,2025-12-01T00:00:00Z\n"
    )
    ok(runner, "import", "periods", periods, "--provider", "beacon")
    revenue = write(
        "chain_id,period,validator_key,revenue_component,amount_native\n"
        "ethereum,2025-10,0xA,MEV,20\n"
        "ethereum,2025-10,0xB,MEV,20\n"
        "ethereum,2025-10,0xA,REWARDS,60\n"
        "ethereum,2025-10,0xB,REWARDS,8\n"
        "ethereum,2025-11,0xA,MEV,40\n"
    )
    ok(runner, "import", "validator-revenue", revenue, "--provider", "beacon")
    prices = write(
        HEADER + f"ethereum,2025-10-31,{october_price}\n"
        "ethereum,2025-11-01,99\n"
        "ethereum,2025-11-30,3\n"
    )
    ok(runner, "import", "prices", prices, "--provider", "coingecko")
    ok(
        runner,
        *("agreements", "create", "Acme Wallet", "--chain", "ethereum", "--name", "Acme ETH"),
        *("--from", "2025-10-01", "--rate", "MEV=250", "--rate", "REWARDS=250"),
    )
    return find_partner_by_name("Acme Wallet")


def export(runner, *scope) -> list[dict]:
    return list(csv.DictReader(io.StringIO(ok(runner, "commissions", "export", *scope).stdout)))


def number(text: str) -> Decimal | str:
    return D(text) if text else text


def values(rows) -> list[tuple]:
    """(period, kind, commission, price, value) of export rows, amounts as Decimals."""
    return sorted(
        (
            r["period"],
            r["line_kind"],
            number(r["commission_amount_native"]),
            number(r["price_usd"]),
            number(r["commission_value_usd"]),
        )
        for r in rows
    )


def the_run(period_from: date) -> CommissionRun:
    db.session.expire_all()
    return db.session.scalar(
        select(CommissionRun).where(
            CommissionRun.date_from == period_from, CommissionRun.status != "superseded"
        )
    )


def test_export_values_each_line_and_totals_are_sums_of_line_values(
    app, runner, write, viewer_client
):
    eth_world(runner, write)
    ok(runner, "commissions", "compute", *OCT, "--commit", "--as", "ann@example.com")
    rows = export(runner, *OCT)
    assert list(rows[0])[-2:] == ["price_usd", "commission_value_usd"]
    p = "1.000000000000000001"
    # By hand, price p = 1 + 1e-18 (October 31; not November 1's 99):
    #   0.5 x p = 0.5000000000000000005 -> half, to even: 0.500000000000000000
    #   1.5 x p = 1.5000000000000000015 -> half, to even: 1.500000000000000002
    #   0.2 x p = 0.2000000000000000002 -> 0.200000000000000000
    got = [(r["commission_amount_native"], r["price_usd"], r["commission_value_usd"]) for r in rows]
    assert sorted((D(c), D(pr), D(v)) for c, pr, v in got) == sorted(
        [
            (D("0.5"), D(p), D("0.500000000000000000")),
            (D("0.5"), D(p), D("0.500000000000000000")),
            (D("1.5"), D(p), D("1.500000000000000002")),
            (D("0.2"), D(p), D("0.200000000000000000")),
        ]
    )
    # The total is the sum of the line values: 2.700000000000000002, not 2.7 x p rounded
    # (2.7000000000000000027 -> 2.700000000000000003).
    usd = run_usd_totals(the_run(date(2025, 10, 1)))
    assert usd.total.value == D("2.700000000000000002")
    assert usd.commission.value == D("2.700000000000000002") and usd.adjustment.line_count == 0
    assert usd.warnings == [] and not usd.fixed
    # The run page shows it beside the native total, labelled USD (exact value on hover).
    run = the_run(date(2025, 10, 1))
    page = viewer_client.get(f"/commissions/runs/{run.run_id}").get_data(as_text=True)
    assert f'hx-get="/commissions/runs/{run.run_id}/usd"' in page
    assert 'id="run-total-commission"' in page
    fragment = viewer_client.get(f"/commissions/runs/{run.run_id}/usd").get_data(as_text=True)
    shown = fragment.split('id="run-total-usd"')[1].split("</small>")[0]
    assert "2.70 USD" in shown and "2.700000000000000002 USD" in shown
    assert "at today&#39;s prices" in fragment or "at today's prices" in fragment
    # The preview page too, per token, at today's prices.
    preview = viewer_client.get(
        "/commissions/",
        query_string={
            "partner": str(run.partner_id),
            "date_from": "2025-10-01",
            "date_to": "2025-10-31",
        },
    ).get_data(as_text=True)
    usd_line = preview.split('data-usd-token="ETH"')[1].split("</small>")[0]
    assert "2.700000000000000002 USD" in usd_line


def test_a_missing_price_is_named_and_leaves_the_value_empty(app, runner, write, viewer_client):
    eth_world(runner, write)
    fix = write(HEADER + "ethereum,2025-10-30,5\n")
    ok(runner, "commissions", "compute", *NOV, "--commit", "--as", "ann@example.com")
    ok(runner, "import", "prices", fix, "--provider", "coingecko")
    # November's price day is November 30 (3): 1 x 3 = 3.
    assert values(export(runner, *NOV)) == [("2025-11", "commission", D(1), D(3), D(3))]
    P = CanonicalPrice
    db.session.execute(P.__table__.delete().where(P.date == date(2025, 11, 30)))
    db.session.commit()
    assert values(export(runner, *NOV)) == [("2025-11", "commission", D(1), "", "")]
    usd = run_usd_totals(the_run(date(2025, 11, 1)))
    assert usd.total.value is None and usd.warnings == ["no ETH price for 2025-11-30"]
    run_id = the_run(date(2025, 11, 1)).run_id
    fragment = viewer_client.get(f"/commissions/runs/{run_id}/usd").get_data(as_text=True)
    assert "No value: no ETH price for 2025-11-30" in fragment
    assert fragment.split('id="run-total-usd">')[1].startswith("—")


def correct_price(runner, write, day: str, price: str) -> None:
    ok(
        runner,
        "import",
        "prices",
        write(HEADER + f"ethereum,{day},{price}\n"),
        "--provider",
        "fix",
        "--replace",
    )


def test_prices_fixed_at_approval_survive_a_price_correction(app, runner, write, viewer_client):
    eth_world(runner, write)
    ok(runner, "commissions", "compute", *OCT, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *OCT, "--as", "bob@example.com")
    october = the_run(date(2025, 10, 1))
    assert fix_prices(october) == []
    db.session.commit()
    prices_payload = db.session.scalar(
        select(StagingPayload.payload_id).where(StagingPayload.kind == "prices")
    )
    kept = db.session.execute(
        select(
            CommissionRunPrice.run_id,
            CommissionRunPrice.price_day,
            CommissionRunPrice.price_usd,
            CommissionRunPrice.source_payload_id,
        )
    ).all()
    assert kept == [(october.run_id, date(2025, 10, 31), D("1.000000000000000001"), prices_payload)]
    # With the price, the sums of the line values at it: 2.700000000000000002 and no adjustment.
    assert fixed_run_values([october.run_id]) == {october.run_id: (D("2.700000000000000002"), 0)}
    before = values(export(runner, *OCT))

    # October 31 corrected to 2: the approved run keeps its values, line by line and in total.
    correct_price(runner, write, "2025-10-31", "2")
    assert values(export(runner, *OCT)) == before
    usd = run_usd_totals(the_run(date(2025, 10, 1)))
    assert (usd.total.value, usd.fixed) == (D("2.700000000000000002"), True)
    fragment = viewer_client.get(f"/commissions/runs/{october.run_id}/usd").get_data(as_text=True)
    assert "2.700000000000000002 USD" in fragment and "the prices fixed at approval" in fragment

    # Reopened, it follows today's prices again: 0.5 x 2 = 1 (twice), 1.5 x 2 = 3, 0.2 x 2 = 0.4.
    ok(runner, "commissions", "reopen", *OCT, "--reason", "price check", "--as", "root@example.com")
    assert [v[4] for v in values(export(runner, *OCT))] == [D("0.4"), D(1), D(1), D(3)]
    assert run_usd_totals(the_run(date(2025, 10, 1))).total.value == D("5.4")

    # Approved again, fixed again (the earlier prices replaced), paid: a later correction to
    # 7 changes nothing.
    ok(runner, "commissions", "approve", *OCT, "--as", "bob@example.com")
    october = the_run(date(2025, 10, 1))
    fix_prices(october)
    db.session.commit()
    assert count(CommissionRunPrice) == 1
    ok(runner, "commissions", "pay", *OCT, "--reference", "TX-1", "--as", "bob@example.com")
    correct_price(runner, write, "2025-10-31", "7")
    paid = the_run(date(2025, 10, 1))
    assert paid.status == "paid"
    assert [v[3:] for v in values(export(runner, *OCT))] == [
        (D(2), D("0.4")),
        (D(2), D(1)),
        (D(2), D(1)),
        (D(2), D(3)),
    ]
    assert run_usd_totals(paid).total.value == D("5.4")


def test_fix_prices_names_a_missing_price_and_keeps_none_for_it(app, runner, write):
    eth_world(runner, write)
    P = CanonicalPrice
    db.session.execute(P.__table__.delete().where(P.date == date(2025, 11, 30)))
    db.session.commit()
    ok(runner, "commissions", "compute", *NOV, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *NOV, "--as", "bob@example.com")
    november = the_run(date(2025, 11, 1))
    assert fix_prices(november) == ["no ETH price for 2025-11-30"]
    db.session.commit()
    assert count(CommissionRunPrice) == 0
    assert values(export(runner, *NOV)) == [("2025-11", "commission", D(1), "", "")]


def test_adjustments_are_valued_at_their_own_periods_price(app, runner, write):
    eth_world(runner, write)
    ok(runner, "commissions", "compute", *OCT, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *OCT, "--as", "bob@example.com")
    fix_prices(the_run(date(2025, 10, 1)))
    db.session.commit()
    # October's revenue corrected: A's MEV 28 (was 20): +8 x 2.5% = +0.2 to carry.
    corrected = write(
        "chain_id,period,validator_key,revenue_component,amount_native\n"
        "ethereum,2025-10,0xA,MEV,28\n"
        "ethereum,2025-10,0xB,MEV,20\n"
        "ethereum,2025-10,0xA,REWARDS,60\n"
        "ethereum,2025-10,0xB,REWARDS,8\n"
    )
    ok(runner, "import", "validator-revenue", corrected, "--provider", "beacon", "--replace")
    ok(runner, "commissions", "compute", *NOV, "--commit", "--true-up", "--as", "ann@example.com")
    L = PartnerCommissionLine
    assert count(L, L.line_kind == "adjustment") == 1
    p = D("1.000000000000000001")
    # November's line at November 30's 3: 1 x 3 = 3. The adjustment, in period 2025-10, at
    # October 31's p (not November's 3): 0.2 x p = 0.2000000000000000002 -> 0.2.
    assert values(export(runner, *NOV)) == [
        ("2025-10", "adjustment", D("0.2"), p, D("0.2")),
        ("2025-11", "commission", D(1), D(3), D(3)),
    ]
    usd = run_usd_totals(the_run(date(2025, 11, 1)))
    assert (usd.commission.value, usd.adjustment.value, usd.total.value) == (
        D(3),
        D("0.2"),
        D("3.2"),
    )

    # October 31 corrected to 2: the committed November run follows it (0.2 x 2 = 0.4); the
    # approved October run does not.
    correct_price(runner, write, "2025-10-31", "2")
    assert values(export(runner, *NOV))[0] == ("2025-10", "adjustment", D("0.2"), D(2), D("0.4"))
    assert run_usd_totals(the_run(date(2025, 10, 1))).total.value == D("2.700000000000000002")

    # November approved and fixed: October 31's 2 is kept for its adjustment, November 30's 3
    # for its line; corrections of either change nothing.
    ok(runner, "commissions", "approve", *NOV, "--as", "bob@example.com")
    november = the_run(date(2025, 11, 1))
    assert fix_prices(november) == []
    db.session.commit()
    assert sorted(
        db.session.execute(
            select(CommissionRunPrice.price_day, CommissionRunPrice.price_usd).where(
                CommissionRunPrice.run_id == november.run_id
            )
        ).all()
    ) == [(date(2025, 10, 31), D(2)), (date(2025, 11, 30), D(3))]
    F = CommissionRunPrice
    assert sorted(
        db.session.execute(
            select(F.price_day, F.commission_value_usd, F.adjustment_value_usd).where(
                F.run_id == november.run_id
            )
        ).all()
    ) == [(date(2025, 10, 31), 0, D("0.4")), (date(2025, 11, 30), D(3), 0)]
    assert fixed_run_values([november.run_id]) == {november.run_id: (D(3), D("0.4"))}
    correct_price(runner, write, "2025-10-31", "5")
    correct_price(runner, write, "2025-11-30", "9")
    assert values(export(runner, *NOV)) == [
        ("2025-10", "adjustment", D("0.2"), D(2), D("0.4")),
        ("2025-11", "commission", D(1), D(3), D(3)),
    ]
    usd = run_usd_totals(the_run(date(2025, 11, 1)))
    assert (usd.total.value, usd.adjustment.value, usd.fixed) == (D("3.4"), D("0.4"), True)


def test_the_demo_data_carry_a_price_for_every_day_of_their_periods(app):
    from webapp.demo import seed_demo
    from webapp.imports.queries import missing_prices

    seed_demo()
    found = {row.chain_id: row for row in missing_prices()}
    assert set(found) == {"ethereum", "solana"}
    assert all(row.spans == [] for row in found.values())
    # Solana: 10 two-day epochs from 2025-09-01, the last ending 2025-09-21 at midnight:
    # days 2025-09-01 to 2025-09-20, 20 prices.
    assert (found["solana"].first_day, found["solana"].last_day) == (
        date(2025, 9, 1),
        date(2025, 9, 20),
    )
    assert count(CanonicalPrice, CanonicalPrice.chain_id == "solana") == 20
    assert db.session.scalar(select(func.min(CanonicalPrice.price_usd))) > 0
