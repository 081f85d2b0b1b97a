"""`?wallet=` of the commission breakdown takes an address in any accepted spelling: a lower- or
upper-case EVM address finds the wallet stored in its EIP-55 form."""

from datetime import date

import pytest

from tests import factories
from tests.api_helpers import bearer, evm_address
from webapp.commissions import committing
from webapp.extensions import db

API = "/api/v1"
V = "0xValidator"


@pytest.fixture
def world(app):
    """An Ethereum partner paid 10% of its wallets' rewards: one wallet earns 2 ETH, another 3."""
    acme = factories.partner("Acme Wallet", "ethereum")
    provider = factories.provider("jito")
    sources = {
        kind: factories.payload(provider, kind, "ethereum")
        for kind in ("periods", "staker-rewards", "stake-events")
    }
    period = factories.period(
        sources["periods"], "900", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2), "ethereum"
    )
    mine, other = evm_address(), evm_address()
    for address in (mine, other):
        factories.wallet(acme, address, "ethereum")
    factories.rewards(
        sources["staker-rewards"], period, [(V, mine, "REWARDS", "2"), (V, other, "REWARDS", "3")]
    )
    factories.events(
        sources["stake-events"],
        period,
        [(V, address, "STAKE", "10", factories.utc(2025, 1, 1)) for address in (mine, other)],
    )
    factories.agreement(
        acme, "REWARDS=1000", chain_id="ethereum", name="Acme ETH", wallet_attribution=True
    )
    db.session.commit()
    return acme, mine


@pytest.mark.parametrize("preview", ["true", "false"])
@pytest.mark.parametrize("spelling", [str.lower, lambda a: "0x" + a[2:].upper(), str])
def test_the_wallet_filter_finds_the_wallet_in_any_spelling(
    client, world, make_user, preview, spelling
):
    acme, mine = world
    if preview == "false":
        committing.commit(acme, date(2025, 1, 1), date(2025, 1, 1))
    response = client.get(
        f"{API}/partners/{acme.partner_id}/commissions",
        query_string={
            "from": "2025-01-01",
            "to": "2025-01-01",
            "preview": preview,
            "wallet": spelling(mine),
        },
        headers=bearer(make_user("viewer"), "read"),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    (section,) = response.get_json()["sections"]
    rows = [
        (row["revenue_component"], row["line_count"], row["commission_amount_native"])
        for row in section["components"]
    ]
    # 10% of the 2 ETH this wallet earned; the other wallet's 3 ETH is not in it.
    assert rows == [("REWARDS", 1, "0.2")]
