"""Partner wallets: row outcomes, upload preview and commit, the list, inline changes, export."""

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from tests.worlds import evm_address, solana_address, two_partners, wallet_csv
from webapp.chains.service import add_chain
from webapp.extensions import db
from webapp.models import AuditLog, PartnerWallet, StagingPayload
from webapp.wallets.checks import Outcome, today_utc
from webapp.wallets.service import WalletFilters, add_wallet, list_wallets
from webapp.wallets.upload import (
    UploadError,
    UploadRejected,
    WalletConflict,
    check_file,
    commit_file,
)

HX = {"HX-Request": "true"}


pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


@pytest.fixture
def world(app):
    return two_partners()


def stored_addresses(partner=None) -> set[str]:
    stmt = select(PartnerWallet.wallet_address)
    if partner is not None:
        stmt = stmt.where(PartnerWallet.partner_id == partner.partner_id)
    return set(db.session.scalars(stmt))


def outcomes(check):
    return [(row.line, row.outcome.value, row.column, row.reason) for row in check.rows]


# --- outcome of each row -------------------------------------------------------------------


def test_every_outcome_of_a_file(world):
    mine, theirs, fresh = solana_address(), solana_address(), solana_address()
    commit_file(world.acme, wallet_csv([(mine, "solana", "2024-01-01", "")]), "a.csv")
    commit_file(world.beta, wallet_csv([(theirs, "solana", "2024-01-01", "")]), "b.csv")
    tomorrow = (today_utc() + timedelta(days=1)).isoformat()
    data = wallet_csv(
        [
            (fresh, "solana", "2024-03-01", "new one"),  # line 2
            (mine, "solana", "2023-01-01", ""),  # line 3
            (theirs, "solana", "2024-01-01", ""),  # line 4
            ("0OIl" + fresh[4:], "solana", "2024-01-01", ""),  # line 5
            (solana_address(), "dogechain", "2024-01-01", ""),  # line 6
            (solana_address(), "solana", "2024-13-01", ""),  # line 7
            (solana_address(), "solana", "01/02/2024", ""),  # line 8
            (solana_address(), "solana", tomorrow, ""),  # line 9
            (f"  {fresh} ", "solana", "2024-03-01", ""),  # line 10
        ]
    )
    check = check_file(world.acme, data)
    got = outcomes(check)
    assert got[0] == (2, "new", "", "")
    assert got[1][:2] == (3, "unchanged")
    assert got[2] == (
        4,
        "error",
        "wallet_address",
        "already claimed by partner Beta Exchange on solana",
    )
    assert got[3][1:3] == ("error", "wallet_address") and got[3][3].startswith("bad character")
    assert got[4] == (6, "error", "chain_id", "unknown chain 'dogechain'")
    assert got[5] == (7, "error", "introduced_date", "'2024-13-01' is not a calendar date")
    assert got[6] == (8, "error", "introduced_date", "'01/02/2024' is not a date: use YYYY-MM-DD")
    assert got[7] == (9, "error", "introduced_date", f"{tomorrow} is in the future")
    assert got[8] == (10, "error", "wallet_address", "duplicate of line 2")
    assert check.counts == {"new": 1, "unchanged": 1, "error": 7}


def test_addresses_are_checked_against_their_own_chain(world):
    data = wallet_csv(
        [
            (evm_address(), "solana", "2024-01-01", ""),
            (solana_address(), "ethereum", "2024-01-01", ""),
            ("0x" + "aB" * 20, "ethereum", "2024-01-01", ""),
            ("osmo1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnxlxfhu", "cosmos", "2024-01-01", ""),
        ]
    )
    reasons = [row.reason for row in check_file(world.acme, data).rows]
    assert reasons[0].startswith("bad character") and reasons[0].endswith("(for solana)")
    assert reasons[1].startswith("wrong prefix") and reasons[1].endswith("(for ethereum)")
    assert reasons[2].startswith("bad checksum")
    assert reasons[3].startswith("wrong prefix")


def test_an_evm_wallet_is_the_same_wallet_in_any_letter_case(world):
    address = evm_address()
    commit_file(world.beta, wallet_csv([(address, "ethereum", "2024-01-01", "")]), "b.csv")
    lower = "0x" + address[2:].lower()
    check = check_file(world.acme, wallet_csv([(lower, "ethereum", "2024-01-01", "")]))
    assert check.rows[0].reason == "already claimed by partner Beta Exchange on ethereum"
    mine = check_file(world.beta, wallet_csv([(lower, "ethereum", "2024-01-01", "")]))
    assert mine.rows[0].outcome is Outcome.UNCHANGED
    assert mine.rows[0].wallet_address == address


