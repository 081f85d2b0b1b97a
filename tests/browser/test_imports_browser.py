"""Data imports in a real browser: drop a rewards file, read its preview, commit it and
find it in the history with a link to its rows."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import drop_file
from webapp.chains.service import add_chain
from webapp.imports.importing import import_file

pytestmark = pytest.mark.browser

PERIODS = (
    "chain_id,label,start_time,end_time\nsolana,812,2025-10-01T00:00:00Z,2025-10-03T00:00:00Z\n"
)
REWARDS = (
    "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native\n"
    "solana,812,V1,S1,MEV,0.25\n"
    "solana,812,V1,S2,MEV,0.5\n"
)


def drop_csv(page, name: str, text: str) -> None:
    """Drop a file on the import drop zone."""
    drop_file(page, "#import-upload-form [data-drop-target]", name, text)


def open_rewards_upload(page, live_server, live_app, tmp_path) -> None:
    """Solana and its periods stored; the Data imports page open, set for jito's staker
    rewards."""
    with live_app.app_context():
        add_chain("solana", "Solana", "SOL", 9, "base58-32")
        periods = tmp_path / "periods.csv"
        periods.write_text(PERIODS)
        assert import_file("periods", str(periods), "manual-upload").ok
    page.goto(f"{live_server}/imports/")
    page.get_by_label("Kind of data").select_option("staker-rewards")
    page.get_by_label("Provider").fill("jito")


def test_drop_a_rewards_file_preview_commit_and_see_it_in_history(
    manager_page, live_server, live_app, tmp_path
):
    page = manager_page
    open_rewards_upload(page, live_server, live_app, tmp_path)

    drop_csv(page, "october-rewards.csv", REWARDS.replace("0.5", "-0.5"))
    result = page.locator("#upload-result")
    expect(result).to_contain_text("october-rewards.csv was not imported: 1 error")
    expect(result).to_contain_text("amount '-0.5' is negative")
    expect(result.get_by_role("button", name="Import")).to_have_count(0)

    drop_csv(page, "october-rewards.csv", REWARDS)
    expect(result).to_contain_text("october-rewards.csv is ready to import: 2 staker reward rows")
    expect(result).to_contain_text("0.75")
    result.get_by_role("button", name="Import 2 staker reward rows").click()

    expect(page.get_by_role("heading", name="october-rewards.csv")).to_be_visible()
    expect(page.locator(".flash")).to_contain_text("imported 2 staker reward rows")
    page.get_by_role("link", name="Data imports").first.click()
    history = page.locator("#import-history")
    row = history.get_by_role("row").filter(has_text="october-rewards.csv")
    expect(row).to_contain_text("staker-rewards")
    expect(row).to_contain_text("jito")
    expect(row).to_contain_text("manager-")
    row.get_by_role("link", name="october-rewards.csv").click()
    expect(page.locator("#payload-rows")).to_contain_text("S2")
