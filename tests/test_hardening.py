"""Input that used to end in a server error now gets a clear answer and stores nothing:
NUL bytes, huge page numbers, dates at the ends of the calendar, non-ASCII digits, odd
download names, a database that drops mid-commit, someone else's staged import, and wallet
files with NUL bytes or too many rows."""

import csv
import io
import re
import uuid
from datetime import date
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tests.test_commissions import add_agreements, build_world
from tests.test_imports_web import REWARDS, TOKEN, rewards_count
from tests.test_imports_web import periods as periods  # noqa: F401 - fixture
from tests.test_imports_web import upload as upload_import
from tests.test_wallets import solana_address, wallet_csv
from webapp.agreements.service import parse_rate_bps
from webapp.commissions import committing, results
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import (
    Agreement,
    AuditLog,
    Chain,
    CommissionRun,
    Partner,
    PartnerCommissionLine,
    PartnerWallet,
)
from webapp.money import AmountError, exact_text, is_whole_number, parse_amount
from webapp.partners.service import create_partner
from webapp.web import download_headers

HX = {"HX-Request": "true"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    world = build_world()
    world.solana, world.ethereum = add_agreements(world.acme)
    return world


# ---- NUL bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, name",
    [
        ("/partners/", "q"),
        ("/partners/{partner}/wallets", "q"),
        ("/partners/{partner}/wallets", "chain"),
        ("/partners/{partner}/wallets", "after"),
        ("/partners/{partner}/wallets", "before"),
        ("/commissions/runs/{run}", "wallet"),
        ("/commissions/", "date_from"),
        ("/imports/totals", "chain"),
    ],
)
def test_a_nul_byte_in_a_query_parameter_is_refused(world, manager_client, path, name):
    run = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3)).outcomes[0].run
    url = path.format(partner=world.acme.partner_id, run=run.run_id)
    for headers in ({}, HX):
        response = manager_client.get(url, query_string={name: "a\x00b"}, headers=headers)
        assert response.status_code == 400, (url, name)
        assert "NUL byte" in response.get_data(as_text=True)


def test_a_nul_byte_in_a_form_field_is_refused_and_nothing_stored(world, manager_client):
    partners, audits = count(Partner), count(AuditLog)
    posts = [
        ("/partners/new", {"name": "Nul\x00Partner", "contact": ""}),
        (f"/partners/{world.acme.partner_id}/edit", {"name": "Acme", "contact": "x\x00"}),
        (
            f"/partners/{world.acme.partner_id}/wallets",
            {
                "wallet_address": solana_address(),
                "chain_id": "solana",
                "introduced_date": "2024-01-01",
                "notes": "a\x00b",
            },
        ),
        (
            "/agreements/new",
            {
                "partner_id": str(world.acme.partner_id),
                "chain_id": "sol\x00ana",
                "name": "N",
                "effective_from": "2026-01-01",
                "rate_mev": "10",
            },
        ),
        (
            f"/agreements/{world.solana.agreement_id}/rules",
            {"revenue_component": "MEV", "validator_key": "V\x00", "commission_rate_bps": "1"},
        ),
    ]
    for url, data in posts:
        response = manager_client.post(url, data=data)
        assert response.status_code == 400, url
        assert "NUL byte" in response.get_data(as_text=True)
    assert count(Partner) == partners and count(AuditLog) == audits
    assert db.session.scalar(select(Partner.contact).where(Partner.name == "Acme Wallet")) is None


def test_a_wallet_file_with_a_nul_byte_fails_at_its_preview(world, manager_client):
    wallets = count(PartnerWallet)
    data = wallet_csv([(solana_address(), "solana", "2024-01-01", "a\x00b")])
    response = manager_client.post(
        f"/partners/{world.acme.partner_id}/wallets/uploads",
        data={"file": (io.BytesIO(data), "w.csv"), "chain_id": ""},
        headers=HX,
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500
    assert "line 2: holds a NUL character" in body
    assert "/commit" not in body
    assert count(PartnerWallet) == wallets


def test_an_import_file_with_a_nul_byte_is_refused_with_its_line(manager_client, periods):  # noqa: F811
    text = REWARDS.replace("S2", "S\x002")
    response = upload_import(manager_client, text)
    assert response.status_code == 422
    assert "line 3: holds a NUL character" in response.get_data(as_text=True)
    assert rewards_count() == 0


# ---- Page numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["999999999999999999999999", "2147483648", "٣", "²"])
def test_a_page_number_beyond_a_database_integer_is_refused(world, manager_client, page):
    run = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3)).outcomes[0].run
    for url in ("/imports/", f"/commissions/runs/{run.run_id}", "/partners/"):
        response = manager_client.get(url, query_string={"page": page})
        assert response.status_code == 400, url
        assert "page number must be a whole number" in response.get_data(as_text=True)


def test_the_largest_page_number_is_an_empty_page(world, manager_client):
    response = manager_client.get("/imports/", query_string={"page": str(2**31 - 1)})
    assert response.status_code == 200


# ---- Dates at the ends of the calendar ----------------------------------------------------


