"""Reads that take a large set of values: as few statements as the database allows."""

import uuid
from collections.abc import Iterator

from sqlalchemy import ARRAY, String, any_, bindparam
from sqlalchemy.orm import Session

from webapp.storage.bulk import is_postgresql

#: Values per `IN (...)` on SQLite (its limit on bound parameters is far above this).
SQLITE_IN_CHUNK = 5000


def in_batches(session: Session, column, values: list[str]) -> Iterator:
    """Conditions `column IN values`, together covering all `values` (text): one
    `= ANY(array)` on PostgreSQL, chunks of `SQLITE_IN_CHUNK` on SQLite."""
    if is_postgresql(session):
        yield column == any_(bindparam("values", list(values), type_=ARRAY(String)))
        return
    for start in range(0, len(values), SQLITE_IN_CHUNK):
        yield column.in_(values[start : start + SQLITE_IN_CHUNK])


#: Rows fetched per round trip by `stream_rows`.
STREAM_BATCH = 20_000


def stream_rows(session: Session, stmt) -> Iterator[tuple]:
    """The rows of a large read as plain tuples, streamed.

    On PostgreSQL they come straight from the driver through a server-side cursor: the
    per-value processing of SQLAlchemy results would triple the time of a million-row load
    and hold every row twice. Values come as the driver gives them (no type decorators).
    """
    connection = session.connection()
    if not is_postgresql(session):
        yield from (tuple(row) for row in connection.execute(stmt))
        return
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    raw = connection.connection.driver_connection
    with raw.cursor(name=f"stream_{uuid.uuid4().hex}") as cursor:
        cursor.itersize = STREAM_BATCH
        cursor.execute(str(compiled), compiled.params)
        while rows := cursor.fetchmany(STREAM_BATCH):
            yield from rows


def stream_on_own_connection(session: Session, stmt, batch: int = 10_000) -> Iterator:
    """The rows of `stmt` (ORM entities too) from a session and connection of their own,
    streamed `batch` at a time.

    A served request removes its session when the view returns, before a streamed body is
    sent: a cursor of that session would be gone. This one lives as long as the download
    does and its connection goes back to the pool when the file is complete (or abandoned).
    """
    with Session(session.get_bind()) as own:
        yield from own.execute(stmt.execution_options(yield_per=batch))
