"""Wallets in a real browser: drop a CSV, read its errors, commit a corrected file, then
search, deactivate, edit and export from the list."""

import csv
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import drop_file
from tests.worlds import solana_address, two_partners
from webapp.wallets.checks import today_utc
from webapp.wallets.service import add_wallet

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("uploads_in_tmp")]


def drop_csv(page, name: str, text: str) -> None:
    """Drop a file on the wallet drop zone."""
    drop_file(page, "#wallet-upload-form [data-drop-target]", name, text)


def read_download(download) -> list[list[str]]:
    with open(download.path(), encoding="utf-8", newline="") as source:
        return list(csv.reader(source))


def test_drop_fix_commit_search_deactivate_and_export(manager_page, live_server, live_app):
    with live_app.app_context():
        world = two_partners()
        taken = solana_address()
        add_wallet(world.beta, "solana", taken, "2024-01-01")
        partner_url = f"{live_server}/partners/{world.acme.partner_id}"
    first, second = solana_address(), solana_address()
    page = manager_page
    page.goto(partner_url)
    expect(page.get_by_text("Acme Wallet has no wallets yet")).to_be_visible()

    bad_file = (
        "address,chain,introduced,notes\r\n"
        f"{first},solana,2024-03-01,from the drop\r\n"
        f"{taken},solana,2024-03-01,\r\n"
        f"{second},solana,2024-02-30,\r\n"
    )
    drop_csv(page, "partner-wallets.csv", bad_file)
    preview = page.locator("#wallet-preview")
    expect(preview.get_by_role("heading", name="Preview of partner-wallets.csv")).to_be_visible()
    expect(preview).to_contain_text(
        "line 3, column wallet_address: already claimed by partner Beta Exchange on solana"
    )
    expect(preview).to_contain_text(
        "line 4, column introduced_date: '2024-02-30' is not a calendar"
    )
    expect(preview.get_by_role("button", name=re.compile("^Commit"))).to_have_count(0)

    with page.expect_download() as problems:
        preview.get_by_role("link", name=re.compile("Download the problem rows")).click()
    rows = read_download(problems.value)
    assert rows[0][-1] == "reason"
    assert [(r[0], r[1]) for r in rows[1:]] == [("3", taken), ("4", second)]

    fixed_file = (
        "address,chain,introduced,notes\r\n"
        f"{first},solana,2024-03-01,from the drop\r\n"
        f"{second},solana,2024-02-28,\r\n"
    )
    drop_csv(page, "partner-wallets-fixed.csv", fixed_file)
    expect(
        preview.get_by_role("heading", name="Preview of partner-wallets-fixed.csv")
    ).to_be_visible()
    expect(preview).to_contain_text("2 new")
    preview.get_by_role("button", name="Commit 2 new wallets").click()
    expect(page.get_by_text("2 wallet(s) added, 0 already this partner's.")).to_be_visible()

    wallet_list = page.locator("#wallet-list")
    expect(wallet_list.get_by_role("cell", name=first, exact=True)).to_be_visible()
    expect(wallet_list.get_by_role("cell", name=second, exact=True)).to_be_visible()
    expect(wallet_list).to_contain_text("2 wallets")

    page.get_by_label("Search addresses").fill(first[5:15])
    expect(wallet_list.get_by_role("cell", name=second, exact=True)).to_have_count(0)
    expect(wallet_list.get_by_role("cell", name=first, exact=True)).to_be_visible()
    expect(wallet_list).to_contain_text("1 wallet matches these filters")

    page.once("dialog", lambda dialog: dialog.accept())
    wallet_list.get_by_role("button", name=f"Deactivate {first}").click()
    expect(wallet_list.get_by_role("button", name=f"Reactivate {first}")).to_be_visible()
    expect(wallet_list.locator("tr", has_text=first).locator(".badge")).to_have_text("inactive")

    with page.expect_download() as exported:
        wallet_list.get_by_role("button", name="Export CSV").click()
    assert exported.value.suggested_filename == f"wallets-acme-wallet-{today_utc().isoformat()}.csv"
    assert read_download(exported.value) == [
        ["wallet_address", "chain_id", "introduced_date", "is_active", "notes"],
        [first, "solana", "2024-03-01", "false", "from the drop"],
    ]


def test_add_with_checks_as_you_type_then_edit_inline(manager_page, live_server, live_app):
    with live_app.app_context():
        world = two_partners()
        partner_url = f"{live_server}/partners/{world.acme.partner_id}"
    address = solana_address()
    page = manager_page
    page.goto(partner_url)
    add_form = page.locator("#wallet-add")
    add_form.get_by_label("Chain").select_option("ethereum")
    add_form.get_by_label("Wallet address").fill("0x" + "aB" * 20)
    add_form.get_by_label("Wallet address").press("Tab")
    expect(add_form).to_contain_text("bad checksum: the mixed-case letters do not match EIP-55")

    add_form.get_by_label("Chain").select_option("solana")
    add_form.get_by_label("Wallet address").fill(address)
    add_form.get_by_label("Wallet address").press("Tab")
    expect(add_form.locator(".error")).to_have_count(0)
    add_form.get_by_label("Introduced").fill("2024-05-06")
    add_form.get_by_role("button", name="Add wallet").click()
    expect(page.get_by_text(f"Wallet {address} added on solana.")).to_be_visible()
    row = page.locator("#wallet-list tbody tr", has_text=address)
    expect(row).to_contain_text("2024-05-06")

    row.get_by_role("button", name=f"Edit {address}").click()
    # The inline form takes the focus once it has settled in.
    expect(row.get_by_label("Introduced")).to_be_focused()
    row.get_by_label("Notes").fill("met at the conference")
    row.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("met at the conference")
    expect(row.get_by_role("button", name="Save")).to_have_count(0)
