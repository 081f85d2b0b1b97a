"""Readable at both widths a manager uses (a 1440 px laptop, a 390 px phone): no page of the
demo scrolls sideways; wide tables scroll inside their own box."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.demo_pages import admin_on_demo, seed, shape
from tests.test_commissions import add_agreements, build_world
from webapp.extensions import db
from webapp.models import PartnerCommissionLine

pytestmark = pytest.mark.browser

WIDTHS = (1440, 390)
#: The document's sideways scroll (scrollWidth beyond clientWidth of the scrolling element),
#: with the first elements that stick out of the page outside a box of their own.
OVERFLOW = """() => {
  const doc = document.scrollingElement, width = doc.clientWidth;
  const wide = Array.from(document.querySelectorAll("body *"))
    .filter(e => e.getBoundingClientRect().right > width + 1
      && !e.closest(".table-scroll, .overflow-auto, [data-scroll-box]"))
    .slice(0, 3).map(e => e.tagName + "." + e.className);
  return [doc.scrollWidth, width, wide];
}"""
#: axe-core, vendored beside htmx (static/vendor), loaded as a script of the app's own origin:
#: its default rules (WCAG 2.0-2.1 A and AA, best practices) and the WCAG 2.2 target size.
AXE = "/static/vendor/axe-core-4.14.1.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    resultTypes: ["violations"],
    rules: {"target-size": {enabled: true}},  // WCAG 2.2 AA, off in axe by default
  });
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): "
      + v.nodes.slice(0, 2).map(n => n.target.join(" ")).join(", "));
}"""
#: Pages the demo must offer (path prefixes): the crawl reaching fewer means a broken link.
MUST_VISIT = (
    "/?",
    "/partners/?",
    "/partners/{id}?",
    "/partners/{id}/wallets",
    "/agreements/?",
    "/agreements/{id}?",
    "/imports/",
    "/commissions/?date_from&date_to&partner",
    "/commissions/runs/{id}?",
    "/commissions/runs?",
    "/insight/",
    "/payouts/",
    "/audit/",
    "/api/v1/docs",
)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_of_the_demo_fits_the_width_and_passes_axe(
    width, browser_page, live_server, live_app, make_user
):
    """No page scrolls sideways (wide tables scroll in their own box) and axe-core finds no
    serious or critical violation, at a laptop's and a phone's width: one crawl, each page
    checked while it is open."""
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    found = []

    def check(url):
        where = url[len(live_server) :]
        if "/api/v1/docs" in url:  # the reference is drawn from its document once loaded
            page.wait_for_selector("#api-docs .opblock")
        scroll_width, client_width, culprits = page.evaluate(OVERFLOW)
        if scroll_width > client_width:
            found.append(
                f"{width}px {where}: scrolls sideways, {scroll_width} > {client_width} {culprits}"
            )
        page.add_script_tag(url=f"{live_server}{AXE}")
        found.extend(f"{width}px {where}: {violation}" for violation in page.evaluate(RUN_AXE))

    pages = admin_on_demo(page, live_server, live_app, make_user, check)
    shapes = [shape(url[len(live_server) :]) for url in pages]
    missing = [p for p in MUST_VISIT if not any(s.startswith(p) for s in shapes)]
    assert missing == [], shapes
    assert found == [], "\n".join(found)


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
        world = build_world()
        add_agreements(world.acme)
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
