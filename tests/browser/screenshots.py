"""Screenshots of the pages a finance person reads every month, for a person to look at:
home, a range with its preview, a run, a partner and a comparison, at 1440 and 390 px.

Run by scripts/screenshots DIR (SCREENSHOTS_DIR=DIR). The file's name is not a test file's, so a
plain test run never collects it; pytest takes it when it is named on the command line.
"""

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.browser.conftest import sign_in
from tests.browser.demo_pages import YEAR
from webapp.commissions import committing
from webapp.demo import seed_demo
from webapp.extensions import db
from webapp.models import Agreement, CommissionRun, Partner

pytestmark = pytest.mark.browser

WIDTHS = (1440, 390)


def test_screenshots(browser_page, live_server, live_app, make_user):
    out = Path(os.environ["SCREENSHOTS_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    with live_app.app_context():
        seed_demo()
        partners = db.session.scalars(select(Partner).order_by(Partner.name)).all()
        previewed, committed = partners[0], partners[1:]
        for partner in committed:  # the first partner's year stays a preview
            committing.commit(partner, *YEAR)
        run = db.session.scalars(
            select(CommissionRun)
            .where(CommissionRun.partner_id == committed[0].partner_id)
            .order_by(CommissionRun.date_from)
        ).first()
        agreement = db.session.scalars(
            select(Agreement).where(Agreement.partner_id == committed[0].partner_id)
        ).first()
        range_query = (
            f"partner={previewed.partner_id}&date_from={YEAR[0].isoformat()}"
            f"&date_to={YEAR[1].isoformat()}"
        )
        pages = {
            "home": "/",
            "range": f"/commissions/?{range_query}",
            "run": f"/commissions/runs/{run.run_id}",
            "partner": f"/partners/{committed[0].partner_id}",
            "comparison": f"/insight/agreements/{agreement.agreement_id}/compare",
        }
        email = make_user("manager").email
        db.session.remove()
    page = browser_page
    sign_in(page, live_server, email)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(f"{live_server}{path}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
    assert sorted(p.name for p in out.glob("*.png")) >= sorted(
        f"{name}-{width}.png" for name in pages for width in WIDTHS
    )
