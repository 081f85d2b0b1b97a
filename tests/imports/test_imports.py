"""Canonical imports through the service and the command line, on SQLite and PostgreSQL:
each importer's happy path and bad rows, all or nothing, lineage, duplicate files, key
collisions, replace, overlapping periods and event-to-period assignment at the boundaries."""

import json
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.imports import importing
from webapp.imports.checks import ERROR_LIMIT
from webapp.imports.cli import import_cli
from webapp.imports.importing import import_file
from webapp.models import (
    AuditLog,
    CanonicalPeriod,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    Provider,
    StagingPayload,
)

PERIODS = (
    "chain_id,label,start_time,end_time\n"
    "solana,800,2025-10-01T00:00:00Z,2025-10-03T00:00:00Z\n"
    "solana,801,2025-10-03T00:00:00,2025-10-05T02:00:00+02:00\n"
)
REWARDS_HEADER = (
    "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native\n"
)
REVENUE_HEADER = "chain_id,period,validator_key,revenue_component,amount_native\n"
EVENTS_HEADER = (
    "chain_id,validator_key,staker_address,event_type,stake_amount_native,event_timestamp\n"
)


@pytest.fixture
def chains(app):
    """Two chains: solana and ethereum."""
    factories.chains("solana", "ethereum")


@pytest.fixture
def write(tmp_path):
    """Write CSV text to a file and return its path."""
    counter = iter(range(10_000))

    def do_write(text: str, name: str | None = None) -> str:
        path = tmp_path / (name or f"file{next(counter)}.csv")
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return str(path)

    return do_write


@pytest.fixture
def periods(chains, write):
    """Periods 800 [Oct 1, Oct 3) and 801 [Oct 3, Oct 5) of solana, imported."""
    report = import_file("periods", write(PERIODS), "manual-upload")
    assert report.ok, report.headline()
    return report


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def reasons(report) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.reason) for e in report.errors.errors]


# --- periods -------------------------------------------------------------------------


def test_periods_are_stored_with_lineage_and_utc_times(periods):
    stored = db.session.scalars(select(CanonicalPeriod).order_by(CanonicalPeriod.label)).all()
    assert [p.label for p in stored] == ["800", "801"]
    # No offset means UTC; +02:00 is converted.
    assert stored[1].start_time == datetime(2025, 10, 3, tzinfo=UTC)
    assert stored[1].end_time == datetime(2025, 10, 5, tzinfo=UTC)
    payload = db.session.get(StagingPayload, periods.payload_id)
    assert payload.kind == "periods"
    assert payload.row_count == 2
    assert payload.chain_id == "solana"
    assert len(payload.sha256) == 64
    assert {p.source_payload_id for p in stored} == {payload.payload_id}
    assert {p.source_provider_id for p in stored} == {payload.provider_id}
    assert db.session.get(Provider, payload.provider_id).name == "manual-upload"


def test_overlapping_periods_in_one_file_are_refused(chains, write):
    report = import_file(
        "periods",
        write(
            "chain_id,label,start_time,end_time\n"
            "solana,1,2025-01-01T00:00:00Z,2025-01-10T00:00:00Z\n"
            "solana,2,2025-01-09T00:00:00Z,2025-01-20T00:00:00Z\n"
            "ethereum,2,2025-01-09T00:00:00Z,2025-01-20T00:00:00Z\n"
        ),
        "manual-upload",
    )
    assert not report.ok
    assert reasons(report) == [
        (
            3,
            "start_time",
            "period '2' overlaps period '1' of line 2 (periods are [start_time, end_time))",
        )
    ]
    assert count(CanonicalPeriod) == 0
    assert count(StagingPayload) == 0


def test_periods_that_touch_do_not_overlap(chains, write):
    report = import_file(
        "periods",
        write(
            "chain_id,label,start_time,end_time\n"
            "solana,2,2025-01-10T00:00:00Z,2025-01-20T00:00:00Z\n"
            "solana,1,2025-01-01T00:00:00Z,2025-01-10T00:00:00Z\n"
        ),
        "manual-upload",
    )
    assert report.ok, reasons(report)
    assert count(CanonicalPeriod) == 2


