"""Large previews take turns across the app's workers (PostgreSQL): a preview of a partner
with many wallets waits while another holds the turn, a small one never waits, and both
answer the preview once they run. Checked with the turn held by a connection of the test's
own, the page asked from a thread."""

import threading
from datetime import date

import pytest
from sqlalchemy import func, select, text

from tests.worlds import world_with_agreements
from webapp.commissions import large
from webapp.extensions import db
from webapp.models import PartnerWallet

pytestmark = pytest.mark.postgres_only

RANGE = {"date_from": date(2025, 1, 1).isoformat(), "date_to": date(2025, 1, 3).isoformat()}


def _ask_in_thread(app, client, partner_id):
    """Ask the partner's preview from a thread: (the thread, an event set once answered,
    the answers)."""
    done, answers = threading.Event(), []

    def ask():
        with app.app_context():
            try:
                response = client.get(
                    "/commissions/", query_string={"partner": partner_id, **RANGE}
                )
                answers.append((response.status_code, response.get_data(as_text=True)))
            finally:
                db.session.remove()
                done.set()

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, done, answers


@pytest.mark.parametrize("is_large", [True, False])
def test_a_large_preview_waits_for_its_turn_and_a_small_one_does_not(
    app, manager_client, monkeypatch, is_large
):
    world = world_with_agreements(5)
    partner_id = str(world.acme.partner_id)
    db.session.commit()
    wallets = db.session.scalar(
        select(func.count())
        .select_from(PartnerWallet)
        .where(PartnerWallet.partner_id == world.acme.partner_id)
    )
    # Large when the bound is its wallet count, small when it is one more.
    monkeypatch.setattr(large, "LARGE_PARTNER_WALLETS", wallets if is_large else wallets + 1)
    holder = db.engine.connect()
    holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": large.LOCK_KEY})
    thread, done, answers = _ask_in_thread(app, manager_client, partner_id)
    try:
        answered_while_held = done.wait(timeout=1.5 if is_large else 30)
    finally:
        holder.rollback()
        holder.close()
    thread.join(timeout=60)
    assert answered_while_held is not is_large
    [(status, page)] = answers
    assert status == 200
    assert "Total commission, per token" in page


def test_a_large_preview_waits_no_longer_than_its_bound(app, manager_client, monkeypatch):
    """With the turn held past the bound, the large preview goes ahead without it and
    answers while the turn is still held."""
    world = world_with_agreements(5)
    partner_id = str(world.acme.partner_id)
    db.session.commit()
    monkeypatch.setattr(large, "LARGE_PARTNER_WALLETS", 1)
    monkeypatch.setattr(large, "WAIT_SECONDS", 0.5)
    holder = db.engine.connect()
    holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": large.LOCK_KEY})
    thread, done, answers = _ask_in_thread(app, manager_client, partner_id)
    try:
        answered_while_held = done.wait(timeout=30)
    finally:
        holder.rollback()
        holder.close()
    thread.join(timeout=60)
    assert answered_while_held
    [(status, page)] = answers
    assert status == 200
    assert "Total commission, per token" in page
