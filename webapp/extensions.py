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
