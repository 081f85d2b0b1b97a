"""A rule's validator is picked from its chain's known validators (those in the chain's
imported data), shown short with the full key on hover, and typed only when it is new; each
control of a rate row has a label that names its row."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from tests import factories
from webapp.agreements.forms import NEW_VALIDATOR
from webapp.extensions import db
from webapp.models import Agreement, AgreementRule

HTMX = {"HX-Request": "true"}

#: Solana keys are 44 base58 characters, Ethereum's 98 (0x and 96 hex digits).
SOL_REWARDS_KEY = "Vote1111111111111111111111111111111111111Aa1"
SOL_REVENUE_KEY = "Vote2222222222222222222222222222222222222Bb2"
SOL_BOTH_KEY = "Vote3333333333333333333333333333333333333Cc3"
#: In the rewards of one period only, after two others: found by walking on past them.
SOL_LATE_KEY = "Vote4444444444444444444444444444444444444Dd4"
ETH_KEY = "0x" + "ab" * 48
NEW_KEY = "Vote9999999999999999999999999999999999999Zz9"


def at(day: int) -> datetime:
    return datetime(2025, 1, day, tzinfo=UTC)


@pytest.fixture
def partner(app):
    return build_partner_and_data()


def build_partner_and_data():
    """A partner on Solana and Ethereum, and data naming three Solana validators (one in
    rewards only, one in revenue only, one in both, twice; one more in one period's rewards)
    and one Ethereum validator."""
    acme = factories.partner("Acme Wallet", "solana", "ethereum")
    jito = factories.provider("jito")
    sol_periods = factories.payload(jito, "periods")
    eth_periods = factories.payload(jito, "periods", "ethereum")
    days = [factories.period(sol_periods, f"70{d}", at(d), at(d + 1)) for d in (1, 2)]
    eth_day = factories.period(eth_periods, "2025-01-01", at(1), at(2), "ethereum")
    rewards = factories.payload(jito, "staker-rewards")
    revenue = factories.payload(jito, "validator-revenue")
    for day in days:
        factories.rewards(
            rewards,
            day,
            [
                (SOL_REWARDS_KEY, "WalletA", "MEV", "1"),
                (SOL_BOTH_KEY, "WalletA", "REWARDS", "2"),
            ],
        )
        factories.revenue(revenue, day, [(SOL_REVENUE_KEY, "MEV", "5"), (SOL_BOTH_KEY, "MEV", "6")])
    factories.rewards(rewards, days[1], [(SOL_LATE_KEY, "WalletB", "MEV", "1")])
    factories.revenue(
        factories.payload(jito, "validator-revenue", "ethereum"), eth_day, [(ETH_KEY, "MEV", "7")]
    )
    db.session.commit()
    return acme


@pytest.fixture
def agreement(partner):
    return factories.agreement(partner, "MEV=500")


SOLANA_KEYS = sorted([SOL_REWARDS_KEY, SOL_REVENUE_KEY, SOL_BOTH_KEY, SOL_LATE_KEY])


def options(html: str, select_id: str) -> list[tuple[str, str, str | None]]:
    """(value, shown text, title) of each option of the select with this id."""
    match = re.search(rf'<select id="{re.escape(select_id)}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select {select_id}"
    return [
        (value, text.strip(), title)
        for value, title, text in re.findall(
            r'<option value="([^"]*)"(?: title="([^"]*)")?[^>]*>([^<]*)</option>', match.group(1)
        )
    ]


def label_text(html: str, control_id: str) -> str:
    """The accessible text of the control's label (hidden parts included, tags dropped)."""
    [text] = re.findall(rf'<label for="{re.escape(control_id)}"[^>]*>(.*?)</label>', html, re.S)
    return re.sub(r"<[^>]+>", "", text).strip()


def stored_rules(agreement_id) -> set[tuple[str, str | None, int]]:
    db.session.expire_all()
    return {
        (str(r.revenue_component), r.validator_key, r.commission_rate_bps)
        for r in db.session.scalars(
            select(AgreementRule).where(AgreementRule.agreement_id == agreement_id)
        )
    }


def short(key: str) -> str:
    return f"{key[:6]}…{key[-6:]}"


def test_the_rule_form_offers_the_known_validators_of_its_chain_only(manager_client, agreement):
    html = manager_client.get(f"/agreements/{agreement.agreement_id}").get_data(as_text=True)
    offered = options(html, "validator_key")
    # Every validator first, then the chain's known ones in order, short with the full key
    # on hover, then a new one; never the other chain's.
    assert offered == [
        ("", "every validator", ""),
        *((key, short(key), key) for key in SOLANA_KEYS),
        (NEW_VALIDATOR, "another validator…", ""),
    ]
    assert ETH_KEY not in html
    assert label_text(html, "validator_key") == "Validator"
    assert label_text(html, "new_validator_key") == "New validator key"


def test_an_ethereum_agreement_offers_the_ethereum_validator(manager_client, partner):
    ethereum = factories.agreement(partner, "MEV=500", chain_id="ethereum", name="Acme ETH")
    html = manager_client.get(f"/agreements/{ethereum.agreement_id}").get_data(as_text=True)
    assert [value for value, _, _ in options(html, "validator_key")] == ["", ETH_KEY, NEW_VALIDATOR]
    assert not any(key in html for key in SOLANA_KEYS)


def test_choosing_a_known_validator_stores_its_full_key(manager_client, agreement):
    response = manager_client.post(
        f"/agreements/{agreement.agreement_id}/rules",
        data={
            "revenue_component": "REWARDS",
            "validator_key": SOL_BOTH_KEY,
            "new_validator_key": "",
            "commission_rate_bps": "250",
        },
        headers=HTMX,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert stored_rules(agreement.agreement_id) == {
        ("MEV", None, 500),
        ("REWARDS", SOL_BOTH_KEY, 250),
    }


@pytest.mark.parametrize("picked", [NEW_VALIDATOR, ""], ids=["another-validator", "typed-alone"])
def test_a_new_validator_is_typed_and_stored(manager_client, agreement, picked):
    """After "another validator…", or typed alone (a browser that keeps the field shown)."""
    response = manager_client.post(
        f"/agreements/{agreement.agreement_id}/rules",
        data={
            "revenue_component": "MEV",
            "validator_key": picked,
            "new_validator_key": f"  {NEW_KEY} ",
            "commission_rate_bps": "300",
        },
        headers=HTMX,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert stored_rules(agreement.agreement_id) == {("MEV", None, 500), ("MEV", NEW_KEY, 300)}
    # Once stored it is still not in the chain's data: the picker does not offer it.
    html = response.get_data(as_text=True)
    assert NEW_KEY not in [value for value, _, _ in options(html, "validator_key")]


@pytest.mark.parametrize(
    ("picked", "typed", "message"),
    [
        (NEW_VALIDATOR, "", "type the new validator&#39;s key"),
        (NEW_VALIDATOR, "two words", "a validator key is 1 to 100 characters with no spaces"),
        (NEW_VALIDATOR, "x" * 101, "a validator key is 1 to 100 characters with no spaces"),
    ],
)
def test_a_bad_new_key_is_refused_on_the_form(manager_client, agreement, picked, typed, message):
    response = manager_client.post(
        f"/agreements/{agreement.agreement_id}/rules",
        data={
            "revenue_component": "MEV",
            "validator_key": picked,
            "new_validator_key": typed,
            "commission_rate_bps": "300",
        },
        headers=HTMX,
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    # The form comes back on "another validator…" with what was typed, marked invalid.
    assert 'id="new_validator_key"' in html
    assert re.search(r'<option value="__new__" selected>', html)
    assert re.search(r'id="new_validator_key"[^>]*aria-invalid="true"', html, re.S)
    assert stored_rules(agreement.agreement_id) == {("MEV", None, 500)}


def test_the_known_validators_are_one_query(manager_client, agreement):
    """One statement reads the chain's validators, whatever their number."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        manager_client.get(f"/agreements/{agreement.agreement_id}")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    reads = [s for s in statements if "canonical_staker_rewards_detail" in s]
    assert len(reads) == 1 and "canonical_validator_revenue" in reads[0], reads


# ---- The create form ------------------------------------------------------------------------


def create_data(partner, **rows) -> dict:
    data = {
        "partner_id": str(partner.partner_id),
        "chain_id": "solana",
        "name": "Acme Solana 2025",
        "effective_from": "2025-01-01",
        "effective_to": "",
        "rate_mev": "500",
    }
    data.update(rows)
    return data


def test_each_rate_row_names_its_controls(manager_client, partner):
    html = manager_client.get("/agreements/new").get_data(as_text=True)
    for n in range(3):
        row = n + 1
        assert (
            label_text(html, f"validator_rules-{n}-revenue_component") == f"Component, rate {row}"
        )
        assert label_text(html, f"validator_rules-{n}-validator_key") == f"Validator, rate {row}"
        assert (
            label_text(html, f"validator_rules-{n}-new_validator_key")
            == f"New validator key, rate {row}"
        )
        assert (
            label_text(html, f"validator_rules-{n}-commission_rate_bps")
            == f"Rate (bps), rate {row}"
        )
        # The first chain (Ethereum, by name) is the one chosen at first.
        assert [v for v, _, _ in options(html, f"validator_rules-{n}-validator_key")] == [
            "",
            ETH_KEY,
            NEW_VALIDATOR,
        ]
    assert not re.search(r"(Component|Validator|Rate \(bps\)) \d", html)


def test_another_chain_brings_its_validators_and_keeps_what_was_typed(manager_client, partner):
    """The chain select asks again (htmx GET with the rows): Solana's validators come back,
    a rate already typed stays, an Ethereum key picked before comes back as typed."""
    response = manager_client.get(
        "/agreements/new",
        query_string={
            "chain_id": "solana",
            "validator_rules-0-revenue_component": "REWARDS",
            "validator_rules-0-validator_key": ETH_KEY,
            "validator_rules-0-commission_rate_bps": "1500",
        },
        headers=HTMX,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    rates = html[html.index('<fieldset id="validator-rates"') :]
    assert [v for v, _, _ in options(rates, "validator_rules-1-validator_key")] == [
        "",
        *SOLANA_KEYS,
        NEW_VALIDATOR,
    ]
    assert re.search(r'id="validator_rules-0-commission_rate_bps"[^>]*value="1500"', rates)
    assert re.search(r'<option value="__new__" selected>', rates)
    assert re.search(
        rf'id="validator_rules-0-new_validator_key"[^>]*value="{ETH_KEY}"', rates, re.S
    )


def test_create_stores_a_picked_and_a_typed_validator(manager_client, partner):
    response = manager_client.post(
        "/agreements/new",
        data=create_data(
            partner,
            **{
                "validator_rules-0-revenue_component": "REWARDS",
                "validator_rules-0-validator_key": SOL_REWARDS_KEY,
                "validator_rules-0-commission_rate_bps": "1500",
                "validator_rules-1-revenue_component": "MEV",
                "validator_rules-1-validator_key": NEW_VALIDATOR,
                "validator_rules-1-new_validator_key": NEW_KEY,
                "validator_rules-1-commission_rate_bps": "700",
                "validator_rules-2-revenue_component": "MEV",
                "validator_rules-2-validator_key": "",
                "validator_rules-2-new_validator_key": "",
                "validator_rules-2-commission_rate_bps": "",
            },
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    [created] = db.session.scalars(select(Agreement).where(Agreement.name == "Acme Solana 2025"))
    assert stored_rules(created.agreement_id) == {
        ("MEV", None, 500),
        ("REWARDS", SOL_REWARDS_KEY, 1500),
        ("MEV", NEW_KEY, 700),
    }


def test_create_refuses_a_rate_row_without_a_validator(manager_client, partner):
    response = manager_client.post(
        "/agreements/new",
        data=create_data(
            partner,
            **{
                "validator_rules-0-revenue_component": "REWARDS",
                "validator_rules-0-validator_key": NEW_VALIDATOR,
                "validator_rules-0-new_validator_key": "",
                "validator_rules-0-commission_rate_bps": "1500",
            },
        ),
    )
    assert response.status_code == 400
    assert "type the new validator&#39;s key" in response.get_data(as_text=True)
    assert db.session.scalars(select(Agreement)).all() == []


def test_a_rule_edited_inline_names_its_rule_in_its_label(manager_client, agreement):
    rule = db.session.scalars(
        select(AgreementRule).where(AgreementRule.agreement_id == agreement.agreement_id)
    ).one()
    add = manager_client.post(
        f"/agreements/{agreement.agreement_id}/rules",
        data={
            "revenue_component": "REWARDS",
            "validator_key": SOL_BOTH_KEY,
            "commission_rate_bps": "9",
        },
        headers=HTMX,
    )
    assert add.status_code == 200
    keyed = db.session.scalars(
        select(AgreementRule).where(AgreementRule.validator_key == SOL_BOTH_KEY)
    ).one()
    for item, name in (
        (rule, "MEV for every validator"),
        (keyed, f"REWARDS for {short(SOL_BOTH_KEY)}"),
    ):
        html = manager_client.get(
            f"/agreements/{agreement.agreement_id}/rules/{item.rule_id}/edit", headers=HTMX
        ).get_data(as_text=True)
        assert label_text(html, f"rate-{item.rule_id}") == f"Rate (bps) of {name}"
