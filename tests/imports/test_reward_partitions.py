"""Staker reward rows in one partition per period on PostgreSQL (`webapp.reward_partitions`):
an import makes a period's partition and its rows land there (checked by each row's
`tableoid`), a replacement empties the period's partition and leaves the other periods' rows
as they were, the kept sums agree with a recount after each, two imports reaching the same
new period at once both end cleanly, and the migration moves the stored rows over exactly.
SQLite keeps one plain table: the replacement is held to the same rows there."""

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, select, text

from tests import factories
from tests.app.test_schema import empty_database_url  # noqa: F401 (a fixture)
from tests.conftest import is_postgres
from tests.imports.test_imports import REWARDS_HEADER, chains, periods, write  # noqa: F401 (fixtures)
from webapp import create_app, reward_partitions
from webapp.commissions import inputs, set_based
from webapp.commissions.terms import terms_of
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import CanonicalPeriod, CanonicalStakerRewardsDetail

R = CanonicalStakerRewardsDetail
postgres_only = pytest.mark.postgres_only


def rows() -> list[tuple]:
    """Every stored reward row, every column, sorted."""
    db.session.expire_all()
    return sorted(
        db.session.execute(
            select(
                R.staker_reward_id,
                R.chain_id,
                R.period_id,
                R.validator_key,
                R.staker_address,
                R.revenue_component,
                R.reward_amount_native,
                R.source_provider_id,
                R.source_payload_id,
                R.normalized_at,
            )
        ).all(),
        key=str,
    )


def where_rows_are() -> dict[str, set[str]]:
    """Partition name -> the periods of the rows it holds (PostgreSQL)."""
    found: dict[str, set[str]] = {}
    for partition, period_id in db.session.execute(
        text("SELECT tableoid::regclass::text, period_id FROM canonical_staker_rewards_detail")
    ):
        found.setdefault(partition, set()).add(str(period_id))
    return found


def own_partitions() -> dict[str, set[str]]:
    """What `where_rows_are` must find: each period's rows in the period's own partition."""
    return {
        reward_partitions.partition_name(period_id): {str(period_id)}
        for period_id in db.session.scalars(select(R.period_id).distinct())
    }


def kept_sums() -> dict:
    return {
        (str(p), str(c)): (n, a)
        for p, c, n, a in db.session.execute(
            text(
                "SELECT period_id, revenue_component, row_count, amount_native "
                "FROM staker_reward_sums"
            )
        )
    }


def recounted() -> dict:
    """The sums counted again from the rows, in Python."""
    sums: dict = {}
    for row in rows():
        key = (str(row[2]), str(row[5]))
        count, amount = sums.get(key, (0, Decimal(0)))
        sums[key] = (count + 1, amount + row[6])
    return sums


def period_id(label: str) -> uuid.UUID:
    return db.session.scalar(
        select(CanonicalPeriod.period_id).where(CanonicalPeriod.label == label)
    )


def imported(write, body: str, **options):  # noqa: F811 (the fixture's function)
    report = import_file("staker-rewards", write(REWARDS_HEADER + body), "jito", **options)
    assert report.ok, report.headline()
    return report


@postgres_only
def test_an_imported_period_has_its_partition_and_its_rows_land_there(periods):  # noqa: F811
    made = reward_partitions.partitioned_periods(db.session.connection())
    assert made == {period_id("800"), period_id("801")}


@postgres_only
def test_imported_rewards_land_in_their_periods_partition(periods, write):  # noqa: F811
    imported(write, "solana,800,V1,S1,MEV,1\nsolana,800,V1,S2,MEV,2\nsolana,801,V1,S1,MEV,3\n")
    assert where_rows_are() == own_partitions()
    assert len(where_rows_are()) == 2
    # No row in the default partition: a period query reads one partition.
    assert db.session.scalar(text(f"SELECT count(*) FROM {reward_partitions.DEFAULT}")) == 0
    assert kept_sums() == recounted()


def test_replace_swaps_one_periods_rows_and_leaves_the_others(periods, write):  # noqa: F811
    first = imported(
        write,
        "solana,800,V1,S1,MEV,1\nsolana,800,V1,S2,REWARDS,2\n"
        "solana,801,V1,S1,MEV,3.000000000000000001\nsolana,801,V2,S3,MEV,4\n",
    )
    untouched = [row for row in rows() if row[2] == period_id("801")]
    before = _filenode("800")
    second = imported(
        write,
        "solana,800,V2,S9,MEV,0.000000000000000007\nsolana,800,V1,S1,EXEC_FEES,5\n",
        replace=True,
    )
    assert second.replaced == {("solana", "800"): 2}
    after = rows()
    assert [row for row in after if row[2] == period_id("801")] == untouched
    assert {row[8] for row in untouched} == {first.payload_id}
    replaced = sorted(
        (r[3], r[4], str(r[5]), r[6], r[8]) for r in after if r[2] == period_id("800")
    )
    assert replaced == [
        ("V1", "S1", "EXEC_FEES", Decimal("5"), second.payload_id),
        ("V2", "S9", "MEV", Decimal("0.000000000000000007"), second.payload_id),
    ]
    if is_postgres():
        # The period's partition was emptied whole (a new file node), not deleted row by row.
        assert _filenode("800") != before
        assert where_rows_are() == own_partitions()
        assert kept_sums() == recounted()
        assert kept_sums()[(str(period_id("800")), "MEV")] == (1, Decimal("0.000000000000000007"))


