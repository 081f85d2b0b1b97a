"""Revision b2f1c0a8d301 on stored data, on SQLite and PostgreSQL: addresses become canonical
and partner names get their case-folded key; a conflict stops it naming both rows, and leaves
the data exactly as they were."""

import uuid
from datetime import UTC, date, datetime

import bech32
import pytest
import sqlalchemy as sa
from alembic import command
from flask import current_app

from tests.app.test_schema import empty_database_url  # noqa: F401 - a fixture
from webapp import create_app
from webapp.addresses import eip55_checksum
from webapp.db_types import Amount, UTCDateTime
from webapp.extensions import db

BEFORE, THIS = "8c5c50b4ddd8", "b2f1c0a8d301"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
CHECKSUMMED = "0x" + eip55_checksum("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
LOWER, UPPER = CHECKSUMMED.lower(), "0x" + CHECKSUMMED[2:].upper()
COSMOS = bech32.bech32_encode("cosmos", bech32.convertbits(bytes(range(20)), 8, 5))
SOLANA = "So11111111111111111111111111111111111111112"

chains = sa.table(
    "chains",
    *(sa.column(n) for n in ("chain_id", "name", "token_symbol", "address_format")),
    sa.column("display_decimals", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
partners = sa.table(
    "partners",
    sa.column("partner_id", sa.Uuid()),
    sa.column("name"),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
wallets = sa.table(
    "partner_wallets",
    sa.column("wallet_id", sa.Uuid()),
    sa.column("partner_id", sa.Uuid()),
    sa.column("chain_id"),
    sa.column("wallet_address"),
    sa.column("introduced_date", sa.Date()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
providers = sa.table(
    "providers",
    sa.column("provider_id", sa.Uuid()),
    sa.column("name"),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
payloads = sa.table(
    "staging_payloads",
    sa.column("payload_id", sa.Uuid()),
    sa.column("provider_id", sa.Uuid()),
    sa.column("kind"),
    sa.column("file_name"),
    sa.column("sha256"),
    sa.column("row_count", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
)


def lineage_columns():
    return (
        sa.column("source_provider_id", sa.Uuid()),
        sa.column("source_payload_id", sa.Uuid()),
        sa.column("normalized_at", UTCDateTime()),
    )


periods = sa.table(
    "canonical_periods",
    sa.column("period_id", sa.Uuid()),
    sa.column("chain_id"),
    sa.column("label"),
    sa.column("start_time", UTCDateTime()),
    sa.column("end_time", UTCDateTime()),
    *lineage_columns(),
)
rewards = sa.table(
    "canonical_staker_rewards_detail",
    sa.column("staker_reward_id", sa.Uuid()),
    sa.column("chain_id"),
    sa.column("period_id", sa.Uuid()),
    sa.column("validator_key"),
    sa.column("staker_address"),
    sa.column("revenue_component"),
    sa.column("reward_amount_native", Amount()),
    *lineage_columns(),
)
events = sa.table(
    "canonical_stake_events",
    sa.column("stake_event_id", sa.Uuid()),
    sa.column("chain_id"),
    sa.column("period_id", sa.Uuid()),
    sa.column("validator_key"),
    sa.column("staker_address"),
    sa.column("event_type"),
    sa.column("stake_amount_native", Amount()),
    sa.column("event_timestamp", UTCDateTime()),
    *lineage_columns(),
)


class Store:
    """Rows written at the revision before this one, through plain inserts."""

    def __init__(self, conn):
        self.conn = conn
        self.provider = uuid.uuid4()
        self.period = {}
        stamps = {"created_at": NOW, "updated_at": NOW}
        conn.execute(
            chains.insert(),
            [
                {"chain_id": c, "name": c, "token_symbol": c[:3].upper(), "address_format": f}
                | {"display_decimals": 9}
                | stamps
                for c, f in (
                    ("ethereum", "evm"),
                    ("cosmos", "bech32:cosmos"),
                    ("solana", "base58-32"),
                )
            ],
        )
        conn.execute(providers.insert(), {"provider_id": self.provider, "name": "rpc"} | stamps)
        self.files = {name: self.payload(name) for name in ("one.csv", "two.csv")}
        for chain_id in ("ethereum", "cosmos", "solana"):
            self.period[chain_id] = uuid.uuid4()
            conn.execute(
                periods.insert(),
                {
                    "period_id": self.period[chain_id],
                    "chain_id": chain_id,
                    "label": "1",
                    "start_time": NOW,
                    "end_time": datetime(2025, 1, 2, tzinfo=UTC),
                }
                | self.lineage("one.csv"),
            )

    def payload(self, file_name):
        payload_id = uuid.uuid4()
        self.conn.execute(
            payloads.insert(),
            {
                "payload_id": payload_id,
                "provider_id": self.provider,
                "kind": "staker_rewards",
                "file_name": file_name,
                "sha256": uuid.uuid4().hex * 2,
                "row_count": 1,
                "created_at": NOW,
            },
        )
        return payload_id

    def lineage(self, file_name):
        return {
            "source_provider_id": self.provider,
            "source_payload_id": self.files[file_name],
            "normalized_at": NOW,
        }

    def partner(self, name):
        partner_id = uuid.uuid4()
        self.conn.execute(
            partners.insert(),
            {"partner_id": partner_id, "name": name, "created_at": NOW, "updated_at": NOW},
        )
        return partner_id

    def wallet(self, partner_id, chain_id, address):
        self.conn.execute(
            wallets.insert(),
            {
                "wallet_id": uuid.uuid4(),
                "partner_id": partner_id,
                "chain_id": chain_id,
                "wallet_address": address,
                "introduced_date": date(2024, 1, 1),
                "created_at": NOW,
                "updated_at": NOW,
            },
        )

    def reward(self, chain_id, address, file_name="one.csv", component="MEV"):
        self.conn.execute(
            rewards.insert(),
            {
                "staker_reward_id": uuid.uuid4(),
                "chain_id": chain_id,
                "period_id": self.period[chain_id],
                "validator_key": "V1",
                "staker_address": address,
                "revenue_component": component,
                "reward_amount_native": 1,
            }
            | self.lineage(file_name),
        )

    def event(self, chain_id, address):
        self.conn.execute(
            events.insert(),
            {
                "stake_event_id": uuid.uuid4(),
                "chain_id": chain_id,
                "period_id": self.period[chain_id],
                "validator_key": "V1",
                "staker_address": address,
                "event_type": "STAKE",
                "stake_amount_native": 1,
                "event_timestamp": NOW,
            }
            | self.lineage("one.csv"),
        )


def snapshot(conn) -> dict:
    """Everything this revision may touch, as sorted tuples."""
    return {
        "wallets": sorted(conn.execute(sa.select(wallets.c.chain_id, wallets.c.wallet_address))),
        "rewards": sorted(
            conn.execute(
                sa.select(rewards.c.chain_id, rewards.c.staker_address, rewards.c.revenue_component)
            )
        ),
        "events": sorted(conn.execute(sa.select(events.c.chain_id, events.c.staker_address))),
        "partners": sorted(conn.execute(sa.select(partners.c.name))),
    }


@pytest.fixture
def migrated_app(empty_database_url):  # noqa: F811 - the fixture imported above
    """An app on a database at the revision before this one."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        command.upgrade(alembic_config(), BEFORE)
        yield app
        db.engine.dispose()


def alembic_config():
    return current_app.extensions["migrate"].migrate.get_config()


def version(conn) -> str:
    return conn.scalar(sa.text("SELECT version_num FROM alembic_version"))


def test_upgrade_makes_addresses_canonical_and_keys_partner_names(migrated_app):
    with db.engine.begin() as conn:
        store = Store(conn)
        acme, beta = store.partner("Acme"), store.partner("Beta Exchange")
        store.wallet(acme, "ethereum", LOWER)
        store.wallet(beta, "cosmos", COSMOS.upper())
        store.wallet(beta, "solana", SOLANA)
        # One staker written two ways in two components, and the same in the events.
        store.reward("ethereum", UPPER, component="MEV")
        store.reward("ethereum", LOWER, component="REWARDS")
        store.reward("ethereum", "0xNotAnAddress")
        store.reward("cosmos", COSMOS.upper())
        store.reward("solana", SOLANA)
        store.event("ethereum", UPPER)
        store.event("ethereum", LOWER)
        store.event("cosmos", COSMOS.upper())

    command.upgrade(alembic_config(), THIS)

    with db.engine.connect() as conn:
        assert version(conn) == THIS
        after = snapshot(conn)
        keys = sorted(conn.execute(sa.text("SELECT name, name_key FROM partners")))
    assert after["wallets"] == sorted(
        [("cosmos", COSMOS), ("ethereum", CHECKSUMMED), ("solana", SOLANA)]
    )
    assert after["rewards"] == sorted(
        [
            ("cosmos", COSMOS, "MEV"),
            ("ethereum", CHECKSUMMED, "MEV"),
            ("ethereum", CHECKSUMMED, "REWARDS"),
            ("ethereum", "0xNotAnAddress", "MEV"),
            ("solana", SOLANA, "MEV"),
        ]
    )
    assert after["events"] == sorted(
        [("cosmos", COSMOS), ("ethereum", CHECKSUMMED), ("ethereum", CHECKSUMMED)]
    )
    assert keys == [("Acme", "acme"), ("Beta Exchange", "beta exchange")]
    # The key is unique now: a case variant of a name cannot be stored.
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO partners (partner_id, name, name_key, is_active, created_at, "
                "updated_at) VALUES (:id, 'ACME', 'acme', :t, :now, :now)"
            ),
            {"id": uuid.uuid4().hex, "t": True, "now": NOW.isoformat()},
        )


def refused(store_rows) -> tuple[str, dict, dict]:
    """Seed the rows, run the upgrade, and return its message and the data before and after."""
    with db.engine.begin() as conn:
        store_rows(Store(conn))
    with db.engine.connect() as conn:
        before = snapshot(conn)
    with pytest.raises(RuntimeError) as caught:
        command.upgrade(alembic_config(), THIS)
    with db.engine.connect() as conn:
        after = snapshot(conn)
        assert version(conn) == BEFORE
        columns = {c["name"] for c in sa.inspect(conn).get_columns("partners")}
    assert "name_key" not in columns
    return str(caught.value), before, after


def test_two_partners_owning_case_variants_stop_the_upgrade_naming_both(migrated_app):
    def rows(store):
        acme, beta = store.partner("Acme"), store.partner("Beta Exchange")
        store.wallet(acme, "ethereum", LOWER)
        store.wallet(beta, "ethereum", UPPER)
        store.wallet(acme, "cosmos", COSMOS)
        store.wallet(acme, "cosmos", COSMOS.upper())
        # Rows that would change if the upgrade went on.
        store.wallet(beta, "ethereum", "0x" + "ab" * 20)
        store.reward("ethereum", "0x" + "cd" * 20)

    message, before, after = refused(rows)
    assert "2 conflict(s), nothing was changed" in message
    assert (
        f"wallet {LOWER} of partner 'Acme' and wallet {UPPER} of partner 'Beta Exchange' "
        f"on ethereum are one address, {CHECKSUMMED}"
        in message
        or f"wallet {UPPER} of partner 'Beta Exchange' and wallet {LOWER} of partner 'Acme' "
        f"on ethereum are one address, {CHECKSUMMED}"
        in message
    ), message
    assert f"of partner 'Acme' on cosmos are one address, {COSMOS}" in message
    assert f"wallet {COSMOS.upper()} of partner 'Acme'" in message
    assert after == before


def test_reward_rows_that_become_one_stop_the_upgrade_naming_both(migrated_app):
    def rows(store):
        acme = store.partner("Acme")
        store.wallet(acme, "ethereum", CHECKSUMMED)
        store.reward("ethereum", LOWER, "one.csv")
        store.reward("ethereum", UPPER, "two.csv")
        store.event("ethereum", LOWER)

    message, before, after = refused(rows)
    assert "1 conflict(s), nothing was changed" in message
    assert "on ethereum, period 1, validator V1, MEV become one row for " + CHECKSUMMED in message
    assert f"{LOWER} (file one.csv)" in message and f"{UPPER} (file two.csv)" in message
    assert "(wallet of partner 'Acme')" in message
    assert after == before


def test_partner_names_differing_in_case_stop_the_upgrade(migrated_app):
    def rows(store):
        store.partner("Acme")
        store.partner("ACME")
        store.partner("Beta")

    message, before, after = refused(rows)
    assert "partners 'ACME' and 'Acme' have one name in different letter case" in message
    assert after == before
