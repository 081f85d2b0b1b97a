"""Browser fixtures: Debian's Chromium via Playwright, on the app served by
tests/live_server.py.

Browser tests are marked `browser`. Without /usr/bin/chromium they are skipped, unless
REQUIRE_BROWSER=1 (CI), where a missing browser is an error.
"""

import os

import pytest

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM) or os.environ.get("REQUIRE_BROWSER") == "1":
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium instead of a browser downloaded by Playwright."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture
def browser_page(page, live_server):
    """A Playwright page, with a default timeout fit for a 2-core machine."""
    page.set_default_timeout(10_000)
    return page


DROP_FILE = """([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, {type: "text/csv"}));
  return transfer;
}"""


def drop_file(page, zone: str, name: str, text: str) -> None:
    """Drop a CSV file on a drop zone with real dragenter, dragover and drop events."""
    transfer = page.evaluate_handle(DROP_FILE, [name, text])
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(zone, event, {"dataTransfer": transfer})


def sign_in(page, base_url: str, email: str) -> None:
    """Sign in through the login form."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


@pytest.fixture
def manager_page(browser_page, live_server, live_app, make_user):
    """A page signed in as a manager."""
    user = make_user("manager")
    sign_in(browser_page, live_server, user.email)
    return browser_page
