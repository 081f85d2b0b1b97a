"""The JSON API: every endpoint's answers and errors, checked against the database."""

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.api_helpers import PERIODS_CSV, bearer, make_world, wallet_csv
from tests.worlds import evm_address
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import (
    ApiIdempotencyKey,
    AuditLog,
    CanonicalPeriod,
    PartnerWallet,
    StagingPayload,
    utcnow,
)
from webapp.partners.service import create_partner
from webapp.wallets.checks import today_utc
from webapp.wallets.service import add_wallet

API = "/api/v1"
PROBLEM = "application/problem+json"


pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


@pytest.fixture
def world(app):
    return make_world()


@pytest.fixture
def manager(make_user):
    return make_user("manager")


@pytest.fixture
def writer(manager):
    return bearer(manager, "write")


@pytest.fixture
def reader(manager):
    return bearer(manager, "read", name="reader")


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def wallets_url(partner, *rest) -> str:
    return "/".join([f"{API}/partners/{partner.partner_id}/wallets", *rest])


def add(partner, address, day="2026-01-15", chain="ethereum"):
    return add_wallet(partner, chain, address, day)


# --- partners ---------------------------------------------------------------------------


def test_partners_are_listed_by_name_and_searched(client, world, reader):
    body = client.get(f"{API}/partners", headers=reader).get_json()
    assert [p["name"] for p in body["items"]] == ["Acme Wallet", "Beta Exchange"]
    assert body["next_cursor"] is None
    assert body["items"][0]["partner_id"] == str(world.acme.partner_id)
    found = client.get(f"{API}/partners?q=beta", headers=reader).get_json()
    assert [p["name"] for p in found["items"]] == ["Beta Exchange"]


def test_partner_pages_run_to_the_end_without_repeats(client, world, reader):
    for name in ("Delta", "Echo", "Foxtrot", "Golf", "Hotel"):
        create_partner(name)
    names, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get(f"{API}/partners", query_string=query, headers=reader).get_json()
        names += [p["name"] for p in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = ["Acme Wallet", "Beta Exchange", "Delta", "Echo", "Foxtrot", "Golf", "Hotel"]
    assert names == expected
    assert pages == 4


def test_one_partner_and_an_unknown_one(client, world, reader):
    body = client.get(f"{API}/partners/{world.beta.partner_id}", headers=reader).get_json()
    assert body["name"] == "Beta Exchange" and body["is_active"] is True
    assert_problem(client.get(f"{API}/partners/{uuid.uuid4()}", headers=reader), 404)
    assert_problem(client.get(f"{API}/partners/not-a-uuid", headers=reader), 404)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_paging_arguments_are_422_naming_the_field(client, world, reader, query, field):
    body = assert_problem(client.get(f"{API}/partners", query_string=query, headers=reader), 422)
    assert [e["field"] for e in body["errors"]] == [field]


def test_the_largest_page_is_500(client, world, reader):
    response = client.get(f"{API}/partners?limit=500", headers=reader)
    assert response.status_code == 200


# --- wallets: list ----------------------------------------------------------------------


def test_wallet_pages_run_to_the_end_newest_first(client, world, reader):
    days = [f"2026-01-{day:02d}" for day in range(1, 8)]
    stored = {add(world.acme, evm_address(), day).wallet_id: day for day in days}
    add(world.beta, evm_address())  # another partner's wallet never shows
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = client.get(wallets_url(world.acme), query_string=query, headers=reader)
        body = response.get_json()
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [w["introduced_date"] for w in seen] == sorted(days, reverse=True)
    assert {uuid.UUID(w["wallet_id"]) for w in seen} == set(stored)
    assert all(w["partner_id"] == str(world.acme.partner_id) for w in seen)


def test_wallet_list_filters(client, world, reader):
    first = add(world.acme, evm_address())
    second = add(world.acme, evm_address())
    second.is_active = False
    db.session.commit()
    url = wallets_url(world.acme)

    def addresses(**query):
        body = client.get(url, query_string=query, headers=reader).get_json()
        return {w["wallet_address"] for w in body["items"]}

    assert addresses() == {first.wallet_address, second.wallet_address}
    assert addresses(active="true") == {first.wallet_address}
    assert addresses(active="false") == {second.wallet_address}
    assert addresses(chain_id="solana") == set()
    assert addresses(q=first.wallet_address[2:12]) == {first.wallet_address}
    assert addresses(q=first.wallet_address[2:12].upper()) == {first.wallet_address}
    assert addresses(q=first.wallet_address[2:12].lower()) == {first.wallet_address}


def test_wallets_of_an_unknown_partner_are_404(client, world, reader):
    assert_problem(client.get(f"{API}/partners/{uuid.uuid4()}/wallets", headers=reader), 404)


# --- wallets: add one ---------------------------------------------------------------------


def test_adding_a_wallet_stores_it_and_audits_the_token_user(client, world, manager, writer):
    address = evm_address()
    response = client.post(
        wallets_url(world.acme),
        json={
            "chain_id": "ethereum",
            "wallet_address": f"  {address} ",
            "introduced_date": "2026-02-01",
            "notes": "n",
        },
        headers=writer,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    wallet = db.session.get(PartnerWallet, uuid.UUID(body["wallet_id"]))
    assert wallet.partner_id == world.acme.partner_id
    assert body["wallet_address"] == wallet.wallet_address
    assert wallet.wallet_address.lower() == address.lower()
    assert body["introduced_date"] == "2026-02-01" and body["notes"] == "n"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.entity_id == str(wallet.wallet_id)))
    assert entry.action == "create" and entry.user_id == manager.user_id


