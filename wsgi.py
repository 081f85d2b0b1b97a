"""WSGI entry point for gunicorn and for `flask`'s own discovery."""

import sys

from webapp import ConfigError, check_database, create_app

try:
    app = create_app()
    check_database(app)
except ConfigError as exc:
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