def test_the_same_address_on_two_chains_is_two_wallets(world):
    address = evm_address()
    add_chain("base", "Base", "ETH", 18, "evm")
    commit_file(world.beta, wallet_csv([(address, "ethereum", "2024-01-01", "")]), "b.csv")
    check = check_file(world.acme, wallet_csv([(address, "base", "2024-01-01", "")]))
    assert check.rows[0].outcome is Outcome.NEW


def test_an_inactive_wallet_still_holds_its_claim(world, app):
    address = solana_address()
    wallet = add_wallet(world.beta, "solana", address, "2024-01-01")
    wallet.is_active = False
    db.session.commit()
    check = check_file(world.acme, wallet_csv([(address, "solana", "2024-01-01", "")]))
    assert check.rows[0].reason == "already claimed by partner Beta Exchange on solana"


# --- reading files: aliases, encodings, chain picker ----------------------------------------


def test_aliases_bom_crlf_blank_lines_and_quoted_fields(world):
    first, second = solana_address(), solana_address()
    text = (
        "\ufeff Address ,CHAIN, Introduced ,Notes\r\n"
        f'{first},solana,2024-01-01,"Desk A, floor 2"\r\n'
        "\r\n"
        ",,,\r\n"
        f'"{second}",solana,2024-02-01,"said ""hi"""\r\n'
    )
    check = check_file(world.acme, text.encode("utf-8"))
    assert [(r.line, r.outcome.value) for r in check.rows] == [(2, "new"), (5, "new")]
    assert check.rows[0].notes == "Desk A, floor 2"
    assert check.rows[1].notes == 'said "hi"'
    commit_file(world.acme, text.encode("utf-8"), "aliases.csv")
    assert stored_addresses(world.acme) == {first, second}


def test_wallet_alias_and_a_picked_chain_for_a_file_without_chain_column(world):
    address = solana_address()
    data = f"wallet,introduced\n{address},2024-01-01\n".encode()
    with pytest.raises(UploadError, match="no chain_id column"):
        check_file(world.acme, data)
    check = check_file(world.acme, data, "solana")
    assert check.rows[0].outcome is Outcome.NEW and check.rows[0].chain_id == "solana"


def test_a_blank_chain_cell_needs_a_picked_chain(world):
    data = wallet_csv([(solana_address(), "", "2024-01-01", "")])
    assert check_file(world.acme, data).rows[0].column == "chain_id"
    assert check_file(world.acme, data, "solana").rows[0].outcome is Outcome.NEW


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("wallet_address,introduced_date\n".encode("utf-16"), "not UTF-8"),
        (
            "wallet_address,chain_id,introduced_date\nAé,solana,2024-01-01\n".encode("latin-1"),
            "not UTF-8",
        ),
        (b"", "empty"),
        (b"address,chain_id\nx,solana\n", "missing column introduced_date"),
        (b"wallet_address,chain_id,introduced_date\n", "no wallet rows"),
    ],
)
def test_files_that_cannot_be_read_say_why(world, data, message):
    with pytest.raises(UploadError, match=message):
        check_file(world.acme, data)


# --- commit: all or nothing -----------------------------------------------------------------


def test_a_file_with_an_error_stores_nothing(world):
    data = wallet_csv(
        [(solana_address(), "solana", "2024-01-01", ""), ("nope", "solana", "2024-01-01", "")]
    )
    with pytest.raises(UploadRejected) as rejected:
        commit_file(world.acme, data, "bad.csv")
    assert [str(r.line) for r in rejected.value.check.problems] == ["3"]
    assert stored_addresses() == set()
    assert db.session.scalar(select(func.count()).select_from(StagingPayload)) == 0