def test_a_wallet_of_another_partner_is_409_naming_it(client, world, writer):
    address = evm_address()
    add(world.beta, address)
    body = assert_problem(
        client.post(
            wallets_url(world.acme),
            json={
                "chain_id": "ethereum",
                "wallet_address": address,
                "introduced_date": "2026-02-01",
            },
            headers=writer,
        ),
        409,
    )
    assert body["claimed_by"] == "Beta Exchange" and "Beta Exchange" in body["detail"]
    assert count(PartnerWallet, PartnerWallet.partner_id == world.acme.partner_id) == 0


def test_a_wallet_the_partner_has_already_is_409(client, world, writer):
    address = evm_address()
    add(world.acme, address)
    body = assert_problem(
        client.post(
            wallets_url(world.acme),
            json={
                "chain_id": "ethereum",
                "wallet_address": address.lower(),
                "introduced_date": "2026-02-01",
            },
            headers=writer,
        ),
        409,
    )
    assert "already this partner's" in body["detail"]
    assert count(PartnerWallet) == 1


@pytest.mark.parametrize(
    "values, field",
    [
        ({"wallet_address": "0x1234"}, "wallet_address"),
        ({"introduced_date": "2026-13-01"}, "introduced_date"),
        ({"introduced_date": "tomorrow"}, "introduced_date"),
        ({"chain_id": "dogecoin"}, "chain_id"),
    ],
)
def test_a_bad_wallet_is_422_naming_its_field(client, world, writer, values, field):
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    body = assert_problem(
        client.post(wallets_url(world.acme), json=payload | values, headers=writer), 422
    )
    assert [e["field"] for e in body["errors"]] == [field]
    assert count(PartnerWallet) == 0


def test_a_future_introduced_date_is_422(client, world, writer):
    tomorrow = today_utc().toordinal() + 1
    from datetime import date

    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": date.fromordinal(tomorrow).isoformat(),
    }
    body = assert_problem(client.post(wallets_url(world.acme), json=payload, headers=writer), 422)
    assert "future" in body["errors"][0]["message"]


def test_missing_and_unknown_fields_are_422(client, world, writer):
    body = assert_problem(
        client.post(
            wallets_url(world.acme), json={"chain_id": "ethereum", "colour": "red"}, headers=writer
        ),
        422,
    )
    assert {e["field"] for e in body["errors"]} == {"wallet_address", "introduced_date", "colour"}


def test_malformed_json_is_a_4xx_problem(client, world, writer):
    response = client.post(
        wallets_url(world.acme), data="{not json", content_type="application/json", headers=writer
    )
    assert_problem(response, 400)


