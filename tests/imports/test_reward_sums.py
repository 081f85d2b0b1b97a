"""PostgreSQL keeps the staker rewards of each period and component added up as they are
written (`webapp.reward_sums`): held here to the rows themselves, added up in Python, after
every kind of write: an import (the bulk writer, which skips the other triggers), a
replacement, rows added one by one, an amount changed in place, rows and a whole period
deleted, the table emptied; and after the migration, for rows stored before it."""

from decimal import Decimal as D

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete, select, text, update

from tests import factories
from tests.app.test_schema import empty_database_url  # noqa: F401 (a fixture)
from tests.worlds import PAID, VOTE, ok, rewards_file, setup
from webapp import create_app
from webapp.extensions import db
from webapp.models import CanonicalPeriod, CanonicalStakerRewardsDetail, StakerRewardSum

pytestmark = pytest.mark.postgres_only

R, S = CanonicalStakerRewardsDetail, StakerRewardSum


def added_up() -> dict:
    """(period, component) -> (rows, amount) of the stored reward rows, added up here."""
    sums: dict = {}
    for reward in db.session.scalars(select(R)):
        key = (reward.period_id, str(reward.revenue_component))
        count, amount = sums.get(key, (0, D(0)))
        sums[key] = (count + 1, amount + reward.reward_amount_native)
    return sums


def kept() -> dict:
    db.session.expire_all()
    return {
        (s.period_id, str(s.revenue_component)): (s.row_count, s.amount_native)
        for s in db.session.scalars(select(S))
    }


def period(label: str) -> CanonicalPeriod:
    return db.session.scalars(
        select(CanonicalPeriod).where(
            CanonicalPeriod.label == label, CanonicalPeriod.chain_id == "solana"
        )
    ).one()


def test_every_kind_of_write_keeps_the_sums_in_step(app, runner, tmp_path):
    setup(runner, tmp_path)  # the command line imports five reward rows in three periods
    january = period("2025-01")
    assert kept() == added_up()
    # By hand: January's MEV is PAID's 10 and LATE's 2.
    assert kept()[(january.period_id, "MEV")] == (2, D("12"))

    corrected = rewards_file(
        tmp_path, "fixed.csv", [("2025-01", PAID, "MEV", "13"), ("2025-01", PAID, "REWARDS", "4")]
    )
    ok(runner, "import", "staker-rewards", corrected, "--provider", "jito", "--replace")
    assert kept()[(january.period_id, "MEV")] == (1, D("13"))
    assert kept() == added_up()

    source = factories.payload(factories.provider("manual"), "staker-rewards")
    factories.rewards(
        source, period("2025-04"), [(VOTE, PAID, "EXEC_FEES", "0.000000000000000001")]
    )
    db.session.commit()
    assert kept()[(period("2025-04").period_id, "EXEC_FEES")] == (1, D("0.000000000000000001"))
    assert kept() == added_up()

    db.session.execute(
        update(R)
        .where(R.period_id == january.period_id, R.revenue_component == "REWARDS")
        .values(reward_amount_native=D("4.5"))
    )
    db.session.commit()
    assert kept()[(january.period_id, "REWARDS")] == (1, D("4.5"))
    assert kept() == added_up()

    db.session.execute(delete(R).where(R.period_id == january.period_id))
    db.session.commit()
    assert not {key for key in kept() if key[0] == january.period_id}
    assert kept() == added_up()

    db.session.delete(period("2025-02"))
    db.session.commit()
    assert kept() == added_up() and len(kept()) == 2

    db.session.execute(text("TRUNCATE canonical_staker_rewards_detail"))
    db.session.commit()
    assert kept() == {} == added_up()


def test_the_migration_adds_up_the_rows_stored_before_it(empty_database_url):  # noqa: F811
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="f6b5a4ecb705")
        factories.chains("solana")
        source = factories.payload(factories.provider(), "staker-rewards")
        days = [
            factories.period(
                source, f"d{day}", factories.utc(2025, 1, day), factories.utc(2025, 1, day + 1)
            )
            for day in (1, 2)
        ]
        for day in days:
            factories.rewards(
                source,
                day,
                [
                    ("V1", "S1", "MEV", "1.5"),
                    ("V1", "S2", "MEV", "2"),
                    ("V2", "S1", "REWARDS", "3"),
                ],
            )
        db.session.commit()
        upgrade()
        assert kept() == added_up()
        assert kept()[(days[1].period_id, "MEV")] == (2, D("3.5"))
        db.session.remove()
        db.engine.dispose()


def test_tables_dropped_and_created_again_keep_their_sums(empty_database_url):  # noqa: F811
    """What the benches' --reset does: `drop_all` takes the function with the table, and
    `create_all` installs both again."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        for _ in range(2):
            db.create_all()
            db.drop_all()
        db.create_all()
        factories.chains("solana")
        source = factories.payload(factories.provider(), "staker-rewards")
        day = factories.period(source, "d1", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2))
        factories.rewards(source, day, [("V1", "S1", "MEV", "1.25"), ("V2", "S1", "MEV", "2")])
        db.session.commit()
        assert kept() == {(day.period_id, "MEV"): (2, D("3.25"))} == added_up()
        db.session.remove()
        db.engine.dispose()