def test_period_overlapping_a_stored_period_or_reusing_its_label_is_refused(periods, write):
    report = import_file(
        "periods",
        write(
            "chain_id,label,start_time,end_time\n"
            "solana,802,2025-10-04T23:00:00Z,2025-10-07T00:00:00Z\n"
            "solana,800,2025-11-01T00:00:00Z,2025-11-02T00:00:00Z\n"
        ),
        "manual-upload",
    )
    found = reasons(report)
    assert found[0][:2] == (2, "start_time")
    assert "overlaps stored period '801' of solana" in found[0][2]
    assert found[1][:2] == (3, "label")
    assert "period '800' of solana is already stored" in found[1][2]
    assert str(periods.payload_id)[:8] in found[1][2]
    assert count(CanonicalPeriod) == 2


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("bitcoin,1,2025-01-01,2025-01-02", "chain_id", "unknown chain 'bitcoin'"),
        (",1,2025-01-01,2025-01-02", "chain_id", "chain_id is empty"),
        ("solana,,2025-01-01,2025-01-02", "label", "label is empty"),
        ("solana," + "x" * 51 + ",2025-01-01,2025-01-02", "label", "longer than 50"),
        ("solana,1,yesterday,2025-01-02", "start_time", "is not an ISO 8601 timestamp"),
        ("solana,1,2025-01-02,2025-01-02", "end_time", "end_time must be after start_time"),
    ],
)
def test_bad_period_rows(chains, write, row, column, reason):
    report = import_file("periods", write("chain_id,label,start_time,end_time\n" + row + "\n"), "p")
    assert not report.ok
    (line, found_column, found_reason), *_ = reasons(report)
    assert (line, found_column) == (2, column)
    assert reason in found_reason
    assert count(CanonicalPeriod) == 0


def test_periods_cannot_be_replaced(periods, write):
    report = import_file("periods", write(PERIODS + "\n"), "manual-upload", replace=True)
    assert report.problem == "periods cannot be replaced; import new periods instead"


# --- validator revenue ---------------------------------------------------------------


def test_validator_revenue_is_stored_exactly(periods, write):
    report = import_file(
        "validator-revenue",
        write(
            REVENUE_HEADER + "solana,800,V1,MEV,12345678901234567890.123456789012345678\n"
            "solana,800,V1,EXEC_FEES,0.000000000000000001\n"
            "solana,801,V1,REWARDS,7\n"
        ),
        "jito",
    )
    assert report.ok, reasons(report)
    amounts = sorted(db.session.scalars(select(CanonicalValidatorRevenue.amount_native)))
    assert amounts == [
        Decimal("0.000000000000000001"),
        Decimal("7"),
        Decimal("12345678901234567890.123456789012345678"),
    ]
    assert report.period_rows == {("solana", "800"): 2, ("solana", "801"): 1}


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("solana,999,V1,MEV,1", "period", "no period labelled '999' on chain solana"),
        ("cosmos,800,V1,MEV,1", "chain_id", "unknown chain 'cosmos'"),
        ("solana,800,,MEV,1", "validator_key", "validator_key is empty"),
        ("solana,800,V1,TIPS,1", "revenue_component", "unknown revenue component 'TIPS'"),
        ("solana,800,V1,MEV,-1", "amount_native", "is negative"),
        ("solana,800,V1,MEV,1e3", "amount_native", "exponent notation"),
        ("solana,800,V1,MEV,0.1234567890123456789", "amount_native", "more than 18 decimal"),
        ("solana,800,V1,MEV,1.5.5", "amount_native", "not a plain decimal"),
        ("solana,800,V1,MEV,", "amount_native", "amount is empty"),
    ],
)
def test_bad_validator_revenue_rows(periods, write, row, column, reason):
    report = import_file("validator-revenue", write(REVENUE_HEADER + row + "\n"), "jito")
    assert not report.ok
    assert [(e.line, e.column) for e in report.errors.errors] == [(2, column)]
    assert reason in report.errors.errors[0].reason
    assert count(CanonicalValidatorRevenue) == 0


def test_revenue_component_case_and_header_aliases_bom_crlf(periods, write):
    data = (
        "\ufeffChain , Period,VALIDATOR,component,amount\r\n\r\nsolana,800,V1,mev,1.50\r\n"
    ).encode()
    report = import_file("validator-revenue", write(data), "jito")
    assert report.ok, (report.problem, reasons(report))
    stored = db.session.scalar(select(CanonicalValidatorRevenue))
    assert stored.revenue_component == "MEV"
    assert stored.amount_native == Decimal("1.5")


