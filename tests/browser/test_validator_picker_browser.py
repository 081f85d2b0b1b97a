"""The validator picker by keyboard alone, at 1440 and 390 px: a known validator chosen with
the arrow keys, a new one typed after "another validator…"; the page never scrolls sideways."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests import factories
from tests.agreements.test_validator_picker import (
    NEW_KEY,
    SOLANA_KEYS,
    build_partner_and_data,
    short,
)
from tests.browser.test_readable_browser import AXE, OVERFLOW, RUN_AXE
from webapp.extensions import db
from webapp.models import AgreementRule

pytestmark = pytest.mark.browser


def stored_rules(app, agreement_id) -> set[tuple[str, str | None, int]]:
    with app.app_context():
        rows = db.session.scalars(
            select(AgreementRule).where(AgreementRule.agreement_id == agreement_id)
        ).all()
        found = {(str(r.revenue_component), r.validator_key, r.commission_rate_bps) for r in rows}
        db.session.remove()
    return found


@pytest.mark.parametrize("width", [1440, 390])
def test_a_validator_is_picked_or_typed_by_keyboard(manager_page, live_server, live_app, width):
    with live_app.app_context():
        partner = build_partner_and_data()
        agreement_id = factories.agreement(partner, "MEV=500").agreement_id
        db.session.commit()
        db.session.remove()
    page = manager_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server}/agreements/{agreement_id}")
    assert page.evaluate(OVERFLOW)[0] <= width

    picker = page.get_by_label("Validator", exact=True)
    new_key = page.get_by_label("New validator key", exact=True)
    expect(new_key).to_be_hidden()

    # A known validator: Tab from the component to the picker, arrows to the second known
    # one (the full key goes with it), Tab past the hidden key field to the rate, Enter.
    page.get_by_label("Component", exact=True).focus()
    page.keyboard.press("ArrowDown")  # EXEC_FEES -> MEV
    page.keyboard.press("Tab")
    expect(picker).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(picker).to_have_value(SOLANA_KEYS[1])
    expect(new_key).to_be_hidden()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Rate (bps)", exact=True)).to_be_focused()
    page.keyboard.type("250")
    page.keyboard.press("Enter")
    rules = page.locator("#rules tbody")
    expect(rules).to_contain_text(short(SOLANA_KEYS[1]))
    assert stored_rules(live_app, agreement_id) == {
        ("MEV", None, 500),
        ("MEV", SOLANA_KEYS[1], 250),
    }
    assert page.evaluate(OVERFLOW)[0] <= width

    # A new validator: End picks "another validator…", whose key field then shows and is the
    # next Tab stop. The swap moves focus when it settles, so the keys start after that.
    # (A locator, not wait_for_function: the page's CSP forbids the eval a string predicate
    # needs once it has to poll.)
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    page.get_by_label("Component", exact=True).focus()
    page.keyboard.press("End")  # REWARDS
    page.keyboard.press("Tab")
    expect(picker).to_be_focused()
    page.keyboard.press("End")
    expect(picker).to_have_value("__new__")
    expect(new_key).to_be_visible()
    page.add_script_tag(url=f"{live_server}{AXE}")
    assert page.evaluate(RUN_AXE) == []
    page.keyboard.press("Tab")
    expect(new_key).to_be_focused()
    page.keyboard.type(NEW_KEY)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Rate (bps)", exact=True)).to_be_focused()
    page.keyboard.type("125")
    page.keyboard.press("Enter")
    expect(rules).to_contain_text(short(NEW_KEY))
    assert stored_rules(live_app, agreement_id) == {
        ("MEV", None, 500),
        ("MEV", SOLANA_KEYS[1], 250),
        ("REWARDS", NEW_KEY, 125),
    }
    assert page.evaluate(OVERFLOW)[0] <= width

    # The create form: another chain (arrow keys on the chain) brings its own validators into
    # the rate rows, keeps a rate already typed, and leaves focus on the chain; the rows fit.
    page.goto(f"{live_server}/agreements/new")
    first_picker = page.get_by_label("Validator, rate 1", exact=True)
    expect(first_picker.locator("option")).to_have_count(3)  # Ethereum's one validator
    page.get_by_label("Rate (bps), rate 1", exact=True).fill("1500")
    chain = page.get_by_label("Chain", exact=True)
    chain.focus()
    page.keyboard.press("ArrowDown")  # Ethereum -> Solana
    expect(first_picker.locator("option")).to_have_count(2 + len(SOLANA_KEYS))
    expect(page.get_by_label("Rate (bps), rate 1", exact=True)).to_have_value("1500")
    expect(chain).to_be_focused()
    scroll_width, inner_width, culprits = page.evaluate(OVERFLOW)
    assert scroll_width <= inner_width, culprits
    page.add_script_tag(url=f"{live_server}{AXE}")
    assert page.evaluate(RUN_AXE) == []
