"""Commissions in a real browser: pick a partner and a range, preview, commit, and find the
run in the history."""

import re

import pytest
from playwright.sync_api import expect

from tests.test_commissions import add_agreements, build_world

pytestmark = pytest.mark.browser


def test_preview_commit_and_find_the_run(manager_page, live_server, live_app):
    with live_app.app_context():
        world = build_world()
        add_agreements(world.acme)
        partner_id = world.acme.partner_id
    page = manager_page
    page.goto(f"{live_server}/commissions/")
    expect(page.get_by_text("No commission runs yet")).to_be_visible()

    page.get_by_label("Partner").select_option(label="Acme Wallet")
    page.get_by_label("From").fill("2025-01-01")
    page.get_by_label(re.compile(r"^To\b")).fill("2025-01-03")
    page.get_by_role("button", name="Preview").click()

    # 7 Solana lines of 0.65 and the Ethereum MEV line, swapped in by htmx: one total per token.
    totals = page.locator("#grand-total-commission")
    expect(totals.locator("li[data-token=SOL] strong")).to_contain_text("4.550000000 SOL")
    expect(totals.locator("li[data-token=ETH] strong .amount")).to_have_attribute(
        "data-exact", "2499999999999999999.987500000000000000"
    )
    # The headline is a tab stop: focused, its exact value shows in full.
    headline = totals.locator("li[data-token=SOL] strong .amount")
    headline.focus()
    expect(headline.locator(".amount-exact")).to_be_visible()
    expect(headline.locator(".amount-exact")).to_contain_text("4.550000000000000000 SOL")
    expect(page).to_have_url(
        f"{live_server}/commissions/?partner={partner_id}&date_from=2025-01-01&date_to=2025-01-03"
    )
    expect(page.get_by_role("heading", name="Acme SOL")).to_be_visible()
    expect(page.get_by_text("No commission runs yet")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Commit", exact=True).click()
    expect(page.get_by_text("Committed 2 run(s) for Acme Wallet")).to_be_visible()
    history = page.locator("#commission-history")
    expect(history.get_by_role("row")).to_have_count(3)
    expect(history.get_by_role("row", name="Acme SOL")).to_contain_text("committed")
    expect(history.get_by_role("row", name="Acme SOL")).to_contain_text("4.550000000 SOL")

    history.get_by_role("row", name="Acme SOL").get_by_role("link").first.click()
    total = page.locator("#run-total-commission .amount")
    expect(total).to_contain_text("4.550000000 SOL")
    # An amount of a table is no tab stop: its exact value is its title (hover) and its copy.
    expect(total).not_to_have_attribute("tabindex", "0")
    expect(total).to_have_attribute("title", "4.550000000000000000 SOL")
    expect(page.locator(".exclusion-reasons")).to_contain_text("wallet inactive")
    wallets = page.locator("#run-wallets")
    expect(wallets.get_by_role("row")).to_have_count(5)
    page.get_by_label("Wallet contains").fill("Off")
    expect(wallets.get_by_role("row")).to_have_count(2)
    expect(wallets.get_by_role("row").nth(1)).to_contain_text("wallet inactive")
