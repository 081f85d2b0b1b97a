"""Agreements over time in the browser: edit name and dates, end an open agreement, start a
successor with a copy of the rules; refusals name the fields by their labels; all audited."""

import json
from datetime import date

import pytest
from sqlalchemy import select

from tests.test_commissions import build_world
from webapp.agreements.queries import locked_period_ids
from webapp.agreements.service import create_agreement, parse_rate_spec, period_reach
from webapp.commissions import committing, lifecycle
from webapp.extensions import db
from webapp.models import Agreement, AgreementRule, AuditLog


@pytest.fixture
def world(app):
    """Acme with Solana periods on 1-3 Jan 2025 and an open-ended Solana agreement."""
    world = build_world()
    world.agreement = create_agreement(
        world.acme,
        "solana",
        "Acme 2025",
        date(2025, 1, 1),
        None,
        True,
        [parse_rate_spec("MEV=500"), parse_rate_spec("REWARDS=250@Vote111")],
    )
    return world


def fresh(agreement_id) -> Agreement:
    db.session.expire_all()
    return db.session.get(Agreement, agreement_id)


def audit_of(action: str, agreement_id) -> list[dict]:
    entries = db.session.scalars(
        select(AuditLog).where(
            AuditLog.action == action,
            AuditLog.entity_type == "agreement",
            AuditLog.entity_id == str(agreement_id),
        )
    )
    return [
        {"before": json.loads(e.before or "{}"), "after": json.loads(e.after or "{}")}
        for e in entries
    ]


def rules_of(agreement_id) -> set[str]:
    rules = db.session.scalars(
        select(AgreementRule).where(AgreementRule.agreement_id == agreement_id)
    )
    return {
        f"{r.revenue_component.value}={r.commission_rate_bps}"
        + (f"@{r.validator_key}" if r.validator_key else "")
        for r in rules
    }


