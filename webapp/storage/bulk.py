"""Bulk writes inside the session's transaction, the same call on both databases.

`bulk_writer(session, table, columns, ...)` takes rows as tuples of Python values (UUID,
Decimal, datetime, date, str, bool, int, None) in the order of `columns`; a uuid column also
takes the id's text or its 16 raw bytes, so that callers keep the form they already hold (one
form per column within a write).
On PostgreSQL the rows travel by binary `COPY` (optionally fed by a writer thread), on SQLite
by large batched inserts; never one statement per row. A failed write raises SQLAlchemy's
`DBAPIError` family (`IntegrityError`, `OperationalError`, ...) whatever the database.
"""

import contextlib
import uuid
from collections.abc import Callable, Iterable

import psycopg
from psycopg.adapt import Dumper
from psycopg.copy import QueuedLibpqWriter
from psycopg.pq import Format
from psycopg.types.string import BytesBinaryDumper
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    Table,
    Uuid,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from webapp.db_types import Amount, UTCDateTime

#: Rows per executemany on SQLite.
INSERT_BATCH = 10_000
#: Rows sorted (when asked) and sent together to COPY.
COPY_CHUNK = 50_000
#: Bits of a row id that count rows; the rest stay random, so the ids of one write ascend.
_COUNTER_BITS = 40


class RowIds:
    """Ids for the rows of one write: a random version-4 UUID whose low 40 bits count up.

    A million `uuid4()` calls would cost more than the rest of a write; the random part
    (82 bits) keeps ids unique across writes, the counter within one, and ascending ids
    reach the primary key's index in order.
    """

    def __init__(self):
        self.base = uuid.uuid4().int & ~((1 << _COUNTER_BITS) - 1)
        self.used = 0

    def take(self, count: int) -> int:
        """Reserve `count` ids; returns the first as an integer (the others follow it)."""
        first = self.base + self.used
        self.used += count
        return first

    def next(self) -> uuid.UUID:
        """One new id."""
        return uuid.UUID(int=self.take(1))


def is_postgresql(session: Session) -> bool:
    """True when the session talks to PostgreSQL (the one dialect test of the application)."""
    return session.get_bind().dialect.name == "postgresql"


