"""The API reference page renders the document offline under the strict CSP, and a token made
on the API tokens page works against the API."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_csp_browser import WATCH

pytestmark = pytest.mark.browser


def test_the_reference_page_renders_offline_without_a_csp_violation(page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.add_init_script(WATCH)
    page.goto(live_server + "/api/v1/docs")
    expect(page.get_by_text("Partner commissions API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/partners/{partner_id}/wallets/bulk").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__violations") == []
    assert all(url.startswith(live_server) or url.startswith("data:") for url in requested), [
        url for url in requested if not url.startswith(live_server)
    ]


def test_a_token_made_on_the_page_reads_the_api(manager_page, live_server):
    page = manager_page
    page.add_init_script(WATCH)
    page.goto(live_server + "/")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("spreadsheet")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()
    assert re.fullmatch(r"pct_[A-Za-z0-9_-]+", secret)
    expect(page.get_by_role("cell", name="spreadsheet")).to_be_visible()
    assert page.evaluate("window.__violations") == []
    response = page.request.get(
        live_server + "/api/v1/partners", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status == 200 and response.json()["items"] == []
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token 'spreadsheet' revoked.")).to_be_visible()
    again = page.request.get(
        live_server + "/api/v1/partners", headers={"Authorization": f"Bearer {secret}"}
    )
    assert again.status == 401
