"""The month-end close by keyboard alone: preview, commit, approve and pay within a dozen key
presses, focus on the new content's heading after each step, a focus ring that is seen."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in
from tests.test_commissions import add_agreements, build_world
from webapp.extensions import db
from webapp.models import Agreement, CommissionRun, CommissionRunEvent

pytestmark = pytest.mark.browser

#: The press budget of the close, from the range page with its partner and dates typed in:
#: every Tab, Enter and the Enter that answers a confirmation counts; the payout reference
#: typed in is text, not counted. Preview 1 (Enter) + Commit 3 (Tab, Enter, OK) + Approve 5
#: (Tab to "Skip to content", Enter, Tab, Enter, OK) + Pay 3 (Tab, Enter, OK) = 12.
PRESS_BUDGET = 12

#: The ring of the focused element (WCAG 2.2 focus appearance): its outline, and the contrast
#: of the outline's colour against the colour behind it (the first opaque background up).
RING = """() => {
  const e = document.activeElement, style = getComputedStyle(e);
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => {
    const [r, g, b] = rgb(c).slice(0, 3).map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  let behind = e.parentElement, background = "rgb(255, 255, 255)";
  while (behind) {
    const b = getComputedStyle(behind).backgroundColor, a = rgb(b)[3];
    if (a === undefined || a > 0) { background = b; break; }
    behind = behind.parentElement;
  }
  const [hi, lo] = [lum(style.outlineColor), lum(background)].sort((x, y) => y - x);
  return {tag: e.tagName, style: style.outlineStyle, width: parseFloat(style.outlineWidth),
          contrast: (hi + 0.05) / (lo + 0.05)};
}"""


class Presses:
    """Key presses of each step of the close, the answers to confirmations included."""

    def __init__(self, page):
        self.page, self.step, self.counts = page, None, {}
        page.on("dialog", self._confirm)

    def _confirm(self, dialog):
        self.counts[self.step] += 1  # Enter on the dialog's OK
        dialog.accept()

    def start(self, step: str):
        self.step = step
        self.counts[step] = 0

    def press(self, key: str):
        self.counts[self.step] += 1
        self.page.keyboard.press(key)


def assert_ring(page):
    ring = page.evaluate(RING)
    assert ring["style"] == "solid" and ring["width"] >= 2, ring
    assert ring["contrast"] >= 3, ring


def test_the_close_by_keyboard_within_the_press_budget(
    browser_page, live_server, live_app, make_user
):
    with live_app.app_context():
        world = build_world()
        add_agreements(world.acme)
        partner_id = world.acme.partner_id
        ann, bob = make_user("manager"), make_user("manager")
        ann_email, bob_email, bob_id = ann.email, bob.email, bob.user_id
        db.session.remove()
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    presses = Presses(page)

    # Ann chooses the range on the range page (typing, not counted) and ends in "To".
    sign_in(page, live_server, ann_email)
    page.goto(f"{live_server}/commissions/")
    page.wait_for_load_state("load")
    page.get_by_label("Partner").select_option(label="Acme Wallet")
    page.locator("#date_from").fill("2025-01-01")
    page.locator("#date_to").fill("2025-01-31")

    presses.start("preview")
    presses.press("Enter")
    heading = page.locator("#breakdown-heading")
    expect(heading).to_contain_text("Acme Wallet, 2025-01-01 to 2025-01-31")
    expect(heading).to_be_focused()

    presses.start("commit")
    presses.press("Tab")
    commit = page.get_by_role("button", name="Commit", exact=True)
    expect(commit).to_be_focused()
    assert_ring(page)  # a button
    presses.press("Enter")
    expect(page.locator("#committed-state")).to_contain_text("Committed.")
    expect(heading).to_be_focused()  # the page after the post: focus on what changed
    with live_app.app_context():
        run = db.session.scalars(
            select(CommissionRun)
            .join(Agreement)
            .where(CommissionRun.partner_id == partner_id, Agreement.name == "Acme SOL")
        ).one()
        run_id = run.run_id
        db.session.remove()

    # Bob (four eyes) opens the run's page.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))
    sign_in(page, live_server, bob_email)
    page.goto(f"{live_server}/commissions/runs/{run_id}")
    page.wait_for_load_state("load")

    presses.start("approve")
    presses.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert_ring(page)  # a link
    presses.press("Enter")
    presses.press("Tab")
    expect(page.get_by_role("button", name="Approve")).to_be_focused()
    presses.press("Enter")
    expect(page.locator("#run-status")).to_have_text("approved")
    expect(page.locator("#lifecycle-heading")).to_be_focused()

    presses.start("pay")
    presses.press("Tab")
    reference = page.get_by_label("Payout reference")
    expect(reference).to_be_focused()
    assert_ring(page)  # a field
    page.keyboard.type("SEPA-2025-01")
    presses.press("Enter")
    expect(page.locator("#run-status")).to_have_text("paid")
    expect(page.locator("#lifecycle-heading")).to_be_focused()

    assert presses.counts == {"preview": 1, "commit": 3, "approve": 5, "pay": 3}
    assert sum(presses.counts.values()) <= PRESS_BUDGET

    # The run ended paid in the database, approved and paid by Bob, not only on the page.
    with live_app.app_context():
        run = db.session.get(CommissionRun, run_id)
        assert (run.status, run.payout_reference, run.paid_on) == (
            "paid",
            "SEPA-2025-01",
            datetime.now(UTC).date(),
        )
        assert run.approved_by_user_id == run.paid_by_user_id == bob_id
        actions = db.session.execute(
            select(CommissionRunEvent.action, CommissionRunEvent.to_status)
            .where(CommissionRunEvent.run_id == run_id)
            .order_by(CommissionRunEvent.created_at)
        ).all()
        assert [tuple(a) for a in actions][-2:] == [("approve", "approved"), ("pay", "paid")]
        db.session.remove()

    # The ring on the other kinds of focusable things: a disclosure and a scroll box.
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_timeout(300)
    box = page.locator("[data-scroll-box]").first
    box.focus()
    expect(box).to_be_focused()
    assert_ring(page)
    summary = page.locator("main summary").first
    summary.focus()
    expect(summary).to_be_focused()
    assert_ring(page)
