"""The test app served over HTTP on 127.0.0.1, for the browser tests and the README's session
run with curl: one server for both (conftest.py makes these fixtures known to every test)."""

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture
def live_app(app):
    """The test app (fresh database) that the live server serves."""
    return app


@pytest.fixture
def live_server(live_app):
    """Base URL of the app served on 127.0.0.1 in a background thread."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
