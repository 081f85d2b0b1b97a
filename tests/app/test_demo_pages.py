"""Every page of every demo agreement, partner and run opens (200), found by following the
links of the pages themselves from the home page and the lists, as a signed-in admin.

The demo (`flask seed-demo`'s loader) is taken through a month-end first, so that runs of
every kind exist: Aurora Wallet's first half of September paid, then reached by late data;
its second half committed, then made stale; Borealis Exchange (an agreement with an end
date) approved for the first quarter, its February corrected, the second quarter committed
with the true-up, the rest committed and committed again (a superseded run).
"""

import html
import re
from collections import Counter
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest
from flask import before_render_template, template_rendered
from sqlalchemy import event, select, update

from tests import factories
from webapp.commissions import committing, lifecycle
from webapp.demo import seed_demo
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionRun,
    Partner,
)

LINK = re.compile(r'(href|hx-get)="(/[^"]*)"')
#: Pages opened at most per page kind and owner (a run's wallets, an agreement's periods):
#: every kind of page is opened for every agreement, partner and run, not every wallet.
PER_KIND_AND_OWNER = 3
SKIP = ("/logout", "/static/", "/api/")


@pytest.fixture
def demo(app):
    assert seed_demo()
    ann, bob = factories.user("manager"), factories.user("manager")
    aurora, borealis = (
        db.session.scalars(select(Partner).where(Partner.name == name)).one()
        for name in ("Aurora Wallet", "Borealis Exchange")
    )

    def commit(partner, low, high, true_up=False):
        return committing.commit(partner, low, high, user=ann, true_up=true_up)

    def runs_of(computation):
        return [o.run for o in computation.outcomes]

    def period(chain_id, label):
        P = CanonicalPeriod
        return db.session.scalars(select(P).where(P.chain_id == chain_id, P.label == label)).one()

    def grow(model, chain_id, label):
        db.session.execute(
            update(model)
            .where(model.period_id == period(chain_id, label).period_id)
            .values({amount_of(model): amount_of(model, column=True) * Decimal("1.5")})
        )
        db.session.commit()

    # Aurora: 812-816 paid, then late data in 813; 817-821 committed, then stale (819).
    for run in runs_of(commit(aurora, date(2025, 9, 1), date(2025, 9, 10))):
        lifecycle.approve_run(run, bob)
        lifecycle.pay_run(run, bob, "DEMO-PAY-1")
    commit(aurora, date(2025, 9, 11), date(2025, 9, 20))
    grow(CanonicalStakerRewardsDetail, "solana", "813")
    grow(CanonicalStakerRewardsDetail, "solana", "819")
    # Borealis: Q1 approved, February corrected, Q2 with the true-up, the rest twice.
    for run in runs_of(commit(borealis, date(2025, 1, 1), date(2025, 3, 31))):
        lifecycle.approve_run(run, bob)
    grow(CanonicalValidatorRevenue, "ethereum", "2025-02")
    commit(borealis, date(2025, 4, 1), date(2025, 6, 30), true_up=True)
    commit(borealis, date(2025, 7, 1), date(2025, 10, 31))
    grow(CanonicalValidatorRevenue, "ethereum", "2025-08")
    commit(borealis, date(2025, 7, 1), date(2025, 10, 31))
    return aurora, borealis


def amount_of(model, column=False):
    name = "reward_amount_native" if model is CanonicalStakerRewardsDetail else "amount_native"
    return getattr(model, name) if column else name


def group_of(app, path: str) -> tuple:
    """(endpoint, owner) of a path: the owner is its first id (agreement, partner, run)."""
    adapter = app.url_map.bind("localhost")
    endpoint, args = adapter.match(path.split("?")[0], method="GET")
    owner = next((str(v) for k, v in args.items() if k.endswith("_id")), None)
    return endpoint, owner


