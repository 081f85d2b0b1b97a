"""A manager's month-end questions in a real browser: what would switching the method cost,
why did a period come out as it did, why did a wallet earn nothing, who switched the method;
and every main page fits a 390 px wide phone without scrolling sideways."""

import re
import struct
from datetime import date

import pytest
from playwright.sync_api import expect

from tests.test_commissions import W_PAID, add_agreements, build_world
from tests.test_insight_compare import preview_under
from tests.test_insight_compare import world as compare_world  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.models import PartnerWallet
from webapp.money import exact_text

pytestmark = pytest.mark.browser
W_QUIET = "WalletQuiet"
FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


@pytest.fixture
def world(compare_world, live_app):  # noqa: F811
    """The comparison's world, the Solana agreement on total revenue, one wallet with no
    reward at all."""
    # The test's own app context (and session) is the one the data was made in.
    compare_world.solana.wallet_attribution_enabled = False
    db.session.add(
        PartnerWallet(
            partner_id=compare_world.acme.partner_id,
            chain_id="solana",
            wallet_address=W_QUIET,
            introduced_date=date(2024, 12, 1),
            is_active=True,
        )
    )
    db.session.commit()
    by_total = preview_under(compare_world, False)
    by_wallet = preview_under(compare_world, True)
    compare_world.expected = (by_total, by_wallet)
    db.session.commit()
    return compare_world


def test_compare_switch_drill_explain_and_find_the_switch(manager_page, live_server, world):
    page = manager_page
    by_total, by_wallet = world.expected
    agreement_id = world.solana.agreement_id

    # The agreement, then its comparison over the range.
    page.goto(f"{live_server}/agreements/{agreement_id}")
    page.get_by_role("button", name="Switch to wallet attribution…").click()
    expect(
        page.get_by_role("heading", name="Switch Acme SOL to wallet attribution?")
    ).to_be_visible()
    page.get_by_label("From", exact=True).fill(FIRST.isoformat())
    page.get_by_label("To", exact=True).fill(LAST.isoformat())
    page.get_by_role("button", name="Compare").click()
    commission = page.locator('tr[data-row="commission"] td')
    # Each shown amount holds its exact value (what hover, focus and copy give).
    expect(commission.nth(0).locator("data.amount")).to_have_attribute(
        "value", exact_text(by_total.total_commission_native)
    )
    expect(commission.nth(1).locator("data.amount")).to_have_attribute(
        "value", exact_text(by_wallet.total_commission_native)
    )
    expect(commission.nth(2).locator("data.amount")).to_have_attribute(
        "value", exact_text(by_wallet.total_commission_native - by_total.total_commission_native)
    )
    expect(page.locator("#chart-compare svg rect.bar")).to_have_count(6)

    # Switch on the comparison itself.
    page.get_by_role("button", name="Switch to wallet attribution").click()
    expect(page.locator(".flash")).to_contain_text("now uses wallet attribution")

    # The preview: from a period to its slices to the wallets' lines, without a reload.
    page.goto(
        f"{live_server}/commissions/?partner={world.acme.partner_id}"
        f"&date_from={FIRST}&date_to={LAST}"
    )
    section = page.locator(f"#periods-agreement-{agreement_id}")
    page.evaluate("window.__sameDocument = true")
    period_link = section.locator('tr[data-period="701"]').get_by_role(
        "link", name="By validator and component"
    )
    period_link.click()
    expect(period_link).to_have_attribute("aria-expanded", "true")
    slot = page.locator(f"#{period_link.get_attribute('aria-controls')}")
    slice_row = slot.locator('tr.slice-row[data-validator="Vote111"][data-component="MEV"]')
    expect(slice_row).to_be_visible()
    slice_row.get_by_role("link", name="Wallets").click()
    paid_row = page.locator(f'tr.wallet-line[data-wallet="{W_PAID}"]')
    expect(paid_row).to_be_visible()
    line = next(
        ln
        for ln in by_wallet.lines
        if ln.wallet_address == W_PAID
        and ln.validator_key == "Vote111"
        and str(ln.revenue_component) == "MEV"
        and ln.period_id == by_wallet.periods[0].period_id
    )
    expect(paid_row.locator("td[data-commission] data.amount")).to_have_attribute(
        "value", exact_text(line.commission_amount_native)
    )
    assert page.evaluate("window.__sameDocument") is True  # no full reload on the way
    # The lines behind the number: the wallet's own page.
    paid_row.get_by_role("link", name=W_PAID).click()
    expect(page.get_by_role("heading", name=re.compile(W_PAID))).to_be_visible()
    expect(page.locator('tr.wallet-period[data-period="701"]')).to_contain_text("MEV")

    # A wallet with no rewards: found by a part of its address, and why it earned nothing.
    page.go_back()
    search = page.get_by_label("Wallet address contains").first
    search.fill("Quiet")
    quiet = page.locator(f'tr.wallet-explained-row[data-wallet="{W_QUIET}"]')
    expect(quiet).to_contain_text("no staker rewards in this period")
    expect(page.locator("tr.wallet-explained-row")).to_have_count(1)
    quiet.get_by_role("link", name=W_QUIET).click()
    expect(page.locator("tr.wallet-period")).to_have_count(1)
    expect(page.locator('tr.wallet-period[data-period="701"]')).to_contain_text(
        "no staker rewards in this period"
    )

    # Who switched the method: the history, narrowed to agreements.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    page.get_by_label("What").select_option("agreement")
    page.get_by_role("button", name="Show").click()
    entry = page.locator("tr.audit-entry", has_text="method switched")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Acme SOL")
    expect(entry.locator("ins")).to_have_text("yes")