def test_commit_stores_new_rows_with_one_audit_entry_and_a_payload(world):
    old = solana_address()
    commit_file(world.acme, wallet_csv([(old, "solana", "2024-01-01", "")]), "one.csv")
    new = [solana_address() for _ in range(3)]
    rows = [(a, "solana", "2024-02-01", "batch") for a in new] + [(old, "solana", "2020-01-01", "")]
    result = commit_file(world.acme, wallet_csv(rows), "two.csv")
    assert (result.added, result.unchanged) == (3, 1)
    assert stored_addresses(world.acme) == {old, *new}
    unchanged = db.session.scalar(select(PartnerWallet).where(PartnerWallet.wallet_address == old))
    assert unchanged.introduced_date.isoformat() == "2024-01-01"
    entries = db.session.scalars(select(AuditLog).where(AuditLog.action == "import")).all()
    assert len(entries) == 2
    last = json.loads(max(entries, key=lambda e: e.created_at).after)
    assert (last["added"], last["unchanged"], last["file_name"]) == (3, 1, "two.csv")
    payload = db.session.get(StagingPayload, result.payload_id)
    assert (payload.kind, payload.row_count, payload.chain_id) == ("wallets", 3, "solana")


def test_the_same_bytes_cannot_be_imported_twice(world, app):
    address = solana_address()
    data = f"wallet_address,introduced_date\n{address},2024-01-01\n".encode()
    commit_file(world.acme, data, "w.csv", "solana")
    add_chain("solana-devnet", "Solana devnet", "SOL", 9, "base58-32")
    with pytest.raises(WalletConflict, match=r"imported already: payload \w{8} \('w.csv'"):
        commit_file(world.acme, data, "w.csv", "solana-devnet")
    assert db.session.scalar(select(func.count()).select_from(PartnerWallet)) == 1


def test_committing_a_file_of_known_wallets_adds_nothing(world):
    address = solana_address()
    commit_file(world.acme, wallet_csv([(address, "solana", "2024-01-01", "")]), "a.csv")
    again = commit_file(world.acme, wallet_csv([(address, "solana", "2024-05-05", "x")]), "b.csv")
    assert (again.added, again.unchanged, again.payload_id) == (0, 1, None)


# --- the list -------------------------------------------------------------------------------


@pytest.fixture
def many_wallets(world):
    rows = [
        (solana_address(), "solana", f"2024-01-{day:02d}", "")
        for day in range(1, 29)
        for _ in range(2)
    ]
    rows += [(evm_address(), "ethereum", "2023-06-01", "") for _ in range(7)]
    commit_file(world.acme, wallet_csv(rows), "many.csv")
    return world


