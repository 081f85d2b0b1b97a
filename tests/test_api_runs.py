"""The month-end transitions through the API: approve (four eyes, manager or admin) and reopen
(admin, with a reason), checked in the run's row, its locks and its history."""

import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.api_helpers import bearer
from tests.test_commissions import add_agreements, build_world
from webapp.api import current_spec
from webapp.commissions import committing, lifecycle
from webapp.extensions import db
from webapp.models import CommissionLock, CommissionRun, CommissionRunEvent

API = "/api/v1"
PROBLEM = "application/problem+json"


@pytest.fixture
def people(make_user):
    return {
        "committer": make_user("manager"),
        "manager": make_user("manager"),
        "admin": make_user("admin"),
        "viewer": make_user("viewer"),
    }


@pytest.fixture
def run(app, people):
    """The committed Solana run of 1-3 Jan 2025 (3 periods), committed by `committer`."""
    world = build_world()
    world.solana, world.ethereum = add_agreements(world.acme)
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3), user=people["committer"])
    return db.session.scalar(
        select(CommissionRun).where(CommissionRun.agreement_id == world.solana.agreement_id)
    )


def stored(run_id) -> tuple:
    """The run's status, approver, reopener and reason as stored, its locks and its events."""
    db.session.expire_all()
    row = db.session.get(CommissionRun, run_id)
    locks = db.session.scalar(
        select(func.count()).select_from(CommissionLock).where(CommissionLock.run_id == run_id)
    )
    events = db.session.scalars(
        select(CommissionRunEvent.action)
        .where(CommissionRunEvent.run_id == run_id)
        .order_by(CommissionRunEvent.created_at)
    ).all()
    return (
        row.status,
        row.approved_by_user_id,
        row.reopened_by_user_id,
        row.reopen_reason,
        locks,
        list(events),
    )


def token(user, scope="write") -> dict:
    """A new token of `user` (each one named apart)."""
    return bearer(user, scope, name=uuid.uuid4().hex)


def approve(client, run_id, user, scope="write"):
    return client.post(f"{API}/runs/{run_id}/approve", headers=token(user, scope))


def reopen(client, run_id, user, reason="the rate was wrong", scope="write"):
    return client.post(
        f"{API}/runs/{run_id}/reopen", json={"reason": reason}, headers=token(user, scope)
    )


def assert_problem(response, status) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return response.get_json(force=True)


def test_a_manager_approves_and_an_admin_reopens(client, run, people):
    manager, admin = people["manager"], people["admin"]
    response = approve(client, run.run_id, manager)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "approved" and body["approved_by"] == manager.email
    assert body["created_by"] == people["committer"].email
    assert stored(run.run_id) == (
        "approved",
        manager.user_id,
        None,
        None,
        3,
        ["commit", "approve"],
    )

    response = reopen(client, run.run_id, admin, reason="  late revenue for 2 Jan  ")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "committed" and body["reopened_by"] == admin.email
    assert body["reopen_reason"] == "late revenue for 2 Jan"
    assert stored(run.run_id) == (
        "committed",
        manager.user_id,
        admin.user_id,
        "late revenue for 2 Jan",
        0,
        ["commit", "approve", "reopen"],
    )


def test_the_committer_cannot_approve_through_the_api(client, run, people):
    before = stored(run.run_id)
    body = assert_problem(approve(client, run.run_id, people["committer"]), 409)
    assert "four eyes" in body["detail"] and people["committer"].email in body["detail"]
    assert stored(run.run_id) == before == ("committed", None, None, None, 0, ["commit"])


def test_a_transition_the_state_forbids_is_409_naming_it_and_changes_nothing(client, run, people):
    before = stored(run.run_id)
    body = assert_problem(reopen(client, run.run_id, people["admin"]), 409)
    assert "is committed, not approved" in body["detail"]
    assert stored(run.run_id) == before

    assert approve(client, run.run_id, people["manager"]).status_code == 200
    approved = stored(run.run_id)
    body = assert_problem(approve(client, run.run_id, people["admin"]), 409)
    assert "is approved, not committed" in body["detail"]
    assert stored(run.run_id) == approved

    lifecycle.pay_run(db.session.get(CommissionRun, run.run_id), people["manager"], "PAY-1")
    paid = stored(run.run_id)
    body = assert_problem(reopen(client, run.run_id, people["admin"]), 409)
    assert "paid is final" in body["detail"]
    assert stored(run.run_id) == paid and paid[0] == "paid"


def test_roles_and_scopes(client, run, people):
    before = stored(run.run_id)
    # A viewer's write token, and a manager's read token, may not approve.
    assert_problem(approve(client, run.run_id, people["viewer"]), 403)
    assert_problem(approve(client, run.run_id, people["manager"], scope="read"), 403)
    assert stored(run.run_id) == before

    assert approve(client, run.run_id, people["manager"]).status_code == 200
    approved = stored(run.run_id)
    # Reopening is an admin's: a manager is refused, so is an admin's read token.
    body = assert_problem(reopen(client, run.run_id, people["manager"]), 403)
    assert "admin" in body["detail"]
    assert_problem(reopen(client, run.run_id, people["admin"], scope="read"), 403)
    assert stored(run.run_id) == approved


def test_a_reopening_needs_a_reason_and_an_unknown_run_is_404(client, run, people):
    assert approve(client, run.run_id, people["manager"]).status_code == 200
    approved = stored(run.run_id)
    for body in ({}, {"reason": "   "}, {"reason": ""}, {"reason": "x", "extra": 1}):
        response = client.post(
            f"{API}/runs/{run.run_id}/reopen", json=body, headers=token(people["admin"])
        )
        assert_problem(response, 422)
    assert stored(run.run_id) == approved
    assert_problem(approve(client, uuid.uuid4(), people["manager"]), 404)
    assert_problem(reopen(client, uuid.uuid4(), people["admin"]), 404)


def test_an_approval_replayed_with_its_key_is_not_made_twice(client, run, people):
    headers = token(people["manager"]) | {"Idempotency-Key": "approve-1"}
    first = client.post(f"{API}/runs/{run.run_id}/approve", headers=headers)
    again = client.post(f"{API}/runs/{run.run_id}/approve", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(run.run_id)[-1] == ["commit", "approve"]


def test_the_transitions_are_in_the_openapi_document(app):
    paths = current_spec()["paths"]
    approve_doc = paths["/api/v1/runs/{run_id}/approve"]["post"]
    reopen_doc = paths["/api/v1/runs/{run_id}/reopen"]["post"]
    for operation in (approve_doc, reopen_doc):
        assert {"200", "403", "404", "409"} <= set(operation["responses"])
    schema = reopen_doc["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/RunReopen")
    spec_schemas = current_spec()["components"]["schemas"]
    assert "reason" in spec_schemas["RunReopen"]["required"]
    assert "status" in spec_schemas["RunTransition"]["properties"]