def test_adding_to_an_unknown_partner_is_404(client, world, writer):
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    url = f"{API}/partners/{uuid.uuid4()}/wallets"
    assert_problem(client.post(url, json=payload, headers=writer), 404)


# --- wallets: bulk ------------------------------------------------------------------------


def post_csv(client, url, data, headers, **query):
    return client.post(url, data=data, content_type="text/csv", query_string=query, headers=headers)


def test_bulk_csv_stores_all_rows_and_counts_unchanged(client, world, writer):
    known = add(world.acme, evm_address())
    fresh = [evm_address() for _ in range(3)]
    data = wallet_csv(
        [(a, "ethereum", "2026-01-02", "") for a in fresh]
        + [(known.wallet_address, "ethereum", "2026-01-02", "")]
    )
    response = post_csv(client, wallets_url(world.acme, "bulk"), data, writer)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["new"], body["unchanged"], body["dry_run"]) == (3, 1, False)
    payload = db.session.get(StagingPayload, uuid.UUID(body["payload_id"]))
    assert payload.kind == "wallets" and payload.row_count == 3
    stored = set(db.session.scalars(select(PartnerWallet.wallet_address)))
    assert {a.lower() for a in fresh} <= {a.lower() for a in stored}
    assert count(PartnerWallet) == 4


def test_bulk_csv_without_a_chain_column_takes_the_chain_argument(client, world, writer):
    data = wallet_csv([(evm_address(), "2026-01-02")], header=("address", "introduced"))
    url = wallets_url(world.acme, "bulk")
    assert_problem(post_csv(client, url, data, writer), 422)
    response = post_csv(client, url, data, writer, chain_id="ethereum")
    assert response.status_code == 200 and response.get_json()["new"] == 1


def test_bulk_with_a_bad_row_stores_nothing_and_lists_each_row(client, world, writer):
    claimed = add(world.beta, evm_address())
    data = wallet_csv(
        [
            (evm_address(), "ethereum", "2026-01-02", ""),
            ("0xdead", "ethereum", "2026-01-02", ""),
            (claimed.wallet_address, "ethereum", "2026-01-02", ""),
            (evm_address(), "ethereum", "02/01/2026", ""),
        ]
    )
    body = assert_problem(post_csv(client, wallets_url(world.acme, "bulk"), data, writer), 422)
    assert [(e["line"], e["field"]) for e in body["errors"]] == [
        (3, "wallet_address"),
        (4, "wallet_address"),
        (5, "introduced_date"),
    ]
    assert "Beta Exchange" in body["errors"][1]["message"]
    assert count(PartnerWallet, PartnerWallet.partner_id == world.acme.partner_id) == 0
    assert count(StagingPayload) == 0


def test_bulk_dry_run_answers_each_row_and_stores_nothing(client, world, writer):
    known = add(world.acme, evm_address())
    fresh = evm_address()
    data = wallet_csv(
        [
            (fresh, "ethereum", "2026-01-02", ""),
            (known.wallet_address, "ethereum", "2026-01-03", ""),
        ]
    )
    response = post_csv(client, wallets_url(world.acme, "bulk"), data, writer, dry_run="true")
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["new"], body["unchanged"], body["dry_run"], body["payload_id"]) == (
        1,
        1,
        True,
        None,
    )
    assert [(r["line"], r["outcome"]) for r in body["rows"]] == [(2, "new"), (3, "unchanged")]
    assert count(PartnerWallet) == 1 and count(StagingPayload) == 0


def test_bulk_dry_run_with_a_bad_row_is_the_same_422(client, world, writer):
    data = wallet_csv(
        [(evm_address(), "ethereum", "2026-01-02", ""), ("x", "ethereum", "2026-01-02", "")]
    )
    url = wallets_url(world.acme, "bulk")
    dry = assert_problem(post_csv(client, url, data, writer, dry_run="true"), 422)
    real = assert_problem(post_csv(client, url, data, writer), 422)
    assert (
        dry["errors"]
        == real["errors"]
        == [{"line": 3, "field": "wallet_address", "message": real["errors"][0]["message"]}]
    )
    assert count(PartnerWallet) == 0


