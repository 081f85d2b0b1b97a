"""Month-end transitions at once (PostgreSQL, two connections released together by a
barrier, twenty rounds each): of two transitions one wins and the other is refused, and the
rows always end in one allowed state. The rows are checked, not only what each call said."""

import threading
from datetime import date

import pytest
from sqlalchemy import delete, func, select

from tests import factories
from tests.test_commissions import world_with_agreements
from webapp.commissions import committing, lifecycle
from webapp.commissions.lifecycle import CommissionError
from webapp.extensions import db
from webapp.models import (
    CommissionExclusion,
    CommissionLock,
    CommissionRun,
    CommissionRunEvent,
    CommissionRunPeriod,
    PartnerCommissionLine,
)
from webapp.partners.service import get_partner

pytestmark = pytest.mark.postgres_only

ROUNDS = 20
LOW, HIGH = date(2025, 1, 1), date(2025, 1, 3)


@pytest.fixture
def close(app):
    """A partner with agreements, two managers and an admin."""
    world = world_with_agreements()
    world.ann = factories.user("manager", "ann@example.com")
    world.bob = factories.user("manager", "bob@example.com")
    world.root = factories.user("admin", "root@example.com")
    db.session.commit()
    return world


def _fresh_runs(world) -> list:
    """Forget every run, then commit the range again as Ann: the new runs' ids."""
    for model in (
        CommissionLock,
        PartnerCommissionLine,
        CommissionExclusion,
        CommissionRunPeriod,
        CommissionRunEvent,
        CommissionRun,
    ):
        db.session.execute(delete(model))
    db.session.commit()
    computation = committing.commit(world.acme, LOW, HIGH, user=world.ann)
    return [o.run.run_id for o in computation.outcomes]


def _race(app, *actions) -> list:
    """Run each action(run) in its own thread and connection, all released at once after
    each has read its run; what each returned or raised, in order."""
    barrier = threading.Barrier(len(actions), timeout=30)
    outcomes: list = [None] * len(actions)

    def worker(index, action):
        with app.app_context():
            try:
                outcomes[index] = action(barrier)
            except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
                outcomes[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=pair) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a transition never finished"
    db.session.expire_all()
    return outcomes


def _events(run_id, action) -> int:
    E = CommissionRunEvent
    return db.session.scalar(select(func.count()).where(E.run_id == run_id, E.action == action))


def _locks(run_id) -> int:
    return db.session.scalar(select(func.count()).where(CommissionLock.run_id == run_id))


def _pairs(run_id) -> int:
    RP = CommissionRunPeriod
    return db.session.scalar(select(func.count()).where(RP.run_id == run_id))


def _user_model():
    from webapp.models import User

    return User


def _acting(run_id, user_id, call):
    User = _user_model()

    def action(barrier):
        run = db.session.get(CommissionRun, run_id)
        user = db.session.get(User, user_id)
        assert run.status  # read before the others act, as a page would
        barrier.wait()
        return call(run, user)

    return action


def test_two_pays_at_once_one_wins(app, close):
    for round_no in range(ROUNDS):
        run_id = _fresh_runs(close)[0]
        lifecycle.approve_run(db.session.get(CommissionRun, run_id), close.bob)
        outcomes = _race(
            app,
            _acting(run_id, close.ann.user_id, lambda r, u: lifecycle.pay_run(r, u, "REF-A")),
            _acting(run_id, close.bob.user_id, lambda r, u: lifecycle.pay_run(r, u, "REF-B")),
        )
        refused = [o for o in outcomes if isinstance(o, CommissionError)]
        assert len(refused) == 1, (round_no, outcomes)
        assert "paid" in str(refused[0])
        run = db.session.get(CommissionRun, run_id)
        winner = "REF-A" if not isinstance(outcomes[0], Exception) else "REF-B"
        assert run.status == "paid" and run.payout_reference == winner
        assert _events(run_id, "pay") == 1
        assert _locks(run_id) == _pairs(run_id) > 0


def test_pay_and_reopen_at_once_end_in_one_allowed_state(app, close):
    seen = set()
    for round_no in range(ROUNDS):
        run_id = _fresh_runs(close)[0]
        lifecycle.approve_run(db.session.get(CommissionRun, run_id), close.bob)
        outcomes = _race(
            app,
            _acting(run_id, close.ann.user_id, lambda r, u: lifecycle.pay_run(r, u, "REF")),
            _acting(run_id, close.root.user_id, lambda r, u: lifecycle.reopen_run(r, u, "typo")),
        )
        assert sum(isinstance(o, CommissionError) for o in outcomes) == 1, (round_no, outcomes)
        run = db.session.get(CommissionRun, run_id)
        seen.add(run.status)
        if run.status == "paid":
            assert _events(run_id, "pay") == 1 and _events(run_id, "reopen") == 0
            assert _locks(run_id) == _pairs(run_id) > 0
        else:
            assert run.status == "committed", run.status
            assert _events(run_id, "reopen") == 1 and _events(run_id, "pay") == 0
            assert _locks(run_id) == 0 and run.payout_reference is None
    assert seen <= {"paid", "committed"}


def test_approve_and_recommit_at_once_never_approve_a_superseded_run(app, close):
    User = _user_model()
    for round_no in range(ROUNDS):
        run_ids = _fresh_runs(close)

        def recommit(barrier):
            partner = get_partner(close.acme.partner_id)
            ann = db.session.get(User, close.ann.user_id)
            barrier.wait()
            return committing.commit(partner, LOW, HIGH, user=ann)

        outcomes = _race(
            app,
            _acting(run_ids[0], close.bob.user_id, lambda r, u: lifecycle.approve_run(r, u)),
            recommit,
        )
        assert sum(isinstance(o, CommissionError) for o in outcomes) == 1, (round_no, outcomes)
        runs = db.session.scalars(select(CommissionRun)).all()
        for run in runs:
            if run.status == "superseded":
                assert run.approved_at is None and _locks(run.run_id) == 0
                assert _pairs(run.run_id) == 0
            if run.status == "approved":
                assert _locks(run.run_id) == _pairs(run.run_id) > 0
        # Every locked pair is held by the run that locks it.
        RP, K = CommissionRunPeriod, CommissionLock
        mismatched = db.session.scalar(
            select(func.count())
            .select_from(K)
            .join(RP, (RP.agreement_id == K.agreement_id) & (RP.period_id == K.period_id))
            .where(RP.run_id != K.run_id)
        )
        assert mismatched == 0
