"""PostgreSQL draws a new revision of a chain's stake events, and of a partner's wallets,
whenever a statement writes, changes or removes any of them (`webapp.row_revisions`),
whoever runs it: held here after every kind of write (an import, a replacement, statements by
hand, a period or partner deleted with its rows, the table emptied), each time against the
exact set of chains or partners the write touched; and after the migration, for chains and
partners stored before it."""

from decimal import Decimal

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from tests import factories
from tests.app.test_schema import empty_database_url  # noqa: F401 (a fixture)
from tests.imports.test_imports import EVENTS_HEADER, PERIODS, chains, write  # noqa: F401 (fixtures)
from webapp import create_app
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import (
    CanonicalPeriod,
    Chain,
    Partner,
    PartnerWallet,
    PartnerWalletRevision,
    StakeEventRevision,
)

pytestmark = pytest.mark.postgres_only

TABLE = "canonical_stake_events"
#: Periods of ethereum beside solana's 800 and 801 (`PERIODS`).
ETHEREUM_PERIODS = PERIODS.replace("solana", "ethereum").replace(",80", ",90")


def revisions(model=StakeEventRevision) -> dict:
    """Chain (or partner) -> its revision, as stored."""
    db.session.expire_all()
    key = model.chain_id if model is StakeEventRevision else model.partner_id
    return dict(db.session.execute(select(key, model.revision)).all())


def drawn(statement, model=StakeEventRevision) -> set:
    """The chains (or partners) whose revision `statement` (SQL text, or a function) drew
    again, made appear or took away, once committed."""
    before = revisions(model)
    if callable(statement):
        statement()
    else:
        db.session.execute(text(statement))
    db.session.commit()
    after = revisions(model)
    return {c for c in before.keys() | after.keys() if before.get(c) != after.get(c)}


def imported(write, body: str, **options):  # noqa: F811 (the fixture's function)
    report = import_file("stake-events", write(EVENTS_HEADER + body), "rpc", **options)
    assert report.ok, report.headline()
    return report


@pytest.fixture
def both_chains_periods(chains, write):  # noqa: F811
    for body in (PERIODS, ETHEREUM_PERIODS):
        report = import_file("periods", write(body), "manual-upload")
        assert report.ok, report.headline()


def test_every_kind_of_write_draws_the_revisions_of_the_chains_it_touched(
    both_chains_periods,
    write,  # noqa: F811
):
    def rows(body, **options):
        return lambda: imported(write, body, **options)

    solana = (
        "solana,V1,S1,STAKE,10,2025-10-01T01:00:00Z\nsolana,V1,S2,STAKE,5,2025-10-03T01:00:00Z\n"
    )
    # The import (binary COPY, the foreign-key triggers skipped): the chain appears.
    assert drawn(rows(solana)) == {"solana"}
    assert drawn(rows("ethereum,V1,E1,STAKE,1,2025-10-01T02:00:00Z\n")) == {"ethereum"}
    assert drawn(rows("solana,V1,S1,UNSTAKE,3,2025-10-04T01:00:00Z\n")) == {"solana"}
    # A replacement deletes the period's events, then writes the file's.
    assert drawn(rows("solana,V1,S1,STAKE,11,2025-10-01T01:00:00Z\n", replace=True)) == {"solana"}
    # The same rows again still draw it: a revision says "written", not "different".
    assert drawn(rows("solana,V1,S1,STAKE,11.0,2025-10-01T01:00:00Z\n", replace=True)) == {"solana"}
    assert drawn(f"UPDATE {TABLE} SET stake_amount_native = 4 WHERE staker_address = 'S1'") == {
        "solana"
    }
    # A statement that touches no row draws nothing.
    assert drawn(f"UPDATE {TABLE} SET stake_amount_native = 7 WHERE false") == set()
    assert drawn(f"DELETE FROM {TABLE} WHERE staker_address = 'nobody'") == set()
    # An event moved to another chain and back: both chains, each time.
    for chain_id in ("ethereum", "solana"):
        assert drawn(f"UPDATE {TABLE} SET chain_id = '{chain_id}' WHERE staker_address = 'S2'") == {
            "solana",
            "ethereum",
        }
    columns = (
        "stake_event_id, chain_id, period_id, validator_key, staker_address, event_type, "
        "stake_amount_native, event_timestamp, source_provider_id, source_payload_id, "
        "normalized_at"
    )
    copied = columns.replace("stake_event_id", "gen_random_uuid()").replace("validator_key", "'V9'")
    assert drawn(
        f"INSERT INTO {TABLE} ({columns}) SELECT {copied} FROM {TABLE} WHERE chain_id = 'solana'"
    ) == {"solana"}
    assert drawn(f"DELETE FROM {TABLE} WHERE validator_key = 'V9'") == {"solana"}

    # Through the ORM, and a period deleted with its events.
    source = factories.payload(factories.provider("orm"), "stake-events")
    p801 = db.session.scalar(select(CanonicalPeriod).where(CanonicalPeriod.label == "801"))

    def by_hand():
        factories.events(
            source, p801, [("V2", "S3", "STAKE", Decimal(2), factories.utc(2025, 10, 3, 5))]
        )

    assert drawn(by_hand) == {"solana"}
    assert drawn(lambda: db.session.delete(p801)) == {"solana"}
    assert drawn(f"TRUNCATE {TABLE}") == {"solana", "ethereum"}
    # A chain deleted takes its revision with it.
    assert drawn(lambda: db.session.delete(db.session.get(Chain, "ethereum"))) == {"ethereum"}
    assert set(revisions()) == {"solana"}


