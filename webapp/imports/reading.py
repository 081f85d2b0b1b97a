"""Streaming a canonical CSV file as tuples, the fast way for files of a million rows.

Header matching, encodings and error messages are those of `webapp.csvio`; only the
per-row work differs: values come back as a tuple in the order of the expected columns.
"""

import csv
from collections.abc import Iterator
from operator import itemgetter

from webapp.csvio import CsvFormatError, CsvReader, open_text


class TupleReader(CsvReader):
    """Iterates (line number, (stripped values in column order)); blank lines skipped."""

    def __iter__(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        reader = csv.reader(self.stream)
        strip = str.strip
        try:
            header = next(reader, None)
            if header is None:
                raise CsvFormatError("the file is empty: expected a header row")
            positions = self._match_header(header)
            indexes = [positions[column.name] for column in self.columns]
            width = max(indexes) + 1
            pick = itemgetter(*indexes)
            for row in reader:
                if len(row) < width:
                    if not any(map(strip, row)):
                        continue
                    row = row + [""] * (width - len(row))
                values = tuple(map(strip, pick(row)))
                if not any(values) and not any(map(strip, row)):
                    continue
                yield reader.line_num, values
        except UnicodeDecodeError:
            raise CsvFormatError(
                f"the file is not UTF-8 text (near line {reader.line_num + 1}); "
                "save it as CSV UTF-8 and upload it again"
            ) from None
        except csv.Error as exc:
            raise CsvFormatError(f"line {reader.line_num}: not valid CSV ({exc})") from None


def read_rows(binary, columns) -> TupleReader:
    """Read CSV bytes from a binary stream expecting `columns` (all of them required)."""
    return TupleReader(open_text(binary), list(columns))
