"""Sign-in, sign-out and user administration."""

from flask import Blueprint

bp = Blueprint("auth", __name__, cli_group="users")

from webapp.auth import cli, routes  # noqa: E402,F401 - attach the pages and commands to bp
