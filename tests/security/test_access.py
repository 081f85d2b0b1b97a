"""Every URL rule of the app needs a signed-in user; every mutating one needs a manager."""

import uuid

import pytest

from webapp import create_app

#: The API's document and reference page describe it and hold no data.
PUBLIC = {"auth.login", "static", "api_docs.openapi_json", "api_docs.docs"}
#: The JSON API answers a request without a token itself (tests/api/test_api_access.py).
API_PREFIX = "/api/"


def _rules():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint not in PUBLIC and not rule.rule.startswith(API_PREFIX)
        ),
        key=lambda rule: (rule.rule, rule.endpoint),
    )


def _url(rule) -> str:
    values = {arg: str(uuid.uuid4()) for arg in rule.arguments}
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", value)
        for converter in ("int", "string", "uuid", "path"):
            path = path.replace(f"<{converter}:{name}>", value)
    return path


RULES = _rules()


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.endpoint}:{r.rule}" for r in RULES])
def test_every_rule_needs_a_login(client, rule):
    method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
    response = client.open(_url(rule), method=method)
    assert response.status_code in (302, 401), (rule.rule, response.status_code)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.endpoint}:{r.rule}" for r in RULES])
def test_every_rule_refuses_htmx_without_login_with_a_redirect_header(client, rule):
    method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
    response = client.open(_url(rule), method=method, headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


#: Signing out, and one's own API tokens (their scope never exceeds the role), are open to
#: every role.
ANY_ROLE = {"auth.logout", "tokens.create", "tokens.revoke"}
MUTATING = [
    r
    for r in RULES
    if r.methods & {"POST", "PUT", "PATCH", "DELETE"} and r.endpoint not in ANY_ROLE
]


@pytest.mark.parametrize("rule", MUTATING, ids=[f"{r.endpoint}:{r.rule}" for r in MUTATING])
def test_every_mutating_rule_is_refused_to_a_viewer(viewer_client, rule):
    method = sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"})[0]
    response = viewer_client.open(_url(rule), method=method, data={})
    assert response.status_code == 403, (rule.rule, response.status_code)
