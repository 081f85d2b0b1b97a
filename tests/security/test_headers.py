"""Security headers on every response: a Content-Security-Policy without inline code,
Referrer-Policy, nosniff, and no caching of anything that shows amounts."""

import re
from pathlib import Path

import pytest

from tests.security.test_fuzz import RULES, _url
from tests.security.test_fuzz import world as world  # noqa: F401 - fixture

GET_RULES = [rule for rule in RULES if "GET" in rule.methods]
ROOT = Path(__file__).resolve().parents[2]


def _assert_security_headers(response, cacheable=False):
    policy = response.headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if not cacheable:
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("rule", GET_RULES, ids=[f"{r.endpoint}:{r.rule}" for r in GET_RULES])
def test_every_page_carries_the_security_headers(world, manager_client, rule):  # noqa: F811
    for headers in ({}, {"HX-Request": "true"}):
        response = manager_client.get(_url(rule, world), headers=headers)
        assert response.status_code < 500
        _assert_security_headers(response)
        # A download streams: read to its end, so it closes inside its own request.
        response.get_data()
        response.close()


def test_error_pages_redirects_and_the_sign_in_page_carry_them_too(client):
    for url in ("/login", "/partners/", "/no-such-page", "/partners/?q=%00"):
        _assert_security_headers(client.get(url))


def test_static_files_carry_the_policy_and_may_be_cached(client):
    response = client.get("/static/js/app.js")
    assert response.status_code == 200
    _assert_security_headers(response, cacheable=True)
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_csv_downloads_are_not_stored_by_caches(world, manager_client):  # noqa: F811
    response = manager_client.get(f"/partners/{world['partner_id']}/wallets/export.csv")
    assert response.status_code == 200
    _assert_security_headers(response)
    response.get_data()
    response.close()


def test_no_template_holds_inline_script_style_or_handler():
    offenders = []
    pattern = re.compile(
        r"<script(?![^>]*\bsrc=)|<style\b|\sstyle=|\son[a-z]+=|hx-on|javascript:", re.I
    )
    for path in (ROOT / "templates").rglob("*.html"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
