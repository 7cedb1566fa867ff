"""The one writer every export uses: CSV and XLSX.

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

XLSX (``xlsx_write``, openpyxl's write-only workbook, one row in memory at a time) keeps
the types: text is a string cell (never a formula, whatever it starts with, and ``0012``
stays ``0012``) that also carries the "quote prefix" style, the XLSX form of the leading
quote, so editing the cell in a spreadsheet program keeps it text; ints and Decimals are
numbers with a number format (Decimals keep their scale in the format); dates are date
cells. The text comes back as typed: no visible quote is added, since the cell type
already says "text" (CSV has no types, so there the quote is needed).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO

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


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def _number_format(value: int | Decimal) -> str:
    if isinstance(value, int):
        return "0"
    places = max(0, -value.as_tuple().exponent) if value.is_finite() else 0
    return "0." + "0" * places if places else "0"


def xlsx_cell(sheet, value: Cell):
    """One typed cell for a write-only sheet (see the module docstring)."""
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("booleans have no export cell type; write text or a number")
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=None)
        cell._value = value
        cell.data_type = "s"  # a string, even "=1+1": never a formula
        cell.quotePrefix = True
        return cell
    if isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = _number_format(value)
        return cell
    if isinstance(value, datetime):
        from datetime import UTC

        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATETIME_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    raise TypeError(f"no export cell type for {type(value).__name__}")


def xlsx_write(
    target: BinaryIO | str,
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str = "Export",
) -> int:
    """Write an XLSX file of `header` and `rows` to `target`; returns the number of rows."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append([xlsx_cell(sheet, h) for h in header])
    written = 0
    for row in rows:
        sheet.append([xlsx_cell(sheet, c) for c in row])
        written += 1
    book.save(target)
    return written


def xlsx_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]):
    """A download of `xlsx_write`: the workbook is written to a spooled temporary file
    (a zip file is only complete at its end), then streamed from there."""
    import tempfile

    from flask import Response

    # closed by chunks() once sent
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    xlsx_write(spool, header, rows)
    spool.seek(0)

    def chunks():
        try:
            while chunk := spool.read(64 * 1024):
                yield chunk
        finally:
            spool.close()

    return Response(
        chunks(),
        mimetype=XLSX_MIMETYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