def collect_sql(app):
    statements = []

    def remember(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    return statements, lambda: event.remove(db.engine, "before_cursor_execute", remember)


@pytest.mark.parametrize("sort", ["introduced", "address"])
def test_keyset_pages_walk_every_wallet_once_in_order(many_wallets, app, sort):
    filters = WalletFilters(sort=sort)
    seen, cursor, pages = [], "", 0
    statements, stop = collect_sql(app)
    try:
        while True:
            page = list_wallets(many_wallets.acme, filters, after=cursor, size=10)
            assert page.total == 63
            seen.extend(page.wallets)
            pages += 1
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    finally:
        stop()
    assert pages == 7 and len({w.wallet_id for w in seen}) == 63
    keys = (
        [w.wallet_address for w in seen]
        if sort == "address"
        else [w.introduced_date for w in reversed(seen)]
    )
    assert keys == sorted(keys)
    for statement, parameters in statements:
        # SQLite writes every LIMIT as "LIMIT ? OFFSET ?"; the offset must stay 0.
        assert "OFFSET" not in statement.upper() or parameters[-1] == 0, statement
    assert sum("count(" in s.lower() for s, _ in statements) == pages


def test_previous_page_returns_the_page_before(many_wallets):
    filters = WalletFilters()
    first = list_wallets(many_wallets.acme, filters, size=10)
    second = list_wallets(many_wallets.acme, filters, after=first.next_cursor, size=10)
    back = list_wallets(many_wallets.acme, filters, before=second.prev_cursor, size=10)
    assert [w.wallet_id for w in back.wallets] == [w.wallet_id for w in first.wallets]
    assert back.prev_cursor == "" and back.next_cursor == first.next_cursor


def test_filters_by_chain_status_and_address_part(many_wallets):
    acme = many_wallets.acme
    assert list_wallets(acme, WalletFilters(chain_id="ethereum")).total == 7
    one = list_wallets(acme, WalletFilters(chain_id="ethereum"), size=1).wallets[0]
    one.is_active = False
    db.session.commit()
    assert list_wallets(acme, WalletFilters(status="inactive")).total == 1
    assert list_wallets(acme, WalletFilters(status="active")).total == 62
    middle = one.wallet_address[10:20]
    found = list_wallets(acme, WalletFilters(q=middle.lower())).wallets
    assert one in found
    # Any case finds it (the address holds letters of both cases, so neither form is it).
    assert one in list_wallets(acme, WalletFilters(q=middle.upper())).wallets
    assert list_wallets(acme, WalletFilters(q=one.wallet_address[:12])).wallets[0] == one
    assert list_wallets(acme, WalletFilters(q="%")).total == 0
    assert list_wallets(acme, WalletFilters(q="_")).total == 0
    assert list_wallets(many_wallets.beta, WalletFilters()).total == 0


# --- pages and fragments --------------------------------------------------------------------


def partner_url(partner, tail=""):
    return f"/partners/{partner.partner_id}{tail}"


def test_partner_page_shows_wallet_section_and_empty_state(world, manager_client, viewer_client):
    page = manager_client.get(partner_url(world.acme)).get_data(as_text=True)
    assert "Acme Wallet has no wallets yet. Add one above, or drop a CSV" in page
    assert "data-dropzone" in page and "Add wallet" in page
    viewer = viewer_client.get(partner_url(world.acme)).get_data(as_text=True)
    assert "A manager can add them" in viewer and "data-dropzone" not in viewer


def test_list_fragment_searches_and_says_when_nothing_matches(many_wallets, manager_client):
    acme = many_wallets.acme
    response = manager_client.get(partner_url(acme, "/wallets?chain=ethereum"), headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "<strong>7</strong> wallets match these filters" in body
    one = db.session.scalars(
        select(PartnerWallet.wallet_address).where(PartnerWallet.partner_id == acme.partner_id)
    ).first()
    alone = manager_client.get(partner_url(acme, f"/wallets?q={one}"), headers=HX)
    assert "<strong>1</strong> wallet matches these filters" in alone.get_data(as_text=True)
    nothing = manager_client.get(partner_url(acme, "/wallets?q=zzzz"), headers=HX)
    assert "No wallet matches these filters" in nothing.get_data(as_text=True)
    full = manager_client.get(partner_url(acme, "/wallets?q=zzzz"))
    assert full.status_code == 302 and "q=zzzz" in full.headers["Location"]


def test_add_a_wallet_inline(world, manager_client):
    address = solana_address()
    response = manager_client.post(
        partner_url(world.acme, "/wallets"),
        data={
            "chain_id": "solana",
            "wallet_address": f" {address} ",
            "introduced_date": "2024-04-01",
            "notes": "met at conf",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"]) == {"wallets-changed": True}
    assert f"Wallet {address} added on solana" in response.get_data(as_text=True)
    wallet = db.session.scalar(select(PartnerWallet))
    assert (wallet.wallet_address, wallet.notes) == (address, "met at conf")
    entry = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "partner_wallet"))
    assert entry.action == "create" and json.loads(entry.after)["wallet_address"] == address


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ("beta", "already claimed by partner Beta Exchange on solana"),
        ("acme", "this wallet is already this partner&#39;s on solana"),
    ],
)
def test_adding_a_claimed_wallet_is_refused_naming_its_owner(world, manager_client, owner, message):
    address = solana_address()
    add_wallet(getattr(world, owner), "solana", address, "2024-01-01")
    response = manager_client.post(
        partner_url(world.acme, "/wallets"),
        data={"chain_id": "solana", "wallet_address": address, "introduced_date": "2024-04-01"},
        headers=HX,
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(PartnerWallet)) == 1


def test_check_as_you_type_gives_the_upload_message(world, manager_client):
    response = manager_client.post(
        partner_url(world.acme, "/wallets/check"),
        data={"chain_id": "ethereum", "wallet_address": "0x" + "aB" * 20, "introduced_date": ""},
        headers=HX,
    )
    body = response.get_data(as_text=True)
    assert "bad checksum: the mixed-case letters do not match EIP-55 (for ethereum)" in body
    assert "Introduced is empty" not in body  # an empty field is not an error yet
    assert db.session.scalar(select(func.count()).select_from(PartnerWallet)) == 0