def test_the_widest_date_range_previews_commits_and_exports_in_full(world, manager_client):
    widest = {
        "partner": str(world.acme.partner_id),
        "date_from": "0001-01-01",
        "date_to": "9999-12-31",
    }
    narrow = {**widest, "date_from": "2025-01-01", "date_to": "2025-01-03"}
    expected = results.preview(world.acme, date(2025, 1, 1), date(2025, 1, 3), lines=True)
    preview = manager_client.get("/commissions/", query_string=widest)
    assert preview.status_code == 200
    totals = re.search(
        r'id="grand-total-commission">(.*?)</ul>', preview.get_data(as_text=True), re.S
    ).group(1)
    for outcome in expected.outcomes:  # one total per token, as the narrow range has them
        symbol = outcome.agreement.chain.token_symbol
        exact = exact_text(outcome.result.total_commission_native)
        assert f'data-exact="{exact}" data-token="{symbol}"' in totals

    assert manager_client.post("/commissions/commit", data=widest).status_code == 302
    lines = sum(len(o.result.lines) for o in expected.outcomes)
    assert count(PartnerCommissionLine) == lines

    export = manager_client.get("/commissions/export.csv", query_string=widest)
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert len(rows) == 1 + lines
    same = manager_client.get("/commissions/export.csv", query_string=narrow)
    assert same.get_data(as_text=True) == export.get_data(as_text=True)


def test_an_export_that_fails_answers_an_error_page_not_a_cut_file(
    world, manager_client, monkeypatch
):
    def failing(partner, date_from, date_to):
        raise OperationalError("SELECT ...", {}, Exception("connection lost"))
        yield  # a generator, as the real one

    from webapp.commissions import routes

    monkeypatch.setattr(routes, "export_rows", failing)
    response = manager_client.get(
        "/commissions/export.csv",
        query_string={
            "partner": str(world.acme.partner_id),
            "date_from": "2025-01-01",
            "date_to": "2025-01-03",
        },
    )
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "could not complete this request" in body
    assert "connection lost" not in body and "SELECT" not in body


# ---- Digits --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["٣٤٥", "１２", "1٢", "０.5", "²"])
def test_non_ascii_digits_are_not_amounts_or_rates(text):
    with pytest.raises(AmountError):
        parse_amount(text)
    with pytest.raises(FieldError):
        parse_rate_bps(text)
    assert not is_whole_number(text)


def test_ascii_amounts_and_rates_still_parse():
    assert str(parse_amount("12.000000000000000001")) == "12.000000000000000001"
    assert parse_rate_bps(" 345 ") == 345 and is_whole_number("0")


def test_an_agreement_rate_in_arabic_digits_is_refused(world, manager_client):
    agreements = count(Agreement)
    response = manager_client.post(
        "/agreements/new",
        data={
            "partner_id": str(world.acme.partner_id),
            "chain_id": "solana",
            "name": "Arabic digits",
            "effective_from": "2027-01-01",
            "rate_mev": "٣٤٥",
        },
    )
    assert response.status_code == 400
    assert count(Agreement) == agreements


def test_display_decimals_in_full_width_digits_are_refused(admin_client, app):
    response = admin_client.post(
        "/chains/",
        data={
            "chain_id": "wide",
            "name": "Wide",
            "token_symbol": "W",
            "display_decimals": "１２",
            "address_format": "evm",
        },
    )
    assert response.status_code == 400
    assert "digits 0 to 9" in response.get_data(as_text=True)
    assert db.session.get(Chain, "wide") is None


# ---- Download names ------------------------------------------------------------------------


def test_download_headers_carry_any_name_safely():
    header = download_headers('Ünïcode "quoted" 名前.csv')["Content-Disposition"]
    fallback = re.search(r'filename="([^"]*)"', header).group(1)
    assert fallback == "Unicode_quoted_.csv"
    assert fallback.isascii()
    encoded = re.search(r"filename\*=UTF-8''(\S+)$", header).group(1)
    assert unquote(encoded) == 'Ünïcode "quoted" 名前.csv'
    header.encode("latin-1")  # a header value Werkzeug can send
    assert download_headers("plain-name.csv") == {
        "Content-Disposition": 'attachment; filename="plain-name.csv"'
    }
    assert 'filename="download"' in download_headers('"\r\n"')["Content-Disposition"]


