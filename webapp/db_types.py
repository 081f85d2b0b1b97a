"""Column types that keep amounts and instants exact on PostgreSQL and on SQLite.

PostgreSQL stores amounts as NUMERIC(38,18). SQLite has no exact decimal type (its NUMERIC
affinity turns values into floats), so there the same column holds the canonical decimal
text, and sums go through a `decimal_sum` aggregate registered on every SQLite connection.
"""

import hashlib
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import NUMERIC, BigInteger, Boolean, Date, DateTime, Enum, String, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator

from webapp.money import MONEY, format_amount


class Amount(TypeDecorator):
    """A token amount: NUMERIC(38,18) on PostgreSQL, exact decimal text on SQLite."""

    impl = NUMERIC(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(60))
        return dialect.type_descriptor(NUMERIC(38, 18, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, Decimal):
            if isinstance(value, float):
                raise TypeError("amounts are Decimal, never float")
            value = Decimal(value)
        if dialect.name == "sqlite":
            return format_amount(value)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    @property
    def python_type(self):
        return Decimal


class UsdValue(Amount):
    """A USD value (a token amount times a USD price): NUMERIC(60,18) on PostgreSQL, so the
    value of the largest token amount at a large price still fits; exact text on SQLite."""

    impl = NUMERIC(60, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(80))
        return dialect.type_descriptor(NUMERIC(60, 18, asdecimal=True))


class UTCDateTime(TypeDecorator):
    """An instant in UTC: TIMESTAMP WITH TIME ZONE on PostgreSQL, naive UTC on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self):
        return datetime


class decimal_sum(GenericFunction):  # noqa: N801 - SQL function names are lower case
    """SUM of an amount column that stays exact on both databases."""

    type = Amount()
    inherit_cache = True


@compiles(decimal_sum)
def _compile_decimal_sum(element, compiler, **kw):
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(decimal_sum, "sqlite")
def _compile_decimal_sum_sqlite(element, compiler, **kw):
    return f"decimal_sum({compiler.process(element.clauses, **kw)})"


class row_digest(GenericFunction):  # noqa: N801 - SQL function names are lower case
    """A hash of a row's columns as an integer, so that a SUM of them digests a set of rows
    in any order. PostgreSQL chains its 64-bit extended hash of each column's own type, each
    seeded with the hash so far (no column is turned into text: that costs more than the
    hashing); SQLite hashes the columns' text, separated, with a 32-bit BLAKE2b (a sum of a
    million stays within its 64-bit integers)."""

    type = BigInteger()
    inherit_cache = True


#: SQL that hashes one value of a type (its column as `{}`) seeded with `{seed}`, by the
#: type's class (the first in a type's method resolution order wins).
_TYPED_HASHES = (
    (Amount, "hash_numeric_extended({}, {seed})"),
    (UTCDateTime, "timestamp_hash_extended({} AT TIME ZONE 'UTC', {seed})"),
    (Enum, "hashenumextended({}, {seed})"),
    (String, "hashtextextended({}, {seed})"),
    (Date, "hashint4extended({} - DATE '2000-01-01', {seed})"),
    (Boolean, "hashint4extended(CAST({} AS integer), {seed})"),
)


def _typed_hash(column) -> str:
    for kind, template in _TYPED_HASHES:
        if isinstance(column.type, kind):
            return template
    raise TypeError(f"row_digest has no hash for {column.type!r}")


@compiles(row_digest)
def _compile_row_digest(element, compiler, **kw):
    digest = "0"
    for column in element.clauses:
        digest = _typed_hash(column).format(compiler.process(column, **kw), seed=digest)
    return digest


@compiles(row_digest, "sqlite")
def _compile_row_digest_sqlite(element, compiler, **kw):
    parts = " || '|' || ".join(
        f"coalesce(CAST({compiler.process(column, **kw)} AS TEXT), '')"
        for column in element.clauses
    )
    return f"row_digest({parts})"


def _row_digest_sqlite(value) -> int | None:
    if value is None:
        return None
    digest = hashlib.blake2b(str(value).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


class _DecimalSum:
    """SQLite aggregate: exact sum of decimal text, returned as decimal text."""

    def __init__(self):
        self.total = Decimal(0)
        self.seen = False

    def step(self, value):
        if value is not None:
            self.total = MONEY.add(self.total, Decimal(str(value)))
            self.seen = True

    def finalize(self):
        return format_amount(self.total) if self.seen else None


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_aggregate("decimal_sum", 1, _DecimalSum)
        dbapi_connection.create_function("row_digest", 1, _row_digest_sqlite, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class uuid_text(GenericFunction):  # noqa: N801 - SQL function names are lower case
    """A UUID column as the usual text of a UUID (lower-case hex in dashed groups, as
    `str(uuid.UUID)` writes it) on either database: PostgreSQL casts its `uuid`; SQLite
    stores the 32 hex digits bare, so the dashes are put in there."""

    type = String()
    inherit_cache = True


@compiles(uuid_text)
def _compile_uuid_text(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS VARCHAR)"


@compiles(uuid_text, "sqlite")
def _compile_uuid_text_sqlite(element, compiler, **kw):
    hex_digits = f"lower({compiler.process(element.clauses, **kw)})"
    groups = " || '-' || ".join(
        f"substr({hex_digits}, {start}, {length})"
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    )
    return f"CASE WHEN length({hex_digits}) = 32 THEN {groups} ELSE {hex_digits} END"