def test_edit_deactivate_and_reactivate_inline_with_audit(world, manager_client):
    wallet = add_wallet(world.acme, "solana", solana_address(), "2024-01-01")
    url = partner_url(world.acme, f"/wallets/{wallet.wallet_id}")
    form = manager_client.get(url + "/edit", headers=HX).get_data(as_text=True)
    assert 'value="2024-01-01"' in form and "<tr" in form
    future = (today_utc() + timedelta(days=3)).isoformat()
    refused = manager_client.post(url, data={"introduced_date": future, "notes": ""}, headers=HX)
    assert refused.status_code == 400 and "is in the future" in refused.get_data(as_text=True)
    saved = manager_client.post(
        url, data={"introduced_date": "2023-05-05", "notes": "vip"}, headers=HX
    )
    assert saved.status_code == 200 and "vip" in saved.get_data(as_text=True)
    off = manager_client.post(url + "/active", data={"active": "0"}, headers=HX)
    assert "Reactivate" in off.get_data(as_text=True)
    on = manager_client.post(url + "/active", data={"active": "1"}, headers=HX)
    assert "Deactivate" in on.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(PartnerWallet, wallet.wallet_id).is_active
    entries = db.session.scalars(
        select(AuditLog)
        .where(AuditLog.entity_id == str(wallet.wallet_id))
        .order_by(AuditLog.created_at)
    ).all()
    assert [e.action for e in entries] == ["create", "update", "deactivate", "reactivate"]
    update = entries[1]
    assert json.loads(update.before)["introduced_date"] == "2024-01-01"
    assert json.loads(update.after)["introduced_date"] == "2023-05-05"
    assert json.loads(update.after)["notes"] == "vip"


def test_viewers_cannot_change_wallets(world, viewer_client):
    wallet = add_wallet(world.acme, "solana", solana_address(), "2024-01-01")
    url = partner_url(world.acme, f"/wallets/{wallet.wallet_id}")
    assert viewer_client.post(url + "/active", data={"active": "0"}, headers=HX).status_code == 403
    assert viewer_client.get(url + "/edit", headers=HX).status_code == 403
    upload = viewer_client.post(
        partner_url(world.acme, "/wallets/uploads"),
        data={"file": (io.BytesIO(b"x"), "w.csv")},
        headers=HX,
    )
    assert upload.status_code == 403
    assert db.session.get(PartnerWallet, wallet.wallet_id).is_active


def test_a_wallet_of_another_partner_is_not_found_here(world, manager_client):
    wallet = add_wallet(world.beta, "solana", solana_address(), "2024-01-01")
    url = partner_url(world.acme, f"/wallets/{wallet.wallet_id}/active")
    assert manager_client.post(url, data={"active": "0"}, headers=HX).status_code == 404


# --- upload through the browser's endpoints -------------------------------------------------


def upload(client, partner, data, name="wallets.csv", chain_id=""):
    return client.post(
        partner_url(partner, "/wallets/uploads"),
        data={"file": (io.BytesIO(data), name), "chain_id": chain_id},
        headers=HX,
        content_type="multipart/form-data",
    )


def token_of(body: str) -> str:
    marker = "/wallets/uploads/"
    start = body.index(marker) + len(marker)
    return body[start : body.index("/", start)]


def test_preview_download_problems_then_commit_corrected_file(world, manager_client):
    good, taken = solana_address(), solana_address()
    add_wallet(world.beta, "solana", taken, "2024-01-01")
    data = wallet_csv(
        [(good, "solana", "2024-01-01", '=HYPERLINK("x")'), (taken, "solana", "2024-01-01", "")]
    )
    preview = upload(manager_client, world.acme, data)
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "1 new" in body and "1 error" in body
    assert "line 3, column wallet_address: already claimed by partner Beta Exchange" in body
    assert "Commit" not in body
    token = token_of(body)
    problems = manager_client.get(partner_url(world.acme, f"/wallets/uploads/{token}/problems.csv"))
    rows = list(csv.reader(io.StringIO(problems.get_data(as_text=True))))
    assert rows[0] == [
        "line",
        "wallet_address",
        "chain_id",
        "introduced_date",
        "notes",
        "column",
        "reason",
    ]
    assert rows[1][:2] == ["3", taken] and rows[1][-1].startswith("already claimed by partner Beta")
    assert "problems.csv" in problems.headers["Content-Disposition"]
    refused = manager_client.post(
        partner_url(world.acme, f"/wallets/uploads/{token}/commit"), headers=HX
    )
    assert refused.status_code == 409 and stored_addresses() == {taken}

    fixed = upload(manager_client, world.acme, wallet_csv([(good, "solana", "2024-01-01", "")]))
    fixed_body = fixed.get_data(as_text=True)
    assert "Commit 1 new wallet" in fixed_body
    done = manager_client.post(
        partner_url(world.acme, f"/wallets/uploads/{token_of(fixed_body)}/commit"), headers=HX
    )
    assert done.status_code == 200 and "1 wallet(s) added" in done.get_data(as_text=True)
    assert json.loads(done.headers["HX-Trigger"]) == {"wallets-changed": True}
    assert stored_addresses(world.acme) == {good}


