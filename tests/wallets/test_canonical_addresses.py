"""Addresses are stored and compared in their chain's canonical form wherever they come in:
the wallet form, check-as-you-type, uploads, `flask wallets import` and the canonical imports."""

import bech32
import pytest
from sqlalchemy import func, select

from tests.wallets.test_wallets import HX, partner_url, token_of, upload
from tests.worlds import evm_address, two_partners, wallet_csv
from webapp.extensions import db
from webapp.models import CanonicalStakeEvent, CanonicalStakerRewardsDetail, PartnerWallet
from webapp.wallets import checks as wallet_checks
from webapp.wallets.upload import check_file

pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


@pytest.fixture
def world(app):
    return two_partners()


def cosmos_address(seed: int = 7) -> str:
    return bech32.bech32_encode("cosmos", bech32.convertbits(bytes([seed]) * 20, 8, 5))


def lower(address: str) -> str:
    return "0x" + address[2:].lower()


def upper(address: str) -> str:
    return "0x" + address[2:].upper()


def stored() -> dict[str, str]:
    """Stored wallet address -> partner id."""
    rows = db.session.execute(select(PartnerWallet.wallet_address, PartnerWallet.partner_id))
    return {address: str(partner_id) for address, partner_id in rows}


def wallet_count() -> int:
    return db.session.scalar(select(func.count()).select_from(PartnerWallet))


def add_by_form(client, partner, chain_id, address):
    return client.post(
        partner_url(partner, "/wallets"),
        data={"chain_id": chain_id, "wallet_address": address, "introduced_date": "2024-04-01"},
        headers=HX,
    )


def test_the_form_stores_the_canonical_form(world, manager_client):
    evm, cosmos = evm_address(), cosmos_address()
    assert add_by_form(manager_client, world.acme, "ethereum", lower(evm)).status_code == 200
    response = add_by_form(manager_client, world.acme, "cosmos", cosmos.upper())
    assert response.status_code == 200
    assert f"Wallet {cosmos} added on cosmos" in response.get_data(as_text=True)
    assert stored() == {evm: str(world.acme.partner_id), cosmos: str(world.acme.partner_id)}


def test_a_case_variant_of_a_claimed_wallet_is_refused_naming_its_owner(world, manager_client):
    evm, cosmos = evm_address(), cosmos_address()
    add_by_form(manager_client, world.beta, "ethereum", upper(evm))
    add_by_form(manager_client, world.beta, "cosmos", cosmos)
    for chain_id, variant in (
        ("ethereum", lower(evm)),
        ("ethereum", evm),
        ("cosmos", cosmos.upper()),
    ):
        response = add_by_form(manager_client, world.acme, chain_id, variant)
        assert response.status_code == 400
        assert f"already claimed by partner Beta Exchange on {chain_id}" in response.get_data(
            as_text=True
        )
        checked = manager_client.post(
            partner_url(world.acme, "/wallets/check"),
            data={"chain_id": chain_id, "wallet_address": variant, "introduced_date": ""},
            headers=HX,
        )
        assert f"already claimed by partner Beta Exchange on {chain_id}" in checked.get_data(
            as_text=True
        )
    assert stored() == {evm: str(world.beta.partner_id), cosmos: str(world.beta.partner_id)}


