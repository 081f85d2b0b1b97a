"""Shared fixtures: an app on a fresh database per test, clients signed in per role.

SQLite by default (a new file per test). With TEST_DATABASE_URL set, PostgreSQL: each
pytest-xdist worker gets its own database, the schema is created once, and every table is
emptied after each test, so tests may commit across real connections.
"""

import os
import re
import time

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests import factories
from webapp import create_app, reward_partitions
from webapp.config import normalise_database_url
from webapp.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: meaningful on SQLite only")


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


@pytest.fixture
def database_url(tmp_path, postgres_url):
    """The URL of a fresh, empty database with the schema in place."""
    return postgres_url or f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def app(database_url, tmp_path):
    """The app on a fresh database, inside an app context."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        }
    )
    app.test_client_class = Client
    with app.app_context():
        if not is_postgres():
            db.create_all()
        yield app
        db.session.remove()
        if is_postgres():
            _empty_all_tables()
        db.engine.dispose()


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
