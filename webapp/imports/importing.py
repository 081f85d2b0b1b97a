"""Importing one canonical CSV file with lineage: all rows or none.

The file is streamed, in memory bounded by a chunk of rows whatever its size. An import
checks each row and writes it in bulk inside the transaction; the table's unique
constraint refuses a key already stored or met twice in the file. At the first failing
row, or such a refusal, it rolls back and checks the file again as a dry run does, which
names every error: a dry run writes nothing but the keys of the rows, with their lines,
into a temporary table, where the database finds the keys met twice and those already
stored. A correction (`replace`) reads the file first, then deletes the stored rows of
its periods (staker rewards on PostgreSQL: empties the periods' partitions,
`webapp.reward_partitions`), audit-logged, and writes. Prices are keyed by UTC day
instead of period: where the other kinds speak of a period, prices speak of a day.
"""

import hashlib
import logging
import os
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import Column, Integer, and_, delete, exists, func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.schema import DropTable

from webapp import audit, reward_partitions
from webapp.csvio import CsvFormatError, RowError
from webapp.extensions import database_error_line, db, rollback_quietly
from webapp.imports.checks import SPECS, ErrorLog, KindSpec, PeriodRef, Reference, overlap_errors
from webapp.imports.locked import LockedPeriod, locked_periods
from webapp.imports.reading import read_rows
from webapp.models import (
    CanonicalPeriod,
    CanonicalPrice,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    Chain,
    Provider,
    utcnow,
)
from webapp.money import MONEY
from webapp.storage import (
    analyze_temporary,
    bulk_writer,
    describe_payload,
    earlier_payload,
    is_postgresql,
    lock_keys,
    new_payload,
    payload_names,
    provider_named,
    refresh_statistics,
    temporary_table,
)
from webapp.vocab import PayloadKind

log = logging.getLogger(__name__)

#: The table each kind fills, and the name of its id column.
MODELS = {
    PayloadKind.PERIODS.value: (CanonicalPeriod, "period_id"),
    PayloadKind.VALIDATOR_REVENUE.value: (CanonicalValidatorRevenue, "revenue_id"),
    PayloadKind.STAKER_REWARDS.value: (CanonicalStakerRewardsDetail, "staker_reward_id"),
    PayloadKind.STAKE_EVENTS.value: (CanonicalStakeEvent, "stake_event_id"),
    PayloadKind.PRICES.value: (CanonicalPrice, "price_id"),
}
#: Kinds whose rows belong to no period (their second key field is not a period id).
NO_PERIOD = (PayloadKind.PERIODS, PayloadKind.PRICES)
#: Where the amount sits in a record of each kind that has one.
AMOUNT_INDEX = {
    PayloadKind.VALIDATOR_REVENUE.value: 4,
    PayloadKind.STAKER_REWARDS.value: 5,
    PayloadKind.STAKE_EVENTS.value: 5,
}
#: Where the revenue component or event type sits in a record.
COMPONENT_INDEX = {
    PayloadKind.VALIDATOR_REVENUE.value: 3,
    PayloadKind.STAKER_REWARDS.value: 4,
    PayloadKind.STAKE_EVENTS.value: 4,
}
_HASH_CHUNK = 1 << 20
#: Rows after which an import refreshes the planner statistics of its table (PostgreSQL).
ANALYZE_AFTER_ROWS = 50_000
#: Rows read between two reports of an import's progress.
PROGRESS_ROWS = 20_000
#: Leading record fields (chain, period, validator, ...) each written chunk is sorted by.
SORT_FIELDS = 5
#: The temporary table a check stages the keys of a file's rows in (`_StagedKeys`).
KEYS_TABLE = "import_keys"


class ParentMissing(RuntimeError):
    """A chain or period the rows point to vanished while the import ran."""


