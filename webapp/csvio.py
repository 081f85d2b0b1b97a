"""CSV in and out, as DOMAIN.md sets it: UTF-8 (BOM accepted), a header row matched
case-insensitively with aliases, LF or CRLF, blank lines skipped; and cells written so that
a spreadsheet shows them as text instead of running them.
"""

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from webapp.money import format_amount

#: Characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """An expected input column: its name, the other headers it may go by, and if required."""

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class RowError:
    """Why one row of a file was refused: line number (the header is line 1), column, reason."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


class CsvFormatError(ValueError):
    """A file that cannot be read as the expected CSV at all (encoding, header)."""


@dataclass
class CsvReader:
    """Iterates a CSV file's data rows as (line number, {column name: stripped text})."""

    stream: io.TextIOBase
    columns: list[Column]
    present: list[str] = field(default_factory=list)
    #: Data rows (blank lines aside) the file may have; None for no limit.
    max_rows: int | None = None

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        records, positions = self._start()
        count, limit = 0, self.max_rows
        for line, row in records:
            if not row or all(not cell.strip() for cell in row):
                continue
            count += 1
            if limit is not None and count > limit:
                raise CsvFormatError(
                    f"the file has more than {limit:,} rows (line {line}); "
                    f"split it into files of at most {limit:,} rows"
                )
            yield (
                line,
                {
                    name: (row[index].strip() if index < len(row) else "")
                    for name, index in positions.items()
                },
            )

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, cells) of each record; bad bytes and bad CSV become CsvFormatError.

        A NUL character (byte 0) is refused with its line: no database column may hold one.
        """
        reader = csv.reader(_without_nul(self.stream))
        try:
            for row in reader:
                yield reader.line_num, row
        except UnicodeDecodeError:
            raise CsvFormatError(
                f"the file is not UTF-8 text (near line {reader.line_num + 1}); "
                "save it as CSV UTF-8 and upload it again"
            ) from None
        except csv.Error as exc:
            raise CsvFormatError(f"line {reader.line_num}: not valid CSV ({exc})") from None
        except _NulFound:
            raise CsvFormatError(
                f"line {reader.line_num + 1}: holds a NUL character (byte 0), which no cell may "
                "hold; remove it and upload the file again"
            ) from None

    def _start(self) -> tuple[Iterator[tuple[int, list[str]]], dict[str, int]]:
        """The records after the header, and where each expected column stands."""
        records = self._records()
        first = next(records, None)
        if first is None:
            raise CsvFormatError("the file is empty: expected a header row")
        return records, self._match_header(first[1])

    def _match_header(self, header: list[str]) -> dict[str, int]:
        wanted = {}
        for column in self.columns:
            for alias in (column.name, *column.aliases):
                wanted[alias.lower()] = column.name
        positions: dict[str, int] = {}
        for index, raw in enumerate(header):
            key = raw.strip().lstrip("\ufeff").strip().lower()
            name = wanted.get(key)
            if name is None:
                continue
            if name in positions:
                raise CsvFormatError(f"the header names column {name} twice")
            positions[name] = index
        missing = [c.name for c in self.columns if c.required and c.name not in positions]
        if missing:
            found = ", ".join(h.strip() for h in header if h.strip()) or "nothing"
            raise CsvFormatError(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(the header has {found})"
            )
        self.present = list(positions)
        return positions


class _NulFound(ValueError):
    """A NUL character in the text of a CSV file."""


def _without_nul(stream) -> Iterator[str]:
    """The lines of `stream`, raising _NulFound at the first one with a NUL character."""
    for text in stream:
        if "\x00" in text:
            raise _NulFound
        yield text


def open_text(data: bytes | io.BufferedIOBase) -> io.TextIOBase:
    """A text stream over CSV bytes: UTF-8 with an optional BOM, newlines left to csv."""
    binary = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


def read_csv(
    data: bytes | io.BufferedIOBase, columns: list[Column], max_rows: int | None = None
) -> CsvReader:
    """Read CSV bytes (or a binary stream) expecting `columns`; iterate the result for rows.

    With `max_rows`, a file of more data rows is refused (CsvFormatError) as soon as the row
    after the last allowed one is read, so a huge file never builds up in memory.
    """
    return CsvReader(open_text(data), columns, max_rows=max_rows)


def data_rows(chunks: Iterable[bytes]) -> int:
    """The data rows of a CSV file given as byte chunks, counted from its line breaks
    without reading it as CSV: its lines less the header, a last line without a break
    counted. A blank line, or a quoted field holding a line break, counts as one row more;
    it serves where an estimate is enough (whether a file's check is left to a job)."""
    lines, last = 0, b"\n"
    for chunk in chunks:
        if chunk:
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1  # the last line has no line break
    return max(lines - 1, 0)


def check_utf8(data: bytes) -> None:
    """Raise CsvFormatError unless `data` is UTF-8 text (a BOM is fine)."""
    try:
        codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            f"the file is not UTF-8 text (bad byte at offset {exc.start}); "
            "save it as CSV UTF-8 and upload it again"
        ) from None


def safe_cell(value) -> str:
    """A cell value that a spreadsheet shows as text, never runs as a formula; a number
    (Decimal or int) is written as a plain decimal, a negative one too."""
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Line:
    """A file-like sink that hands back what csv.writer wrote for one row."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text = text


def iter_csv(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """Stream CSV text, one row at a time, every cell made safe for spreadsheets."""
    sink = _Line()
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    yield sink.text
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        yield sink.text


def write_csv(header: Iterable[str], rows: Iterable[Iterable]) -> str:
    """The whole CSV text of `rows` under `header`, safe for spreadsheets."""
    return "".join(iter_csv(header, rows))
