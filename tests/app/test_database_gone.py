"""The database going away: the API answers 503 problem details, the command line one line
and a non-zero exit -- never the SQL, its parameters or a traceback."""

import logging

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests import factories
from tests.api_helpers import bearer, make_world
from tests.conftest import is_postgres
from tests.worlds import evm_address
from webapp import create_app
from webapp.extensions import db
from webapp.imports import importing
from webapp.models import ApiIdempotencyKey, PartnerWallet
from webapp.wallets import service as wallet_service

PROBLEM = "application/problem+json"
SQL = "INSERT INTO canonical_periods (label, start_time) VALUES (%(label)s, %(start_time)s)"
SECRET_PARAMETER = "row-value-7f3a"
PERIODS = (
    "chain_id,label,start_time,end_time\nsolana,800,2025-10-01T00:00:00Z,2025-10-03T00:00:00Z\n"
)


def gone(statement=SQL, **kwargs) -> OperationalError:
    """What the driver raises when the server goes away during `statement`."""
    return OperationalError(
        statement,
        {"label": SECRET_PARAMETER},
        Exception("server closed the connection unexpectedly\n\tThis probably means ..."),
        **kwargs,
    )


def assert_one_clean_line(result):
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "database" in lines[0] and "server closed the connection" in lines[0]
    for leaked in ("INSERT", "canonical_periods", SECRET_PARAMETER, "Traceback"):
        assert leaked not in result.output


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "periods.csv"
    path.write_text(PERIODS)
    return str(path)


def test_a_command_whose_database_goes_away_prints_one_line(app, runner, csv_file, monkeypatch):
    factories.chains("solana")

    def lost(*args, **kwargs):
        raise gone(connection_invalidated=True)

    monkeypatch.setattr(importing, "earlier_payload", lost)
    result = runner.invoke(args=["import", "periods", csv_file, "--provider", "jito"])
    assert_one_clean_line(result)
    assert "could not be reached or went away" in result.output


def test_an_import_whose_rows_cannot_be_written_logs_no_sql(
    app, runner, csv_file, monkeypatch, caplog
):
    factories.chains("solana")

    def lost(*args, **kwargs):
        raise gone(connection_invalidated=True)

    monkeypatch.setattr(importing, "_run", lost)
    with caplog.at_level(logging.INFO):
        result = runner.invoke(args=["import", "periods", csv_file, "--provider", "jito"])
    assert result.exit_code == 1
    assert "nothing was stored" in result.output
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "server closed the connection" in logged
    for leaked in ("INSERT", SECRET_PARAMETER):
        assert leaked not in logged and leaked not in result.output


def _unreachable_url(tmp_path) -> str:
    if is_postgres():
        return "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'x.sqlite3'}"


def test_a_command_without_its_database_prints_one_line(tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": _unreachable_url(tmp_path)})
    result = app.test_cli_runner().invoke(args=["partners", "create", "Acme"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "could not be reached" in lines[0], result.output
    assert "INSERT" not in result.output and "SELECT" not in result.output


def test_the_api_without_its_database_answers_503(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": _unreachable_url(tmp_path),
        }
    )
    response = app.test_client().get(
        "/api/v1/partners", headers={"Authorization": "Bearer pct_" + "x" * 43}
    )
    assert response.status_code == 503 and response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == 503 and "could not be reached" in body["detail"]
    assert "SELECT" not in response.get_data(as_text=True)


def test_a_database_going_away_mid_request_is_503_on_the_api(client, app, make_user, monkeypatch):
    world = make_world()
    writer = bearer(make_user("manager"))

    def lost(*args, **kwargs):
        raise gone(connection_invalidated=True)

    monkeypatch.setattr(wallet_service, "add_wallet", lost)
    monkeypatch.setattr("webapp.api.wallets.add_wallet", lost)
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    response = client.post(
        f"/api/v1/partners/{world.acme.partner_id}/wallets",
        json=payload,
        headers=writer | {"Idempotency-Key": "k1"},
    )
    assert response.status_code == 503 and response.mimetype == PROBLEM
    text_ = response.get_data(as_text=True)
    assert "INSERT" not in text_ and SECRET_PARAMETER not in text_
    # A server error frees its key: the retry does the work.
    assert db.session.scalar(select(func.count()).select_from(ApiIdempotencyKey)) == 0


@pytest.mark.postgres_only
def test_a_postgresql_that_stops_accepting_connections_mid_request(
    client, app, make_user, monkeypatch
):
    """The server ends every session of the database and takes no new one while a POST with
    an Idempotency-Key runs: 503 problem details, and the key is free again after its lease."""
    world = make_world()
    writer = bearer(make_user("manager"))
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    name = url.database
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    real_add = wallet_service.add_wallet

    def cut_off(*args, **kwargs):
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        return real_add(*args, **kwargs)

    monkeypatch.setattr("webapp.api.wallets.add_wallet", cut_off)
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    try:
        response = client.post(
            f"/api/v1/partners/{world.acme.partner_id}/wallets",
            json=payload,
            headers=writer | {"Idempotency-Key": "cut"},
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert "INSERT" not in response.get_data(as_text=True)
    db.session.remove()
    db.engine.dispose()
    assert db.session.scalar(select(func.count()).select_from(PartnerWallet)) == 0
    # The key could not be freed while the database was away: it waits out its lease.
    key = db.session.scalar(select(ApiIdempotencyKey))
    assert key is not None and key.status_code is None