def test_commit_checks_again_and_refuses_what_changed_since_the_preview(world, manager_client):
    address = solana_address()
    preview = upload(
        manager_client, world.acme, wallet_csv([(address, "solana", "2024-01-01", "")])
    )
    token = token_of(preview.get_data(as_text=True))
    add_wallet(world.beta, "solana", address, "2024-01-01")
    response = manager_client.post(
        partner_url(world.acme, f"/wallets/uploads/{token}/commit"), headers=HX
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Wallets changed since the preview" in body
    assert "already claimed by partner Beta Exchange" in body
    assert stored_addresses(world.acme) == set()


def test_preview_rows_page_by_outcome(world, manager_client):
    rows = [(solana_address(), "solana", "2024-01-01", "") for _ in range(150)]
    rows.insert(120, ("bad", "solana", "2024-01-01", ""))
    body = upload(manager_client, world.acme, wallet_csv(rows)).get_data(as_text=True)
    token = token_of(body)
    assert body.count('class="outcome-new"') == 100 and "Next 100 rows" in body
    errors = manager_client.get(
        partner_url(world.acme, f"/wallets/uploads/{token}/rows?outcome=error"), headers=HX
    ).get_data(as_text=True)
    assert (
        errors.count('class="outcome-error"') == 1 and "line 122, column wallet_address" in errors
    )
    rest = manager_client.get(
        partner_url(world.acme, f"/wallets/uploads/{token}/rows?after=101"), headers=HX
    ).get_data(as_text=True)
    assert ">102</td>" in rest and ">101</td>" not in rest


def test_an_upload_token_is_only_good_for_its_partner(world, manager_client):
    body = upload(
        manager_client, world.acme, wallet_csv([(solana_address(), "solana", "2024-01-01", "")])
    ).get_data(as_text=True)
    token = token_of(body)
    stolen = manager_client.post(
        partner_url(world.beta, f"/wallets/uploads/{token}/commit"), headers=HX
    )
    assert stolen.status_code == 404 and "another partner" in stolen.get_data(as_text=True)
    bad = manager_client.post(
        partner_url(world.acme, "/wallets/uploads/..%2f..%2fx/commit"), headers=HX
    )
    assert bad.status_code == 404
    assert stored_addresses() == set()


def test_a_file_over_the_size_limit_gets_a_readable_413(world, manager_client, app):
    too_big = b"wallet_address,chain_id,introduced_date\n" + b"x" * app.config["MAX_CONTENT_LENGTH"]
    response = upload(manager_client, world.acme, too_big)
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "The file is too large: the limit is 2 MB." in body and "<html" not in body


def test_a_file_that_is_not_utf8_csv_gets_a_readable_message(world, manager_client):
    response = upload(manager_client, world.acme, b"\xff\xfe\x00w\x00a", name="export.xlsx")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "export.xlsx: the file is not UTF-8 text" in body and 'role="alert"' in body


def test_a_file_without_chain_column_uses_the_picked_chain(world, manager_client):
    address = solana_address()
    data = f"address,introduced\n{address},2024-01-01\n".encode()
    refused = upload(manager_client, world.acme, data)
    assert refused.status_code == 400 and "pick the chain" in refused.get_data(as_text=True)
    body = upload(manager_client, world.acme, data, chain_id="solana").get_data(as_text=True)
    manager_client.post(
        partner_url(world.acme, f"/wallets/uploads/{token_of(body)}/commit"), headers=HX
    )
    assert stored_addresses(world.acme) == {address}


# --- export ---------------------------------------------------------------------------------


def test_export_applies_filters_names_the_file_and_escapes_formulas(world, manager_client):
    world.acme.name = "Acme Wallet & Co"
    db.session.commit()
    sol, eth = solana_address(), evm_address()
    add_wallet(world.acme, "solana", sol, "2024-01-01", notes="=cmd|' /C calc'!A0")
    add_wallet(world.acme, "ethereum", eth, "2024-01-02", notes="+1 -2 @x")
    response = manager_client.get(partner_url(world.acme, "/wallets/export.csv?chain=solana"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    expected = f"wallets-acme-wallet-co-{today_utc().isoformat()}.csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{expected}"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        ["wallet_address", "chain_id", "introduced_date", "is_active", "notes"],
        [sol, "solana", "2024-01-01", "true", "'=cmd|' /C calc'!A0"],
    ]
    everything = manager_client.get(partner_url(world.acme, "/wallets/export.csv"))
    notes = [r[4] for r in csv.reader(io.StringIO(everything.get_data(as_text=True)))][1:]
    assert notes == ["'+1 -2 @x", "'=cmd|' /C calc'!A0"]


# --- command line ---------------------------------------------------------------------------


def test_cli_import_and_export(world, runner, tmp_path):
    first, second = solana_address(), solana_address()
    path = tmp_path / "w.csv"
    path.write_bytes(f"address,introduced\n{first},2024-01-01\n{second},2024-01-02\n".encode())
    result = runner.invoke(
        args=["wallets", "import", "acme wallet", str(path), "--chain", "solana"]
    )
    assert result.exit_code == 0, result.output
    assert "Acme Wallet: 2 wallet(s) added, 0 unchanged" in result.output
    exported = runner.invoke(args=["wallets", "export", "Acme Wallet"])
    assert exported.exit_code == 0
    assert {r[0] for r in csv.reader(io.StringIO(exported.output))} == {
        "wallet_address",
        first,
        second,
    }
    out = tmp_path / "out.csv"
    runner.invoke(args=["wallets", "export", "Acme Wallet", "-o", str(out)])
    assert out.read_bytes().startswith(
        b"wallet_address,chain_id,introduced_date,is_active,notes\r\n"
    )


def test_cli_import_prints_row_errors_and_stores_nothing(world, runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        wallet_csv(
            [(solana_address(), "solana", "2024-01-01", ""), ("x", "mars", "2024-01-01", "")]
        )
    )
    result = runner.invoke(args=["wallets", "import", "Acme Wallet", str(path)])
    assert result.exit_code != 0
    assert "line 3, column chain_id: unknown chain 'mars'" in result.stderr
    assert "1 row(s) refused; nothing was stored" in result.stderr
    assert stored_addresses() == set()


def test_cli_refuses_an_unknown_partner(world, runner, tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(wallet_csv([(solana_address(), "solana", "2024-01-01", "")]))
    result = runner.invoke(args=["wallets", "import", "Nobody", str(path)])
    assert result.exit_code != 0 and "no partner named 'Nobody'" in result.stderr


@pytest.mark.parametrize("sort", ["introduced", "address"])
def test_an_address_search_pages_through_its_matches_alone(many_wallets, sort):
    """A search for "a" (in any case) pages, forward and back, through exactly the wallets
    whose address holds it, in the list's order, with their count: worked out here from
    every wallet of the partner."""
    every = db.session.scalars(
        select(PartnerWallet).where(PartnerWallet.partner_id == many_wallets.acme.partner_id)
    ).all()
    # By hand: the matches, ordered as the list orders (newest first, or by address).
    found = [w for w in every if "a" in w.wallet_address.lower()]
    if sort == "address":
        found.sort(key=lambda w: (w.wallet_address.encode(), w.wallet_id))
    else:
        found.sort(key=lambda w: (w.introduced_date, w.wallet_id), reverse=True)
    assert 3 < len(found) < len(every)

    filters = WalletFilters(q="A", sort=sort)
    seen, cursor, pages = [], "", []
    while True:
        page = list_wallets(many_wallets.acme, filters, after=cursor, size=10)
        assert page.total == len(found)
        pages.append(page)
        seen += page.wallets
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert [w.wallet_id for w in seen] == [w.wallet_id for w in found]
    back = list_wallets(many_wallets.acme, filters, before=pages[1].prev_cursor, size=10)
    assert [w.wallet_id for w in back.wallets] == [w.wallet_id for w in pages[0].wallets]
