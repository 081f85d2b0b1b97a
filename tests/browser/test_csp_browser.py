"""The Content-Security-Policy holds in a real browser: the main pages, and the htmx requests
made on them, run without a single violation reported in the console."""

from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.test_commissions import add_agreements, build_world
from webapp.commissions import committing
from webapp.extensions import db
from webapp.models import CommissionRun

pytestmark = pytest.mark.browser

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


def test_main_pages_raise_no_csp_violation(manager_page, live_server, live_app):
    with live_app.app_context():
        world = build_world()
        add_agreements(world.acme)
        committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
        partner_id = world.acme.partner_id
        run_id = db.session.scalars(select(CommissionRun.run_id)).first()
        db.session.remove()

    page = manager_page
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if message.type in ("error", "warning") else None
        ),
    )
    page.add_init_script(WATCH)
    urls = [
        "/",
        "/partners/",
        f"/partners/{partner_id}",
        "/agreements/",
        "/imports/",
        f"/commissions/?partner={partner_id}&date_from=2025-01-01&date_to=2025-01-03",
        f"/commissions/runs/{run_id}",
    ]
    for url in urls:
        page.goto(live_server + url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.htmx && window.htmx.config.includeIndicatorStyles") is False
        assert page.evaluate("window.__violations") == [], url

    # htmx at work: the partner search swaps the list in.
    page.goto(live_server + "/partners/")
    page.get_by_label("Search partners").fill("acme")
    expect(page.get_by_role("link", name="Acme Wallet")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__violations") == []
    assert not [text for text in console if "Content Security Policy" in text], console
    # htmx refuses to evaluate code under this policy: no markup may ask it to (trigger filters).
    assert not [text for text in console if "evalDisallowed" in text], console
