"""Bulk writers for canonical rows: COPY through psycopg 3 on PostgreSQL, large batched
inserts on SQLite. Never one statement per row.

Both write inside the session's transaction, so a rejected import rolls back every row.
"""

import contextlib
import uuid
from datetime import datetime
from operator import itemgetter

import psycopg
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Table, Uuid, exc, insert, select, text
from sqlalchemy.orm import Session

from webapp.db_types import Amount, UTCDateTime
from webapp.models import CanonicalPeriod, Chain, Provider

#: Errors a bulk write can end with when another transaction changed the same data.
DATABASE_ERRORS = (exc.DBAPIError, psycopg.Error)
#: Rows per executemany on SQLite.
SQLITE_BATCH = 10_000
#: Records sorted and sent together to COPY.
COPY_CHUNK = 50_000
#: Leading record fields (chain, period, validator, ...) a chunk is sorted by.
SORT_FIELDS = 5
#: Bits of a row id that count rows; the rest stay random, so ids of one import ascend.
_COUNTER_BITS = 40


class ParentMissing(RuntimeError):
    """A chain or period the rows point to vanished while the import ran."""


def _id_base() -> int:
    """A random version-4 UUID with its low bits cleared, to count rows from."""
    return uuid.uuid4().int & ~((1 << _COUNTER_BITS) - 1)


class CopyWriter:
    """Streams records into a table with PostgreSQL COPY, in the session's transaction.

    Foreign keys are checked once per parent instead of once per row: the importer has
    already matched every chain and period, `lock_parents` holds them until commit, and
    the per-row triggers are switched off for the COPY when the role may do so.
    """

    def __init__(self, session: Session, table: Table, fields, id_column, lineage):
        self._session = session
        names = (id_column, *fields, *lineage_columns())
        self._statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
        self._types = [_binary_type(table.c[name].type) for name in names]
        provider_id, payload_id, normalized_at = lineage
        self._tail = (provider_id.bytes, payload_id.bytes, normalized_at)
        # Records name their period by its id as text; binary COPY wants its 16 bytes.
        self._period_index = fields.index("period_id") if "period_id" in fields else None
        self._base = _id_base()
        self._skip_row_triggers = False
        self._cursor = self._copy_context = self._copy = None
        self._chunk: list[tuple] = []
        self._sort_key = itemgetter(*range(min(len(fields), SORT_FIELDS)))
        self.written = 0

    def _open(self) -> None:
        # Opened at the first row, so a file that fails before it leaves no COPY behind.
        self._skip_row_triggers = _may_skip_row_triggers(self._session)
        if self._skip_row_triggers:
            self._session.execute(text("SET LOCAL session_replication_role = replica"))
        raw = self._session.connection().connection.driver_connection
        self._cursor = raw.cursor()
        # A worker thread feeds the server while this one parses the next rows: both cores work.
        self._copy_context = self._cursor.copy(
            self._statement, writer=QueuedLibpqWriter(self._cursor)
        )
        self._copy = self._copy_context.__enter__()
        self._copy.set_types(self._types)

    def write(self, record: tuple) -> None:
        """Queue one record for the COPY."""
        self._chunk.append(record)
        if len(self._chunk) >= COPY_CHUNK:
            self._send()

    def _send(self) -> None:
        # Rows sent in key order reach the same index pages together instead of at random.
        if not self._chunk:
            return
        if self._copy is None:
            self._open()
        chunk, self._chunk = self._chunk, []
        chunk.sort(key=self._sort_key)
        write_row, tail, base = self._copy.write_row, self._tail, self._base + self.written
        index = self._period_index
        if index is not None:
            period_bytes: dict[str, bytes] = {}
            for offset, record in enumerate(chunk):
                key = record[index]
                period = period_bytes.get(key) or period_bytes.setdefault(key, uuid.UUID(key).bytes)
                write_row(
                    ((base + offset).to_bytes(16, "big"), *record[:index], period,
                     *record[index + 1 :], *tail)
                )  # fmt: skip
        else:
            for offset, record in enumerate(chunk):
                write_row(((base + offset).to_bytes(16, "big"), *record, *tail))
        self.written += len(chunk)

    def close(self) -> None:
        """End the COPY; the rows stay in the open transaction."""
        self._send()
        self._end(None)

    def abort(self, error: BaseException) -> None:
        """Cancel the COPY after an error, leaving the transaction to be rolled back."""
        self._chunk = []
        with contextlib.suppress(DATABASE_ERRORS):
            self._end(error)

    def _end(self, error: BaseException | None) -> None:
        if self._copy_context is None:
            return
        context, self._copy_context, self._copy = self._copy_context, None, None
        try:
            if error is None:
                context.__exit__(None, None, None)
            else:
                context.__exit__(type(error), error, error.__traceback__)
        finally:
            self._cursor.close()
        if self._skip_row_triggers and error is None:
            self._session.execute(text("SET LOCAL session_replication_role = origin"))


