"""The OpenAPI document: valid, complete, served with an offline reference page; and the API
keeps to it under generated requests (schemathesis, bounded and deterministic)."""

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api_helpers import bearer, make_world
from tests.worlds import evm_address
from webapp import create_app
from webapp.wallets.service import add_wallet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


def test_the_document_validates_and_covers_every_api_route(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    validate(document)
    documented = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api_docs."):
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


def test_the_reference_page_uses_only_vendored_files_and_no_inline_code(client, app):
    response = client.get("/api/v1/docs")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    sources = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert len(sources) == 4  # Swagger UI's script and style, its configuration, our style
    for source in sources:
        assert os.path.isfile(os.path.join(ROOT, source.lstrip("/"))), source
        assert client.get(source).status_code == 200
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "style=" not in html and "<style" not in html
    assert "http://" not in html and "https://" not in html


@pytest.fixture
def api_schema(app, make_user):
    """The document as served, with a partner and wallets to find."""
    world = make_world()
    add_wallet(world.acme, "ethereum", evm_address(), "2026-01-02")
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def api_headers(make_user):
    return bearer(make_user("manager"), "write")


def _operations():
    """(path, method) of every API operation, read from the document at collection time."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    return sorted(
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    )


OPERATIONS = _operations()


@pytest.mark.parametrize(
    "path, method", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS]
)
def test_the_api_keeps_to_its_document(api_schema, api_headers, path, method):
    """No 5xx for any generated request, and every answer as documented."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=12,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def keeps_to_the_document(case):
        # A schema-valid request may still break a rule the schema cannot hold (an unknown
        # chain, a foreign cursor, a CSV body with bad rows): those are 4xx by design.
        case.call_and_validate(headers=api_headers, excluded_checks=[positive_data_acceptance])

    keeps_to_the_document()
