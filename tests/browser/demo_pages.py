"""Every page of the demo, for the browser tests that check each page (layout, accessibility).

The demo is seeded, each partner's whole year committed, and the pages found by following the
links (and htmx GETs) from the home page and a preview: one URL per shape of address (ids
and values replaced), so a list of 25 wallets is visited once, not 25 times.
"""

import re
from datetime import date
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select

from tests.browser.conftest import sign_in
from webapp.commissions import committing
from webapp.demo import seed_demo
from webapp.extensions import db
from webapp.models import Partner

YEAR = (date(2025, 1, 1), date(2025, 12, 31))
#: Pages worth no visit: files, the JSON API, sign-out, static files.
SKIP = re.compile(r"\.csv|/export|/download|/api/(?!v1/docs)|/logout|/static/|/openapi")
_ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|/[0-9]+(?=/|$)")
_ADDRESS = re.compile(r"/wallets/[^/?]+$")
LIMIT = 80

LINKS = """() => Array.from(document.querySelectorAll("a[href], [hx-get]"))
  .map(e => e.getAttribute("hx-get")
    ? new URL(e.getAttribute("hx-get"), location.href).href : e.href)"""


def seed(live_app) -> list[str]:
    """Seed the demo and commit each partner's year; the preview URLs to start from."""
    with live_app.app_context():
        seed_demo()
        starts = []
        for partner in db.session.scalars(select(Partner).order_by(Partner.name)):
            committing.commit(partner, *YEAR)
            starts.append(
                f"/commissions/?partner={partner.partner_id}"
                f"&date_from={YEAR[0].isoformat()}&date_to={YEAR[1].isoformat()}"
            )
        db.session.remove()
    return starts


def shape(url: str) -> str:
    """The URL with ids, addresses and query values taken out."""
    parts = urlsplit(url)
    path = _ADDRESS.sub("/wallets/{address}", _ID.sub("/{id}", parts.path))
    keys = sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return f"{path}?{'&'.join(keys)}"


def demo_pages(page, base: str, starts: list[str], check=None) -> list[str]:
    """Every page shape of the demo reachable from home and the previews (breadth first);
    `check(url)`, when given, runs on each page while it is open."""
    queue = [f"{base}/", *(f"{base}{start}" for start in starts)]
    seen, pages = set(), []
    while queue and len(pages) < LIMIT:
        url = queue.pop(0).split("#")[0]
        if not url.startswith(base) or SKIP.search(url) or shape(url) in seen:
            continue
        seen.add(shape(url))
        response = page.goto(url)
        if response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        if not page.evaluate("document.doctype !== null"):
            continue  # a fragment that a page loads into itself, not a page
        pages.append(url)
        queue.extend(page.evaluate(LINKS))
        if check:
            check(url)
    return pages


def admin_on_demo(page, live_server, live_app, make_user, check=None) -> list[str]:
    """Seed the demo, sign in as an admin (every page is open to one); the demo's pages,
    each checked by `check(url)` while open."""
    starts = seed(live_app)
    user = make_user("admin")
    sign_in(page, live_server, user.email)
    return demo_pages(page, live_server, starts, check)
