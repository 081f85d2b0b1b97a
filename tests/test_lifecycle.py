"""Every transition from every status, on each path (service, page, command line): the
allowed ones (written by hand from DOMAIN.md: committed -> approved -> paid, approved ->
committed by reopening) change the run; every other one is refused and changes nothing."""

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.test_commissions import add_agreements, build_world
from webapp.commissions import committing, lifecycle
from webapp.commissions.lifecycle import CommissionError
from webapp.extensions import db
from webapp.models import CommissionLock, CommissionRun, CommissionRunEvent

FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)
RANGE = ("--from", FIRST.isoformat(), "--to", LAST.isoformat())
STATUSES = ("committed", "approved", "paid", "superseded")
ACTIONS = ("approve", "reopen", "pay")
#: (status, action) -> status after; every pair not listed is refused.
ALLOWED = {
    ("committed", "approve"): "approved",
    ("approved", "reopen"): "committed",
    ("approved", "pay"): "paid",
}


@pytest.fixture
def close(app, make_user, login):
    world = build_world()
    world.solana, world.ethereum = add_agreements(world.acme)
    world.ann, world.bob, world.ada = (
        make_user("manager", "ann@example.com"),
        make_user("manager", "bob@example.com"),
        make_user("admin", "ada@example.com"),
    )
    world.client_of = lambda person: login(app.test_client(), person)
    return world


def sol_run(computation) -> CommissionRun:
    return next(o.run for o in computation.outcomes if o.agreement.name == "Acme SOL")


def run_in(world, status: str) -> CommissionRun:
    """Ann's Solana run, brought to `status` through the real transitions (with the
    partner's other runs of the range)."""
    run = sol_run(committing.commit(world.acme, FIRST, LAST, user=world.ann))
    if status == "superseded":
        committing.commit(world.acme, FIRST, LAST, user=world.ann)
    if status in ("approved", "paid"):
        lifecycle.approve_runs(world.acme, FIRST, LAST, world.bob)
    if status == "paid":
        lifecycle.pay_runs(world.acme, FIRST, LAST, world.bob, "SEPA-1", date(2025, 2, 5))
    db.session.expire_all()
    run = db.session.get(CommissionRun, run.run_id)
    assert run.status == status
    return run


def state(run_id) -> tuple:
    """What a transition may change: status, reference, locks and events of the run."""
    db.session.expire_all()
    run = db.session.get(CommissionRun, run_id)
    locks = db.session.scalar(select(func.count()).where(CommissionLock.run_id == run_id))
    events = db.session.scalar(select(func.count()).where(CommissionRunEvent.run_id == run_id))
    return run.status, run.payout_reference, run.approved_by_user_id, locks, events


def act_by_service(world, run, action):
    if action == "approve":
        lifecycle.approve_run(run, world.bob)
    elif action == "reopen":
        lifecycle.reopen_run(run, world.ada, "a wrong rate")
    else:
        lifecycle.pay_run(run, world.bob, "SEPA-2")


def act_by_page(world, run, action):
    person = world.ada if action == "reopen" else world.bob
    client = world.client_of(person)
    data = {"reason": "a wrong rate"} if action == "reopen" else {}
    if action == "pay":
        data = {"payout_reference": "SEPA-2"}
    response = client.post(f"/commissions/runs/{run.run_id}/{action}", data=data)
    assert response.status_code == 302


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("path", ["service", "page"])
def test_each_transition_from_each_status(close, status, action, path):
    run = run_in(close, status)
    before = state(run.run_id)
    act = act_by_service if path == "service" else act_by_page
    after_status = ALLOWED.get((status, action))
    if after_status is None:
        if path == "service":
            with pytest.raises(CommissionError) as refused:
                act(close, run, action)
            assert status in str(refused.value)
        else:
            act(close, run, action)
        assert state(run.run_id) == before
    else:
        act(close, run, action)
        after = state(run.run_id)
        assert after[0] == after_status
        assert after[4] == before[4] + 1  # one event more
        locked = after[3]
        assert locked == (0 if after_status == "committed" else 3)


@pytest.mark.parametrize(
    ("status", "command", "extra"),
    [
        ("paid", "approve", ()),
        ("paid", "reopen", ("--reason", "late")),
        ("paid", "pay", ("--reference", "AGAIN")),
        ("committed", "pay", ("--reference", "EARLY")),
        ("committed", "reopen", ("--reason", "nothing to reopen")),
    ],
)
def test_command_line_refuses_what_the_table_forbids(close, runner, status, command, extra):
    run = run_in(close, status)
    before = state(run.run_id)
    who = "ada@example.com" if command == "reopen" else "bob@example.com"
    result = runner.invoke(
        args=["commissions", command, "Acme Wallet", *RANGE, *extra, "--as", who]
    )
    assert result.exit_code != 0
    assert state(run.run_id) == before


def test_a_run_without_a_committer_is_never_approved(close):
    run = sol_run(committing.commit(close.acme, FIRST, LAST))
    before = state(run.run_id)
    for person in (close.ann, close.bob, close.ada):
        with pytest.raises(CommissionError, match="names no committer"):
            lifecycle.approve_run(run, person)
    assert state(run.run_id) == before


def test_the_committer_cannot_approve(close):
    run = run_in(close, "committed")
    before = state(run.run_id)
    with pytest.raises(CommissionError, match="four eyes"):
        lifecycle.approve_run(run, close.ann)
    assert state(run.run_id) == before