def _filenode(label: str):
    if not is_postgres():
        return None
    name = reward_partitions.partition_name(period_id(label))
    return db.session.scalar(text(f"SELECT pg_relation_filenode('{name}')"))


@postgres_only
def test_rows_of_a_period_without_a_partition_move_into_it_at_the_next_import(app, write):  # noqa: F811
    factories.chains("solana")
    source = factories.payload(factories.provider("manual"), "staker-rewards")
    early = factories.period(source, "e1", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2))
    late = factories.period(source, "e2", factories.utc(2025, 1, 2), factories.utc(2025, 1, 3))
    factories.rewards(source, early, [("V1", "S1", "MEV", "1.25"), ("V1", "S2", "MEV", "2")])
    db.session.commit()
    assert where_rows_are() == {reward_partitions.DEFAULT: {str(early.period_id)}}
    stored = rows()
    sums = kept_sums()

    imported(write, "solana,e2,V1,S1,MEV,7\n")

    assert [row for row in rows() if row[2] == early.period_id] == stored
    assert where_rows_are() == own_partitions()
    assert reward_partitions.partitioned_periods(db.session.connection()) == {
        early.period_id,
        late.period_id,
    }
    assert {k: v for k, v in kept_sums().items() if k[0] == str(early.period_id)} == sums
    assert kept_sums() == recounted()


@postgres_only
def test_two_imports_reaching_one_new_period_at_once_end_cleanly(app, write):  # noqa: F811
    factories.chains("solana")
    source = factories.payload(factories.provider("manual"), "periods")
    outcomes = []
    for round_number in range(6):
        label = f"r{round_number}"
        new = factories.period(
            source,
            label,
            factories.utc(2025, 2, 1 + round_number),
            factories.utc(2025, 2, 2 + round_number),
        )
        db.session.commit()
        same_keys = round_number % 2 == 1
        bodies = [
            f"solana,{label},V1,S1,MEV,1\nsolana,{label},V1,S2,MEV,2.5\n",
            f"solana,{label},V1,S1,MEV,1.0\nsolana,{label},V1,S2,MEV,2.50\n"
            if same_keys
            else f"solana,{label},V2,S1,MEV,3\n",
        ]
        paths = [write(REWARDS_HEADER + body) for body in bodies]
        start = threading.Barrier(2, timeout=30)
        reports = [None, None]

        def run(index, app=app, start=start, paths=paths, reports=reports):
            with app.app_context():
                try:
                    start.wait()
                    reports[index] = import_file("staker-rewards", paths[index], "jito")
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert all(report is not None for report in reports)
        succeeded = [report for report in reports if report.ok]
        refused = [report for report in reports if not report.ok]
        if same_keys:
            assert len(succeeded) == 1, [r.headline() for r in reports]
            assert refused[0].payload_id is None
        else:
            assert len(succeeded) == 2, [r.headline() for r in reports]
        outcomes.append(len(succeeded))
        stored = sorted((r[3], r[4], r[6], r[8]) for r in rows() if r[2] == new.period_id)
        expected = {
            bodies[0]: [("V1", "S1", Decimal("1")), ("V1", "S2", Decimal("2.5"))],
        }
        by_payload = {report.payload_id: report for report in succeeded}
        assert {payload for *_, payload in stored} == set(by_payload)
        if not same_keys:
            assert [s[:3] for s in stored] == sorted(
                expected[bodies[0]] + [("V2", "S1", Decimal("3"))]
            )
        else:
            assert [s[:3] for s in stored] == expected[bodies[0]]
        assert where_rows_are() == own_partitions()
        assert kept_sums() == recounted()
    assert outcomes == [2, 1, 2, 1, 2, 1]


# --- the migration ---------------------------------------------------------------------------

#: The revision before the one that partitions the table.
THIS = "d5e1f0a7b2c4"


def revision_before() -> str:
    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_revision(THIS).down_revision


