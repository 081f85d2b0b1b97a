"""The layout in a real browser: sign in, navigate by keyboard, search partners, sign out."""

import pytest
from playwright.sync_api import expect

from webapp.partners.service import create_partner

pytestmark = pytest.mark.browser


def test_sign_in_search_partners_and_sign_out(manager_page, live_server, live_app):
    with live_app.app_context():
        create_partner("Aurora Wallet", "ops@aurora.example")
        create_partner("Borealis Exchange")
    page = manager_page
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Partners", exact=True
    ).click()
    expect(page.get_by_role("heading", name="Partners")).to_be_visible()
    expect(page.get_by_role("link", name="Aurora Wallet")).to_be_visible()
    # The page's scripts have run (htmx listens to the search box) before anything is typed.
    page.wait_for_load_state("load")

    page.get_by_label("Search partners").fill("borea")
    expect(page.get_by_role("link", name="Aurora Wallet")).to_have_count(0)
    expect(page.get_by_role("link", name="Borealis Exchange")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_skip_link_moves_focus_to_content(manager_page):
    page = manager_page
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
