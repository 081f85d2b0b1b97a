"""The app under threads, as gunicorn's gthread workers serve it: concurrent requests of
different users each see their own user, and exact sums stay exact."""

import decimal
import http.client
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import urlencode

from werkzeug.serving import make_server

from tests.conftest import PASSWORD
from webapp.money import money_sum

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _sign_in(port, email) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/login")
    response = connection.getresponse()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = CSRF.search(response.read().decode()).group(1)
    connection.request(
        "POST",
        "/login",
        body=urlencode({"email": email, "password": PASSWORD, "csrf_token": token}),
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    response.read()
    assert response.status == 302
    return response.getheader("Set-Cookie").split(";", 1)[0]


def test_concurrent_requests_of_different_users_each_see_their_own(app, make_user):
    users = [make_user(role) for role in ("viewer", "manager", "admin", "viewer")]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        cookies = {user.email: _sign_in(port, user.email) for user in users}

        def page(email):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/partners/", headers={"Cookie": cookies[email]})
            response = connection.getresponse()
            body = response.read().decode()
            connection.close()
            return email, response.status, body

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(page, [user.email for user in users] * 6))
    finally:
        server.shutdown()
        thread.join(timeout=5)
    for email, status, body in results:
        assert status == 200
        assert email in body
        assert not any(other.email in body for other in users if other.email != email)


def test_exact_sums_in_many_threads_neither_round_nor_leak_a_context():
    amounts = [Decimal("0.000000000000000001"), Decimal("12345678901234567890.123456789")] * 500
    expected = Decimal("6172839450617283945061.728394500000000500")

    def total(_):
        # Python's default context (28 digits) in this thread must not matter.
        decimal.getcontext().prec = 5
        return money_sum(amounts)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(total, range(32)))
    assert set(results) == {expected}
    assert decimal.getcontext().prec == 28