@dataclass
class ImportReport:
    """What an import found and did: counts per period, errors, and the payload it stored."""

    kind: str
    file_name: str
    provider_name: str = ""
    sha256: str = ""
    replace: bool = False
    dry_run: bool = False
    row_count: int = 0
    #: Rows per (chain_id, period label).
    period_rows: Counter = field(default_factory=Counter)
    #: Amount per (chain_id, period label, component or event type), when asked for.
    totals: dict = field(default_factory=dict)
    #: Stored rows per (chain_id, period label) that the import replaces (or would).
    replaced: dict = field(default_factory=dict)
    errors: ErrorLog = field(default_factory=ErrorLog)
    #: Why the whole file is refused, when that is not about single rows.
    problem: str | None = None
    payload_id: uuid.UUID | None = None
    new_provider: bool = False
    #: The payload that holds these exact bytes already, when that is why the file is refused.
    earlier_payload_id: uuid.UUID | None = None
    #: The locked (agreement, period) pairs the rows reach (`imports.locked.LockedPeriod`).
    locked: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file has no problem and no row error."""
        return self.problem is None and not self.errors

    @property
    def chains(self) -> list[str]:
        """The chains the file's rows belong to."""
        return sorted({chain_id for chain_id, _ in self.period_rows})

    @property
    def noun(self) -> str:
        """What the rows of this kind are called."""
        spec = SPECS.get(self.kind)
        return spec.noun if spec else "rows"

    def to_json(self) -> dict:
        """Every field as JSON values, to keep beside the file a background check read:
        amounts as exact strings, tuple keys as lists, ids and times as text."""
        return {
            "kind": self.kind,
            "file_name": self.file_name,
            "provider_name": self.provider_name,
            "sha256": self.sha256,
            "replace": self.replace,
            "dry_run": self.dry_run,
            "row_count": self.row_count,
            "period_rows": [[*key, count] for key, count in self.period_rows.items()],
            "totals": [[*key, str(amount)] for key, amount in self.totals.items()],
            "replaced": [[*key, count] for key, count in self.replaced.items()],
            "errors": {
                "limit": self.errors.limit,
                "rows": [[e.line, e.column, e.reason] for e in self.errors.errors],
                "more": self.errors.more,
            },
            "problem": self.problem,
            "payload_id": _text(self.payload_id),
            "new_provider": self.new_provider,
            "earlier_payload_id": _text(self.earlier_payload_id),
            "locked": [
                {**asdict(p), "start_time": p.start_time.isoformat(), "run_id": str(p.run_id)}
                for p in self.locked
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> "ImportReport":
        """The report `to_json` wrote, every field as it was (the totals in their order)."""
        errors = ErrorLog(data["errors"]["limit"])
        errors.errors = [RowError(*row) for row in data["errors"]["rows"]]
        errors.more = data["errors"]["more"]
        return cls(
            kind=data["kind"],
            file_name=data["file_name"],
            provider_name=data["provider_name"],
            sha256=data["sha256"],
            replace=data["replace"],
            dry_run=data["dry_run"],
            row_count=data["row_count"],
            period_rows=Counter({(c, label): n for c, label, n in data["period_rows"]}),
            totals={(c, label, part): Decimal(a) for c, label, part, a in data["totals"]},
            replaced={(c, label): n for c, label, n in data["replaced"]},
            errors=errors,
            problem=data["problem"],
            payload_id=_uuid(data["payload_id"]),
            new_provider=data["new_provider"],
            earlier_payload_id=_uuid(data["earlier_payload_id"]),
            locked=[
                LockedPeriod(
                    **{
                        **p,
                        "start_time": datetime.fromisoformat(p["start_time"]),
                        "run_id": uuid.UUID(p["run_id"]),
                    }
                )
                for p in data["locked"]
            ],
        )

    def headline(self) -> str:
        """One line saying what happened, for the command line and the page."""
        if self.problem:
            return f"{self.file_name} was not imported: {self.problem}"
        if self.errors:
            count = self.errors.count
            return (
                f"{self.file_name} was not imported: {count} error{'s' if count != 1 else ''} "
                "in its rows; nothing was stored"
            )
        periods = ", ".join(label for _, label in sorted(self.period_rows)[:5])
        if len(self.period_rows) > 5:
            periods += f" and {len(self.period_rows) - 5} more"
        chain = ", ".join(self.chains)
        replaced = sum(self.replaced.values())
        tail = f"; replaced {replaced} stored rows" if self.replace else ""
        if self.locked:
            named = ", ".join(p.describe() for p in self.locked[:5])
            more = f" and {len(self.locked) - 5} more" if len(self.locked) > 5 else ""
            tail += (
                f"; touches {len(self.locked)} locked period(s): {named}{more} "
                "(what was approved or paid stays; a true-up carries the difference)"
            )
        if self.dry_run:
            return (
                f"{self.file_name} is ready to import: {self.row_count} {self.noun} "
                f"on {chain} ({periods}){tail.replace('replaced', 'would replace')}"
            )
        return (
            f"imported {self.row_count} {self.noun} from {self.file_name} on {chain} "
            f"({periods}) as payload {self.payload_id} from provider {self.provider_name}{tail}"
        )


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _uuid(text: str | None) -> uuid.UUID | None:
    return None if text is None else uuid.UUID(text)


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(
    kind: str,
    path: str,
    provider_name: str,
    *,
    file_name: str | None = None,
    user=None,
    replace: bool = False,
    dry_run: bool = False,
    with_totals: bool = False,
    progress=None,
    chunk_rows: int | None = None,
) -> ImportReport:
    """Check a CSV file of `kind` and, unless `dry_run`, store all its rows or none.
    `progress(done, total, message)` hears of every `PROGRESS_ROWS` rows read, counted in
    bytes of the file (twice its size for a replacement, which reads it twice).
    `chunk_rows` sets the rows sent to the database together (the bulk writer's default
    when None; tests use a few, to reach across chunks with small files)."""
    report = ImportReport(
        kind=kind,
        file_name=file_name or os.path.basename(path),
        provider_name=(provider_name or "").strip(),
        replace=replace,
        dry_run=dry_run,
    )
    spec = SPECS.get(kind)
    report.problem = _precheck(spec, report)
    if report.problem:
        return report
    report.sha256 = file_sha256(path)
    earlier = earlier_payload(kind, report.sha256)
    if earlier is not None:
        report.problem = f"the same file was imported before as {describe_payload(earlier)}"
        report.earlier_payload_id = earlier.payload_id
        return report
    try:
        _run(spec, path, report, user, with_totals, progress, chunk_rows)
    except CsvFormatError as error:
        report.problem = str(error)
    except ParentMissing as error:
        report.problem = f"{error}; import the file again"
    except DBAPIError as error:
        # The driver's text names tables and constraints: the log gets it, the user does not.
        # One line without the statement or its parameters (rows of the file): the command
        # line prints warnings on standard error.
        log.warning(
            "import of %s failed in the database: %s", report.file_name, database_error_line(error)
        )
        report.problem = (
            "the rows could not be written (the database connection failed, or another import "
            "changed the same data at the same time); nothing was stored: import the file again"
        )
    if not report.ok or dry_run:
        rollback_quietly()
        report.payload_id = None
    return report


def _precheck(spec: KindSpec | None, report: ImportReport) -> str | None:
    if spec is None:
        return f"unknown kind {report.kind!r} (expected one of {', '.join(SPECS)})"
    if not report.provider_name:
        return "name the provider the file comes from"
    if len(report.provider_name) > 100:
        return "the provider name is longer than 100 characters"
    if report.replace and spec.kind == PayloadKind.PERIODS:
        return "periods cannot be replaced; import new periods instead"
    return None


class _RowFailed(Exception):
    """A row failed its checks while the file was being stored."""


def _run(
    spec: KindSpec, path: str, report: ImportReport, user, with_totals, progress, chunk_rows
) -> None:
    """A dry run checks the file. An import stores it; when a row fails, or the database
    refuses one (its key already stored, or twice in the file: the table's unique
    constraint), it rolls back and checks the file as a dry run would, which names every
    error. Neither holds more of the file in memory than a chunk of rows (but for periods
    files, kept whole for their overlap check)."""
    if report.dry_run:
        _check(spec, path, report, with_totals, progress, chunk_rows)
        return
    try:
        _store(spec, path, report, user, with_totals, progress, chunk_rows)
    except (_RowFailed, IntegrityError) as error:
        if isinstance(error, IntegrityError):
            log.warning(
                "import of %s: the database refused a row (%s); checking the file again",
                report.file_name,
                database_error_line(error),
            )
        rollback_quietly()
        _check(spec, path, report, with_totals, progress, chunk_rows)
        if report.ok:
            # The database refused what the check finds fine: the stored rows moved meanwhile.
            report.problem = (
                "the stored data changed while the file was written; nothing was stored: "
                "import the file again"
            )


def _check(
    spec: KindSpec, path: str, report: ImportReport, with_totals, progress, chunk_rows
) -> None:
    """Check every row of the file and write nothing, into a fresh report: row errors, keys
    met twice in the file or already stored (unless replaced), the rows a replacement would
    replace, the locked periods the rows reach."""
    model, _ = MODELS[spec.kind.value]
    reference = _load_reference(spec)
    report.errors = ErrorLog()
    report.replaced, report.locked, report.payload_id = {}, [], None
    report.new_provider = False
    # Periods files are small and kept whole for their overlap check: their keys are
    # compared in memory (`_Scan`); every other kind's go to the database.
    keys = None
    if spec.key_size and spec.kind != PayloadKind.PERIODS:
        keys = _StagedKeys(spec, model, chunk_rows)
    scan = _Scan(spec, reference, report.errors, with_totals)
    scan.progress = _reporter(progress, 0, os.path.getsize(path), "checked")
    scan.run(path, None, keys)
    _tally(scan, report, reference)
    if spec.kind == PayloadKind.PERIODS:
        overlap_errors(scan.records, reference, report.errors)
    if keys is not None:
        keys.add_errors(report.errors, scan.touched, stored=not report.replace)
    if report.replace:
        report.replaced = _stored_counts(model, scan.touched, reference)
    report.locked = locked_periods(spec.kind.value, scan.touched)
    report.errors.errors.sort(key=lambda error: error.line)
    if report.row_count == 0 and report.ok:
        report.problem = "the file has a header but no rows"


def _store(
    spec: KindSpec, path: str, report: ImportReport, user, with_totals, progress, chunk_rows
) -> None:
    """Write every row in the session's transaction and commit. Raises `_RowFailed` at the
    first row that fails its checks; a key already stored or met twice in the file is
    refused by the database's unique constraint (`IntegrityError`)."""
    model, _ = MODELS[spec.kind.value]
    reference = _load_reference(spec)
    if spec.kind == PayloadKind.STAKER_REWARDS:
        # Before any reward row is written: each period gets its partition first.
        reward_partitions.ensure_partitions(db.session.connection())
    provider, report.new_provider = provider_named(report.provider_name, user)
    payload = new_payload(
        provider.provider_id, spec.kind, report.file_name, report.sha256, user=user
    )
    report.payload_id = payload.payload_id

    size = os.path.getsize(path)
    total = size * (2 if report.replace else 1)
    scan = _Scan(spec, reference, report.errors, with_totals, stop_at_error=True)
    scan.progress = _reporter(progress, 0, total, "read")
    # A correction reads the file once first: the periods whose rows it deletes.
    writer = None if report.replace else _writer(spec, model, provider, payload, chunk_rows)
    scan.run(path, writer)
    _tally(scan, report, reference)
    if spec.kind == PayloadKind.PERIODS:
        overlap_errors(scan.records, reference, report.errors)
        if report.errors:
            raise _RowFailed
    if report.row_count == 0:
        report.problem = "the file has a header but no rows"
        return
    if report.replace:
        report.replaced = _stored_counts(model, scan.touched, reference)
        _replace(spec, model, scan.touched, reference, payload, user)
        again = _Scan(spec, reference, ErrorLog(), stop_at_error=True)
        again.progress = _reporter(progress, size, total, "written")
        again.run(path, _writer(spec, model, provider, payload, chunk_rows))
        if again.row_count != scan.row_count:
            raise ParentMissing("the stored data changed while the file was read")
    report.locked = locked_periods(spec.kind.value, scan.touched)

    chain_ids = {chain_id for chain_id, _ in scan.touched}
    period_ids = set() if spec.kind in NO_PERIOD else _period_ids(scan.touched)
    if spec.kind == PayloadKind.PERIODS:
        reward_partitions.ensure_partitions(db.session.connection())
    _lock_parents(chain_ids, period_ids, provider.provider_id)
    payload.row_count = report.row_count
    payload.chain_id = next(iter(chain_ids)) if len(chain_ids) == 1 else None
    audit.record(
        "import",
        "staging_payload",
        payload.payload_id,
        after={
            "kind": payload.kind,
            "file_name": payload.file_name,
            "sha256": payload.sha256,
            "row_count": payload.row_count,
            "provider": provider.name,
            "chain_id": payload.chain_id,
        },
        user=user,
    )
    db.session.commit()
    if report.row_count >= ANALYZE_AFTER_ROWS:
        # Fresh statistics keep the commission queries on their bulk plans after a big load.
        refresh_statistics(db.session, model.__table__)


def _tally(scan: "_Scan", report: ImportReport, reference: Reference) -> None:
    """What a pass counted, into the report."""
    report.row_count = scan.row_count
    report.period_rows = scan.period_rows(reference)
    report.totals = scan.totals_by_label(reference)


def _reporter(progress, offset: int, total: int, verb: str):
    """`progress` as a scan calls it, (bytes read, rows read), placed within `total` bytes."""
    if progress is None:
        return None
    return lambda position, rows: progress(offset + position, total, f"{rows:,} row(s) {verb}")


def _writer(spec, model, provider, payload, chunk_rows=None):
    """A bulk writer of the kind's records with their lineage; each chunk is sorted by the
    key's leading fields, so that rows reach the indexes in key order."""
    return bulk_writer(
        db.session,
        model.__table__,
        spec.fields,
        new_ids=True,
        constants={
            "source_provider_id": provider.provider_id,
            "source_payload_id": payload.payload_id,
            "normalized_at": utcnow(),
        },
        sort_key=itemgetter(*range(min(len(spec.fields), SORT_FIELDS))),
        threaded=True,
        parents_locked=True,
        chunk_size=chunk_rows,
    )


def _lock_parents(chain_ids: set, period_ids: set, provider_id) -> None:
    """Hold the parents of the new rows until commit, and check that they still exist."""
    found = lock_keys(db.session, Chain.chain_id, chain_ids)
    if found != chain_ids:
        raise ParentMissing(f"chain {sorted(chain_ids - found)[0]} was removed meanwhile")
    if lock_keys(db.session, CanonicalPeriod.period_id, period_ids) != period_ids:
        raise ParentMissing("a period of this file was removed meanwhile")
    lock_keys(db.session, Provider.provider_id, {provider_id})


class _Scan:
    """One streaming pass over a file: checks and counts every row, and hands each valid
    record to a bulk writer of the table and its key to the staged keys, when given. Holds
    the counts per period, never the rows (but for periods, whose records it keeps)."""

    def __init__(self, spec, reference, errors, with_totals=False, *, stop_at_error=False):
        self.spec = spec
        self.reference = reference
        self.errors = errors
        self.with_totals = with_totals and spec.kind.value in AMOUNT_INDEX
        #: Raise `_RowFailed` at the first failing row instead of reading on.
        self.stop_at_error = stop_at_error
        self.row_count = 0
        self.counts: Counter = Counter()
        self.totals: dict = {}
        self.records: list[tuple[int, tuple]] = []
        #: Called with (bytes read, rows read) every PROGRESS_ROWS rows and at the end.
        self.progress = None

    @property
    def touched(self):
        """(chain_id, period) pairs the file's valid rows fall in."""
        return set(self.counts)

    def run(self, path: str, writer, keys: "_StagedKeys | None" = None) -> None:
        """Read the file once, writing each valid record and staging its key."""
        try:
            self._read(path, writer, keys)
            if writer is not None:
                writer.close()
            if keys is not None:
                keys.close()
        except BaseException as error:
            for sink in (writer, keys):
                if sink is not None:
                    sink.abort(error)
            raise

    def _read(self, path: str, writer, keys) -> None:
        spec, errors = self.spec, self.errors
        check = spec.make_checker(self.reference, errors)
        key_size, stop_at_error = spec.key_size, self.stop_at_error
        counts = self.counts
        keep_records = spec.kind == PayloadKind.PERIODS
        seen: dict[tuple, int] | None = {} if keep_records and key_size else None
        add_total = self._add_total if self.with_totals else None
        progress = self.progress
        with open(path, "rb") as handle:
            for line, row in read_rows(handle, spec.columns):
                self.row_count += 1
                if progress is not None and self.row_count % PROGRESS_ROWS == 0:
                    progress(handle.tell(), self.row_count)
                record = check(line, row)
                if record is not None and seen is not None:
                    first = seen.setdefault(record[:key_size], line)
                    if first != line:
                        reason = f"duplicates line {first} (same {spec.key_words})"
                        errors.add(line, spec.key_column, reason)
                        record = None
                if record is None:
                    if stop_at_error:
                        raise _RowFailed
                    continue
                counts[record[0], record[1]] += 1
                if keep_records:
                    self.records.append((line, record))
                if add_total is not None:
                    add_total(record)
                if writer is not None:
                    writer.write(record)
                if keys is not None:
                    keys.write((line, *record[:key_size]))
        if progress is not None:
            progress(os.path.getsize(path), self.row_count)

    def _add_total(self, record) -> None:
        kind = self.spec.kind.value
        key = (record[0], record[1], record[COMPONENT_INDEX[kind]])
        self.totals[key] = MONEY.add(self.totals.get(key, Decimal(0)), record[AMOUNT_INDEX[kind]])

    def period_rows(self, reference: Reference) -> Counter:
        """Valid rows per (chain_id, period label); per (chain_id, day) for prices."""
        if self.spec.kind == PayloadKind.PERIODS:
            return Counter(self.counts)
        if self.spec.kind == PayloadKind.PRICES:
            return Counter({(c, day.isoformat()): n for (c, day), n in self.counts.items()})
        by_key = reference.by_key
        return Counter({(c, by_key[p].label): n for (c, p), n in self.counts.items()})

    def totals_by_label(self, reference: Reference) -> dict:
        """Amounts per (chain_id, period label, component), sorted."""
        by_key = reference.by_key
        return {
            (c, by_key[p].label, component): amount
            for (c, p, component), amount in sorted(
                self.totals.items(), key=lambda item: (item[0][0], by_key[item[0][1]].start_time)
            )
        }


class _StagedKeys:
    """The keys of a file's valid rows, each with its line, in a temporary table while the
    file is checked: the database finds the keys met twice and those already stored, in
    bounded memory whatever the file's size (a Python set of the keys of nine million rows
    held over 2 GiB)."""

    def __init__(self, spec: KindSpec, model, chunk_rows: int | None = None):
        self.spec = spec
        self.model = model
        self.names = spec.fields[: spec.key_size]
        columns = model.__table__.c
        self.table = temporary_table(
            db.session,
            KEYS_TABLE,
            Column("line", Integer, nullable=False),
            *(Column(name, columns[name].type, nullable=False) for name in self.names),
        )
        self.writer = bulk_writer(
            db.session, self.table, ("line", *self.names), threaded=True, chunk_size=chunk_rows
        )

    def write(self, row: tuple) -> None:
        """Stage one (line, *key)."""
        self.writer.write(row)

    def close(self) -> None:
        """Every key is staged."""
        self.writer.close()
        analyze_temporary(db.session, self.table)

    def abort(self, error: BaseException) -> None:
        self.writer.abort(error)

    def add_errors(self, errors: ErrorLog, touched, *, stored: bool) -> None:
        """Errors for the keys met twice (each later line names the first) and, with
        `stored`, for the first lines whose key is already stored (naming its payload),
        kept in line order among the errors found before; then the staged keys are dropped."""
        found, more = self._twice(errors.limit)
        if stored:
            clashes, more_clashes = self._stored(touched, errors.limit)
            found += clashes
            more += more_clashes
        errors.add_found(found, more)
        db.session.execute(DropTable(self.table))

    def _key_match(self, other) -> list:
        return [self.table.c[name] == other.c[name] for name in self.names]

    def _twice(self, limit: int) -> tuple[list[RowError], int]:
        K = self.table
        key = [K.c[name] for name in self.names]
        twice = (
            select(*key, func.min(K.c.line).label("first"))
            .group_by(*key)
            .having(func.count() > 1)
            .subquery()
        )
        rows = db.session.execute(
            select(K.c.line, twice.c.first, func.count().over())
            .select_from(K)
            .join(twice, and_(*self._key_match(twice)))
            .where(K.c.line > twice.c.first)
            .order_by(K.c.line)
            .limit(limit)
        ).all()
        column, words = self.spec.key_column, self.spec.key_words
        found = [
            RowError(line, column, f"duplicates line {first} (same {words})")
            for line, first, _ in rows
        ]
        return found, rows[0][2] - len(rows) if rows else 0

    def _stored(self, touched, limit: int) -> tuple[list[RowError], int]:
        """The first line of each staged key that is already stored: one query over the
        periods (days) the file touches, none when they hold no row of the kind."""
        K, stored = self.table, self.model.__table__
        if self.spec.kind == PayloadKind.PRICES:
            within = stored.c.date.in_({day for _, day in touched})
        else:
            within = stored.c.period_id.in_(_period_ids(touched))
        if not db.session.scalar(select(exists().where(within))):
            return [], 0
        key = [K.c[name] for name in self.names]
        firsts = select(*key, func.min(K.c.line).label("line")).group_by(*key).subquery()
        rows = db.session.execute(
            select(firsts.c.line, stored.c.source_payload_id, func.count().over())
            .select_from(firsts)
            .join(stored, and_(*(stored.c[name] == firsts.c[name] for name in self.names)))
            .where(within)
            .order_by(firsts.c.line)
            .limit(limit)
        ).all()
        names = payload_names({payload_id for _, payload_id, _ in rows})
        column, words = self.spec.key_column, self.spec.key_words
        found = [
            RowError(
                line,
                column,
                f"a row with the same {words} is stored "
                f"({names.get(payload_id, 'an earlier import')})",
            )
            for line, payload_id, _ in rows
        ]
        return found, rows[0][2] - len(rows) if rows else 0


def _load_reference(spec: KindSpec) -> Reference:
    formats = dict(db.session.execute(select(Chain.chain_id, Chain.address_format)).all())
    chains = set(formats)
    periods = [
        PeriodRef(*row)
        for row in db.session.execute(
            select(
                CanonicalPeriod.period_id,
                CanonicalPeriod.chain_id,
                CanonicalPeriod.label,
                CanonicalPeriod.start_time,
                CanonicalPeriod.end_time,
                CanonicalPeriod.source_payload_id,
            )
        )
    ]
    names = {}
    if spec.kind == PayloadKind.PERIODS:
        names = payload_names(p.source_payload_id for p in periods)
    return Reference(chains=chains, periods=periods, payload_names=names, address_formats=formats)


def _period_ids(touched) -> set[uuid.UUID]:
    """The period ids of (chain_id, period key) pairs."""
    return {uuid.UUID(bytes=key) for _, key in touched}


def _stored_counts(model, touched, reference: Reference) -> dict:
    """Stored rows per (chain_id, period label) among the periods a file touches."""
    if model is CanonicalPrice:
        rows = db.session.execute(
            select(model.chain_id, model.date, func.count())
            .where(_days_of(touched))
            .group_by(model.chain_id, model.date)
        )
        return {(chain_id, day.isoformat()): count for chain_id, day, count in rows}
    period_ids = _period_ids(touched)
    if not period_ids:
        return {}
    rows = db.session.execute(
        select(model.period_id, func.count())
        .where(model.period_id.in_(period_ids))
        .group_by(model.period_id)
    )
    by_key = reference.by_key
    return {(by_key[pid.bytes].chain_id, by_key[pid.bytes].label): count for pid, count in rows}


def _replace(spec, model, touched, reference: Reference, payload, user) -> None:
    """Delete the stored rows of the kind in the file's periods, one audit entry per period
    (prices: per day)."""
    if model is CanonicalPrice:
        _replace_prices(touched, payload, user)
        return
    period_ids = _period_ids(touched)
    held = db.session.execute(
        select(model.period_id, model.source_payload_id, func.count())
        .where(model.period_id.in_(period_ids))
        .group_by(model.period_id, model.source_payload_id)
    ).all()
    if not held:
        return
    before: dict[uuid.UUID, dict] = {}
    for period_id, source_payload_id, count in held:
        entry = before.setdefault(period_id, {"rows": 0, "payloads": []})
        entry["rows"] += count
        entry["payloads"].append(str(source_payload_id))
    if model is CanonicalStakerRewardsDetail and is_postgresql(db.session):
        # The periods' partitions are emptied whole, not row by row.
        reward_partitions.empty_periods(db.session.connection(), before)
    else:
        db.session.execute(delete(model).where(model.period_id.in_(before)))
    for period_id, entry in before.items():
        period = reference.by_key[period_id.bytes]
        audit.record(
            "replace",
            spec.kind.value,
            f"{period.chain_id}/{period.label}",
            before=entry,
            after={"payload_id": str(payload.payload_id), "file_name": payload.file_name},
            user=user,
        )


def _days_of(touched):
    """Where: prices of the (chain_id, day) pairs a file touches."""
    by_chain: dict[str, set] = {}
    for chain_id, day in touched:
        by_chain.setdefault(chain_id, set()).add(day)
    return or_(
        *(
            and_(CanonicalPrice.chain_id == chain_id, CanonicalPrice.date.in_(days))
            for chain_id, days in sorted(by_chain.items())
        )
    )


def _replace_prices(touched, payload, user) -> None:
    """Delete the stored prices of the file's days, one audit entry per chain and day."""
    P = CanonicalPrice
    held = db.session.execute(
        select(P.chain_id, P.date, P.price_usd, P.source_payload_id).where(_days_of(touched))
    ).all()
    if not held:
        return
    db.session.execute(delete(P).where(_days_of(touched)))
    for chain_id, day, price, source_payload_id in sorted(held, key=lambda row: row[:2]):
        audit.record(
            "replace",
            PayloadKind.PRICES.value,
            f"{chain_id}/{day.isoformat()}",
            before={"price_usd": str(price), "payloads": [str(source_payload_id)]},
            after={"payload_id": str(payload.payload_id), "file_name": payload.file_name},
            user=user,
        )