def _seed_before_the_migration():
    factories.chains("solana", "ethereum")
    source = factories.payload(factories.provider(), "staker-rewards")
    other = factories.payload(factories.provider("rpc"), "staker-rewards", "ethereum")
    made = []
    for day in (1, 2, 3):
        made.append(
            factories.period(
                source, f"d{day}", factories.utc(2025, 1, day), factories.utc(2025, 1, day + 1)
            )
        )
    eth = factories.period(
        other, "e1", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2), "ethereum"
    )
    for n, day in enumerate(made[:2]):
        factories.rewards(
            source,
            day,
            [
                (f"V{v}", f"S{s}", component, f"{v}{s}.{n}00000000000000000{s}")
                for v in range(3)
                for s in range(7)
                for component in ("MEV", "REWARDS")
            ],
        )
    factories.rewards(other, eth, [("0xV", "0xS", "EXEC_FEES", "123456789012345678.9")])
    db.session.commit()
    return made


def test_the_migration_moves_every_row_exactly_and_back(empty_database_url):  # noqa: F811
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        before = revision_before()
        upgrade(revision=before)
        empty_period = _seed_before_the_migration()[2].period_id
        stored = rows()
        assert len(stored) == 2 * 3 * 7 * 2 + 1
        sums = kept_sums() if is_postgres() else None
        db.session.remove()

        upgrade(revision=THIS)
        db.session.remove()
        assert rows() == stored
        if is_postgres():
            assert _partitioned()
            assert where_rows_are() == own_partitions()
            # Every stored period has its partition, the one without rows too.
            assert empty_period in reward_partitions.partitioned_periods(db.session.connection())
            assert kept_sums() == sums == recounted()
            assert _primary_key() == ["staker_reward_id", "period_id"]
            # The triggers are on the new table: a replacement keeps the sums right.
            db.session.execute(
                text("DELETE FROM canonical_staker_rewards_detail WHERE validator_key = 'V1'")
            )
            db.session.commit()
            assert kept_sums() == recounted()
            stored = rows()
        db.session.remove()

        downgrade(revision=before)
        db.session.remove()
        assert rows() == stored
        if is_postgres():
            assert not _partitioned()
            assert _primary_key() == ["staker_reward_id"]
            assert kept_sums() == recounted()
        db.session.remove()
        db.engine.dispose()


def _partitioned() -> bool:
    return reward_partitions.is_partitioned(db.session.connection())


def _primary_key() -> list[str]:
    return list(
        db.session.scalars(
            text(
                "SELECT a.attname FROM pg_constraint AS c "
                "JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(n, i) ON true "
                "JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.n "
                "WHERE c.conrelid = 'canonical_staker_rewards_detail'::regclass "
                "AND c.contype = 'p' ORDER BY k.i"
            )
        )
    )


# --- reading one period -----------------------------------------------------------------------


@postgres_only
def test_a_one_period_preview_summary_reads_that_periods_partition_only(app):
    partner = factories.partner("Acme", "solana")
    source = factories.provider()
    payload = factories.payload(source, "staker-rewards")
    first = factories.utc(2025, 3, 1)
    days = [
        factories.period(payload, f"T{n}", first + timedelta(days=n), first + timedelta(days=n + 1))
        for n in range(3)
    ]
    reward_partitions.ensure_partitions(db.session.connection())
    factories.wallet(partner, "W1", introduced=date(2025, 1, 1))
    factories.events(
        payload, days[0], [("V1", "W1", "STAKE", Decimal(1), first - timedelta(days=1))]
    )
    for day in days:
        factories.rewards(payload, day, [("V1", "W1", "MEV", "2")])
    agreement = factories.agreement(partner, "MEV=1000", wallet_attribution=True)
    db.session.commit()

    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "scope AS" in statement and "canonical_staker_rewards_detail" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        day = date(2025, 3, 2)
        terms = terms_of(agreement)
        scope = inputs.scope_of(agreement, day, day)
        summary = set_based.wallet_attribution_summary(agreement.partner_id, "solana", terms, scope)
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    assert [str(period.period_id) for period in summary.periods] == [str(days[1].period_id)]
    # By hand: the day's one reward of 2 at 10% (1000 bps).
    assert list(summary.slices.values()) == [[1, Decimal("2"), Decimal("0.2")]]
    [(statement, parameters)] = seen
    with db.engine.connect() as conn:
        plan = "\n".join(
            line for (line,) in conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, parameters)
        )
    scanned = {
        name
        for name in (*map(reward_partitions.partition_name, (d.period_id for d in days)),)
        if name in plan
    } | ({reward_partitions.DEFAULT} if reward_partitions.DEFAULT in plan else set())
    assert scanned == {reward_partitions.partition_name(days[1].period_id)}, plan
