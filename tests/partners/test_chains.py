"""Chains: `flask chains add` and the admin page."""

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditLog, Chain


def test_chains_add_command(runner):
    result = runner.invoke(
        args=[
            "chains",
            "add",
            "cosmoshub",
            "--name",
            "Cosmos Hub",
            "--symbol",
            "ATOM",
            "--decimals",
            "6",
            "--address-format",
            "bech32:cosmos",
        ]
    )
    assert result.exit_code == 0, result.output
    chain = db.session.get(Chain, "cosmoshub")
    assert (chain.token_symbol, chain.display_decimals, chain.address_format) == (
        "ATOM",
        6,
        "bech32:cosmos",
    )
    assert db.session.scalar(select(AuditLog.entity_id).where(AuditLog.entity_type == "chain")) == (
        "cosmoshub"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["Solana!", "--address-format", "base58-32"], "lower-case slug"),
        (["solana", "--address-format", "base64"], "unknown address format"),
        (["solana", "--address-format", "bech32:"], "unknown address format"),
    ],
)
def test_chains_add_refuses_bad_input(runner, args, message):
    chain_id, *rest = args
    result = runner.invoke(
        args=["chains", "add", chain_id, "--name", "N", "--symbol", "S", "--decimals", "9", *rest]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(select(Chain)) is None


def test_chains_add_refuses_a_duplicate(runner):
    args = [
        "chains",
        "add",
        "solana",
        "--name",
        "Solana",
        "--symbol",
        "SOL",
        "--decimals",
        "9",
        "--address-format",
        "base58-32",
    ]
    assert runner.invoke(args=args).exit_code == 0
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "exists already" in again.output


def test_admin_adds_a_chain_on_the_page(admin_client):
    response = admin_client.post(
        "/chains/",
        data={
            "chain_id": "ethereum",
            "name": "Ethereum",
            "token_symbol": "ETH",
            "display_decimals": "18",
            "address_format": "evm",
        },
    )
    assert response.status_code == 302
    page = admin_client.get("/chains/")
    assert b"ethereum" in page.data and b"Chain ethereum added." in page.data


def test_chain_page_shows_a_bad_format_as_a_field_error(admin_client):
    response = admin_client.post(
        "/chains/",
        data={
            "chain_id": "x",
            "name": "X",
            "token_symbol": "X",
            "display_decimals": "9",
            "address_format": "hex",
        },
    )
    assert response.status_code == 400
    assert b"unknown address format" in response.data
    assert db.session.get(Chain, "x") is None