# --- staker rewards ------------------------------------------------------------------


def test_staker_rewards_happy_path_with_lineage(periods, write):
    report = import_file(
        "staker-rewards",
        write(REWARDS_HEADER + "solana,800,V1,S1,MEV,1.5\nsolana,801,V1,S1,MEV,2\n"),
        "jito",
    )
    assert report.ok
    rows = db.session.scalars(select(CanonicalStakerRewardsDetail)).all()
    assert len(rows) == 2
    payload = db.session.get(StagingPayload, report.payload_id)
    assert payload.row_count == 2
    assert {r.source_payload_id for r in rows} == {payload.payload_id}
    assert {r.source_provider_id for r in rows} == {payload.provider_id}
    assert "imported 2 staker reward rows" in report.headline()
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "import").limit(1))
    assert entry is not None


def test_duplicate_row_in_a_file_names_the_earlier_line(periods, write):
    report = import_file(
        "staker-rewards",
        write(
            REWARDS_HEADER + "solana,800,V1,S1,MEV,1\nsolana,800,V2,S1,MEV,1\n"
            "solana,800,V1,S1,MEV,2\n"
        ),  # fmt: skip
        "jito",
    )
    assert reasons(report) == [
        (
            4,
            "staker_address",
            "duplicates line 2 (same chain, period, validator, staker and component)",
        )
    ]
    assert count(CanonicalStakerRewardsDetail) == 0


def test_collision_with_stored_rows_names_their_payload(periods, write):
    first = import_file("staker-rewards", write(REWARDS_HEADER + "solana,800,V1,S1,MEV,1\n"), "j")
    report = import_file(
        "staker-rewards",
        write(REWARDS_HEADER + "solana,800,V1,S2,MEV,1\nsolana,800,V1,S1,MEV,3\n"),
        "jito",
    )
    assert [(e.line, e.column) for e in report.errors.errors] == [(3, "staker_address")]
    reason = report.errors.errors[0].reason
    assert "is stored (payload " + str(first.payload_id)[:8] in reason
    assert "file" in reason or ".csv" in reason
    # Nothing of the second file is stored, not even its first (valid) row.
    assert count(CanonicalStakerRewardsDetail) == 1
    assert count(StagingPayload) == 2  # the periods and the first rewards file


def test_rows_joining_a_period_with_other_validators_are_stored(periods, write):
    import_file("staker-rewards", write(REWARDS_HEADER + "solana,800,V1,S1,MEV,1\n"), "jito")
    report = import_file(
        "staker-rewards",
        write(REWARDS_HEADER + "solana,801,V2,S1,MEV,4\nsolana,800,V2,S1,MEV,2\n"),
        "other",
    )
    assert report.ok, reasons(report)
    assert count(CanonicalStakerRewardsDetail) == 3
    assert db.session.get(StagingPayload, report.payload_id).row_count == 2


def test_replace_swaps_a_periods_rows_and_is_audited(periods, write):
    old = import_file(
        "staker-rewards",
        write(
            REWARDS_HEADER + "solana,800,V1,S1,MEV,1\nsolana,800,V1,S2,MEV,1\n"
            "solana,801,V1,S1,MEV,9\n"
        ),  # fmt: skip
        "jito",
    )
    report = import_file(
        "staker-rewards",
        write(REWARDS_HEADER + "solana,800,V1,S1,MEV,5\n"),
        "jito",
        replace=True,
    )
    assert report.ok, reasons(report)
    assert report.replaced == {("solana", "800"): 2}
    amounts = db.session.execute(
        select(CanonicalPeriod.label, CanonicalStakerRewardsDetail.reward_amount_native)
        .join(CanonicalPeriod, CanonicalPeriod.period_id == CanonicalStakerRewardsDetail.period_id)
        .order_by(CanonicalPeriod.label)
    ).all()
    assert [(label, amount) for label, amount in amounts] == [
        ("800", Decimal("5")),
        ("801", Decimal("9")),  # a period the file does not cover keeps its rows
    ]
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "replace"))
    assert entry.entity_type == "staker-rewards"
    assert entry.entity_id == "solana/800"
    assert json.loads(entry.before) == {"payloads": [str(old.payload_id)], "rows": 2}


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("solana,800,V1,,MEV,1", "staker_address", "staker_address is empty"),
        ("solana,800,V1," + "s" * 101 + ",MEV,1", "staker_address", "longer than 100"),
        ("solana,800," + "v" * 101 + ",S1,MEV,1", "validator_key", "longer than 100"),
        ("solana,800,V1,S1,,1", "revenue_component", "unknown revenue component empty"),
        ("solana,8000,V1,S1,MEV,1", "period", "no period labelled '8000'"),
        ("solana,800,V1,S1,MEV,-0.5", "reward_amount_native", "is negative"),
    ],
)
def test_bad_staker_reward_rows(periods, write, row, column, reason):
    report = import_file("staker-rewards", write(REWARDS_HEADER + row + "\n"), "jito")
    assert [(e.line, e.column) for e in report.errors.errors] == [(2, column)]
    assert reason in report.errors.errors[0].reason
    assert count(CanonicalStakerRewardsDetail) == 0