def test_every_kind_of_write_draws_the_revisions_of_the_partners_it_touched(app):
    from tests.worlds import solana_address, wallet_csv
    from webapp.wallets.service import (
        add_wallet,
        set_wallet_active,
        set_wallets_active,
        update_wallet,
    )
    from webapp.wallets.upload import commit_file

    acme = factories.partner("Acme", "solana")
    beta = factories.partner("Beta")
    db.session.commit()
    a, b = acme.partner_id, beta.partner_id

    def wallets(model=PartnerWalletRevision):
        return lambda statement: drawn(statement, model)

    changed = wallets()
    assert changed(lambda: add_wallet(acme, "solana", solana_address(), "2025-01-01")) == {a}
    data = wallet_csv([(solana_address(), "solana", "2025-01-01", "")])
    assert changed(lambda: commit_file(beta, data, "beta.csv")) == {b}
    wallet = db.session.scalars(select(PartnerWallet).where(PartnerWallet.partner_id == a)).one()
    assert changed(lambda: update_wallet(wallet, "2025-01-02", "")) == {a}
    assert changed(lambda: set_wallet_active(wallet, False)) == {a}
    assert changed(lambda: set_wallets_active(acme, [str(wallet.wallet_id)], True)) == {a}
    assert changed("UPDATE partner_wallets SET notes = 'x' WHERE false") == set()
    # A wallet handed from one partner to another: both partners.
    assert changed(f"UPDATE partner_wallets SET partner_id = '{b}' WHERE partner_id = '{a}'") == {
        a,
        b,
    }
    assert changed(f"DELETE FROM partner_wallets WHERE wallet_id = '{wallet.wallet_id}'") == {b}
    assert changed("TRUNCATE partner_wallets") == {a, b}
    # A partner deleted takes its revision with it.
    assert changed(lambda: db.session.delete(db.session.get(Partner, b))) == {b}
    assert set(revisions(PartnerWalletRevision)) == {a}


def test_the_migration_gives_stored_chains_their_revisions(empty_database_url):  # noqa: F811
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="f2a6c8e4b1d3")
        factories.chains("solana", "ethereum")
        source = factories.payload(factories.provider(), "stake-events")
        day = factories.period(source, "d1", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2))
        factories.events(source, day, [("V1", "S1", "STAKE", 1, factories.utc(2025, 1, 1, 3))])
        db.session.commit()
        partner = factories.partner("Acme")
        db.session.commit()
        upgrade()
        assert set(revisions()) == {"solana", "ethereum"}
        assert set(revisions(PartnerWalletRevision)) == {partner.partner_id}
        assert drawn(f"UPDATE {TABLE} SET stake_amount_native = 4") == {"solana"}
        db.session.remove()
        downgrade(revision="f2a6c8e4b1d3")
        # The triggers went with the table of revisions: writes still work.
        db.session.execute(text(f"UPDATE {TABLE} SET stake_amount_native = 6"))
        db.session.commit()
        upgrade()
        assert set(revisions()) == {"solana", "ethereum"}
        db.session.remove()
        db.engine.dispose()


def test_tables_dropped_and_created_again_keep_their_revisions(empty_database_url):  # noqa: F811
    """What the benches' --reset does: `drop_all` takes the function with the table, and
    `create_all` installs it and the table's triggers again."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        for _ in range(2):
            db.create_all()
            db.drop_all()
        db.create_all()
        factories.chains("solana")
        source = factories.payload(factories.provider(), "stake-events")
        day = factories.period(source, "d1", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2))
        db.session.commit()

        def by_hand():
            factories.events(
                source, day, [("V1", "S1", "STAKE", "1.25", factories.utc(2025, 1, 1, 3))]
            )

        assert drawn(by_hand) == {"solana"}
        assert drawn(f"DELETE FROM {TABLE}") == {"solana"}
        db.session.remove()
        db.engine.dispose()