def test_bulk_json_takes_the_same_checks_and_names_items(client, world, writer):
    good = evm_address()
    wallets = [
        {"wallet_address": good, "introduced_date": "2026-01-02", "notes": "line one\nline two"},
        {"wallet_address": "0x12", "introduced_date": "2026-01-02"},
        {"wallet_address": evm_address(), "chain_id": "ethereum", "introduced_date": "yesterday"},
    ]
    url = wallets_url(world.acme, "bulk")
    body = assert_problem(
        client.post(
            url, json={"wallets": wallets}, query_string={"chain_id": "ethereum"}, headers=writer
        ),
        422,
    )
    assert [e["field"] for e in body["errors"]] == [
        "wallets[1].wallet_address",
        "wallets[2].introduced_date",
    ]
    assert count(PartnerWallet) == 0
    response = client.post(
        url, json={"wallets": wallets[:1]}, query_string={"chain_id": "ethereum"}, headers=writer
    )
    assert response.status_code == 200 and response.get_json()["new"] == 1
    stored = db.session.scalar(select(PartnerWallet))
    assert stored.notes == "line one\nline two"


def test_bulk_json_shape_errors_are_422(client, world, writer):
    url = wallets_url(world.acme, "bulk")
    body = assert_problem(client.post(url, json={"wallets": [{"notes": 3}]}, headers=writer), 422)
    assert {e["field"] for e in body["errors"]} == {
        "wallets[0].wallet_address",
        "wallets[0].introduced_date",
        "wallets[0].notes",
    }
    assert_problem(client.post(url, json={"wallets": []}, headers=writer), 422)


def test_bulk_in_another_media_type_is_415(client, world, writer):
    response = client.post(
        wallets_url(world.acme, "bulk"), data="a,b", content_type="text/plain", headers=writer
    )
    assert_problem(response, 415)


def test_a_body_over_the_upload_limit_is_413(client, world, writer, app):
    data = b"wallet_address,chain_id,introduced_date\n" + b"x" * app.config["MAX_CONTENT_LENGTH"]
    assert_problem(post_csv(client, wallets_url(world.acme, "bulk"), data, writer), 413)
    assert count(PartnerWallet) == 0


# --- wallets: delete and export -----------------------------------------------------------


def test_delete_deactivates_and_again_is_still_204(client, world, writer):
    wallet = add(world.acme, evm_address())
    url = wallets_url(world.acme, str(wallet.wallet_id))
    for _ in range(2):
        response = client.delete(url, headers=writer)
        assert response.status_code == 204 and response.get_data() == b""
        db.session.expire_all()
        assert db.session.get(PartnerWallet, wallet.wallet_id).is_active is False
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.entity_id == str(wallet.wallet_id))
    ).all()
    assert sorted(actions) == ["create", "deactivate"]


def test_delete_of_another_partners_wallet_is_404(client, world, writer):
    wallet = add(world.beta, evm_address())
    assert_problem(
        client.delete(wallets_url(world.acme, str(wallet.wallet_id)), headers=writer), 404
    )
    db.session.expire_all()
    assert db.session.get(PartnerWallet, wallet.wallet_id).is_active is True


def test_export_is_the_wallet_csv_safe_for_spreadsheets(client, world, reader):
    wallet = add_wallet(world.acme, "ethereum", evm_address(), "2026-01-05", notes="=SUM(A1)")
    response = client.get(wallets_url(world.acme, "export"), headers=reader)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "wallet_address,chain_id,introduced_date,is_active,notes"
    assert lines[1] == f"{wallet.wallet_address},ethereum,2026-01-05,true,'=SUM(A1)"
    assert_problem(client.get(f"{API}/partners/{uuid.uuid4()}/wallets/export", headers=reader), 404)


# --- periods --------------------------------------------------------------------------------


@pytest.fixture
def periods(world, tmp_path):
    path = tmp_path / "periods.csv"
    path.write_text(PERIODS_CSV)
    report = import_file("periods", str(path), "manual-upload")
    assert report.ok, report.headline()


