"""Shared fixtures: the app on a fresh database per test, clients signed in per role.

The app is built once per pytest-xdist worker and shared by its tests (building it, with the
API document, costs more than most tests); each test gets it back with the config it was
built with. TEST_FRESH_APP=1, or the `fresh_app` marker on a test, builds one per test.

SQLite by default: the schema is created once per worker in a file that is copied over the
worker's database before every test. With TEST_DATABASE_URL set, PostgreSQL: each worker gets
its own database, the schema is created once, and every table is emptied after each test, so
tests may commit across real connections.
"""

import copy
import os
import re
import shutil
import time

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests import factories, worlds
from tests.live_server import live_app, live_server  # noqa: F401 - fixtures
from webapp import create_app, reward_partitions
from webapp.config import normalise_database_url
from webapp.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: meaningful on SQLite only")
    config.addinivalue_line(
        "markers", "fresh_app: builds an app of its own instead of the worker's shared one"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgres_only" in item.keywords and not TEST_DATABASE_URL:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL)"))


def pytest_sessionfinish(session, exitstatus):
    """With REQUIRE_NO_SKIPS=1 a skipped test fails the run (CI's PostgreSQL pass)."""
    if os.environ.get("REQUIRE_NO_SKIPS") != "1" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"REQUIRE_NO_SKIPS: {skipped} test(s) were skipped", red=True)
        session.exitstatus = 1


def is_postgres() -> bool:
    """True when the suite runs on PostgreSQL."""
    return bool(TEST_DATABASE_URL)


class Client(FlaskClient):
    """A test client whose requests start with an empty `g`, as served requests do.

    The fixture keeps one app context open for the whole test, and that context's `g` would
    otherwise carry one client's signed-in user and CSRF token into another's request.
    """

    def open(self, *args, **kwargs):
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def postgres_url(worker_id):
    """A database of this worker's own on the PostgreSQL server, schema created once."""
    if not TEST_DATABASE_URL:
        return None
    base = make_url(normalise_database_url(TEST_DATABASE_URL))
    name = f"{base.database}_{worker_id}".replace("-", "_")
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def worker_id(request):
    """pytest-xdist's worker name, or 'main' without xdist."""
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


def _empty_all_tables():
    """Empty every table. A browser test's live server may still be finishing a request on
    its own connection (a download, a lazily loaded fragment); when the TRUNCATE and that
    request deadlock, PostgreSQL cancels the TRUNCATE, so it is tried again."""
    names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    for attempt in range(10):
        try:
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                # The periods are gone: so go their partitions of the reward rows.
                reward_partitions.drop_orphans(conn)
            return
        except OperationalError:
            if attempt == 9:
                raise
            time.sleep(0.5)


def _new_app(database_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        }
    )
    app.test_client_class = Client
    return app


@pytest.fixture(scope="session")
def sqlite_files(tmp_path_factory):
    """On SQLite: this worker's database file, and a file with the empty schema, made once."""
    if TEST_DATABASE_URL:
        return None
    folder = tmp_path_factory.mktemp("database")
    schema = folder / "schema.sqlite3"
    with _new_app(f"sqlite:///{schema}").app_context():
        db.create_all()
        db.engine.dispose()
    return {"schema": schema, "database": folder / "test.sqlite3", "kept": {}}


@pytest.fixture(scope="session")
def worker_database_url(postgres_url, sqlite_files):
    """The URL of this worker's database."""
    return postgres_url or f"sqlite:///{sqlite_files['database']}"


@pytest.fixture
def database_url(worker_database_url, sqlite_files):
    """The URL of a fresh, empty database with the schema in place."""
    if sqlite_files:
        database = sqlite_files["database"]
        for leftover in (database, database.with_name(database.name + "-journal")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(sqlite_files["schema"], database)
    return worker_database_url


@pytest.fixture(scope="session")
def shared_app(worker_database_url):
    """The app of this worker, shared by its tests (see the module's note)."""
    return _new_app(worker_database_url)


@pytest.fixture
def app(request, database_url):
    """The app on a fresh database, inside an app context."""
    if os.environ.get("TEST_FRESH_APP") == "1" or request.node.get_closest_marker("fresh_app"):
        app = _new_app(database_url)
    else:
        app = request.getfixturevalue("shared_app")
    config, instance_path = dict(app.config), app.instance_path
    with app.app_context():
        yield app
        db.session.remove()
        if is_postgres():
            _empty_all_tables()
        db.engine.dispose()
    app.config.clear()
    app.config.update(config)
    app.instance_path = instance_path


@pytest.fixture
def kept(app, sqlite_files):
    """`kept(build)`: the data `build()` makes, for tests that only read it. On SQLite it is
    built once per worker, its database file kept, and copied in for each later test that
    asks; `build` returns plain values (ids, not rows). On PostgreSQL, or when the test has
    already stored something, it is simply built."""

    def keep(build):
        if not sqlite_files or any(
            db.session.execute(select(1).select_from(table).limit(1)).first()
            for table in db.metadata.sorted_tables
        ):
            return build()
        database, saved = sqlite_files["database"], sqlite_files["kept"]
        key = f"{build.__module__}.{build.__qualname__}"
        if key not in saved:
            made = build()
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
            copied = database.with_name(f"kept-{len(saved)}.sqlite3")
            shutil.copyfile(database, copied)
            saved[key] = (copied, made)
        else:
            db.session.remove()
            db.engine.dispose()
            shutil.copyfile(saved[key][0], database)
        return copy.deepcopy(saved[key][1])

    return keep


@pytest.fixture
def client(app):
    """A test client with no session and no CSRF token."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A runner for the `flask` command line of this app."""
    return app.test_cli_runner()


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@pytest.fixture
def make_user(app):
    """Create a user of a role; returns the User."""

    def make(role="manager", email=None):
        return factories.user(role, email)

    return make


@pytest.fixture
def login(app):
    """Sign a client in as a user and make it send the CSRF token on every request."""

    def do_login(client, user):
        page = client.get("/login")
        token = csrf_token_from(page.get_data(as_text=True))
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        client.environ_base["HTTP_X_CSRFTOKEN"] = token
        return client

    return do_login


@pytest.fixture
def manager_client(app, make_user, login):
    """A client signed in as a manager, sending the CSRF token."""
    return login(app.test_client(), make_user("manager"))


@pytest.fixture
def viewer_client(app, make_user, login):
    """A client signed in as a viewer, sending the CSRF token."""
    return login(app.test_client(), make_user("viewer"))


@pytest.fixture
def admin_client(app, make_user, login):
    """A client signed in as an admin, sending the CSRF token."""
    return login(app.test_client(), make_user("admin"))


@pytest.fixture
def world(app):
    """Acme Wallet with its Solana and Ethereum agreements (`worlds.world_with_agreements`);
    a test file with a world of its own defines its own `world` fixture."""
    return worlds.world_with_agreements()


@pytest.fixture
def uploads_in_tmp(app, tmp_path):
    """Keep uploaded files of a test in its own folder, not in the repository's instance/."""
    app.instance_path = str(tmp_path / "instance")


@pytest.fixture
def heard_progress(monkeypatch):
    """Every progress report a job's work makes, as (done, total, message), in order; each
    is still written as it would be."""
    from webapp.jobs import queue

    heard = []
    report = queue.Progress.__call__

    def record(self, done, total, message):
        heard.append((done, total, message))
        report(self, done, total, message)

    monkeypatch.setattr(queue.Progress, "__call__", record)
    return heard