def test_a_problem_file_of_an_upload_named_outside_latin1_downloads(world, manager_client):
    taken = solana_address()
    db.session.add(
        PartnerWallet(
            partner_id=create_partner("Other").partner_id,
            chain_id="solana",
            wallet_address=taken,
            introduced_date=date(2024, 1, 1),
        )
    )
    db.session.commit()
    data = wallet_csv([(taken, "solana", "2024-01-01", "")])
    preview = manager_client.post(
        f"/partners/{world.acme.partner_id}/wallets/uploads",
        data={"file": (io.BytesIO(data), "кошельки Q4.csv"), "chain_id": ""},
        headers=HX,
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    token = re.search(r"/wallets/uploads/([\w-]+)/", preview.get_data(as_text=True)).group(1)
    problems = manager_client.get(
        f"/partners/{world.acme.partner_id}/wallets/uploads/{token}/problems.csv"
    )
    assert problems.status_code == 200
    disposition = problems.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition
    assert unquote(disposition.split("''", 1)[1]) == "кошельки Q4-problems.csv"
    assert taken in problems.get_data(as_text=True)


# ---- Database errors ---------------------------------------------------------------------


def test_an_import_commit_after_the_connection_dropped_answers_a_readable_page(
    manager_client,
    periods,
    monkeypatch,  # noqa: F811
):
    from webapp.imports import importing

    token = TOKEN.search(upload_import(manager_client, REWARDS).get_data(as_text=True)).group(1)
    lost = OperationalError(
        "COPY staker_rewards", {}, Exception("server closed the connection unexpectedly")
    )

    def dropped(*args, **kwargs):
        raise lost

    real_rollback = db.session.rollback
    calls = []

    def dead_rollback():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("ROLLBACK", {}, Exception("no connection to the server"))
        real_rollback()

    monkeypatch.setattr(importing, "_run", dropped)
    monkeypatch.setattr(db.session, "rollback", dead_rollback)
    response = manager_client.post(f"/imports/commit/{token}", headers=HX)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "nothing was stored: import the file again" in body
    assert "server closed" not in body and "COPY" not in body and "ROLLBACK" not in body
    assert calls and rewards_count() == 0


# ---- Staged imports ----------------------------------------------------------------------


def test_discarding_another_users_staged_import_says_so_and_keeps_it(
    app,
    manager_client,
    periods,
    make_user,
    login,  # noqa: F811
):
    token = TOKEN.search(upload_import(manager_client, REWARDS).get_data(as_text=True)).group(1)
    other = login(app.test_client(), make_user("manager"))
    response = other.post(f"/imports/discard/{token}", headers=HX)
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "Nothing was discarded" in body and "another user" in body
    assert "discarded; nothing was stored" not in body
    done = manager_client.post(f"/imports/commit/{token}")
    assert done.status_code == 302
    assert rewards_count() == 3


# ---- Wallet files: row limit ------------------------------------------------------------


def test_a_wallet_file_over_the_row_limit_is_refused_while_it_is_read(world, app, manager_client):

    wallets = count(PartnerWallet)
    app.config["MAX_WALLET_ROWS"] = 3
    rows = [(solana_address(), "solana", "2024-01-01", "") for _ in range(5)]
    # A NUL byte on the last line: reading stops at the row over the limit and never sees it.
    data = wallet_csv(rows) + b"x,solana,2024-01-01,\x00\n"
    response = manager_client.post(
        f"/partners/{world.acme.partner_id}/wallets/uploads",
        data={"file": (io.BytesIO(data), "big.csv"), "chain_id": ""},
        headers=HX,
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500
    assert "more than 3 rows (line 5)" in body and "NUL" not in body
    assert count(PartnerWallet) == wallets

    exactly = manager_client.post(
        f"/partners/{world.acme.partner_id}/wallets/uploads",
        data={"file": (io.BytesIO(wallet_csv(rows[:3])), "ok.csv"), "chain_id": ""},
        headers=HX,
        content_type="multipart/form-data",
    )
    assert exactly.status_code == 200 and "3 new" in exactly.get_data(as_text=True)


def test_the_row_limit_defaults_to_250000_and_comes_from_the_environment(monkeypatch):
    from webapp import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["MAX_WALLET_ROWS"] == 250_000
    monkeypatch.setenv("MAX_WALLET_ROWS", "1000")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["MAX_WALLET_ROWS"] == 1000


def test_runs_stay_untouched_by_refused_requests(world, manager_client):
    before = count(CommissionRun)
    response = manager_client.post(
        "/commissions/commit",
        data={"partner": str(uuid.uuid4()), "date_from": "2025-01-01", "date_to": "2025-01-03"},
    )
    assert response.status_code == 400
    assert count(CommissionRun) == before


def test_a_dropped_database_connection_answers_503_without_driver_text(
    database_url, make_user, login
):
    from webapp import create_app

    app = create_app(
        {"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": database_url}
    )

    def dropped():
        raise OperationalError(
            "SELECT * FROM partner_wallets",
            {},
            Exception("server closed the connection unexpectedly"),
            connection_invalidated=True,
        )

    app.add_url_rule("/dropped", "dropped", dropped)
    with app.app_context():
        client = login(app.test_client(), make_user("viewer"))
        for headers in ({}, HX):
            response = client.get("/dropped", headers=headers)
            body = response.get_data(as_text=True)
            assert response.status_code == 503
            assert "The database could not be reached" in body
            assert "partner_wallets" not in body and "server closed" not in body
        db.session.remove()
        db.engine.dispose()


def test_a_nul_byte_anywhere_in_a_json_body_is_refused(world, manager_client):
    partners = count(Partner)
    for body in ({"name": "a\x00b"}, {"rules": [{"validator_key": ["x", "\x00"]}]}, {"k\x00": 1}):
        response = manager_client.post("/partners/new", json=body)
        assert response.status_code == 400
        assert "NUL byte" in response.get_data(as_text=True)
    assert count(Partner) == partners
