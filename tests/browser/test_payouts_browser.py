"""Payouts in a real browser: a manager drops a prices file on the data imports page, a
second manager approves two partners' runs, opens the payables, pays both partners at once
(each its own reference) and downloads both statements; the figures are checked in the rows
and in the files."""

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select

from tests import factories
from tests.browser.conftest import drop_file, sign_in
from tests.test_commissions import add_agreements, build_world
from webapp.commissions import committing
from webapp.extensions import db
from webapp.models import CommissionRun, Payout
from webapp.partners.service import create_partner

pytestmark = pytest.mark.browser
# build_world's periods are priced on their last day: Solana 701-703 on 1-3 Jan, Ethereum's
# on 2 Jan.
PRICES = (
    "chain_id,date,price_usd\n"
    "solana,2025-01-01,100\nsolana,2025-01-02,100\nsolana,2025-01-03,100\n"
    "ethereum,2025-01-02,2000\n"
)
DAYS = (date(2025, 1, 1), date(2025, 1, 3))


def test_import_prices_approve_pay_two_partners_and_download_statements(
    browser_page, live_server, live_app, make_user, tmp_path
):
    with live_app.app_context():
        world = build_world()
        add_agreements(world.acme)
        beta = create_partner("Beta Exchange")
        # Beta's agreement on Ethereum: total revenue, the same world's revenue rows.
        factories.agreement(beta, "MEV=100", chain_id="ethereum", name="Beta ETH")
        db.session.commit()
        ann, bob = make_user("manager"), make_user("manager")
        for partner in (world.acme, beta):
            committing.commit(partner, *DAYS, user=ann)
        acme_id, beta_id, bob_email = world.acme.partner_id, beta.partner_id, bob.email
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())  # the confirms of approve and pay
    sign_in(page, live_server, bob_email)

    # Prices, dropped on the data imports page.
    page.goto(f"{live_server}/imports/")
    page.get_by_label("Kind of data").select_option("prices")
    page.get_by_label("Provider").fill("manual-upload")
    drop_file(page, "#import-upload-form [data-drop-target]", "prices.csv", PRICES)
    result = page.locator("#upload-result")
    expect(result).to_contain_text("prices.csv is ready to import")
    result.get_by_role("button", name=re.compile(r"^Import")).click()
    expect(page.locator(".flash")).to_contain_text("imported")

    # Bob approves each of Ann's runs on its page.
    with live_app.app_context():
        run_ids = db.session.scalars(select(CommissionRun.run_id)).all()
    for run_id in run_ids:
        page.goto(f"{live_server}/commissions/runs/{run_id}")
        page.get_by_role("button", name=re.compile(r"^Approve")).click()
        expect(page.locator(".flash")).to_contain_text("approved")

    # The payables: three (partner, token) rows; pay both partners' Ethereum and Acme's SOL.
    page.goto(f"{live_server}/payouts/")
    table = page.locator("#payables-table")
    expect(table.get_by_role("row")).to_have_count(4)
    page.screenshot(path=str(tmp_path / "payables.png"), full_page=True)
    for partner_id, chain_id, reference in (
        (acme_id, "solana", "SEPA-ACME-SOL"),
        (beta_id, "ethereum", "SEPA-BETA-ETH"),
    ):
        key = f"{partner_id}:{chain_id}"
        table.locator(f'input[name="selected"][value="{key}"]').check()
        table.locator(f'input[name="reference-{key}"]').fill(reference)
    page.get_by_role("button", name="Pay selected").click()
    expect(page.locator(".flash")).to_contain_text("Paid")

    with live_app.app_context():
        made = {p.payout_reference: p for p in db.session.scalars(select(Payout))}
        assert set(made) == {"SEPA-ACME-SOL", "SEPA-BETA-ETH"}
        numbers = {ref: p.statement_number for ref, p in made.items()}
        nets = {ref: p.net_amount_native for ref, p in made.items()}
    # Beta: build_world's MEV revenue, 99999999999999999999.5 ETH, at 1 % (its EXEC_FEES
    # have no rule): 999999999999999999.995 ETH, by hand.
    assert nets["SEPA-BETA-ETH"] == Decimal("999999999999999999.995")

    page.goto(f"{live_server}/payouts/?status=paid")
    for reference in ("SEPA-ACME-SOL", "SEPA-BETA-ETH"):
        page.get_by_role("link", name=numbers[reference]).click()
        expect(page.get_by_role("heading", name=f"Statement {numbers[reference]}")).to_be_visible()
        page.screenshot(path=str(tmp_path / f"{reference}.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("button", name="Statement (PDF)").click()
        pdf = download.value.path().read_bytes()
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        assert numbers[reference] in text and reference in text
        assert f"{nets[reference]:.18f}" in text
        page.go_back()
