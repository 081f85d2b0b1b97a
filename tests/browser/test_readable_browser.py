"""Readable at both widths a manager uses (a 1440 px laptop, a 390 px phone): no page of the
demo scrolls sideways; wide tables scroll inside their own box."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.demo_pages import admin_on_demo, seed
from tests.worlds import world_with_agreements
from webapp.extensions import db
from webapp.models import PartnerCommissionLine

pytestmark = pytest.mark.browser

WIDTHS = (1440, 390)
OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = Array.from(document.querySelectorAll("main *"))
    .filter(e => e.getBoundingClientRect().right > width + 1
      && !e.closest(".table-scroll, .overflow-auto"))
    .slice(0, 3).map(e => e.tagName + "." + e.className);
  return [document.scrollingElement.scrollWidth, width, wide];
}"""


@pytest.mark.slow  # every page of the demo, about 20 s
def test_no_page_of_the_demo_scrolls_sideways(browser_page, live_server, live_app, make_user):
    page = browser_page
    pages = admin_on_demo(page, live_server, live_app, make_user)
    assert len(pages) > 20, pages
    wide = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for url in pages:
            page.goto(url)
            scroll_width, inner_width, culprits = page.evaluate(OVERFLOW)
            if scroll_width > inner_width:
                wide.append(f"{width}px {url[len(live_server) :]}: {scroll_width} {culprits}")
    assert wide == [], "\n".join(wide)


SCROLL_BOXES = """() => Array.from(document.querySelectorAll("[data-scroll-box]")).map(box => {
  box.focus();
  return [box.getAttribute("aria-label"), document.activeElement === box && box.tabIndex === 0,
          box.scrollWidth > box.clientWidth];
})"""


def test_a_wide_table_scrolls_in_a_named_focusable_box_and_keys_are_short(
    manager_page, live_server, live_app
):
    seed(live_app)
    with live_app.app_context():
        line = db.session.scalars(select(PartnerCommissionLine)).first()
        run_id, period_id, key = line.run_id, line.period_id, line.validator_key
        db.session.remove()
    page = manager_page
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{live_server}/commissions/runs/{run_id}")
    boxes = page.evaluate(SCROLL_BOXES)
    assert boxes, "no table of the run page scrolls at 390 px"
    for label, focused, overflowing in boxes:
        assert label.endswith("(scrolls sideways)") and focused and overflowing
    # At 1440 px the same tables fit: no box is a tab stop.
    page.set_viewport_size({"width": 1440, "height": 900})
    page.wait_for_timeout(400)
    assert page.evaluate(SCROLL_BOXES) == []

    # A validator key reads as its two ends; the whole key is its title.
    page.goto(f"{live_server}/insight/runs/{run_id}/periods/{period_id}")
    shown = page.locator(f'code.key[data-full="{key}"]').first
    expect(shown).to_have_text(f"{key[:6]}…{key[-6:]}")
    expect(shown).to_have_attribute("title", key)


RING = """() => {
  const style = getComputedStyle(document.activeElement);
  return [document.activeElement.tagName, style.outlineStyle, style.outlineWidth,
          style.outlineColor];
}"""


def test_after_preview_focus_is_on_the_preview_heading_with_a_ring(
    manager_page, live_server, live_app
):
    with live_app.app_context():
        world_with_agreements()
        db.session.remove()
    page = manager_page
    page.goto(f"{live_server}/commissions/")
    page.wait_for_load_state("load")
    page.get_by_label("Partner").select_option(label="Acme Wallet")
    page.locator("#date_from").fill("2025-01-01")
    page.locator("#date_to").fill("2025-01-31")
    page.get_by_role("button", name="Preview").focus()  # no mouse used: the ring shows
    expect(page.get_by_role("button", name="Preview")).to_be_focused()
    tag, style, width, color = page.evaluate(RING)
    assert (tag, style, width) == ("BUTTON", "solid", "2px")
    assert color in ("rgb(11, 61, 145)", "rgb(255, 213, 79)")
    page.keyboard.press("Enter")
    heading = page.locator("#breakdown-heading")
    expect(heading).to_contain_text("Acme Wallet, 2025-01-01 to 2025-01-31")
    expect(heading).to_be_focused()


#: axe-core, vendored beside htmx (static/vendor), loaded as a script of the app's own origin.
AXE = "/static/vendor/axe-core-4.14.1.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): "
      + v.nodes.slice(0, 2).map(n => n.target.join(" ")).join(", "));
}"""


@pytest.mark.slow  # every page of the demo, about 20 s
def test_no_page_of_the_demo_has_a_serious_accessibility_violation(
    browser_page, live_server, live_app, make_user
):
    page = browser_page
    pages = admin_on_demo(page, live_server, live_app, make_user)
    found = []
    for url in pages:
        page.goto(url)
        page.add_script_tag(url=f"{live_server}{AXE}")
        for violation in page.evaluate(RUN_AXE):
            found.append(f"{url[len(live_server) :]}: {violation}")
    assert found == [], "\n".join(found)