def test_periods_by_date_range_include_both_ends(client, periods, reader):
    query = {"chain_id": "solana", "from": "2025-10-03", "to": "2025-10-05"}
    body = client.get(f"{API}/periods/by-date-range", query_string=query, headers=reader).get_json()
    assert [p["label"] for p in body["items"]] == ["801", "802"]
    assert body["items"][0]["start_time"] == "2025-10-03T00:00:00+00:00"
    stored = db.session.scalar(
        select(CanonicalPeriod.period_id).where(CanonicalPeriod.label == "801")
    )
    assert body["items"][0]["period_id"] == str(stored)


def test_period_pages_run_to_the_end(client, periods, reader):
    labels, cursor = [], None
    while True:
        query = {"chain_id": "solana", "from": "2025-01-01", "to": "2025-12-31", "limit": 1}
        if cursor:
            query["cursor"] = cursor
        body = client.get(
            f"{API}/periods/by-date-range", query_string=query, headers=reader
        ).get_json()
        labels += [p["label"] for p in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert labels == ["800", "801", "802"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"chain_id": "dogecoin", "from": "2025-10-01", "to": "2025-10-02"}, "chain_id"),
        ({"chain_id": "solana", "from": "2025-10-05", "to": "2025-10-01"}, "to"),
        ({"chain_id": "solana", "from": "2025-10-01"}, "to"),
        ({"chain_id": "solana", "from": "01/10/2025", "to": "2025-10-02"}, "from"),
    ],
)
def test_bad_period_queries_are_422(client, periods, reader, query, field):
    response = client.get(f"{API}/periods/by-date-range", query_string=query, headers=reader)
    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == [field]


# --- imports ----------------------------------------------------------------------------------


def post_import(client, kind, text, headers, provider="jito", **query):
    return client.post(
        f"{API}/imports/{kind}",
        data=text.encode() if isinstance(text, str) else text,
        content_type="text/csv",
        query_string={"provider": provider} | query,
        headers=headers,
    )


def test_an_import_stores_rows_with_lineage_and_its_user(client, world, manager, writer):
    response = post_import(client, "periods", PERIODS_CSV, writer, file_name="october.csv")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    payload = db.session.get(StagingPayload, uuid.UUID(body["payload_id"]))
    assert (payload.kind, payload.row_count, payload.file_name) == ("periods", 3, "october.csv")
    assert payload.created_by_user_id == manager.user_id and payload.provider.name == "jito"
    assert body["row_count"] == 3 and body["kind"] == "periods"
    assert [(p["period"], p["rows"]) for p in body["periods"]] == [
        ("800", 1),
        ("801", 1),
        ("802", 1),
    ]
    assert count(CanonicalPeriod, CanonicalPeriod.source_payload_id == payload.payload_id) == 3


def test_the_same_bytes_again_are_409_naming_the_payload(client, world, writer):
    first = post_import(client, "periods", PERIODS_CSV, writer).get_json()
    body = assert_problem(post_import(client, "periods", PERIODS_CSV, writer), 409)
    assert body["payload_id"] == first["payload_id"]
    assert first["payload_id"][:8] in body["detail"]
    assert count(StagingPayload) == 1


def test_an_import_with_bad_rows_stores_nothing_and_lists_them(client, world, writer):
    text = PERIODS_CSV + "solana,803,2025-10-09T00:00:00Z,2025-10-08T00:00:00Z\nnochain,804,x,y\n"
    body = assert_problem(post_import(client, "periods", text, writer), 422)
    assert {e["line"] for e in body["errors"]} == {5, 6}
    assert all(e["field"] and e["message"] for e in body["errors"])
    assert count(StagingPayload) == 0 and count(CanonicalPeriod) == 0


@pytest.mark.parametrize(
    "start, end, field",
    [
        ("2025-10-09T00:00:00Z", "9999-12-31T23:59:59-23:59", "end_time"),
        ("0001-01-01T00:00:00+00:01", "2025-10-09T00:00:00Z", "start_time"),
    ],
)
def test_a_timestamp_outside_the_calendar_in_utc_is_a_row_error(
    client, world, writer, start, end, field
):
    text = PERIODS_CSV + f"solana,803,{start},{end}\n"
    body = assert_problem(post_import(client, "periods", text, writer), 422)
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(5, field)]
    assert "outside the years 1 to 9999" in body["errors"][0]["message"]
    assert count(StagingPayload) == 0 and count(CanonicalPeriod) == 0