#: The outermost elements that stick out on the right, to say what is too wide.
WIDE_ELEMENTS = """() => Array.from(document.querySelectorAll("body *"))
  .filter(e => {
    if (e.getBoundingClientRect().right <= window.innerWidth + 1) return false;
    for (let a = e.parentElement; a; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return a === document.documentElement
        || a === document.body;
    }
    return true;
  })
  .slice(0, 8).map(e => e.tagName + "." + e.className + "#" + e.id + " "
    + getComputedStyle(e.parentElement).overflowX + " " + getComputedStyle(e).display)"""


def png_width(data: bytes) -> int:
    return struct.unpack(">I", data[16:20])[0]


def test_no_main_page_scrolls_sideways_at_390_px(manager_page, live_server, live_app):
    with live_app.app_context():
        world = build_world(wallet_count=2)
        world.solana, world.ethereum = add_agreements(world.acme)
        from webapp.commissions import committing

        run = committing.commit(world.acme, FIRST, LAST).outcomes[0].run
        paths = [
            "/",
            "/partners/",
            f"/partners/{world.acme.partner_id}",
            "/agreements/",
            f"/agreements/{world.solana.agreement_id}",
            f"/insight/agreements/{world.solana.agreement_id}/compare",
            "/imports/",
            f"/commissions/?partner={world.acme.partner_id}&date_from={FIRST}&date_to={LAST}",
            f"/commissions/runs/{run.run_id}",
            f"/insight/runs/{run.run_id}/wallets/{W_PAID}",
            "/audit/",
        ]
    page = manager_page
    page.set_viewport_size({"width": 390, "height": 844})
    for path in paths:
        page.goto(live_server + path)
        expect(page.locator("main")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width, page.evaluate(WIDE_ELEMENTS))
        assert png_width(page.screenshot(full_page=True)) == 390, path
    # The menu folds behind its toggle and opens on demand.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Partners", exact=True)).to_be_hidden()
    page.get_by_text("Menu", exact=True).click()
    expect(nav.get_by_role("link", name="Partners", exact=True)).to_be_visible()
