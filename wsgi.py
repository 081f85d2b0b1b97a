"""WSGI entry point for gunicorn and for `flask`'s own discovery."""

import gc
import sys

from webapp import ConfigError, check_database, create_app

try:
    app = create_app()
    check_database(app)
except ConfigError as exc:
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

# What starting made (modules, the app, its caches) lives as long as the worker: it is kept out
# of the collector's full passes, which would otherwise walk it every few requests (about 70 ms
# each, measured on a page answering in 30 ms).
gc.freeze()
