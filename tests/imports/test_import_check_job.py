"""A data file's check kept between a background job and the page that shows it: the report
survives JSON whole."""

import dataclasses
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from webapp.csvio import RowError
from webapp.imports.checks import ErrorLog
from webapp.imports.importing import ImportReport
from webapp.imports.locked import LockedPeriod


def test_a_report_survives_json_whole(app):
    errors = ErrorLog(limit=2)
    errors.errors = [RowError(3, "period", "no period labelled '9'"), RowError(5, "", "bad")]
    errors.more = 7
    report = ImportReport(
        kind="staker-rewards",
        file_name="r.csv",
        provider_name="jito",
        sha256="ab" * 32,
        replace=True,
        dry_run=True,
        row_count=12,
        period_rows=Counter({("solana", "800"): 10, ("solana", "801"): 2}),
        totals={
            ("solana", "801", "REWARDS"): Decimal("5"),
            ("solana", "800", "MEV"): Decimal("0.100000000000000001"),
            ("solana", "800", "TIPS"): Decimal("1E-18"),
        },
        replaced={("solana", "800"): 4},
        errors=errors,
        problem="the file has a header but no rows",
        payload_id=uuid.uuid4(),
        new_provider=True,
        earlier_payload_id=uuid.uuid4(),
        locked=[
            LockedPeriod(
                "solana",
                "800",
                datetime(2025, 10, 1, tzinfo=UTC),
                "Acme",
                "Acme SOL",
                uuid.uuid4(),
                "approved",
            )
        ],
    )
    defaults = ImportReport(kind="", file_name="")
    for f in dataclasses.fields(ImportReport):
        if f.name != "errors":  # every field differs from its default: none can be dropped
            assert getattr(report, f.name) != getattr(defaults, f.name), f.name

    again = ImportReport.from_json(json.loads(json.dumps(report.to_json())))
    assert set(report.to_json()) == {f.name for f in dataclasses.fields(ImportReport)}
    for f in dataclasses.fields(ImportReport):
        if f.name == "errors":
            continue
        assert getattr(again, f.name) == getattr(report, f.name), f.name
        assert type(getattr(again, f.name)) is type(getattr(report, f.name)), f.name
    assert list(again.totals) == list(report.totals)  # in the report's order
    assert all(type(amount) is Decimal for amount in again.totals.values())
    assert [str(amount) for amount in again.totals.values()] == [
        "5",
        "0.100000000000000001",
        "1E-18",
    ]
    assert again.locked[0].start_time.tzinfo is not None
    assert (again.errors.limit, again.errors.errors, again.errors.more) == (2, errors.errors, 7)
    assert again.errors.count == 9 and again.headline() == report.headline()