def test_check_as_you_type_refuses_a_very_long_address_before_decoding(world, manager_client):
    response = manager_client.post(
        partner_url(world.acme, "/wallets/check"),
        data={"chain_id": "solana", "wallet_address": "z" * 130_000, "introduced_date": ""},
        headers=HX,
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "too long: 130000 characters, an address of format base58-32 has at most 44" in body
    added = add_by_form(manager_client, world.acme, "solana", "z" * 130_000)
    assert added.status_code == 400
    assert wallet_count() == 0


def test_an_upload_compares_and_stores_canonical_forms(world, manager_client):
    evm, cosmos = evm_address(), cosmos_address()
    data = wallet_csv(
        [
            (lower(evm), "ethereum", "2024-01-01", ""),
            (cosmos.upper(), "cosmos", "2024-01-01", ""),
            (upper(evm), "ethereum", "2024-01-01", ""),
        ]
    )
    check = check_file(world.acme, data)
    assert [(r.wallet_address, r.reason) for r in check.rows] == [
        (evm, ""),
        (cosmos, ""),
        (evm, "duplicate of line 2"),
    ]
    fixed = wallet_csv(
        [(lower(evm), "ethereum", "2024-01-01", ""), (cosmos.upper(), "cosmos", "2024-01-01", "")]
    )
    body = upload(manager_client, world.acme, fixed).get_data(as_text=True)
    assert evm in body and cosmos in body
    committed = manager_client.post(
        partner_url(world.acme, f"/wallets/uploads/{token_of(body)}/commit"), headers=HX
    )
    assert committed.status_code == 200, committed.get_data(as_text=True)
    assert stored() == {evm: str(world.acme.partner_id), cosmos: str(world.acme.partner_id)}
    # The other partner's file spells them in another case: claimed, nothing stored.
    other = upload(
        manager_client, world.beta, wallet_csv([(upper(evm), "ethereum", "2024-01-01", "")])
    )
    assert "already claimed by partner Acme Wallet on ethereum" in other.get_data(as_text=True)
    assert wallet_count() == 2


def test_cli_wallet_import_stores_canonical_forms(app, runner, tmp_path):
    world = two_partners()
    evm, cosmos = evm_address(), cosmos_address()
    path = tmp_path / "w.csv"
    path.write_bytes(
        wallet_csv(
            [
                (lower(evm), "ethereum", "2024-01-01", ""),
                (cosmos.upper(), "cosmos", "2024-01-01", ""),
            ]
        )
    )
    result = runner.invoke(args=["wallets", "import", "Acme Wallet", str(path)])
    assert result.exit_code == 0, result.output
    assert stored() == {evm: str(world.acme.partner_id), cosmos: str(world.acme.partner_id)}
    path.write_bytes(wallet_csv([(upper(evm), "ethereum", "2024-01-01", "")]))
    refused = runner.invoke(args=["wallets", "import", "Beta Exchange", str(path)])
    assert refused.exit_code != 0
    assert "already claimed by partner Acme Wallet on ethereum" in refused.output
    assert wallet_count() == 2


# --- canonical imports: a reward spelled in another case than its wallet is attributed ------

VALIDATOR = "validator-one"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def test_rewards_and_events_in_another_case_than_the_wallet_are_attributed(app, runner, tmp_path):
    world = two_partners()
    wallet = evm_address()
    cosmos = cosmos_address()
    ok(
        runner,
        "wallets",
        "import",
        "Acme Wallet",
        write(
            tmp_path,
            "w.csv",
            (f"wallet_address,chain_id,introduced_date\n{lower(wallet)},ethereum,2024-01-01\n"),
        ),
    )
    assert stored() == {wallet: str(world.acme.partner_id)}
    ok(
        runner,
        "import",
        "periods",
        write(
            tmp_path,
            "p.csv",
            (
                "chain_id,label,start_time,end_time\n"
                "ethereum,1,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z\n"
                "cosmos,1,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z\n"
            ),
        ),
        "--provider",
        "rpc",
    )
    ok(
        runner,
        "import",
        "staker-rewards",
        write(
            tmp_path,
            "r.csv",
            (
                "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native\n"
                f"ethereum,1,{VALIDATOR},{upper(wallet)},MEV,8\n"
                f"cosmos,1,{VALIDATOR},{cosmos.upper()},MEV,3\n"
                f"ethereum,1,{VALIDATOR},0xNotAnAddress,MEV,5\n"
            ),
        ),
        "--provider",
        "rpc",
    )
    ok(
        runner,
        "import",
        "stake-events",
        write(
            tmp_path,
            "e.csv",
            (
                "chain_id,validator_key,staker_address,event_type,stake_amount_native,event_timestamp\n"
                f"ethereum,{VALIDATOR},{lower(wallet)},STAKE,100,2025-01-01T00:00:00Z\n"
                f"cosmos,{VALIDATOR},{cosmos.upper()},STAKE,1,2025-01-01T00:00:00Z\n"
            ),
        ),
        "--provider",
        "rpc",
    )
    rewards = set(db.session.scalars(select(CanonicalStakerRewardsDetail.staker_address)))
    assert rewards == {wallet, cosmos, "0xNotAnAddress"}  # an invalid address is kept as given
    assert set(db.session.scalars(select(CanonicalStakeEvent.staker_address))) == {wallet, cosmos}

    ok(
        runner,
        "agreements",
        "create",
        "Acme Wallet",
        "--chain",
        "ethereum",
        "--name",
        "A",
        "--from",
        "2025-01-01",
        "--wallet-attribution",
        "--rate",
        "MEV=1000",
    )
    preview = ok(
        runner,
        "commissions",
        "compute",
        "Acme Wallet",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-01",
    )
    # 8 x 10% = 0.8, one line for the wallet.
    assert "1 line(s)" in preview.stdout, preview.stdout
    assert "MEV        lines        1  base 8 ETH  commission 0.8 ETH" in preview.stdout


def test_a_file_with_two_spellings_of_one_staker_key_is_refused(app, runner, tmp_path):
    two_partners()
    wallet = evm_address()
    ok(
        runner,
        "import",
        "periods",
        write(
            tmp_path,
            "p.csv",
            (
                "chain_id,label,start_time,end_time\n"
                "ethereum,1,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z\n"
            ),
        ),
        "--provider",
        "rpc",
    )
    result = runner.invoke(
        args=[
            "import",
            "staker-rewards",
            write(
                tmp_path,
                "r.csv",
                (
                    "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native\n"
                    f"ethereum,1,{VALIDATOR},{upper(wallet)},MEV,8\n"
                    f"ethereum,1,{VALIDATOR},{lower(wallet)},MEV,8\n"
                ),
            ),
            "--provider",
            "rpc",
        ]
    )
    assert result.exit_code != 0
    assert "line 3" in result.output and "duplicates line 2" in result.output
    assert db.session.scalar(select(func.count()).select_from(CanonicalStakerRewardsDetail)) == 0


def test_a_form_add_that_loses_the_race_names_the_owner(world, manager_client, monkeypatch):
    evm = evm_address()
    add_by_form(manager_client, world.beta, "ethereum", evm)
    real_find_claims = wallet_checks.find_claims
    calls = []

    def blind_first_time(*args, **kwargs):
        # The first check runs before the other partner's insert lands: it sees no claim.
        calls.append(1)
        return {} if len(calls) == 1 else real_find_claims(*args, **kwargs)

    monkeypatch.setattr(wallet_checks, "find_claims", blind_first_time)
    response = add_by_form(manager_client, world.acme, "ethereum", lower(evm))
    assert response.status_code == 400
    assert (
        f"wallet {evm} was just claimed by partner Beta Exchange on ethereum"
        in response.get_data(as_text=True)
    )
    assert stored() == {evm: str(world.beta.partner_id)}
