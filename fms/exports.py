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
write files); ``csv_response`` streams it from a view, and ``csv_stream_response`` streams
rows it reads from the database as it goes, through a session of the stream's own.

XLSX (``xlsx_write``, openpyxl's write-only workbook, one row in memory at a time) keeps
the types: text is a string cell (never a formula, whatever it starts with, and ``0012``
stays ``0012``) that also carries the "quote prefix" style, the XLSX form of the leading
quote, so editing the cell in a spreadsheet program keeps it text; ints and Decimals are
numbers with a number format (Decimals keep their scale in the format); dates are date
cells. The text comes back as typed: no visible quote is added, since the cell type
already says "text" (CSV has no types, so there the quote is needed).

``Amount(value, currency)`` is a number shown in its currency: plain in CSV, a number cell
with a currency format (``#,##0.00 "EUR"``, the currency's ISO 4217 digits) in XLSX.

``XlsxBook`` writes formatted workbooks (several sheets, frozen header rows, autofilters,
widths, native charts) with xlsxwriter in its constant-memory mode: each row goes to disk as
it is written. Measured on the same rows with the same number formats, openpyxl's
write-only mode takes about twice xlsxwriter's time (issue 14's figures, bench/xlsx_year.py),
and one file cannot mix the two writers, so the spend workbook is xlsxwriter's whole; the
cells follow the same typing rules as above (text a typed string with the quote prefix).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Amount:
    """A number in a currency: written as the number (CSV) or with a currency format (XLSX)."""

    value: Decimal
    currency: str


Cell = str | int | Decimal | Amount | date | datetime | None


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
    if isinstance(value, Amount):
        value = value.value
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
    """A download of `csv_rows` with rows read already (or made without the database);
    `filename` is built by the code, not typed by users. Rows read from the database while
    the file streams go through `csv_stream_response`."""
    return _streamed(filename, csv_rows(header, rows))


def csv_stream_response(
    filename: str, header: Sequence[str], read_rows: Callable[[Session], Iterable[Sequence[Cell]]]
):
    """A download of `csv_rows` whose rows are read while it streams: `read_rows(session)`
    reads them through a read-only session of the stream's own (the request's organization,
    see `fms.database.streaming_session`), closed when the last row is sent or the client
    goes away. Check permissions and read what the header needs before calling this: once
    the first bytes are out, an error can only cut the file short."""
    from fms.database import streaming_session

    session = streaming_session()  # no connection until the first row is read

    def rows() -> Iterator[bytes]:
        try:
            yield from csv_rows(header, read_rows(session))
        finally:  # GeneratorExit too: the server closes the stream when a client leaves
            session.close()

    return _streamed(filename, rows())


def _streamed(filename: str, chunks: Iterator[bytes]):
    from flask import Response, stream_with_context

    return Response(
        stream_with_context(chunks),
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


# --- formatted workbooks (xlsxwriter, constant memory) ----------------------------------


def currency_format(currency: str, places: int) -> str:
    """An XLSX number format showing an amount with the currency's digits and its code."""
    digits = "0." + "0" * places if places else "0"
    return f'#,##0{digits[1:]} "{currency}"'


class XlsxBook:
    """A workbook of typed cells (the rules above) written by xlsxwriter in constant-memory
    mode: rows are written in order, sheet by sheet, and leave memory once written."""

    def __init__(self, target: BinaryIO | str):
        import xlsxwriter

        self.book = xlsxwriter.Workbook(
            target,
            {
                "constant_memory": True,
                # write_string is used for text, never write(): no formula, number or URL
                # guessing from a string's content
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "default_date_format": DATE_FORMAT,
                "remove_timezone": True,
            },
        )
        self._formats: dict = {}

    def format(self, kind: str, extra: str | None = None, *, bold: bool = False):
        """One shared format per (kind, number format, bold): a workbook holds few."""
        key = (kind, extra, bold)
        found = self._formats.get(key)
        if found is None:
            props: dict = {"bold": True} if bold else {}
            if kind == "text":
                props["quote_prefix"] = True
            elif kind == "number":
                props["num_format"] = extra
            elif kind == "header":
                props.update({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})
            elif kind == "title":
                props.update({"bold": True, "font_size": 14})
            found = self._formats[key] = self.book.add_format(props)
        return found

    def sheet(self, title: str) -> XlsxSheet:
        return XlsxSheet(self, self.book.add_worksheet(title[:31]))

    def close(self) -> None:
        self.book.close()


def finite(value: Decimal) -> float:
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return float(value)


def _amount_places(value: Decimal) -> int:
    return max(0, -value.as_tuple().exponent) if value.is_finite() else 0


class XlsxSheet:
    def __init__(self, book: XlsxBook, sheet):
        self.book, self.sheet = book, sheet
        self._money_formats: dict = {}

    def write(self, row: int, col: int, value: Cell, *, bold: bool = False) -> None:
        """One typed cell: text as a string (never a formula), numbers and dates as such."""
        kind = type(value)  # the common exact types first: a large sheet writes millions
        if kind is str:
            self.sheet.write_string(row, col, value, self._fixed("text", None, bold))
        elif kind is Amount:
            self.sheet.write_number(row, col, finite(value.value), self._money(value, bold))
        elif kind is date:
            self.sheet.write_datetime(row, col, value, self._fixed("number", DATE_FORMAT, bold))
        elif kind is int:
            self.sheet.write_number(row, col, value, self._fixed("number", "#,##0", bold))
        elif value is None:
            if bold:
                self.sheet.write_blank(row, col, None, self.book.format("plain", bold=True))
        elif isinstance(value, bool):
            raise TypeError("booleans have no export cell type; write text or a number")
        elif isinstance(value, str):
            self.sheet.write_string(row, col, str(value), self._fixed("text", None, bold))
        elif isinstance(value, int):
            self.sheet.write_number(row, col, int(value), self._fixed("number", "#,##0", bold))
        elif isinstance(value, Decimal):
            places = _amount_places(value)
            number_format = "#,##0." + "0" * places if places else "#,##0"
            cell_format = self.book.format("number", number_format, bold=bold)
            self.sheet.write_number(row, col, finite(value), cell_format)
        elif isinstance(value, datetime):
            from datetime import UTC

            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            cell_format = self.book.format("number", DATETIME_FORMAT, bold=bold)
            self.sheet.write_datetime(row, col, value, cell_format)
        elif isinstance(value, date):
            self.sheet.write_datetime(row, col, value, self._fixed("number", DATE_FORMAT, bold))
        else:
            raise TypeError(f"no export cell type for {type(value).__name__}")

    def _fixed(self, kind: str, number_format: str | None, bold: bool):
        return self.book.format(kind, number_format, bold=bold)

    def _money(self, value: Amount, bold: bool):
        return self.money_format(value.currency, bold=bold)

    def money_format(self, currency: str, *, bold: bool = False):
        """The cell format of amounts in `currency` (its digits and code)."""
        key = (currency, bold)
        found = self._money_formats.get(key)
        if found is None:
            from fms.money import minor_units

            number_format = currency_format(currency, minor_units(currency))
            found = self._money_formats[key] = self.book.format("number", number_format, bold=bold)
        return found

    def write_row(self, row: int, cells: Sequence[Cell], *, start_col: int = 0, bold=False):
        for col, value in enumerate(cells, start=start_col):
            self.write(row, col, value, bold=bold)

    def header(self, row: int, labels: Sequence[str], *, widths: Sequence[int] = ()) -> None:
        """A table's header row: bold, frozen above the rows, with an autofilter set later
        by `table_done` once the last row is known."""
        for col, label in enumerate(labels):
            self.sheet.write_string(row, col, label, self.book.format("header"))
        for col, width in enumerate(widths):
            self.sheet.set_column(col, col, width)
        self.sheet.freeze_panes(row + 1, 0)

    def table_done(self, header_row: int, last_row: int, columns: int) -> None:
        self.sheet.autofilter(header_row, 0, max(header_row, last_row), columns - 1)
