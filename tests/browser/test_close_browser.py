"""The month-end close in a real browser: one manager commits January, another approves it
and marks it paid; a corrected import of January's rewards shows "changed since approval";
February's commit carries the true-up; the run's CSV adds up to the total on its page."""

import csv
import io
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in
from tests.worlds import W_PAID, world_with_agreements
from webapp.extensions import db
from webapp.models import CanonicalPeriod, CanonicalStakerRewardsDetail, PartnerCommissionLine
from webapp.money import money_sum

pytestmark = pytest.mark.browser


def corrected_rewards_file(tmp_path) -> str:
    """Period 702's staker rewards as stored, W_PAID's MEV raised by 0.5 (+0.05 SOL at 10%)."""
    R, P = CanonicalStakerRewardsDetail, CanonicalPeriod
    rows = db.session.execute(
        select(R.validator_key, R.staker_address, R.revenue_component, R.reward_amount_native)
        .join(P, P.period_id == R.period_id)
        .where(P.label == "702")
    ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "chain_id",
            "period",
            "validator_key",
            "staker_address",
            "revenue_component",
            "reward_amount_native",
        ]
    )
    for validator, staker, component, amount in rows:
        if staker == W_PAID and str(component) == "MEV":
            amount += Decimal("0.5")
        writer.writerow(["solana", "702", validator, staker, str(component), f"{amount:f}"])
    path = tmp_path / "rewards-702-corrected.csv"
    path.write_text(out.getvalue())
    return str(path)


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))


def test_commit_approve_pay_correct_and_true_up(
    browser_page, live_server, live_app, make_user, tmp_path
):
    with live_app.app_context():
        world = world_with_agreements()
        first = world.periods[0]
        db.session.add(
            CanonicalPeriod(
                period_id=uuid.uuid4(),
                chain_id="solana",
                label="801",
                start_time=datetime(2025, 2, 1, tzinfo=UTC),
                end_time=datetime(2025, 2, 2, tzinfo=UTC),
                source_provider_id=first.source_provider_id,
                source_payload_id=first.source_payload_id,
            )
        )
        db.session.commit()
        partner_id = world.acme.partner_id
        ann, bob = make_user("manager"), make_user("manager")
        ann_email, bob_email = ann.email, bob.email
    page = browser_page
    january = f"partner={partner_id}&date_from=2025-01-01&date_to=2025-01-31"

    # Ann commits January.
    sign_in(page, live_server, ann_email)
    page.goto(f"{live_server}/commissions/?{january}")
    expect(page.get_by_text("A preview: nothing is stored")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Commit", exact=True).click()
    committed = page.locator("#committed-state")
    expect(committed).to_contain_text("Committed.")
    expect(page.get_by_text("A preview: nothing is stored")).to_have_count(0)
    expect(page.get_by_role("button", name="Commit", exact=True)).to_have_count(0)
    committed.get_by_role("link", name="Acme SOL").click()
    expect(page.locator("#run-status")).to_have_text("committed")
    expect(page.locator("#approve-blocked")).to_contain_text("four eyes")
    run_url = page.url
    sign_out(page)

    # Bob approves it and marks it paid.
    sign_in(page, live_server, bob_email)
    page.goto(run_url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#run-status")).to_have_text("approved")
    page.get_by_label("Payout reference").fill("SEPA-2025-01")
    page.get_by_label("Paid on").fill("2025-02-05")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Mark paid").click()
    expect(page.locator("#run-status")).to_have_text("paid")
    expect(page.locator("#payout-reference")).to_have_text("SEPA-2025-01")
    history = page.locator(".run-history")
    expect(history).to_contain_text(ann_email)
    expect(history).to_contain_text(bob_email)

    # The run's CSV adds up to the total the page shows.
    exact_total = Decimal(page.locator("#run-total-commission .amount").get_attribute("data-exact"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the run's lines (CSV)").click()
    assert "lines" in download.value.suggested_filename
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")  # spreadsheets read it as UTF-8
    text = body.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["token_symbol"] for r in rows} == {"SOL"}
    assert money_sum(Decimal(r["commission_amount_native"]) for r in rows) == exact_total

    # A correction of January's rewards arrives after payment.
    with live_app.app_context():
        path = corrected_rewards_file(tmp_path)
        result = live_app.test_cli_runner().invoke(
            args=["import", "staker-rewards", path, "--provider", "jito", "--replace"]
        )
        assert result.exit_code == 0, result.output
    page.goto(run_url)
    notice = page.locator("#changes-since-approval")
    expect(notice).to_contain_text("changed since approval: +0.050000000 SOL")
    expect(notice).to_contain_text("in 702 (1 wallet(s))")
    notice.get_by_role("button", name="Show the differing lines").click()
    expect(notice.locator(".change-lines-table")).to_contain_text(W_PAID)
    page.goto(f"{live_server}/partners/{partner_id}")
    expect(page.locator("#changes-since-approval")).to_contain_text("changed since approval")

    # February's commit carries the difference as an adjustment line.
    page.goto(
        f"{live_server}/commissions/?partner={partner_id}&date_from=2025-02-01&date_to=2025-02-28"
    )
    expect(page.locator("#true-up")).to_be_checked()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Commit", exact=True).click()
    expect(page.locator("#committed-state")).to_contain_text("Committed.")
    with live_app.app_context():
        L = PartnerCommissionLine
        adjustments = db.session.execute(
            select(L.wallet_address, L.commission_amount_native).where(L.line_kind == "adjustment")
        ).all()
        assert adjustments == [(W_PAID, Decimal("0.05"))]
