"""Two retries at once of a key whose request was lost (PostgreSQL, real connections): one of
them takes the key over and does the work, the other does not do it again."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from tests.api_helpers import bearer, make_world
from tests.worlds import evm_address
from webapp.api import access
from webapp.extensions import db
from webapp.models import ApiIdempotencyKey, PartnerWallet, utcnow

ROUNDS = 20


@pytest.mark.postgres_only
def test_two_retries_of_a_lost_key_do_the_work_once(app, make_user):
    world = make_world()
    manager = make_user("manager")
    headers = bearer(manager, "write")
    url = f"/api/v1/partners/{world.acme.partner_id}/wallets"
    for round_ in range(ROUNDS):
        key = f"lost-{round_}"
        payload = {
            "chain_id": "ethereum",
            "wallet_address": evm_address(),
            "introduced_date": "2026-01-01",
        }
        with app.test_request_context(url, method="POST", json=payload):
            fingerprint = access._request_hash()
        db.session.add(
            ApiIdempotencyKey(
                user_id=manager.user_id,
                idempotency_key=key,
                request_hash=fingerprint,
                created_at=utcnow() - access._lease() - timedelta(seconds=1),
            )
        )
        db.session.commit()
        start = threading.Barrier(2, timeout=30)
        answers = []

        def retry(client, key=key, payload=payload, start=start, answers=answers):
            with app.app_context():
                start.wait()
                response = client.post(
                    url, json=payload, headers=headers | {"Idempotency-Key": key}
                )
                replayed = response.headers.get("Idempotent-Replayed")
                if response.status_code == 409:
                    replayed = "worked on" in response.get_json(force=True)["detail"]
                answers.append((response.status_code, replayed))
                db.session.remove()

        threads = [threading.Thread(target=retry, args=(app.test_client(),)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        db.session.expire_all()
        stored = db.session.scalar(
            select(func.count())
            .select_from(PartnerWallet)
            .where(PartnerWallet.wallet_address == payload["wallet_address"])
        )
        assert stored == 1, (round_, answers)
        # One did the work (201); the other was told it is being worked on, or got its answer.
        # (None sorts apart from text: the two 201s are told apart by whether one replayed.)
        assert sorted(answers, key=lambda answer: (answer[0], answer[1] is not None)) in (
            [(201, None), (409, True)],
            [(201, None), (201, "true")],
        ), (round_, answers)
        db.session.execute(delete(ApiIdempotencyKey))
        db.session.commit()
