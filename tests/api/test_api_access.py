"""Who may call the JSON API: every route needs a live token; scope and role limit writes;
the session cookie is never enough."""

import re
import uuid

import pytest
from sqlalchemy import func, select

from tests.api_helpers import bearer, make_world
from tests.worlds import evm_address
from webapp import create_app
from webapp.api.tokens import create_token, revoke_token
from webapp.extensions import db
from webapp.models import PartnerWallet

PUBLIC = {"api_docs.openapi_json", "api_docs.docs"}
PROBLEM = "application/problem+json"


def _api_rules():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/") and rule.endpoint not in PUBLIC
        ),
        key=lambda rule: (rule.rule, rule.endpoint),
    )


RULES = _api_rules()
MUTATING = [r for r in RULES if r.methods & {"POST", "PUT", "PATCH", "DELETE"}]


def _url(rule) -> str:
    def value(match):
        return "periods" if match.group(1) == "kind" else str(uuid.uuid4())

    return re.sub(r"<(?:[^:>]+:)?(\w+)>", value, rule.rule)


def _method(rule, mutating=False) -> str:
    methods = rule.methods - {"HEAD", "OPTIONS"}
    if mutating:
        methods &= {"POST", "PUT", "PATCH", "DELETE"}
    return "GET" if "GET" in methods else sorted(methods)[0]


def test_the_api_has_the_routes_of_the_contract():
    paths = {(r.rule, _method(r)) for r in RULES}
    assert {
        ("/api/v1/partners", "GET"),
        ("/api/v1/partners/<uuid:partner_id>", "GET"),
        ("/api/v1/partners/<uuid:partner_id>/wallets", "GET"),
        ("/api/v1/partners/<uuid:partner_id>/wallets/bulk", "POST"),
        ("/api/v1/partners/<uuid:partner_id>/wallets/<uuid:wallet_id>", "DELETE"),
        ("/api/v1/partners/<uuid:partner_id>/wallets/export", "GET"),
        ("/api/v1/periods/by-date-range", "GET"),
    } <= paths
    assert ("/api/v1/imports/periods", "POST") in {(_url(r), _method(r)) for r in RULES}


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.endpoint}:{r.rule}" for r in RULES])
def test_every_api_route_needs_a_token(client, rule):
    response = client.open(_url(rule), method=_method(rule))
    assert response.status_code == 401, (rule.rule, response.status_code)
    assert response.mimetype == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.endpoint}:{r.rule}" for r in RULES])
def test_a_signed_in_session_is_not_enough(manager_client, rule):
    response = manager_client.open(_url(rule), method=_method(rule))
    assert response.status_code == 401, (rule.rule, response.status_code)


@pytest.mark.parametrize("rule", MUTATING, ids=[f"{r.endpoint}:{r.rule}" for r in MUTATING])
def test_a_read_token_cannot_write(client, make_user, rule):
    headers = bearer(make_user("admin"), "read")
    response = client.open(_url(rule), method=_method(rule, True), headers=headers, json={})
    assert response.status_code == 403, (rule.rule, response.status_code)
    assert "read scope" in response.get_json(force=True)["detail"]


@pytest.mark.parametrize("rule", MUTATING, ids=[f"{r.endpoint}:{r.rule}" for r in MUTATING])
def test_a_viewer_cannot_write_even_with_a_write_token(client, make_user, rule):
    headers = bearer(make_user("viewer"), "write")
    response = client.open(_url(rule), method=_method(rule, True), headers=headers, json={})
    assert response.status_code == 403, (rule.rule, response.status_code)


def test_refused_writes_store_nothing(client, app, make_user):
    world = make_world()
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    url = f"/api/v1/partners/{world.acme.partner_id}/wallets"
    for headers in (bearer(make_user("manager"), "read"), bearer(make_user("viewer"), "write")):
        assert client.post(url, json=payload, headers=headers).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(PartnerWallet)) == 0
    viewer = bearer(make_user("viewer"), "read", name="viewer-read")
    assert client.get(url, headers=viewer).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer pct_not-a-real-token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "pct_abc",
        "Bearer " + "x" * 300,
    ],
)
def test_bad_tokens_are_401(client, app, header):
    response = client.get("/api/v1/partners", headers={"Authorization": header})
    assert response.status_code == 401 and response.mimetype == PROBLEM


def test_revoked_tokens_and_inactive_users_are_401(client, make_user):
    user = make_user("manager")
    created = create_token(user, "soon revoked", "write")
    headers = {"Authorization": f"Bearer {created.secret}"}
    assert client.get("/api/v1/partners", headers=headers).status_code == 200
    revoke_token(created.token)
    assert client.get("/api/v1/partners", headers=headers).status_code == 401
    other = bearer(user, "read", name="other")
    user.is_active_user = False
    db.session.commit()
    assert client.get("/api/v1/partners", headers=other).status_code == 401


def test_a_token_request_ignores_the_session_and_its_csrf(manager_client, make_user):
    """A browser signed in as a viewer calls with a manager's token: the token decides."""
    world = make_world()
    headers = bearer(make_user("manager"), "write")
    manager_client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    payload = {
        "chain_id": "ethereum",
        "wallet_address": evm_address(),
        "introduced_date": "2026-01-01",
    }
    response = manager_client.post(
        f"/api/v1/partners/{world.acme.partner_id}/wallets", json=payload, headers=headers
    )
    assert response.status_code == 201


def test_csrf_still_guards_the_pages(app, make_user, login):
    client = login(app.test_client(), make_user("manager"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    response = client.post("/partners/new", data={"name": "No token"})
    assert response.status_code == 400


def test_api_answers_set_no_cookie_and_are_not_cached(client, make_user):
    response = client.get("/api/v1/partners", headers=bearer(make_user("manager"), "read"))
    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie") == []
    assert response.headers["Cache-Control"] == "no-store"
