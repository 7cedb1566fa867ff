"""The one writer every export uses: CSV today, XLSX later in this module.

A row is a sequence of typed cells, and the type decides how a cell is written:

- ``str`` is text from people (unit names, titles, comments). Text starting with ``=``,
  ``+``, ``-``, ``@``, tab or carriage return would be read as a formula by spreadsheet
  programs (CSV injection), so it gets a single quote in front (OWASP's recommendation).
- ``int`` and ``Decimal`` are numbers the code itself computed; they are written exactly
  (Decimals in plain notation with their scale, never an exponent) and never neutralised,
  so a negative amount stays ``-12.50``.
- ``date`` and ``datetime`` are written in ISO 8601; ``None`` is an empty cell.
- Anything else (floats, booleans, ...) is refused: convert it to one of the above first.

CSV files are UTF-8 with a byte-order mark (so Excel picks the right encoding) and CRLF
line ends and RFC 4180 quoting. ``csv_rows`` is a pure generator (usable by jobs that
write files); ``csv_response`` streams it from a view.

An XLSX writer belongs here too, using ``text_cell`` for text (written as typed strings)
and writing numbers and dates as their own cell types.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"

Cell = str | int | Decimal | date | datetime | None


def text_cell(text: str) -> str:
    """Text that no spreadsheet program reads as a formula (OWASP: prefix a single quote)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Cell) -> str:
    """One typed cell as CSV text; text is neutralised, numbers and dates are exact."""
    if value is None:
        return ""
    if isinstance(value, str):
        return text_cell(value)
    if isinstance(value, bool):  # a bool is an int to Python, never to a reader
        raise TypeError("booleans have no export cell type; write text or a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        return format(value, "f")
    if isinstance(value, date):  # datetime included
        return value.isoformat()
    raise TypeError(f"no export cell type for {type(value).__name__}")


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[bytes]:
    """A CSV file, a row at a time: BOM and header first, then each row as it is read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells) -> bytes:
        writer.writerow([csv_cell(c) for c in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode("utf-8")

    yield BOM.encode("utf-8") + line(header)
    for row in rows:
        yield line(row)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]):
    """A download of `csv_rows`, streamed; `filename` is built by the code, not typed by users."""
    from flask import Response, stream_with_context

    return Response(
        stream_with_context(csv_rows(header, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