def test_import_errors_of_the_whole_file(client, world, writer):
    body = assert_problem(post_import(client, "periods", "label\n800\n", writer), 422)
    assert "missing column" in body["errors"][0]["message"]
    assert_problem(post_import(client, "salaries", PERIODS_CSV, writer), 404)
    missing = client.post(
        f"{API}/imports/periods", data=PERIODS_CSV, content_type="text/csv", headers=writer
    )
    assert assert_problem(missing, 422)["errors"][0]["field"] == "provider"
    wrong = client.post(f"{API}/imports/periods?provider=jito", json={"rows": []}, headers=writer)
    assert_problem(wrong, 415)
    assert count(StagingPayload) == 0


# --- idempotency ------------------------------------------------------------------------------


def test_a_replayed_post_gives_the_first_answer_without_doing_it_again(client, world, writer):
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    headers = writer | {"Idempotency-Key": "add-1"}
    first = client.post(wallets_url(world.acme), json=payload, headers=headers)
    again = client.post(wallets_url(world.acme), json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(PartnerWallet) == 1
    assert count(AuditLog, AuditLog.entity_type == "partner_wallet") == 1


def test_a_key_reused_with_another_body_is_422(client, world, writer):
    headers = writer | {"Idempotency-Key": "add-2"}
    url = wallets_url(world.acme)
    body = {"chain_id": "ethereum", "introduced_date": "2026-01-01"}
    assert (
        client.post(url, json=body | {"wallet_address": evm_address()}, headers=headers).status_code
        == 201
    )
    other = client.post(url, json=body | {"wallet_address": evm_address()}, headers=headers)
    assert assert_problem(other, 422)["errors"][0]["field"] == "Idempotency-Key"
    assert count(PartnerWallet) == 1


def test_a_replayed_import_and_bulk_store_once(client, world, writer):
    headers = writer | {"Idempotency-Key": "import-1"}
    first = post_import(client, "periods", PERIODS_CSV, headers)
    again = post_import(client, "periods", PERIODS_CSV, headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert count(StagingPayload) == 1
    data = wallet_csv([(evm_address(), "ethereum", "2026-01-02", "")])
    bulk = writer | {"Idempotency-Key": "bulk-1"}
    one = post_csv(client, wallets_url(world.acme, "bulk"), data, bulk)
    two = post_csv(client, wallets_url(world.acme, "bulk"), data, bulk)
    assert one.get_json() == two.get_json() and one.get_json()["new"] == 1
    assert count(StagingPayload, StagingPayload.kind == "wallets") == 1


def test_an_error_answer_is_replayed_too_and_keys_are_per_user(client, world, writer, make_user):
    payload = {"chain_id": "ethereum", "wallet_address": "0x1", "introduced_date": "2026-01-01"}
    headers = writer | {"Idempotency-Key": "same"}
    first = client.post(wallets_url(world.acme), json=payload, headers=headers)
    again = client.post(wallets_url(world.acme), json=payload, headers=headers)
    assert first.status_code == again.status_code == 422
    assert json.loads(first.data) == json.loads(again.data)
    someone_else = bearer(make_user("manager"), "write") | {"Idempotency-Key": "same"}
    good = payload | {"wallet_address": evm_address()}
    assert client.post(wallets_url(world.acme), json=good, headers=someone_else).status_code == 201
    assert count(ApiIdempotencyKey) == 2


def test_a_key_still_being_worked_on_is_409(client, world, writer, manager):
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    headers = writer | {"Idempotency-Key": "slow"}
    first = client.post(wallets_url(world.acme), json=payload, headers=headers)
    assert first.status_code == 201
    record = db.session.scalar(select(ApiIdempotencyKey))
    record.status_code = None  # as it is while the first request runs
    db.session.commit()
    assert_problem(client.post(wallets_url(world.acme), json=payload, headers=headers), 409)
    assert count(PartnerWallet) == 1


def test_a_dry_runs_answer_is_not_replayed_for_the_real_request(client, world, writer):
    data = wallet_csv([(evm_address(), "ethereum", "2026-01-02", "")])
    headers = writer | {"Idempotency-Key": "bulk-dry"}
    url = wallets_url(world.acme, "bulk")
    dry = post_csv(client, url, data, headers, dry_run="true")
    assert dry.status_code == 200 and dry.get_json()["dry_run"] is True
    real = post_csv(client, url, data, headers)
    body = assert_problem(real, 422)
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert "Idempotent-Replayed" not in real.headers
    assert count(PartnerWallet) == 0
    # The same query in another order is the same request: its answer is given again.
    again = post_csv(client, url, data, headers, chain_id="", dry_run="true")
    assert_problem(again, 422)
    replay = client.post(url + "?dry_run=true", data=data, content_type="text/csv", headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == dry.get_json()


def test_another_partners_answer_is_not_replayed_for_the_same_key(client, world, writer):
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    headers = writer | {"Idempotency-Key": "add-to-a-partner"}
    first = client.post(wallets_url(world.acme), json=payload, headers=headers)
    assert first.status_code == 201
    other = client.post(wallets_url(world.beta), json=payload, headers=headers)
    assert assert_problem(other, 422)["errors"][0]["field"] == "Idempotency-Key"
    assert "Idempotent-Replayed" not in other.headers
    owners = db.session.scalars(select(PartnerWallet.partner_id)).all()
    assert owners == [world.acme.partner_id]


def _lost_key(app, manager, url, payload, key, age):
    """The row a request leaves when it dies after reserving its key: unanswered, `age` old."""
    from webapp.api import access

    with app.test_request_context(url, method="POST", json=payload):
        fingerprint = access._request_hash()
        lease = access._lease()
    db.session.add(
        ApiIdempotencyKey(
            user_id=manager.user_id,
            idempotency_key=key,
            request_hash=fingerprint,
            created_at=utcnow() - lease + age,
        )
    )
    db.session.commit()


def test_a_key_whose_request_was_lost_is_usable_again_after_its_lease(
    app, client, world, writer, manager
):
    url = wallets_url(world.acme)
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    headers = writer | {"Idempotency-Key": "lost"}
    _lost_key(app, manager, url, payload, "lost", age=timedelta(seconds=-1))
    retry = client.post(url, json=payload, headers=headers)
    assert retry.status_code == 201, retry.get_data(as_text=True)
    assert count(PartnerWallet) == 1
    record = db.session.scalar(select(ApiIdempotencyKey))
    db.session.refresh(record)
    assert record.status_code == 201
    again = client.post(url, json=payload, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and count(PartnerWallet) == 1


def test_a_key_within_its_lease_is_still_being_worked_on(app, client, world, writer, manager):
    url = wallets_url(world.acme)
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    _lost_key(app, manager, url, payload, "busy", age=timedelta(seconds=30))
    response = client.post(url, json=payload, headers=writer | {"Idempotency-Key": "busy"})
    body = assert_problem(response, 409)
    assert "still being worked on" in body["detail"]
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert count(PartnerWallet) == 0
    record = db.session.scalar(select(ApiIdempotencyKey))
    assert record.status_code is None


# --- routing errors ---------------------------------------------------------------------------


def test_unknown_paths_and_methods_are_problems(client, world, reader):
    assert_problem(client.get(f"{API}/nothing-here", headers=reader), 404)
    response = client.put(f"{API}/partners", headers=reader)
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_pages_keep_their_html_errors(manager_client):
    response = manager_client.get("/partners/" + str(uuid.uuid4()))
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_a_provider_name_with_non_ascii_capitals_is_created_once(client, world, writer):
    first = post_import(client, "periods", PERIODS_CSV, writer, provider="ÀLPHA")
    assert first.status_code == 201, first.get_json()
    payload = db.session.get(StagingPayload, uuid.UUID(first.get_json()["payload_id"]))
    assert payload.provider.name == "ÀLPHA"
