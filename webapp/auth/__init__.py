"""Sign-in, sign-out and user administration."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webapp.auth import routes  # noqa: E402,F401
from webapp.auth.cli import register_cli  # noqa: E402,F401
