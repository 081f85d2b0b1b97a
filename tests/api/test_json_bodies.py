"""Hostile JSON bodies: a request is authenticated before its body is read, the body is bounded,
and deep nesting or a huge number is a 4xx answer -- never a server error."""

import io

import pytest
from sqlalchemy import func, select

from tests.api.test_api_access import MUTATING, _url
from tests.api_helpers import bearer, make_world
from webapp.extensions import db
from webapp.models import PartnerWallet

API = "/api/v1"
PROBLEM = "application/problem+json"
NESTED = b"[" * 100_000


pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


@pytest.fixture
def world(app):
    return make_world()


@pytest.fixture
def writer(make_user):
    return bearer(make_user("admin"), "write")


def wallets() -> int:
    return db.session.scalar(select(func.count()).select_from(PartnerWallet))


class CountingStream(io.RawIOBase):
    """A request body of `size` bytes that counts how many of them were read."""

    def __init__(self, size: int):
        self.size, self.position, self.read_bytes = size, 0, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=0):
        self.position = self.size + offset if whence == 2 else offset
        return self.position

    def readinto(self, buffer):
        count = max(0, min(len(buffer), self.size - self.position))
        buffer[:count] = b"[" * count
        self.position += count
        self.read_bytes += count
        return count


@pytest.mark.parametrize("rule", MUTATING, ids=[f"{r.endpoint}:{r.rule}" for r in MUTATING])
def test_deeply_nested_json_is_a_400_problem_on_every_api_write(client, world, writer, rule):
    method = sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"})[0]
    response = client.open(
        _url(rule), method=method, data=NESTED, content_type="application/json", headers=writer
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM
    assert "nested too deeply" in response.get_json(force=True)["detail"]
    # Without a token: 401, whatever the body.
    anonymous = client.open(_url(rule), method=method, data=NESTED, content_type="application/json")
    assert anonymous.status_code == 401 and anonymous.mimetype == PROBLEM


def test_deeply_nested_json_never_breaks_a_page_the_sign_in_or_an_unknown_path(
    client, manager_client
):
    for path in ("/login", "/no-such-page", f"{API}/no-such-thing"):
        response = client.post(path, data=NESTED, content_type="application/json")
        assert 400 <= response.status_code < 500, (path, response.status_code)
    response = manager_client.post("/partners/new", data=NESTED, content_type="application/json")
    assert 400 <= response.status_code < 500


def test_a_large_body_without_a_token_is_refused_before_it_is_read(client, world, app):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    body = CountingStream(52 * 1024 * 1024)
    response = client.post(
        f"{API}/partners/{world.acme.partner_id}/wallets",
        input_stream=body,
        content_type="application/json",
    )
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert body.read_bytes == 0


def test_a_body_over_the_limit_is_413_before_it_is_read(client, world, writer, app):
    body = CountingStream(app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(
        f"{API}/partners/{world.acme.partner_id}/wallets",
        input_stream=body,
        content_type="application/json",
        headers=writer,
    )
    assert response.status_code == 413 and response.mimetype == PROBLEM
    assert body.read_bytes == 0
    assert wallets() == 0


@pytest.mark.parametrize("field", ["wallet_address", "chain_id", "introduced_date", "notes"])
def test_a_5000_digit_integer_is_422_naming_its_field(client, world, writer, field):
    values = {
        "chain_id": '"ethereum"',
        "wallet_address": '"0x52908400098527886E0F7030069857D2E4169EE7"',
        "introduced_date": '"2026-01-01"',
        "notes": '""',
    }
    values[field] = "9" * 5000
    body = "{" + ", ".join(f'"{name}": {value}' for name, value in values.items()) + "}"
    response = client.post(
        f"{API}/partners/{world.acme.partner_id}/wallets",
        data=body,
        content_type="application/json",
        headers=writer,
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM
    assert [e["field"] for e in response.get_json(force=True)["errors"]] == [field]
    assert wallets() == 0


def test_a_5000_digit_integer_in_a_bulk_list_is_422(client, world, writer):
    body = '{"wallets": [{"wallet_address": ' + "1" * 5000 + ', "chain_id": "ethereum"}]}'
    response = client.post(
        f"{API}/partners/{world.acme.partner_id}/wallets/bulk",
        data=body,
        content_type="application/json",
        headers=writer,
    )
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert wallets() == 0