def test_every_error_of_a_row_is_reported(periods, write):
    report = import_file("staker-rewards", write(REWARDS_HEADER + "x,800,,S1,FOO,1e2\n"), "jito")
    assert [e.column for e in report.errors.errors] == [
        "chain_id",
        "validator_key",
        "revenue_component",
        "reward_amount_native",
    ]


def test_a_bad_row_at_row_50001_leaves_nothing_stored(periods, write):
    lines = [REWARDS_HEADER]
    lines += [f"solana,800,V1,S{i},MEV,0.{i}\n" for i in range(50_000)]
    lines.append("solana,800,V1,S-last,MEV,-1\n")
    report = import_file("staker-rewards", write("".join(lines)), "jito")
    assert report.row_count == 50_001
    assert reasons(report) == [(50_002, "reward_amount_native", "amount '-1' is negative")]
    assert count(CanonicalStakerRewardsDetail) == 0
    assert count(StagingPayload) == 1  # the periods only
    assert db.session.scalar(select(Provider).where(Provider.name == "jito")) is None


def test_errors_are_capped_at_the_limit_with_a_count_of_the_rest(periods, write):
    bad = [f"solana,800,V1,S{i},MEV,-1\n" for i in range(ERROR_LIMIT + 234)]
    report = import_file("staker-rewards", write(REWARDS_HEADER + "".join(bad)), "jito")
    assert len(report.errors.errors) == ERROR_LIMIT
    assert report.errors.more == 234
    assert report.errors.count == ERROR_LIMIT + 234
    assert "1234 errors" in report.headline()


def test_the_same_bytes_are_refused_naming_the_earlier_payload(periods, write):
    text = REWARDS_HEADER + "solana,800,V1,S1,MEV,1\n"
    first = import_file("staker-rewards", write(text, "october.csv"), "jito")
    again = import_file("staker-rewards", write(text, "copy.csv"), "jito")
    assert again.problem.startswith("the same file was imported before as payload ")
    assert str(first.payload_id)[:8] in again.problem
    assert "'october.csv'" in again.problem
    assert "by the command line" in again.problem
    assert count(StagingPayload) == 2


def test_the_same_bytes_of_another_kind_are_not_a_duplicate(periods, write):
    path = write(REWARDS_HEADER + "solana,800,V1,S1,MEV,1\n")
    assert import_file("staker-rewards", path, "jito").ok
    other = import_file("validator-revenue", path, "jito")
    assert other.problem is None or "imported before" not in other.problem


def test_missing_column_and_empty_file_are_refused(periods, write):
    report = import_file("staker-rewards", write("chain_id,period\nsolana,800\n"), "jito")
    assert report.problem.startswith("missing columns validator_key")
    assert import_file("staker-rewards", write(REWARDS_HEADER), "jito").problem == (
        "the file has a header but no rows"
    )
    assert count(StagingPayload) == 1


def test_dry_run_stores_nothing_but_counts_and_totals(periods, write):
    report = import_file(
        "staker-rewards",
        write(REWARDS_HEADER + "solana,800,V1,S1,MEV,0.1\nsolana,800,V1,S2,MEV,0.2\n"),
        "new-provider",
        dry_run=True,
        with_totals=True,
    )
    assert report.ok
    assert report.totals == {("solana", "800", "MEV"): Decimal("0.3")}
    assert count(CanonicalStakerRewardsDetail) == 0
    assert db.session.scalar(select(Provider).where(Provider.name == "new-provider")) is None


