"""PostgreSQL draws a new revision of a period's staker reward rows whenever a statement
writes, changes or removes any of them (`webapp.reward_revisions`), whoever runs it: held
here after every kind of write (an import, a replacement, statements on the table and
straight on a partition or the default partition, a row moved between periods, a period
deleted, the table emptied), each time against the exact set of periods the write touched;
and after the migration, for partitions and rows stored before it."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from tests import factories
from tests.app.test_schema import empty_database_url  # noqa: F401 (a fixture)
from tests.imports.test_imports import REWARDS_HEADER, chains, periods, write  # noqa: F401 (fixtures)
from webapp import create_app, reward_partitions
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import CanonicalPeriod, StakerRewardRevision

pytestmark = pytest.mark.postgres_only


def revisions() -> dict[uuid.UUID, uuid.UUID]:
    """Period -> its revision, as stored."""
    db.session.expire_all()
    R = StakerRewardRevision
    return {
        period: revision for period, revision in db.session.execute(select(R.period_id, R.revision))
    }


def drawn(statement) -> set[uuid.UUID]:
    """The periods whose revision `statement` (SQL text, or a function) drew again, made
    appear or took away, once committed."""
    before = revisions()
    if callable(statement):
        statement()
    else:
        db.session.execute(text(statement))
    db.session.commit()
    after = revisions()
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def period_id(label: str) -> uuid.UUID:
    return db.session.scalar(
        select(CanonicalPeriod.period_id).where(CanonicalPeriod.label == label)
    )


def imported(write, body: str, **options):  # noqa: F811 (the fixture's function)
    report = import_file("staker-rewards", write(REWARDS_HEADER + body), "jito", **options)
    assert report.ok, report.headline()
    return report


def partition(label: str) -> str:
    return reward_partitions.partition_name(period_id(label))


def test_every_kind_of_write_draws_the_revisions_of_the_periods_it_touched(periods, write):  # noqa: F811
    p800, p801 = period_id("800"), period_id("801")
    both = {p800, p801}

    def rows(body, **options):
        return lambda: imported(write, body, **options)

    # The import (binary COPY, the foreign-key triggers skipped) of two periods, then of one.
    assert drawn(rows("solana,800,V1,S1,MEV,1\nsolana,800,V1,S2,MEV,2\nsolana,801,V1,S1,MEV,3\n"))
    assert drawn(rows("solana,800,V2,S1,MEV,1\nsolana,801,V2,S1,MEV,3\n")) == both
    assert drawn(rows("solana,801,V1,S3,REWARDS,4\n")) == {p801}
    # A replacement empties the period's partition (TRUNCATE), then writes its rows.
    assert drawn(rows("solana,800,V1,S1,MEV,9\n", replace=True)) == {p800}
    # The same rows again still draw it: a revision says "written", not "different".
    assert drawn(rows("solana,800,V1,S1,MEV,9.0\n", replace=True)) == {p800}

    table = "canonical_staker_rewards_detail"
    assert drawn(f"UPDATE {table} SET reward_amount_native = 5 WHERE period_id = '{p801}'") == {
        p801
    }
    assert drawn(f"UPDATE {partition('800')} SET reward_amount_native = 6") == {p800}
    # A statement that touches no row of the table draws nothing.
    assert drawn(f"UPDATE {table} SET reward_amount_native = 7 WHERE false") == set()
    assert drawn(f"DELETE FROM {table} WHERE staker_address = 'S3'") == {p801}
    assert drawn(f"DELETE FROM {partition('801')} WHERE validator_key = 'V2'") == {p801}
    columns = (
        "staker_reward_id, chain_id, period_id, validator_key, staker_address, "
        "revenue_component, reward_amount_native, source_provider_id, source_payload_id, "
        "normalized_at"
    )
    copied = columns.replace("staker_reward_id", "gen_random_uuid()").replace(
        "validator_key", "'V9'"
    )
    assert drawn(
        f"INSERT INTO {partition('801')} ({columns}) "
        f"SELECT {copied} FROM {table} WHERE period_id = '{p801}'"
    ) == {p801}
    # A row moved to another period: both periods.
    assert (
        drawn(
            f"UPDATE {table} SET period_id = '{p801}', validator_key = 'V8' "
            f"WHERE period_id = '{p800}' AND validator_key = 'V1'"
        )
        == both
    )
    assert drawn(f"TRUNCATE {partition('800')}") == {p800}
    assert drawn(f"TRUNCATE {table}") == both


def test_rows_of_a_period_without_a_partition_and_a_period_deleted(periods, write):  # noqa: F811
    imported(write, "solana,800,V1,S1,MEV,1\nsolana,801,V1,S1,MEV,3\n")
    p800 = period_id("800")
    source = factories.payload(factories.provider("manual"), "staker-rewards")
    start = factories.utc(2025, 11, 1)
    late = factories.period(source, "900", start, start + timedelta(days=1))
    db.session.commit()

    # Rows of a period with no partition yet land in the default partition.
    def by_hand():
        factories.rewards(source, late, [("V1", "S1", "MEV", Decimal("1.5"))])

    assert drawn(by_hand) == {late.period_id}
    default = reward_partitions.DEFAULT
    assert drawn(f"UPDATE {default} SET reward_amount_native = 2") == {late.period_id}
    # Its partition made: the rows move over (the period is drawn again, nothing else).
    assert drawn(lambda: reward_partitions.ensure_partitions(db.session.connection())) == {
        late.period_id
    }
    assert drawn(f"UPDATE {partition('900')} SET reward_amount_native = 3") == {late.period_id}
    # A period deleted takes its rows and its revision; the others stay as they were.
    assert drawn(lambda: db.session.delete(db.session.get(CanonicalPeriod, p800))) == {p800}
    assert p800 not in revisions()


def test_the_migration_gives_stored_periods_and_partitions_their_revisions(
    empty_database_url,  # noqa: F811
):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="a8c3e5f2d104")
        factories.chains("solana")
        source = factories.payload(factories.provider(), "staker-rewards")
        days = [
            factories.period(
                source, f"d{day}", factories.utc(2025, 1, day), factories.utc(2025, 1, day + 1)
            )
            for day in (1, 2, 3)
        ]
        # Two periods with partitions of their own, the third's rows in the default one.
        for day in days[:2]:
            name = reward_partitions.partition_name(day.period_id)
            db.session.execute(
                text(
                    f"CREATE TABLE {name} PARTITION OF {reward_partitions.TABLE} "
                    f"FOR VALUES IN ('{day.period_id}')"
                )
            )
        for day in days:
            factories.rewards(source, day, [("V1", "S1", "MEV", "1.5"), ("V2", "S1", "MEV", "2")])
        db.session.commit()
        ids = {d.period_id for d in days}
        upgrade()
        assert set(revisions()) == ids
        first = reward_partitions.partition_name(days[0].period_id)
        assert drawn(f"UPDATE {first} SET reward_amount_native = 4") == {days[0].period_id}
        assert drawn(f"DELETE FROM {reward_partitions.DEFAULT}") == {days[2].period_id}
        assert drawn(
            "UPDATE canonical_staker_rewards_detail SET reward_amount_native = 5 "
            f"WHERE period_id = '{days[1].period_id}'"
        ) == {days[1].period_id}

        db.session.remove()
        downgrade(revision="a8c3e5f2d104")
        # The triggers went with the table of revisions: writes still work.
        db.session.execute(text(f"UPDATE {first} SET reward_amount_native = 6"))
        db.session.execute(
            text("UPDATE canonical_staker_rewards_detail SET reward_amount_native = 7")
        )
        db.session.commit()
        upgrade()
        assert set(revisions()) == ids
        db.session.remove()
        db.engine.dispose()


def test_tables_dropped_and_created_again_keep_their_revisions(empty_database_url):  # noqa: F811
    """What the benches' --reset does: `drop_all` takes the function with the table, and
    `create_all` installs it, the table's triggers and the default partition's again."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        for _ in range(2):
            db.create_all()
            db.drop_all()
        db.create_all()
        factories.chains("solana")
        source = factories.payload(factories.provider(), "staker-rewards")
        day = factories.period(source, "d1", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2))
        db.session.commit()

        def by_hand():
            factories.rewards(source, day, [("V1", "S1", "MEV", "1.25")])

        assert drawn(by_hand) == {day.period_id}
        assert drawn(f"UPDATE {reward_partitions.DEFAULT} SET reward_amount_native = 2") == {
            day.period_id
        }
        db.session.remove()
        db.engine.dispose()