class BulkWriter:
    """Writes rows into one table; use as a context manager, or call `close` / `abort`.

    `columns` name the row's values in order. With `new_ids` the primary key's column the
    rows do not carry is filled with fresh ascending ids (`RowIds`); `constants` maps further
    columns to one value for every row (lineage, a run id, a timestamp). `sort_key` orders
    each chunk before it is sent, so that rows reach the indexes in key order. `threaded`
    feeds PostgreSQL from a second thread while this one produces rows (worth it for a
    streamed million rows, not for a list in memory). `parents_locked` says the caller has
    locked and checked every parent row the new rows point to (`lock_keys`), so per-row
    foreign-key triggers may be skipped when the database role allows it. `chunk_size`
    overrides the rows queued before each send (the database's default: `COPY_CHUNK` or
    `INSERT_BATCH`).
    """

    def __init__(
        self,
        session: Session,
        table: Table,
        columns: Iterable[str],
        *,
        new_ids: bool = False,
        constants: dict | None = None,
        sort_key: Callable | None = None,
        threaded: bool = False,
        parents_locked: bool = False,
        chunk_size: int | None = None,
    ):
        self.session = session
        self.table = table
        self.columns = tuple(columns)
        constants = constants or {}
        self.id_column = _id_column(table, (*self.columns, *constants)) if new_ids else None
        self.names = (
            *((self.id_column,) if self.id_column else ()),
            *self.columns,
            *constants,
        )
        self.tail = tuple(constants.values())
        self.ids = RowIds()
        self.sort_key = sort_key
        self.threaded = threaded
        self.parents_locked = parents_locked
        self.pending: list[tuple] = []
        self.written = 0
        if chunk_size is not None:
            self.chunk_size = chunk_size

    # -- the interface ------------------------------------------------------------------------

    def write(self, row: tuple) -> None:
        """Queue one row."""
        self.pending.append(row)
        if len(self.pending) >= self.chunk_size:
            self.flush()

    def write_many(self, rows: Iterable[tuple]) -> None:
        """Queue many rows."""
        for row in rows:
            self.write(row)

    def close(self) -> int:
        """Send what is queued and end the write; returns the rows written. The rows stay in
        the open transaction."""
        self.flush()
        self._finish(None)
        return self.written

    def abort(self, error: BaseException | None = None) -> None:
        """Drop what is queued and cancel the write; the caller rolls the transaction back."""
        self.pending = []
        with contextlib.suppress(DBAPIError, psycopg.Error):
            self._finish(error or RuntimeError("bulk write aborted"))

    def __enter__(self) -> "BulkWriter":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.close()
        else:
            self.abort(error)

    def flush(self) -> None:
        """Send the queued rows now."""
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        if self.sort_key is not None:
            rows.sort(key=self.sort_key)
        self._send(rows)
        self.written += len(rows)

    # -- per database -------------------------------------------------------------------------

    chunk_size = INSERT_BATCH

    def _send(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    def _finish(self, error: BaseException | None) -> None:
        """End the write (nothing to end for batched inserts)."""


class InsertWriter(BulkWriter):
    """Batched multi-row inserts through SQLAlchemy (SQLite, or any other database)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # SQLAlchemy's Uuid type wants UUID objects: ids given as text or bytes are turned.
        self._uuid_positions = [
            index
            for index, name in enumerate(self.columns)
            if isinstance(self.table.c[name].type, Uuid)
        ]
        constant_names = self.names[len(self.names) - len(self.tail) :]
        self.tail = tuple(
            _as_uuid(value) if isinstance(self.table.c[name].type, Uuid) else value
            for name, value in zip(constant_names, self.tail, strict=True)
        )

    def _send(self, rows: list[tuple]) -> None:
        names, tail, positions = self.names, self.tail, self._uuid_positions
        if positions:
            rows = [_with_uuids(row, positions) for row in rows]
        if self.id_column:
            first = self.ids.take(len(rows))
            values = [
                dict(zip(names, (uuid.UUID(int=first + n), *row, *tail), strict=True))
                for n, row in enumerate(rows)
            ]
        else:
            values = [dict(zip(names, (*row, *tail), strict=True)) for row in rows]
        self.session.execute(insert(self.table), values)


def _as_uuid(value):
    if isinstance(value, str):
        return uuid.UUID(value)
    if isinstance(value, bytes):
        return uuid.UUID(bytes=value)
    return value


def _with_uuids(row: tuple, positions: list[int]) -> tuple:
    values = list(row)
    for index in positions:
        values[index] = _as_uuid(values[index])
    return tuple(values)


class CopyWriter(BulkWriter):
    """Binary `COPY ... FROM STDIN` on the session's own connection (PostgreSQL)."""

    chunk_size = COPY_CHUNK

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.statement = (
            f"COPY {self.table.name} ({', '.join(self.names)}) FROM STDIN (FORMAT BINARY)"
        )
        self.types = [_copy_type(self.table.c[name].type) for name in self.names]
        # Ids and constant uuids go as their 16 bytes: the binary form of a uuid, dumped as
        # bytea in C instead of through a Python call per value.
        if self.id_column:
            self.types[0] = "bytea"
        width = len(self.names) - len(self.tail)
        self.tail = tuple(
            _uuid_bytes(value) if self.types[width + n] == "uuid" else value
            for n, value in enumerate(self.tail)
        )
        for n in range(width, len(self.names)):
            if self.types[n] == "uuid":
                self.types[n] = "bytea"
        self._cursor = self._context = self._copy = None
        self._skipping_triggers = False

    def _open(self, first_row: tuple) -> None:
        # Opened at the first rows, so a write that fails before them leaves no COPY behind.
        if self.parents_locked and _may_skip_row_triggers(self.session):
            self.session.execute(text("SET LOCAL session_replication_role = replica"))
            self._skipping_triggers = True
        # A uuid column of the rows goes as the form its first value has: raw bytes as bytea
        # (dumped in C), a UUID or its text by a dumper that parses each distinct text once.
        offset = 1 if self.id_column else 0
        for index, value in enumerate(first_row, start=offset):
            if self.types[index] == "uuid" and value.__class__ is bytes:
                self.types[index] = "bytea"
        raw = self.session.connection().connection.driver_connection
        self._cursor = raw.cursor()
        # By type oid psycopg would pick Python dumpers for bytea and uuid; use the C one for
        # bytea, and for uuid one that also takes text.
        self._cursor.adapters.register_dumper(None, BytesBinaryDumper)
        self._cursor.adapters.register_dumper(None, _UuidBinaryDumper)
        writer = QueuedLibpqWriter(self._cursor) if self.threaded else None
        self._context = self._cursor.copy(self.statement, writer=writer)
        self._copy = self._context.__enter__()
        self._copy.set_types(self.types)

    def _send(self, rows: list[tuple]) -> None:
        try:
            if self._copy is None:
                self._open(rows[0])
            write_row, tail = self._copy.write_row, self.tail
            if self.id_column:
                first = self.ids.take(len(rows))
                for n, row in enumerate(rows):
                    write_row(((first + n).to_bytes(16, "big"), *row, *tail))
            elif tail:
                for row in rows:
                    write_row((*row, *tail))
            else:
                for row in rows:
                    write_row(row)
        except psycopg.Error as error:
            raise self._translated(error) from error

    def _finish(self, error: BaseException | None) -> None:
        if self._context is None:
            return
        context, self._context, self._copy = self._context, None, None
        try:
            if error is None:
                context.__exit__(None, None, None)
            else:
                context.__exit__(type(error), error, error.__traceback__)
        except psycopg.Error as failure:
            raise self._translated(failure) from failure
        finally:
            self._cursor.close()
        if self._skipping_triggers and error is None:
            self.session.execute(text("SET LOCAL session_replication_role = origin"))

    def _translated(self, error: psycopg.Error) -> DBAPIError:
        """The SQLAlchemy exception the ORM would raise for the same failure."""
        return DBAPIError.instance(self.statement, None, error, psycopg.Error)


class _UuidBinaryDumper(Dumper):
    """A uuid for binary COPY from a UUID, its text (each distinct text parsed once) or its
    16 bytes (what `RowIds` hands out)."""

    format = Format.BINARY
    oid = psycopg.postgres.types["uuid"].oid

    def __init__(self, cls, context=None):
        super().__init__(cls, context)
        self._texts: dict[str, bytes] = {}

    def dump(self, obj) -> bytes:
        kind = obj.__class__
        if kind is bytes:
            return obj
        if kind is str:
            raw = self._texts.get(obj)
            if raw is None:
                raw = self._texts[obj] = uuid.UUID(obj).bytes
            return raw
        return obj.bytes


def bulk_writer(session: Session, table: Table, columns: Iterable[str], **options) -> BulkWriter:
    """The fastest writer the session's database offers; options as in `BulkWriter`."""
    kind = CopyWriter if is_postgresql(session) else InsertWriter
    return kind(session, table, columns, **options)


def bulk_insert(
    session: Session, table: Table, columns: Iterable[str], rows: Iterable[tuple], **options
) -> int:
    """Write all `rows` at once; returns how many were written."""
    with bulk_writer(session, table, columns, **options) as writer:
        writer.write_many(rows)
    return writer.written


def temporary_table(session: Session, name: str, *columns: Column) -> Table:
    """An empty table of `columns` that only the session's connection sees, for rows that
    statements compare in bulk rather than Python in memory; gone with the connection, or
    with a rollback of the transaction that made it. Fill it with `bulk_writer`, then call
    `analyze_temporary` before querying it."""
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    # Qualified, so that no permanent table of the name is ever dropped.
    schema = "pg_temp" if is_postgresql(session) else "temp"
    session.execute(text(f"DROP TABLE IF EXISTS {schema}.{name}"))
    session.execute(CreateTable(table))
    return table


def analyze_temporary(session: Session, table: Table) -> None:
    """Planner statistics of a filled temporary table (PostgreSQL; autovacuum never sees
    one), inside the transaction: without them a join with it is planned for a few rows."""
    if is_postgresql(session):
        session.execute(text(f"ANALYZE {table.name}"))


def lock_keys(session: Session, column, keys) -> set:
    """Hold the rows whose `column` is among `keys` until commit (no one may delete them or
    change their key); returns the keys found."""
    keys = set(keys)
    if not keys:
        return set()
    return set(
        session.scalars(select(column).where(column.in_(keys)).with_for_update(key_share=True))
    )


def refresh_statistics(session: Session, table: Table) -> None:
    """Refresh the planner statistics of a table after a large load (PostgreSQL), outside the
    session's transaction, so that the next queries keep their bulk plans."""
    if not is_postgresql(session):
        return
    with session.get_bind().connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f"ANALYZE {table.name}")
        )