def test_edit_name_and_dates_is_stored_and_audited(manager_client, world):
    key = world.agreement.agreement_id
    assert manager_client.get(f"/agreements/{key}/edit").status_code == 200
    response = manager_client.post(
        f"/agreements/{key}/edit",
        data={
            "name": "Acme SOL 2025",
            "effective_from": "2025-01-02",
            "effective_to": "2025-06-30",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    stored = fresh(key)
    assert (stored.name, stored.effective_from, stored.effective_to) == (
        "Acme SOL 2025",
        date(2025, 1, 2),
        date(2025, 6, 30),
    )
    [entry] = audit_of("update", key)
    assert entry["before"] == {
        "name": "Acme 2025",
        "effective_from": "2025-01-01",
        "effective_to": None,
    }
    assert entry["after"]["effective_to"] == "2025-06-30"


def test_edit_refusals_use_the_labels_and_change_nothing(manager_client, world):
    key = world.agreement.agreement_id
    create_agreement(
        world.acme,
        "ethereum",
        "Acme ETH",
        date(2025, 1, 1),
        None,
        False,
        [parse_rate_spec("MEV=1")],
    )
    # An earlier Solana agreement that the edited dates would run into.
    create_agreement(
        world.acme,
        "solana",
        "Acme 2024",
        date(2024, 1, 1),
        date(2024, 12, 31),
        False,
        [parse_rate_spec("MEV=1")],
    )
    backwards = manager_client.post(
        f"/agreements/{key}/edit",
        data={"name": "X", "effective_from": "2025-03-01", "effective_to": "2025-02-01"},
    )
    assert backwards.status_code == 400
    assert "Effective to 2025-02-01 is before Effective from 2025-03-01" in backwards.get_data(
        as_text=True
    )
    overlap = manager_client.post(
        f"/agreements/{key}/edit",
        data={"name": "X", "effective_from": "2024-12-01", "effective_to": ""},
    )
    assert overlap.status_code == 400
    assert "overlaps agreement &#39;Acme 2024&#39;" in overlap.get_data(as_text=True)
    not_a_date = manager_client.post(
        f"/agreements/{key}/edit",
        data={"name": "X", "effective_from": "2025-02-30", "effective_to": ""},
    )
    assert "Effective from &#39;2025-02-30&#39; is not a date" in not_a_date.get_data(as_text=True)
    stored = fresh(key)
    assert (stored.name, stored.effective_from, stored.effective_to) == (
        "Acme 2025",
        date(2025, 1, 1),
        None,
    )
    assert audit_of("update", key) == []


def test_end_an_open_agreement(manager_client, world):
    key = world.agreement.agreement_id
    early = manager_client.post(f"/agreements/{key}/end", data={"effective_to": "2024-12-31"})
    assert early.status_code == 400
    assert "Last day 2024-12-31 is before Effective from 2025-01-01" in early.get_data(as_text=True)
    assert fresh(key).effective_to is None

    response = manager_client.post(f"/agreements/{key}/end", data={"effective_to": "2025-12-31"})
    assert response.status_code == 302
    assert fresh(key).effective_to == date(2025, 12, 31)
    [entry] = audit_of("end", key)
    assert entry == {"before": {"effective_to": None}, "after": {"effective_to": "2025-12-31"}}
    # Ended, it is no longer open: a second end is refused, the date stays.
    again = manager_client.post(f"/agreements/{key}/end", data={"effective_to": "2026-01-31"})
    assert again.status_code == 400
    assert fresh(key).effective_to == date(2025, 12, 31)


def test_successor_copies_rules_and_ends_the_predecessor_the_day_before(manager_client, world):
    key = world.agreement.agreement_id
    form = manager_client.get(f"/agreements/{key}/successor").get_data(as_text=True)
    assert "MEV 500 bps" in form
    response = manager_client.post(
        f"/agreements/{key}/successor",
        data={"name": "Acme 2026", "effective_from": "2026-01-01"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    successor = db.session.scalars(select(Agreement).where(Agreement.name == "Acme 2026")).one()
    assert response.headers["Location"] == f"/agreements/{successor.agreement_id}"
    assert (successor.effective_from, successor.effective_to) == (date(2026, 1, 1), None)
    assert successor.wallet_attribution_enabled is True
    assert rules_of(successor.agreement_id) == rules_of(key) == {"MEV=500", "REWARDS=250@Vote111"}
    assert fresh(key).effective_to == date(2025, 12, 31)
    [ended] = audit_of("end", key)
    assert ended["after"]["effective_to"] == "2025-12-31"
    [created] = audit_of("create", successor.agreement_id)
    assert created["after"]["predecessor"] == str(key)
    # The copy is the successor's own: editing it leaves the predecessor's rates alone.
    rule = next(r for r in successor.rules if r.validator_key is None)
    manager_client.post(
        f"/agreements/{successor.agreement_id}/rules/{rule.rule_id}",
        data={"commission_rate_bps": "700"},
    )
    assert rules_of(successor.agreement_id) == {"MEV=700", "REWARDS=250@Vote111"}
    assert rules_of(key) == {"MEV=500", "REWARDS=250@Vote111"}


def test_successor_refusals_change_nothing(manager_client, world):
    key = world.agreement.agreement_id
    too_early = manager_client.post(
        f"/agreements/{key}/successor", data={"name": "New", "effective_from": "2025-01-01"}
    )
    assert too_early.status_code == 400
    assert "Successor starts on 2025-01-01 must be after the start of Acme 2025" in (
        too_early.get_data(as_text=True)
    )
    # A later agreement on the chain: a successor from mid-2025 would run into it.
    world.agreement.effective_to = date(2025, 12, 31)
    db.session.commit()
    create_agreement(
        world.acme, "solana", "Acme 2026", date(2026, 1, 1), None, False, [parse_rate_spec("MEV=1")]
    )
    assert (
        manager_client.post(
            f"/agreements/{key}/successor", data={"name": "Mid", "effective_from": "2025-07-01"}
        ).status_code
        == 302
    )  # [2025-07-01, 2025-12-31]: the predecessor's end, no overlap
    assert fresh(key).effective_to == date(2025, 6, 30)
    mid = db.session.scalars(select(Agreement).where(Agreement.name == "Mid")).one()
    assert mid.effective_to == date(2025, 12, 31)
    count = db.session.query(Agreement).count()
    late = manager_client.post(
        f"/agreements/{mid.agreement_id}/successor",
        data={"name": "Late", "effective_from": "2026-02-01"},
    )
    assert late.status_code == 400
    assert "a successor starts at the latest the day after" in late.get_data(as_text=True)
    assert db.session.query(Agreement).count() == count
    assert fresh(mid.agreement_id).effective_to == date(2025, 12, 31)


def test_detail_says_which_periods_a_change_reaches(manager_client, viewer_client, world):
    key = world.agreement.agreement_id
    reach = period_reach(world.agreement, set())
    assert [label for label, _ in reach.affected] == ["701", "702", "703"]
    assert reach.locked == []
    page = manager_client.get(f"/agreements/{key}").get_data(as_text=True)
    assert "affects 3 period(s) at their next commit:\n  701, 702, 703" in page
    assert "No period of this agreement is locked." in page
    assert "End agreement" in page and "New rates from a date" in page
    # Ended before the second period, the agreement reaches only the first.
    world.agreement.effective_to = date(2025, 1, 1)
    db.session.commit()
    assert [label for label, _ in period_reach(fresh(key), set()).affected] == ["701"]
    viewer_page = viewer_client.get(f"/agreements/{key}").get_data(as_text=True)
    assert "End agreement" not in viewer_page and "New rates from a date" not in viewer_page


def test_locked_periods_are_named_as_out_of_reach(manager_client, world, make_user):
    ann, bob = make_user("manager"), make_user("manager")
    computation = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 2), user=ann)
    lifecycle.approve_run(computation.outcomes[0].run, bob)
    key = world.agreement.agreement_id
    reach = period_reach(fresh(key), locked_period_ids(key))
    assert [label for label, _ in reach.locked] == ["701", "702"]
    assert [label for label, _ in reach.affected] == ["703"]
    page = manager_client.get(f"/agreements/{world.agreement.agreement_id}").get_data(as_text=True)
    assert "affects 1 period(s) at their next commit:\n  703" in page
    assert "Locked by an approved run, never recomputed:</strong> 701, 702" in page