class BatchWriter:
    """Inserts records with executemany in large batches (SQLite)."""

    def __init__(self, session: Session, table: Table, fields, id_column, lineage):
        self._session = session
        self._statement = insert(table)
        self._keys = (id_column, *fields, *lineage_columns())
        # Records name their period by its id as text; the Uuid column wants a UUID here.
        self._period_index = fields.index("period_id") if "period_id" in fields else None
        self._tail = tuple(lineage)
        self._base = _id_base()
        self._batch: list[tuple] = []
        self.written = 0

    def write(self, record: tuple) -> None:
        """Queue one record; a full batch goes to the database."""
        self._batch.append(record)
        if len(self._batch) >= SQLITE_BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        keys, tail, base, start = self._keys, self._tail, self._base, self.written
        index = self._period_index
        if index is not None:
            periods: dict[str, uuid.UUID] = {}
            self._batch = [
                (
                    *record[:index],
                    periods.get(record[index])
                    or periods.setdefault(record[index], uuid.UUID(record[index])),
                    *record[index + 1 :],
                )
                for record in self._batch
            ]
        rows = [
            dict(zip(keys, (uuid.UUID(int=base + start + offset), *record, *tail), strict=True))
            for offset, record in enumerate(self._batch)
        ]
        self._session.execute(self._statement, rows)
        self.written += len(rows)
        self._batch = []

    def close(self) -> None:
        """Write what is left of the batch."""
        self._flush()

    def abort(self, error: BaseException) -> None:
        """Drop what is left of the batch; the transaction is rolled back by the caller."""
        self._batch = []


def _binary_type(column_type) -> str:
    """The psycopg type that dumps a value in the binary COPY format of a column."""
    if isinstance(column_type, Uuid):
        return "bytea"  # 16 raw bytes: the binary form of a uuid
    if isinstance(column_type, Amount):
        return "numeric"
    if isinstance(column_type, UTCDateTime):
        return "timestamptz"
    return "text"  # varchar and enum labels travel as text


def lineage_columns() -> tuple[str, str, str]:
    """The lineage columns every canonical row carries, after its own fields."""
    return ("source_provider_id", "source_payload_id", "normalized_at")


def open_writer(
    session: Session,
    table: Table,
    fields,
    id_column: str,
    provider_id: uuid.UUID,
    payload_id: uuid.UUID,
    normalized_at: datetime,
):
    """The fastest writer the session's database offers."""
    lineage = (provider_id, payload_id, normalized_at)
    if session.get_bind().dialect.name == "postgresql":
        return CopyWriter(session, table, fields, id_column, lineage)
    return BatchWriter(session, table, fields, id_column, lineage)


def _may_skip_row_triggers(session: Session) -> bool:
    """True when this role may set session_replication_role (superuser or GRANTed SET)."""
    raw = session.connection().connection.driver_connection
    if raw.info.server_version >= 150000:
        query = "SELECT has_parameter_privilege('session_replication_role', 'SET')"
    else:
        query = "SELECT current_setting('is_superuser') = 'on'"
    return bool(session.execute(text(query)).scalar())


def lock_parents(session: Session, chain_ids, period_ids, provider_id) -> None:
    """Hold the parents of the new rows until commit, and check that they still exist."""
    chain_ids, period_ids = set(chain_ids), set(period_ids)
    found = set(
        session.scalars(
            select(Chain.chain_id)
            .where(Chain.chain_id.in_(chain_ids))
            .with_for_update(key_share=True)
        )
    )
    if found != chain_ids:
        raise ParentMissing(f"chain {sorted(chain_ids - found)[0]} was removed meanwhile")
    if period_ids:
        found_periods = set(
            session.scalars(
                select(CanonicalPeriod.period_id)
                .where(CanonicalPeriod.period_id.in_(period_ids))
                .with_for_update(key_share=True)
            )
        )
        if found_periods != period_ids:
            raise ParentMissing("a period of this file was removed meanwhile")
    session.execute(
        select(Provider.provider_id)
        .where(Provider.provider_id == provider_id)
        .with_for_update(key_share=True)
    )
