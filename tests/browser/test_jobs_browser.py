"""A large commit, import check, import or wallet upload in a real browser: the page answers
at once with the job's progress panel, which turns into the result when the worker has done
it."""

import re
import threading

import pytest
from playwright.sync_api import expect

from tests.browser.test_imports_browser import REWARDS, drop_csv, open_rewards_upload
from tests.browser.test_wallets_browser import drop_csv as drop_wallets
from tests.worlds import solana_address, two_partners, world_with_agreements
from webapp.jobs import queue

pytestmark = pytest.mark.browser


@pytest.fixture
def worker(live_app):
    """Starts the job worker in a thread on demand (as `flask jobs work` runs beside the app)."""
    stop = threading.Event()
    threads = []

    def start():
        def run():
            with live_app.app_context():
                queue.work(poll_seconds=0.2, stop=stop)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=30)


def waiting_job_panel(page, live_server, title: str):
    """The page is a job's, titled `title`, waiting for a worker: its status region."""
    expect(page).to_have_url(re.compile(rf"{live_server}/jobs/[0-9a-f-]{{36}}$"))
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    status = page.get_by_role("status").filter(has=page.locator("#job-panel"))
    expect(status).to_contain_text("Waiting for a worker to start it.")
    return status


def test_a_large_commit_shows_its_progress_then_its_result(
    manager_page, live_server, live_app, worker
):
    live_app.config["BACKGROUND_AFTER_ROWS"] = 0  # every commit is large enough for a job
    with live_app.app_context():
        world = world_with_agreements()
        partner_id = world.acme.partner_id
    page = manager_page
    page.goto(
        f"{live_server}/commissions/?partner={partner_id}&date_from=2025-01-01&date_to=2025-01-03"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Commit", exact=True).click()

    # The answer is the job's page: a progress bar and its words, in a live region.
    expect(page).to_have_url(re.compile(rf"{live_server}/jobs/[0-9a-f-]{{36}}$"))
    expect(page.get_by_role("heading", name="Commission commit")).to_be_visible()
    status = page.get_by_role("status").filter(has=page.locator("#job-panel"))
    expect(status.locator("progress")).to_be_visible()
    expect(status).to_contain_text("Waiting for a worker to start it.")
    expect(page.locator("#job-panel")).to_have_attribute("data-status", "queued")

    worker()
    # htmx asks every second; the panel turns into the result, without a reload.
    expect(status).to_contain_text(
        "Committed 2 run(s) for Acme Wallet, 2025-01-01 to 2025-01-03: 15 line(s).",
        timeout=20_000,
    )
    expect(page.locator("#job-panel")).to_have_attribute("data-status", "done")
    expect(status.locator("progress")).to_have_attribute("value", "4")
    expect(status.locator("progress")).to_have_attribute("max", "4")
    page.get_by_role("link", name="Back to Acme Wallet's commissions for the range").click()
    history = page.locator("#commission-history")
    expect(history.get_by_role("row", name="Acme SOL")).to_contain_text("committed")


def test_a_large_import_shows_its_progress_then_its_result(
    manager_page, live_server, live_app, worker, tmp_path
):
    live_app.config["BACKGROUND_AFTER_ROWS"] = 2  # a file of two rows is checked at once
    page = manager_page
    open_rewards_upload(page, live_server, live_app, tmp_path)
    drop_csv(page, "october-rewards.csv", REWARDS)
    result = page.locator("#upload-result")
    expect(result).to_contain_text("october-rewards.csv is ready to import: 2 staker reward rows")
    live_app.config["BACKGROUND_AFTER_ROWS"] = 1  # ... and imported by a job
    result.get_by_role("button", name="Import 2 staker reward rows").click()

    status = waiting_job_panel(page, live_server, "Data import")

    worker()
    expect(status).to_contain_text(
        "imported 2 staker reward rows from october-rewards.csv", timeout=20_000
    )
    size = str(len(REWARDS.encode()))
    expect(status.locator("progress")).to_have_attribute("value", size)
    status.get_by_role("link", name="See october-rewards.csv and the rows it brought").click()
    expect(page.get_by_role("heading", name="october-rewards.csv")).to_be_visible()
    expect(page.locator(".payload-facts")).to_contain_text("2")


def test_a_large_file_is_checked_by_a_job_then_imported_from_its_checked_page(
    manager_page, live_server, live_app, worker, uploads_in_tmp, tmp_path
):
    live_app.config["BACKGROUND_AFTER_ROWS"] = 1  # a file of two rows is checked by a job
    page = manager_page
    open_rewards_upload(page, live_server, live_app, tmp_path)
    drop_csv(page, "october-rewards.csv", REWARDS)

    # htmx follows the answer to the check's job page.
    status = waiting_job_panel(page, live_server, "Data import check")

    worker()
    ready = "october-rewards.csv is ready to import: 2 staker reward rows on solana (812)"
    expect(status).to_contain_text(ready, timeout=20_000)
    size = str(len(REWARDS.encode()))
    expect(status.locator("progress")).to_have_attribute("value", size)
    status.get_by_role("link", name="See the check of october-rewards.csv and import it").click()

    # The page the preview would have shown in the request, with its commit.
    expect(page).to_have_url(re.compile(rf"{live_server}/imports/checked/[\w-]+$"))
    result = page.locator("#upload-result")
    expect(result).to_contain_text(ready)
    expect(result.get_by_role("row", name="solana 812 MEV")).to_contain_text("0.75")
    expect(page.get_by_label("Provider")).to_have_value("jito")
    result.get_by_role("button", name="Import 2 staker reward rows").click()

    # Two rows are imported by a job too; the worker, still running, may have done it already.
    expect(page).to_have_url(re.compile(rf"{live_server}/jobs/[0-9a-f-]{{36}}$"))
    expect(page.get_by_role("heading", name="Data import", exact=True)).to_be_visible()
    done = page.get_by_role("status").filter(has=page.locator("#job-panel"))
    expect(done).to_contain_text(
        "imported 2 staker reward rows from october-rewards.csv", timeout=20_000
    )
    done.get_by_role("link", name="See october-rewards.csv and the rows it brought").click()
    expect(page.get_by_role("heading", name="october-rewards.csv")).to_be_visible()
    expect(page.locator(".payload-facts")).to_contain_text("2")
    expect(page.get_by_role("cell", name="S2", exact=True)).to_be_visible()


def test_a_large_wallet_upload_shows_its_progress_then_its_result(
    manager_page, live_server, live_app, worker, uploads_in_tmp
):
    live_app.config["BACKGROUND_AFTER_ROWS"] = 1  # a file of two rows is large enough
    with live_app.app_context():
        world = two_partners()
        partner_url = f"{live_server}/partners/{world.acme.partner_id}"
    first, second = solana_address(), solana_address()
    page = manager_page
    page.goto(partner_url)
    drop_wallets(
        page,
        "big-wallets.csv",
        f"address,chain,introduced\r\n{first},solana,2024-03-01\r\n{second},solana,2024-03-02\r\n",
    )

    # The check: htmx follows the upload's answer to the job's page, whose result leads to
    # the file's preview.
    status = waiting_job_panel(page, live_server, "Wallet file check")
    worker()
    expect(status).to_contain_text(
        "big-wallets.csv is checked: 2 new, 0 unchanged, 0 errors.", timeout=20_000
    )
    status.get_by_role("link", name="See the preview of big-wallets.csv").click()
    expect(page.get_by_role("heading", name="Preview of big-wallets.csv")).to_be_visible()
    preview = page.locator("#wallet-preview")
    expect(preview).to_contain_text("2 new")
    expect(preview).to_contain_text(first)
    preview.get_by_role("button", name="Commit 2 new wallets").click()

    # The commit: the job's page again; the worker already running takes it.
    expect(page).to_have_url(re.compile(rf"{live_server}/jobs/[0-9a-f-]{{36}}$"))
    expect(page.get_by_role("heading", name="Wallet upload")).to_be_visible()
    status = page.get_by_role("status").filter(has=page.locator("#job-panel"))
    expect(status).to_contain_text("2 wallet(s) added, 0 already this partner's.", timeout=20_000)
    status.get_by_role("link", name="See Acme Wallet's wallets").click()
    expect(page).to_have_url(partner_url)
    wallet_list = page.locator("#wallet-list")
    expect(wallet_list).to_contain_text(first)
    expect(wallet_list).to_contain_text(second)