def test_payload_chain_is_empty_when_the_file_spans_chains(chains, write):
    report = import_file(
        "periods",
        write(
            "chain_id,label,start_time,end_time\n"
            "solana,1,2025-01-01T00:00:00Z,2025-01-10T00:00:00Z\n"
            "ethereum,1,2025-01-01T00:00:00Z,2025-01-10T00:00:00Z\n"
        ),
        "manual-upload",
    )
    assert report.ok
    assert db.session.get(StagingPayload, report.payload_id).chain_id is None


# --- stake events --------------------------------------------------------------------


def event_periods(report) -> dict[str, str]:
    rows = db.session.execute(
        select(CanonicalStakeEvent.staker_address, CanonicalPeriod.label).join(
            CanonicalPeriod, CanonicalPeriod.period_id == CanonicalStakeEvent.period_id
        )
    ).all()
    return dict(rows)


def test_stake_events_go_to_the_period_containing_them_at_exact_boundaries(periods, write):
    report = import_file(
        "stake-events",
        write(
            EVENTS_HEADER + "solana,V1,at-start,STAKE,10,2025-10-01T00:00:00Z\n"
            "solana,V1,last-instant,STAKE,1,2025-10-02T23:59:59.999999Z\n"
            "solana,V1,at-boundary,UNSTAKE,2,2025-10-03T00:00:00Z\n"
            "solana,V1,offset,restake,3,2025-10-03T01:30:00+02:00\n"
        ),
        "solana-rpc",
    )
    assert report.ok, reasons(report)
    assert event_periods(report) == {
        "at-start": "800",
        "last-instant": "800",
        "at-boundary": "801",  # half-open: an end belongs to the next period
        "offset": "800",  # 01:30+02:00 is 23:30 UTC the day before
    }
    stored = db.session.scalar(
        select(CanonicalStakeEvent).where(CanonicalStakeEvent.staker_address == "offset")
    )
    assert stored.event_type == "RESTAKE"
    assert stored.event_timestamp == datetime(2025, 10, 2, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (
            "solana,V1,S1,STAKE,1,2025-10-05T00:00:00Z",
            "event_timestamp",
            "no period of solana contains 2025-10-05 00:00:00 UTC",
        ),
        (
            "solana,V1,S1,STAKE,1,2025-09-30T23:59:59Z",
            "event_timestamp",
            "no period of solana contains 2025-09-30 23:59:59 UTC",
        ),
        ("solana,V1,S1,STAKE,1,10/03/2025", "event_timestamp", "is not an ISO 8601 timestamp"),
        ("solana,V1,S1,DELEGATE,1,2025-10-01T00:00:00Z", "event_type", "unknown event type"),
        ("solana,V1,S1,STAKE,-1,2025-10-01T00:00:00Z", "stake_amount_native", "is negative"),
        ("ethereum,V1,S1,STAKE,1,2025-10-01T00:00:00Z", "event_timestamp", "no period of eth"),
    ],
)
def test_bad_stake_event_rows(periods, write, row, column, reason):
    report = import_file("stake-events", write(EVENTS_HEADER + row + "\n"), "solana-rpc")
    assert [(e.line, e.column) for e in report.errors.errors] == [(2, column)]
    assert reason in report.errors.errors[0].reason
    assert count(CanonicalStakeEvent) == 0


def test_replace_of_stake_events_deletes_those_of_the_files_periods(periods, write):
    import_file(
        "stake-events",
        write(
            EVENTS_HEADER + "solana,V1,S1,STAKE,1,2025-10-01T00:00:00Z\n"
            "solana,V1,S2,STAKE,1,2025-10-04T00:00:00Z\n"
        ),  # fmt: skip
        "solana-rpc",
    )
    report = import_file(
        "stake-events",
        write(EVENTS_HEADER + "solana,V1,S3,STAKE,1,2025-10-02T00:00:00Z\n"),
        "solana-rpc",
        replace=True,
    )
    assert report.ok
    assert report.replaced == {("solana", "800"): 1}
    assert sorted(event_periods(report)) == ["S2", "S3"]


# --- command line --------------------------------------------------------------------


