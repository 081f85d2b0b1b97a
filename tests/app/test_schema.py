"""The schema: migrations up and down on both databases, no drift from the models, exact amounts."""

from datetime import date
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from tests.conftest import is_postgres
from webapp import create_app, reward_partitions
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import Agreement, Chain, CommissionRun, Partner, PartnerWallet
from webapp.money import MONEY

BIG = Decimal("12345678901234567890.123456789012345678")


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A database with nothing in it, for the migrations to build."""
    if not is_postgres():
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_migrations"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_run_up_down_and_up_without_drift(empty_database_url):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables

        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        if is_postgres():
            with db.engine.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM pg_type WHERE typtype = 'e'")) == 0

        upgrade()
        with db.engine.connect() as conn:
            # The partitions an import makes are no part of the schema.
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_name": reward_partitions.include_name},
            )
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        db.engine.dispose()


@pytest.fixture
def agreement(app):
    """A chain, a partner and an agreement: what a commission run row needs."""
    db.session.add(
        Chain(chain_id="x", name="X", token_symbol="X", display_decimals=9, address_format="evm")
    )
    partner = Partner(name="P")
    db.session.add(partner)
    db.session.flush()
    agreement = Agreement(
        partner_id=partner.partner_id, chain_id="x", name="A", effective_from=date(2025, 1, 1)
    )
    db.session.add(agreement)
    db.session.commit()
    return agreement


def _run(agreement, total_base, total_commission=Decimal(0)):
    return CommissionRun(
        partner_id=agreement.partner_id,
        agreement_id=agreement.agreement_id,
        date_from=agreement.effective_from,
        date_to=agreement.effective_from,
        method="total_revenue",
        status="preview",
        total_base_native=total_base,
        total_commission_native=total_commission,
        excluded_amount_native=Decimal(0),
    )


def test_amounts_round_trip_and_sum_exactly(agreement):
    count = 500
    db.session.add_all(
        _run(agreement, BIG, Decimal("0.000000000000000001") * (i + 1)) for i in range(count)
    )
    db.session.commit()
    db.session.expire_all()

    stored = db.session.scalars(select(CommissionRun.total_base_native)).all()
    assert stored == [BIG] * count
    assert all(isinstance(value, Decimal) for value in stored)

    total = db.session.scalar(select(decimal_sum(CommissionRun.total_base_native)))
    assert total == Decimal("6172839450617283945061.728394506172839")
    assert total == MONEY.multiply(BIG, count)
    tiny = db.session.scalar(select(decimal_sum(CommissionRun.total_commission_native)))
    assert tiny == Decimal("0.000000000000125250")


def test_float_amounts_are_refused(agreement):
    db.session.add(_run(agreement, 0.1))
    with pytest.raises(Exception, match="never float"):
        db.session.flush()
    db.session.rollback()


def test_wallet_exclusivity_is_enforced_by_the_database(app):
    from sqlalchemy.exc import IntegrityError

    db.session.add(
        Chain(chain_id="x", name="X", token_symbol="X", display_decimals=9, address_format="evm")
    )
    first, second = Partner(name="First"), Partner(name="Second")
    db.session.add_all([first, second])
    db.session.flush()
    db.session.add(
        PartnerWallet(
            partner_id=first.partner_id,
            chain_id="x",
            wallet_address="0xabc",
            introduced_date=date(2025, 1, 1),
            is_active=False,
        )
    )
    db.session.commit()
    db.session.add(
        PartnerWallet(
            partner_id=second.partner_id,
            chain_id="x",
            wallet_address="0xabc",
            introduced_date=date(2025, 1, 1),
        )
    )
    with pytest.raises(IntegrityError, match="uq_partner_wallets_chain_address|UNIQUE"):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PartnerWallet)) == 1


def test_one_wallet_line_per_agreement_period_wallet_validator_and_component(agreement):
    """The wallet lines' unique key (agreement, period, wallet, validator, component): a
    line that differs from another in any one of its parts is kept, a second line of the
    same key is refused."""
    from sqlalchemy.exc import IntegrityError

    from tests import factories
    from webapp.models import PartnerCommissionLine

    source = factories.payload(factories.provider(), "periods", chain_id="x")
    periods = [
        factories.period(
            source, f"D{n}", factories.utc(2025, 1, 1 + n), factories.utc(2025, 1, 2 + n), "x"
        )
        for n in range(2)
    ]
    run = _run(agreement, Decimal(0))
    run.method = "wallet_attribution"
    db.session.add(run)
    db.session.commit()

    def line(period=periods[0], wallet="0xaa", validator="v1", component="MEV"):
        return PartnerCommissionLine(
            run_id=run.run_id,
            agreement_id=agreement.agreement_id,
            partner_id=agreement.partner_id,
            period_id=period.period_id,
            validator_key=validator,
            revenue_component=component,
            wallet_address=wallet,
            base_amount_native=Decimal(1),
            commission_rate_bps=100,
            commission_amount_native=Decimal("0.01"),
        )

    kept = [
        line(),
        line(period=periods[1]),
        line(wallet="0xbb"),
        line(validator="v2"),
        line(component="REWARDS"),
    ]
    db.session.add_all(kept)
    db.session.commit()
    for twin in (line(), line(wallet="0xbb"), line(component="REWARDS")):
        db.session.add(twin)
        with pytest.raises(IntegrityError, match="uq_partner_commission_lines_wallet|UNIQUE"):
            db.session.commit()
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PartnerCommissionLine)) == len(kept)
