"""Two commits claiming the same wallet for different partners: one wins, the other is told
which wallet it lost, and nothing of its file is stored."""

import threading
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import create_engine, select

from tests.wallets.test_wallets import HX, token_of, upload
from tests.worlds import solana_address, two_partners, wallet_csv
from webapp.extensions import db
from webapp.models import PartnerWallet, StagingPayload
from webapp.partners.service import get_partner
from webapp.wallets import upload as wallet_upload

pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


def owners() -> dict[str, str]:
    """Stored wallet address -> partner name."""
    rows = db.session.execute(select(PartnerWallet.wallet_address, PartnerWallet.partner_id))
    return {address: get_partner(partner_id).name for address, partner_id in rows}


@pytest.mark.postgres_only
def test_two_commits_race_for_one_wallet_on_two_connections(app, monkeypatch):
    world = two_partners()
    shared, acme_only, beta_only = solana_address(), solana_address(), solana_address()
    files = {
        world.acme.partner_id: wallet_csv(
            [(acme_only, "solana", "2024-01-01", ""), (shared, "solana", "2024-01-01", "")]
        ),
        world.beta.partner_id: wallet_csv(
            [(shared, "solana", "2024-02-01", ""), (beta_only, "solana", "2024-02-01", "")]
        ),
    }
    # Both commits have checked their file (and seen the wallet free) before either stores.
    both_checked = threading.Barrier(2, timeout=20)
    original_store = wallet_upload._store

    def store_after_both_checked(*args, **kwargs):
        both_checked.wait()
        return original_store(*args, **kwargs)

    monkeypatch.setattr(wallet_upload, "_store", store_after_both_checked)
    outcomes: dict[uuid.UUID, object] = {}

    def commit(partner_id):
        with app.app_context():
            partner = get_partner(partner_id)
            try:
                outcomes[partner_id] = wallet_upload.commit_file(
                    partner, files[partner_id], f"{partner.name}.csv"
                )
            except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
                outcomes[partner_id] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=commit, args=(pid,)) for pid in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    results = list(outcomes.values())
    winners = [r for r in results if isinstance(r, wallet_upload.CommitResult)]
    losers = [r for r in results if isinstance(r, wallet_upload.WalletConflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    winner_id = next(pid for pid, r in outcomes.items() if r is winners[0])
    winner = "Acme Wallet" if winner_id == world.acme.partner_id else "Beta Exchange"
    message = str(losers[0])
    assert shared in message and f"claimed by partner {winner}" in message
    assert "nothing was stored" in message

    db.session.expire_all()
    stored = owners()
    assert stored[shared] == winner
    winner_only, loser_only = (
        (acme_only, beta_only)
        if winner == "Acme Wallet"
        else (
            beta_only,
            acme_only,
        )
    )
    assert stored[winner_only] == winner
    assert loser_only not in stored
    assert len(db.session.scalars(select(StagingPayload)).all()) == 1


def test_a_commit_that_loses_the_race_answers_409_naming_the_wallet(
    app, manager_client, monkeypatch, database_url
):
    world = two_partners()
    shared, other = solana_address(), solana_address()
    body = upload(
        manager_client,
        world.acme,
        wallet_csv([(other, "solana", "2024-01-01", ""), (shared, "solana", "2024-01-01", "")]),
    ).get_data(as_text=True)
    original_store = wallet_upload._store
    beta_id = world.beta.partner_id

    def someone_else_stores_first(*args, **kwargs):
        # Another manager's commit lands between this commit's check and its insert,
        # through a connection of its own.
        engine = create_engine(db.engine.url)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                PartnerWallet.__table__.insert(),
                {
                    "wallet_id": uuid.uuid4(),
                    "partner_id": beta_id,
                    "chain_id": "solana",
                    "wallet_address": shared,
                    "introduced_date": date(2024, 1, 1),
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        engine.dispose()
        return original_store(*args, **kwargs)

    monkeypatch.setattr(wallet_upload, "_store", someone_else_stores_first)
    response = manager_client.post(
        f"/partners/{world.acme.partner_id}/wallets/uploads/{token_of(body)}/commit", headers=HX
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 409, text
    assert f"wallet {shared} on solana (line 3) was just claimed by partner Beta Exchange" in text
    db.session.expire_all()
    assert owners() == {shared: "Beta Exchange"}
