"""The month-end close in the browser: a run's state, history and the actions each role may
take (approve with four eyes, reopen with a reason, pay), checked in the database, and the
"changed since approval" notice with its differing lines."""

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.test_commissions import W_PAID, add_agreements, build_world
from webapp.commissions import committing, lifecycle, true_ups
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CommissionLock,
    CommissionRun,
)
from webapp.money import exact_text

FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)


@pytest.fixture
def world(app):
    world = build_world()
    world.solana, world.ethereum = add_agreements(world.acme)
    return world


@pytest.fixture
def people(app, make_user, login):
    """Two managers and an admin, each with a signed-in client."""
    users = {
        name: make_user(role)
        for name, role in (("ann", "manager"), ("bob", "manager"), ("ada", "admin"))
    }
    clients = {name: login(app.test_client(), user) for name, user in users.items()}
    return users, clients


def solana_run(world, user) -> CommissionRun:
    computation = committing.commit(world.acme, FIRST, LAST, user=user)
    return next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")


def stored(run_id) -> CommissionRun:
    db.session.expire_all()
    return db.session.get(CommissionRun, run_id)


def page_of(client, run) -> str:
    return client.get(f"/commissions/runs/{run.run_id}").get_data(as_text=True)


def test_four_eyes_approve_reopen_and_pay(world, people):
    users, clients = people
    run = solana_run(world, users["ann"])
    url = f"/commissions/runs/{run.run_id}"

    own = page_of(clients["ann"], run)
    assert 'id="run-status"' in own and ">committed<" in own
    assert "another manager or an admin approves it (four eyes)" in own
    assert not re.search(r"<button[^>]*>Approve</button>", own)
    refused = clients["ann"].post(f"{url}/approve")
    assert refused.status_code == 302
    assert stored(run.run_id).status == "committed"
    assert "cannot also approve it (four eyes)" in page_of(clients["ann"], run)

    assert re.search(r"<button[^>]*>Approve</button>", page_of(clients["bob"], run))
    assert clients["bob"].post(f"{url}/approve").status_code == 302
    approved = stored(run.run_id)
    assert (approved.status, approved.approved_by_user_id) == ("approved", users["bob"].user_id)
    locks = db.session.scalars(select(CommissionLock).where(CommissionLock.run_id == run.run_id))
    assert len(list(locks)) == 3  # the three Solana periods

    # A manager may not reopen; an admin must give a reason.
    assert clients["bob"].post(f"{url}/reopen", data={"reason": "x"}).status_code == 403
    clients["ada"].post(f"{url}/reopen", data={"reason": " "})
    assert stored(run.run_id).status == "approved"
    assert "Reopen" in page_of(clients["ada"], run) and "Reopen" not in page_of(clients["bob"], run)
    clients["ada"].post(f"{url}/reopen", data={"reason": "wrong rate for MEV"})
    reopened = stored(run.run_id)
    assert (reopened.status, reopened.reopen_reason) == ("committed", "wrong rate for MEV")
    assert db.session.scalars(select(CommissionLock)).first() is None

    clients["bob"].post(f"{url}/approve")
    no_reference = clients["bob"].post(f"{url}/pay", data={"payout_reference": ""})
    assert no_reference.status_code == 302 and stored(run.run_id).status == "approved"
    clients["bob"].post(
        f"{url}/pay", data={"payout_reference": "SEPA-2025-01", "paid_on": "2025-02-05"}
    )
    paid = stored(run.run_id)
    assert (paid.status, paid.payout_reference, paid.paid_on, paid.paid_by_user_id) == (
        "paid",
        "SEPA-2025-01",
        date(2025, 2, 5),
        users["bob"].user_id,
    )
    page = page_of(clients["ann"], run)
    history = re.search(r'class="striped run-history">(.*?)</table>', page, re.S).group(1)
    assert [a for a in re.findall(r"<td>(commit|approve|reopen|pay)\b", history)] == [
        "commit",
        "approve",
        "reopen",
        "approve",
        "pay",
    ]
    assert "wrong rate for MEV" in history and users["bob"].email in history
    assert "Paid is final." in page and "Mark paid" not in page and "Reopen" not in page
    # Paid is final: neither pay again nor reopen changes it.
    clients["bob"].post(f"{url}/pay", data={"payout_reference": "again"})
    clients["ada"].post(f"{url}/reopen", data={"reason": "late"})
    assert (
        stored(run.run_id).status == "paid"
        and stored(run.run_id).payout_reference == "SEPA-2025-01"
    )


def test_viewer_sees_state_but_no_action(world, people, viewer_client):
    users, _ = people
    run = solana_run(world, users["ann"])
    page = page_of(viewer_client, run)
    assert ">committed<" in page and "Approve" not in page
    assert viewer_client.post(f"/commissions/runs/{run.run_id}/approve").status_code == 403
    assert stored(run.run_id).status == "committed"


def test_changed_since_approval_names_the_difference_and_its_lines(world, people):
    users, clients = people
    run = solana_run(world, users["ann"])
    lifecycle.approve_run(run, users["bob"])
    nothing = clients["ann"].get(f"/commissions/runs/{run.run_id}/changes").get_data(as_text=True)
    assert "changed since approval" not in nothing
    # A late correction: W_PAID's MEV reward in period 702 grows by 0.5 (10% of it is 0.05).
    period = db.session.scalar(select(CanonicalPeriod).where(CanonicalPeriod.label == "702"))
    R = CanonicalStakerRewardsDetail
    db.session.execute(
        update(R)
        .where(
            R.period_id == period.period_id,
            R.staker_address == W_PAID,
            R.revenue_component == "MEV",
        )
        .values(reward_amount_native=R.reward_amount_native + Decimal("0.5"))
    )
    db.session.commit()
    [change] = true_ups.changes_since_approval(world.acme, stored(run.run_id))
    [changed] = change.periods
    assert changed.net_commission_native == Decimal("0.05")

    for url in (
        f"/commissions/runs/{run.run_id}/changes",
        f"/commissions/partners/{world.acme.partner_id}/changes",
    ):
        notice = clients["ann"].get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "changed since approval: " in notice
        assert (
            f'data-exact="{exact_text(Decimal("0.05"))}" data-token="SOL">+0.050000000 SOL'
            in notice
        )
        assert "in 702 (1 wallet(s))" in notice
    lines = (
        clients["ann"]
        .get(
            f"/commissions/runs/{run.run_id}/changes",
            query_string={"period": str(period.period_id)},
        )
        .get_data(as_text=True)
    )
    assert W_PAID in lines and lines.count("<tr><td><code>") == 1
    # The page loads the notice; the partner page too.
    assert f"/commissions/runs/{run.run_id}/changes" in page_of(clients["ann"], run)
    partner_page = clients["ann"].get(f"/partners/{world.acme.partner_id}").get_data(as_text=True)
    assert f"/commissions/partners/{world.acme.partner_id}/changes" in partner_page
