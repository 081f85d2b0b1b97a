"""Two managers commit one wallet for two partners at the same moment, spelled in two letter
cases: one owner each time, the other told who owns it, never a server error."""

import threading

import bech32
import pytest
from sqlalchemy import select

from tests.wallets.test_wallets import HX, partner_url, token_of, upload
from tests.worlds import evm_address, two_partners, wallet_csv
from webapp.extensions import db
from webapp.models import PartnerWallet
from webapp.partners.service import get_partner
from webapp.wallets import upload as wallet_upload

pytestmark = pytest.mark.usefixtures("uploads_in_tmp")

ROUNDS = 20


def cosmos_address(seed: int) -> str:
    payload = seed.to_bytes(4, "big") * 5
    return bech32.bech32_encode("cosmos", bech32.convertbits(payload, 8, 5))


def evm_variants(round_number: int) -> tuple[str, str, str]:
    address = evm_address()
    return address, "0x" + address[2:].lower(), "0x" + address[2:].upper()


def cosmos_variants(round_number: int) -> tuple[str, str, str]:
    address = cosmos_address(round_number + 1)
    return address, address, address.upper()


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("chain_id", "variants"), [("ethereum", evm_variants), ("cosmos", cosmos_variants)]
)
def test_case_variants_committed_at_once_get_one_owner(
    app, make_user, login, monkeypatch, chain_id, variants
):
    world = two_partners()
    partners = [world.acme, world.beta]
    clients = [login(app.test_client(), make_user("manager")) for _ in partners]
    both_checked = threading.Barrier(2, timeout=20)
    original_store = wallet_upload._store

    def store_after_both_checked(*args, **kwargs):
        # Both commits have checked their file (and seen the wallet free) before either stores.
        both_checked.wait()
        return original_store(*args, **kwargs)

    monkeypatch.setattr(wallet_upload, "_store", store_after_both_checked)

    for round_number in range(ROUNDS):
        canonical, *spellings = variants(round_number)
        commit_urls = []
        for partner, client, spelling in zip(partners, clients, spellings, strict=True):
            body = upload(
                client, partner, wallet_csv([(spelling, chain_id, "2024-01-01", "")])
            ).get_data(as_text=True)
            assert canonical in body, body[:500]
            commit_urls.append(partner_url(partner, f"/wallets/uploads/{token_of(body)}/commit"))
        responses = [None, None]

        def commit(index, responses=responses, commit_urls=commit_urls):
            with app.app_context():
                responses[index] = clients[index].post(commit_urls[index], headers=HX)
                db.session.remove()

        threads = [threading.Thread(target=commit, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 409], [r.get_data(as_text=True)[:800] for r in responses]
        winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
        winner_name = partners[winner].name
        lost = responses[1 - winner].get_data(as_text=True)
        assert f"wallet {canonical} on {chain_id} (line 2) was just claimed by partner" in lost
        assert winner_name in lost

        db.session.expire_all()
        owners = db.session.execute(
            select(PartnerWallet.wallet_address, PartnerWallet.partner_id).where(
                PartnerWallet.chain_id == chain_id
            )
        ).all()
        stored = [(address, get_partner(pid).name) for address, pid in owners]
        assert (canonical, winner_name) in stored
        assert sum(1 for address, _ in stored if address.lower() == canonical.lower()) == 1
