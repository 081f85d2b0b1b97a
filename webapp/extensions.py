"""Extension singletons, bound to the app in `create_app` with `init_app`."""

import contextlib
import logging

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so every constraint has a stable name."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()


def rollback_quietly() -> None:
    """Roll the session back; on a connection that is gone, drop the session instead of raising."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection died; nothing is left to roll back
        logging.getLogger(__name__).warning("rollback failed; discarding the session")
        with contextlib.suppress(Exception):
            db.session.close()


#: PostgreSQL error classes that mean "the server cannot serve now": connection exception,
#: insufficient resources, operator intervention (shutdown, restart).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
#: SQLite's equivalents: the file is busy, locked, cannot be opened or read.
_UNAVAILABLE_SQLITE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def database_unavailable(error: BaseException) -> bool:
    """True when a database error means the database could not be reached or went away
    (try again later), rather than a statement it refused."""
    from sqlalchemy.exc import DBAPIError, DisconnectionError

    if isinstance(error, DisconnectionError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or error.statement is None:
        return True  # a lost connection, or no connection made at all
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    return (getattr(orig, "sqlite_errorname", "") or "").startswith(_UNAVAILABLE_SQLITE)


def database_error_line(error: BaseException) -> str:
    """One line for an operator about a database error: the driver's first line, without the
    statement or its parameters."""
    orig = getattr(error, "orig", None)
    lines = str(orig).strip().splitlines() if orig is not None else []
    reason = f" ({lines[0].strip()})" if lines else ""
    if database_unavailable(error):
        return f"the database could not be reached or went away{reason}: try again"
    return f"the database refused the command{reason}"