def crawl(app, client, runs, extra=()) -> dict[str, int]:
    """Every page found by following the links of the pages from the home page, the lists and
    each run's page (at most `PER_KIND_AND_OWNER` per kind and owner): path -> status."""
    start = ["/", "/partners/", "/agreements/", "/commissions/", "/imports/", "/audit/"]
    start += [f"/commissions/runs/{run.run_id}" for run in runs]
    start += list(extra)
    queue, seen, opened = [(path, False) for path in start], set(start), Counter()
    visited: dict[str, int] = {}
    while queue:
        path, fragment = queue.pop(0)
        # A served request starts with an empty session, as each of a worker's requests does:
        # nothing an earlier request loaded answers a lazy relationship.
        db.session.remove()
        # A link of htmx asks for a fragment, as the browser does.
        response = client.get(path, headers={"HX-Request": "true"} if fragment else {})
        body = response.get_data()  # a streamed file is read to its end
        response.close()
        visited[path] = response.status_code
        if response.status_code != 200 or not response.mimetype.startswith("text/html"):
            continue
        for attribute, link in LINK.findall(body.decode()):
            link = html.unescape(link)
            if link in seen or link.startswith(SKIP) or link.startswith("//"):
                continue
            seen.add(link)
            group = group_of(app, link)
            if opened[group] >= PER_KIND_AND_OWNER:
                continue
            opened[group] += 1
            queue.append((link, attribute == "hx-get"))
    return visited


def test_every_page_of_every_demo_agreement_partner_and_run_opens(app, demo, admin_client):
    aurora, borealis = demo
    runs = db.session.scalars(select(CommissionRun)).all()
    statuses = Counter(run.status for run in runs)
    assert {"paid", "approved", "committed", "superseded"} <= set(statuses), statuses
    assert any(run.adjustment_count for run in runs)
    agreements = db.session.scalars(select(Agreement)).all()
    assert any(a.effective_to is not None for a in agreements)

    partners = [(p.partner_id, p.name) for p in (aurora, borealis)]
    visited = crawl(app, admin_client, runs)

    failed = {path: status for path, status in visited.items() if status != 200}
    assert failed == {}
    # Every kind of page of every agreement, partner and run was among them.
    endpoints = {group_of(app, path) for path in visited}
    for agreement in agreements:
        owner = str(agreement.agreement_id)
        for endpoint in (
            "agreements.detail",
            "agreements.edit",
            "agreements.successor",
            "insight.compare_methods",
        ):
            assert (endpoint, owner) in endpoints, (endpoint, agreement.name)
    for partner_id, name in partners:
        for endpoint in ("partners.detail", "partners.edit", "wallets.list_partner_wallets"):
            assert (endpoint, str(partner_id)) in endpoints, (endpoint, name)
    for run in runs:
        owner = str(run.run_id)
        for endpoint in ("commissions.run_detail", "commissions.run_lines_csv"):
            assert (endpoint, owner) in endpoints, (endpoint, run.status)
        if run.status != "superseded":
            assert ("insight.run_period", owner) in endpoints, run.status
    assert len(visited) > 60, len(visited)


def ranges_of(aurora, borealis) -> list[str]:
    """The preview pages of the demo's month-end ranges: paid with late data, stale, approved
    with a true-up to carry, committed twice."""
    return [
        f"/commissions/?partner={partner.partner_id}&date_from={low}&date_to={high}"
        for partner, low, high in (
            (aurora, "2025-09-01", "2025-09-10"),
            (aurora, "2025-09-11", "2025-09-20"),
            (aurora, "2025-09-01", "2025-09-30"),
            (borealis, "2025-01-01", "2025-03-31"),
            (borealis, "2025-04-01", "2025-06-30"),
            (borealis, "2025-07-01", "2025-10-31"),
        )
    ]


@contextmanager
def statements_while_rendering(app):
    """The SQL statements run while a template renders (template globals, lazy-loaded
    relationships), each with the template being rendered."""
    rendering: list[str] = []
    found: list[tuple[str, str]] = []

    def before(sender, template, context, **extra):
        rendering.append(template.name)

    def after(sender, template, context, **extra):
        rendering.pop()

    def record(conn, cursor, statement, parameters, context, executemany):
        if rendering:
            found.append((rendering[-1], statement))

    before_render_template.connect(before, app)
    template_rendered.connect(after, app)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        template_rendered.disconnect(after, app)
        before_render_template.disconnect(before, app)


def test_no_page_of_the_demo_queries_the_database_while_its_template_renders(
    app, demo, admin_client
):
    """What a page shows is read by its route and passed in: rendering runs no SQL."""
    runs = db.session.scalars(select(CommissionRun)).all()
    with statements_while_rendering(app) as found:
        visited = crawl(app, admin_client, runs, extra=ranges_of(*demo))
    assert len(visited) > 60, len(visited)
    assert {path: status for path, status in visited.items() if status != 200} == {}
    assert found == [], "\n".join(sorted({f"{t}: {s[:150]}" for t, s in found}))
