"""Configuration read from the environment, with safe defaults for development."""

import os
from datetime import timedelta

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_MAX_UPLOAD_MB = 64
#: Rows a wallet file may have; a longer one is refused while it is read (MAX_WALLET_ROWS).
DEFAULT_MAX_WALLET_ROWS = 250_000
#: Hours a sign-in lasts; its CSRF tokens expire with it (SESSION_HOURS).
DEFAULT_SESSION_HOURS = 12


class ConfigError(RuntimeError):
    """A setting the app cannot start with; its message is one line for the operator."""


def normalise_database_url(url: str) -> str:
    """Check a DATABASE_URL and point plain `postgresql://` URLs at psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL {url!r} is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigError(
            f"DATABASE_URL uses {backend!r}; only postgresql (psycopg 3) and sqlite are supported"
        )
    return parsed.render_as_string(hide_password=False)


def load_config(app, test_config: dict | None = None) -> None:
    """Defaults, then the environment, then the test override; refuse unsafe production."""
    env = os.environ
    session_hours = int(env.get("SESSION_HOURS", DEFAULT_SESSION_HOURS))
    proxies = int(env.get("PROXY_FIX", "0") or 0)
    # Behind a proxy that terminates HTTPS, cookies are Secure unless HTTPS=0 says otherwise.
    https = _flag(env.get("HTTPS"), default=proxies > 0)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=env.get("DATABASE_URL")
        or "sqlite:///" + os.path.join(app.instance_path, "commissions.sqlite3"),
        SECRET_KEY=env.get("SECRET_KEY"),
        MAX_CONTENT_LENGTH=int(env.get("MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 1024 * 1024,
        MAX_WALLET_ROWS=int(env.get("MAX_WALLET_ROWS", DEFAULT_MAX_WALLET_ROWS)),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
        # A CSRF token lives as long as the sign-in it belongs to, and no longer.
        WTF_CSRF_TIME_LIMIT=session_hours * 3600,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=https,
        PROXY_FIX=proxies,
        # Failed sign-ins before a lock-out, per account and per client address, and its length.
        LOGIN_MAX_FAILURES=int(env.get("LOGIN_MAX_FAILURES", 5)),
        LOGIN_MAX_FAILURES_PER_ADDRESS=int(env.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)),
        LOGIN_LOCKOUT_MINUTES=int(env.get("LOGIN_LOCKOUT_MINUTES", 15)),
        # Seconds after which an API Idempotency-Key left unanswered (its request was lost)
        # may be used again; above the longest request.
        IDEMPOTENCY_LEASE_SECONDS=int(env.get("IDEMPOTENCY_LEASE_SECONDS", 330)),
        # Work larger than this many rows (reward rows a commit reads, rows of an import) runs
        # as a background job with its progress shown; smaller work answers at once.
        BACKGROUND_AFTER_ROWS=int(env.get("BACKGROUND_AFTER_ROWS", 50_000)),
        # Seconds a worker holds a job without renewing its lease; a job whose worker died is
        # taken again after this long.
        JOB_LEASE_SECONDS=int(env.get("JOB_LEASE_SECONDS", 120)),
        # Least seconds between two writes of a job's progress.
        JOB_PROGRESS_SECONDS=float(env.get("JOB_PROGRESS_SECONDS", 0.5)),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        PAGE_SIZE=50,
    )
    if test_config:
        app.config.update(test_config)

    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if not app.config.get("SECRET_KEY"):
        if app.testing or _is_development(env) or _in_command_line():
            app.config["SECRET_KEY"] = "development-only-secret-key"
        else:
            raise ConfigError("SECRET_KEY is not set; production refuses to start without one")


def _flag(value: str | None, default: bool) -> bool:
    """An on/off environment setting: 1/true/yes/on or 0/false/no/off; unset gives `default`."""
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"HTTPS={value!r} is not 1 or 0")


def _is_development(env) -> bool:
    return env.get("FLASK_DEBUG") == "1" or env.get("APP_ENV", "").lower() in (
        "development",
        "dev",
    )


def _in_command_line() -> bool:
    """True under the `flask` command (its commands and its development server).

    A served app (gunicorn) has no click context, so it still refuses to start without a key.
    """
    import click

    return click.get_current_context(silent=True) is not None
