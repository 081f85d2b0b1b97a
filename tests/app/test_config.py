"""The factory and its configuration: defaults, environment, refusals."""

import pytest

from webapp import create_app
from webapp.config import ConfigError, normalise_database_url


def test_default_database_is_a_sqlite_file_in_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/commissions.sqlite3"


def test_database_url_from_the_environment_uses_psycopg3(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:secret@db.internal/commissions")
    app = create_app({"TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://app:secret@db.internal/commissions"
    )


@pytest.mark.parametrize(
    "url, message",
    [
        ("not a url", "is not a database URL"),
        ("mysql://root@localhost/x", "only postgresql (psycopg 3) and sqlite"),
    ],
)
def test_bad_database_url_fails_with_one_clear_line(url, message):
    with pytest.raises(ConfigError) as excinfo:
        normalise_database_url(url)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_bad_database_url_from_the_environment_stops_the_factory(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "oracle://scott@tiger/db")
    with pytest.raises(ConfigError, match="oracle"):
        create_app({"TESTING": True})


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    for name in ("SECRET_KEY", "FLASK_DEBUG", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_development_gets_a_default_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    assert create_app().config["SECRET_KEY"]


def test_secret_key_and_upload_limit_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("MAX_UPLOAD_MB", "3")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024


def test_wsgi_module_prints_one_line_for_a_bad_configuration(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": "nonsense", "INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: DATABASE_URL")


def test_a_served_worker_keeps_what_starting_made_out_of_full_collections(tmp_path):
    """gunicorn's workers import wsgi: the modules and the app it made are frozen, so a full
    collection walks only what requests made since."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x",
    }
    probe = "import gc, wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    frozen, walked = (int(n) for n in result.stdout.split())
    # The app's modules alone are tens of thousands of objects.
    assert frozen > 20_000
    assert walked < 1_000


def test_unreachable_database_stops_the_start_with_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot connect to the database")
    assert result.stderr.strip().count("\n") == 0