def _uuid_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, uuid.UUID) else uuid.UUID(value)).bytes


def _id_column(table: Table, given) -> str:
    """The primary key's one column the rows do not carry (a partitioned table's key also
    holds its partition key, which they do)."""
    (column,) = [c.name for c in table.primary_key.columns if c.name not in given]
    return column


#: The PostgreSQL type whose binary form psycopg sends, by column type (first match wins:
#: BigInteger before Integer); any other column (varchar, text, enum labels) goes as text.
_COPY_TYPES = (
    (Uuid, "uuid"),
    (Amount, "numeric"),
    (UTCDateTime, "timestamptz"),
    (Boolean, "bool"),
    (Date, "date"),
    (BigInteger, "int8"),
    (Integer, "int4"),
)


def _copy_type(column_type) -> str:
    """The PostgreSQL type whose binary form psycopg sends for a column's values."""
    return next((name for kind, name in _COPY_TYPES if isinstance(column_type, kind)), "text")


def _may_skip_row_triggers(session: Session) -> bool:
    """True when this role may set session_replication_role (superuser or GRANTed SET)."""
    raw = session.connection().connection.driver_connection
    if raw.info.server_version >= 150000:
        query = "SELECT has_parameter_privilege('session_replication_role', 'SET')"
    else:
        query = "SELECT current_setting('is_superuser') = 'on'"
    return bool(session.execute(text(query)).scalar())


def violates(error: IntegrityError, table: Table, constraint: str) -> bool:
    """True when `error` broke the unique constraint or index `constraint` of `table`.

    PostgreSQL names the constraint; SQLite names the table's columns it covers.
    """
    diag = getattr(error.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == constraint
    found = [c for c in (*table.constraints, *table.indexes) if c.name == constraint]
    if not found:
        return False
    columns = ", ".join(f"{table.name}.{column.name}" for column in found[0].columns)
    return columns in str(error.orig)