def test_cli_imports_with_a_one_line_summary(chains, runner, write):
    result = runner.invoke(args=["import", "periods", write(PERIODS), "--provider", "manual"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().count("\n") == 0
    assert result.stdout.startswith("imported 2 periods from ")
    assert count(CanonicalPeriod) == 2


def test_cli_rejection_exits_non_zero_with_errors_on_stderr(periods, runner, write):
    path = write(REWARDS_HEADER + "solana,800,V1,S1,MEV,1\nsolana,999,V1,S1,MEV,-2\n")
    result = runner.invoke(args=["import", "staker-rewards", path, "--provider", "jito"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: ") and "2 errors in its rows; nothing was stored" in lines[0]
    assert "line 3, column period: no period labelled '999'" in lines[1]
    assert "line 3, column reward_amount_native: amount '-2' is negative" in lines[2]
    assert count(CanonicalStakerRewardsDetail) == 0


def test_cli_duplicate_file_and_usage_errors(periods, runner, write):
    path = write(REWARDS_HEADER + "solana,800,V1,S1,MEV,1\n")
    assert runner.invoke(args=["import", "staker-rewards", path, "--provider", "j"]).exit_code == 0
    again = runner.invoke(args=["import", "staker-rewards", path, "--provider", "j"])
    assert again.exit_code == 1
    assert "the same file was imported before" in again.stderr
    missing = runner.invoke(args=["import", "staker-rewards", path])
    assert missing.exit_code == 2
    assert "--provider" in missing.stderr
    assert runner.invoke(args=["import", "staker-rewards", "/no/such.csv", "--provider", "j"]
                         ).exit_code == 2  # fmt: skip
    assert runner.invoke(args=["import", "wallets", path, "--provider", "j"]).exit_code == 2


def test_cli_replace_and_dry_run(periods, runner, write):
    runner.invoke(
        args=[
            "import",
            "staker-rewards",
            write(REWARDS_HEADER + "solana,800,V1,S1,MEV,1\n"),
            "--provider",
            "j",
        ]  # fmt: skip
    )
    path = write(REWARDS_HEADER + "solana,800,V1,S1,MEV,2\n")
    collide = runner.invoke(args=["import", "staker-rewards", path, "--provider", "j"])
    assert collide.exit_code == 1 and "is stored (payload" in collide.stderr
    dry = runner.invoke(
        args=["import", "staker-rewards", path, "--provider", "j", "--replace", "--dry-run"]
    )
    assert dry.exit_code == 0 and "would replace 1 stored rows" in dry.stdout
    assert db.session.scalar(select(CanonicalStakerRewardsDetail.reward_amount_native)) == 1
    done = runner.invoke(args=["import", "staker-rewards", path, "--provider", "j", "--replace"])
    assert done.exit_code == 0 and "replaced 1 stored rows" in done.stdout
    db.session.expire_all()
    assert db.session.scalar(select(CanonicalStakerRewardsDetail.reward_amount_native)) == 2


def test_cli_help_documents_replace():
    command = import_cli.get_command(None, "staker-rewards")
    replace = next(p for p in command.params if p.name == "replace")
    assert "delete the stored rows of this kind in every period the file covers" in replace.help
    assert not any(p.name == "replace" for p in import_cli.get_command(None, "periods").params)


# --- files larger than a chunk -------------------------------------------------------

#: Rows sent to the database together in these tests: a file of a few dozen rows spans many.
CHUNK = 4
DUPLICATE_OF_2 = "duplicates line 2 (same chain, period, validator, staker and component)"


def stored_rewards() -> list[tuple[str, Decimal]]:
    return db.session.execute(
        select(
            CanonicalStakerRewardsDetail.staker_address,
            CanonicalStakerRewardsDetail.reward_amount_native,
        ).order_by(CanonicalStakerRewardsDetail.staker_address)
    ).all()


@pytest.mark.parametrize("mode", ["import", "dry run", "replace"])
def test_a_duplicate_far_apart_is_refused_with_nothing_stored(periods, write, mode):
    earlier = import_file("staker-rewards", write(REWARDS_HEADER + "solana,800,V9,S9,MEV,1\n"), "e")
    rows = 10 * CHUNK + 3
    lines = [f"solana,{800 + n % 2},V{n % 3},S{n},MEV,{n}.5\n" for n in range(rows - 1)]
    lines.append("solana,800,V0,S0,MEV,7\n")  # the first row's key, the last line of the file
    audited = count(AuditLog)
    report = import_file(
        "staker-rewards",
        write(REWARDS_HEADER + "".join(lines)),
        "jito",
        dry_run=mode == "dry run",
        replace=mode == "replace",
        chunk_rows=CHUNK,
    )
    assert reasons(report) == [(rows + 1, "staker_address", DUPLICATE_OF_2)]
    assert report.row_count == rows and report.problem is None and report.payload_id is None
    # The earlier file's row stays (a replacement of period 800 would have deleted it).
    assert stored_rewards() == [("S9", Decimal(1))]
    assert set(db.session.scalars(select(StagingPayload.payload_id))) == {
        periods.payload_id,
        earlier.payload_id,
    }
    assert db.session.scalar(select(Provider).where(Provider.name == "jito")) is None
    assert count(AuditLog) == audited  # no replacement, no import, no new provider


def test_an_import_names_every_error_its_dry_run_names(periods, write):
    earlier = import_file("staker-rewards", write(REWARDS_HEADER + "solana,801,V1,S1,MEV,1\n"), "e")
    lines = [f"solana,800,V1,S{n},MEV,1\n" for n in range(3 * CHUNK)]  # lines 2 to 13
    lines[5] = "solana,800,V1,S0,MEV,2\n"  # line 7: the key of line 2
    lines[8] = "solana,800,V1,S8,MEV,-1\n"  # line 10: a bad amount
    lines.append("solana,801,V1,S1,MEV,3\n")  # line 14: the earlier file's key
    lines.append("solana,800,V1,S0,MEV,4\n")  # line 15: the key of line 2 again
    path = write(REWARDS_HEADER + "".join(lines))
    stored = "a row with the same chain, period, validator, staker and component is stored "
    expected = [
        (7, "staker_address", DUPLICATE_OF_2),
        (10, "reward_amount_native", "amount '-1' is negative"),
        (14, "staker_address", stored),
        (15, "staker_address", DUPLICATE_OF_2),
    ]
    dry = import_file("staker-rewards", path, "jito", dry_run=True, chunk_rows=CHUNK)
    done = import_file("staker-rewards", path, "jito", chunk_rows=CHUNK)
    for report in (dry, done):
        found = reasons(report)
        assert [error[:2] for error in found] == [error[:2] for error in expected]
        for (_, _, reason), (_, _, start) in zip(found, expected, strict=True):
            assert reason.startswith(start)
        assert str(earlier.payload_id)[:8] in found[2][2]
        assert report.row_count == 14 and report.errors.count == 4
    assert stored_rewards() == [("S1", Decimal(1))]


def test_duplicates_past_the_error_limit_are_counted(periods, write):
    extra = 7
    text = REWARDS_HEADER + "solana,800,V1,S0,MEV,1\n" * (ERROR_LIMIT + extra + 1)
    report = import_file("staker-rewards", write(text), "jito", chunk_rows=100)
    assert report.errors.count == ERROR_LIMIT + extra
    assert report.errors.more == extra
    kept = reasons(report)
    assert kept[0] == (3, "staker_address", DUPLICATE_OF_2)
    assert [line for line, _, _ in kept] == list(range(3, ERROR_LIMIT + 3))
    assert count(CanonicalStakerRewardsDetail) == 0


def traced_peak(run) -> int:
    """The most memory Python held while `run()` ran, in bytes."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "import"])
def test_the_memory_an_import_holds_does_not_grow_with_its_file(
    periods, write, dry_run, monkeypatch
):
    # The file's hash reads up to a MiB at a time (a bound, but above these files' sizes).
    monkeypatch.setattr(importing, "_HASH_CHUNK", 4096)

    def rewards(prefix: str, stakers: int) -> str:
        return REWARDS_HEADER + "".join(
            f"solana,{period},V{validator},{prefix}{staker},MEV,{staker}.25\n"
            for period in (800, 801)
            for validator in range(3)
            for staker in range(stakers)
        )

    def peak(path: str) -> int:
        found = {}

        def run():
            found["report"] = import_file(
                "staker-rewards", path, "jito", dry_run=dry_run, chunk_rows=100
            )

        held = traced_peak(run)
        assert found["report"].ok, reasons(found["report"])
        return held

    peak(write(rewards("W", 20)))  # the first import warms the caches of the app
    small = peak(write(rewards("S", 200)))  # 1,200 rows
    large = peak(write(rewards("L", 2_000)))  # 12,000 rows
    # Holding the keys of the rows, as a Python dict did, took over 200 bytes a row.
    assert large - small < 10_800 * 20
