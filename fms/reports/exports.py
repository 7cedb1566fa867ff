"""Spend exports: the XLSX workbook, the CSV and the PDF spend report, the same figures as
the spend dashboard (`fms.reports.spend`).

One builder serves the page, the background job and `flask fms reports export`, so the file
a person downloads and the file the CLI writes hold the same cells. The renderers are pure:
`write_spend_workbook(target, report=..., detail=..., headcount=..., cover=...)` takes the
figures as values (a `SpendReport`, Detail rows, headcount points); `build_export` gathers
them from the database.

The workbook (xlsxwriter, constant memory; see `fms.exports.XlsxBook` for why):
- Cover: the organization, the filters and the generation time.
- Summary: the spend report's rows (period x the chosen dimensions x currency; approved and
  invoiced spend, minutes, FTE, average rate) with the totals per currency, and a native
  column chart of approved and invoiced spend per period.
- Detail: one row per approved item (`fms.reports.detail`), streamed.
- Headcount: Workforce's figures at each month's end in the range.
Every table has a frozen header row and an autofilter; amounts are numbers in their
currency's format, dates are dates, text is never a formula.
"""

from __future__ import annotations

import calendar
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO

from sqlalchemy.orm import Session

from fms.exports import DATE_FORMAT, FORMULA_STARTS, Amount, XlsxBook, csv_rows, finite
from fms.identity.permissions import require
from fms.reports import detail as details
from fms.reports import spend

FORMATS = ("xlsx", "csv", "pdf")
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "pdf": "application/pdf",
}
DIMENSION_LABELS = {
    "cost_centre": "Cost centre",
    "department": "Department",
    "location": "Location",
    "country": "Country",
    "supplier": "Supplier",
    "skill": "Skill",
    "hiring_manager": "Hiring manager",
    "engagement": "Engagement",
    "bill_to_entity": "Bill-to entity",
}
SUMMARY_MEASURES = ("Currency", "Approved", "Invoiced", "Minutes", "FTE", "Average rate")
DETAIL_WIDTHS = (11, 11, 11, 26, 32, 20, 22, 9, 16, 10, 16)
HEADCOUNT_HEADER = ("Month end", "People", "Engagements", "FTE")
# above this many Detail rows an export is written by a background job (FMS_REPORT_INLINE_ROWS)
INLINE_ROWS = 20_000


@dataclass(frozen=True)
class HeadcountPoint:
    on: date
    people: int
    engagements: int
    fte: Decimal


@dataclass(frozen=True)
class Cover:
    organization: str
    generated_at: datetime
    query: spend.SpendQuery

    def lines(self) -> list[tuple[str, object]]:
        q = self.query
        return [
            ("Organization", self.organization),
            ("From", q.start),
            ("To", q.end),
            ("Periods", q.grain),
            ("Dimensions", ", ".join(DIMENSION_LABELS.get(d, d) for d in q.group_by) or "None"),
            ("Currency", "Base currency" if q.currency == "base" else "Original currencies"),
            ("Generated at (UTC)", self.generated_at),
        ]


def export_filename(query: spend.SpendQuery, fmt: str) -> str:
    return f"spend-{query.start.isoformat()}-{query.end.isoformat()}.{fmt}"


def month_ends_between(start: date, end: date) -> list[date]:
    """Each month's last day within [start, end], and `end` itself for a month it cuts."""
    points, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        last = date(year, month, calendar.monthrange(year, month)[1])
        points.append(min(last, end))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return [p for p in points if p >= start]


def summary_header(query: spend.SpendQuery) -> list[str]:
    return ["Period", *(DIMENSION_LABELS.get(d, d) for d in query.group_by), *SUMMARY_MEASURES]


def summary_cells(row: spend.SpendRow, label: str | None = None, width: int | None = None):
    """A Summary row's cells; a totals row (`label`) leaves its `width` key cells empty."""
    keys = row.keys if label is None else (None,) * (width or 0)
    return [
        label if label is not None else row.period,
        *keys,
        row.currency,
        Amount(row.approved, row.currency),
        Amount(row.invoiced, row.currency),
        row.minutes,
        row.fte,
        Amount(row.average_rate, row.currency) if row.average_rate is not None else None,
    ]


def by_period(report: spend.SpendReport) -> tuple[str, list[tuple[str, Decimal, Decimal]]]:
    """Approved and invoiced spend per period in the report's first currency (the base
    currency unless it has none): the chart's data."""
    currencies = [r.currency for r in report.rows]
    currency = (
        report.base_currency
        if report.base_currency in currencies or not currencies
        else (currencies[0])
    )
    periods: dict[str, list] = {}
    for row in sorted(report.rows, key=lambda r: r.period_start):
        if row.currency != currency:
            continue
        slot = periods.setdefault(row.period, [Decimal(0), Decimal(0)])
        slot[0] += row.approved
        slot[1] += row.invoiced
    return currency, [(period, a, i) for period, (a, i) in periods.items()]


def write_spend_workbook(
    target: BinaryIO | str,
    *,
    report: spend.SpendReport,
    detail: Iterable[details.DetailRow],
    headcount: Sequence[HeadcountPoint],
    cover: Cover,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the spend workbook; returns the number of Detail rows. Pure: no database."""
    book = XlsxBook(target)
    # Cover
    sheet = book.sheet("Cover")
    sheet.sheet.set_column(0, 0, 34)
    sheet.sheet.set_column(1, 1, 40)
    sheet.sheet.write_string(0, 0, "Spend report", book.format("title"))
    for n, (label, value) in enumerate(cover.lines(), start=2):
        sheet.write(n, 0, label, bold=True)
        sheet.write(n, 1, value)

    # Summary: the report's rows, the totals per currency, then the chart's data and chart
    summary = book.sheet("Summary")
    header = summary_header(report.query)
    widths = [12] + [24] * len(report.query.group_by) + [9, 16, 16, 10, 9, 14]
    summary.header(0, header, widths=widths)
    n = 0
    for n, row in enumerate(report.rows, start=1):
        summary.write_row(n, summary_cells(row))
    summary.table_done(0, n, len(header))
    n += 2
    for total in report.totals.values():
        cells = summary_cells(total, label="Total", width=len(report.query.group_by))
        summary.write_row(n, cells, bold=True)
        n += 1
    currency, periods = by_period(report)
    n += 1
    summary.write_row(n, [f"By period ({currency})", "Approved", "Invoiced"], bold=True)
    first = n + 1
    for n, (period, approved, invoiced) in enumerate(periods, start=first):
        summary.write_row(n, [period, Amount(approved, currency), Amount(invoiced, currency)])
    if periods:
        chart = book.book.add_chart({"type": "column"})
        for col, name in ((1, "Approved"), (2, "Invoiced")):
            chart.add_series(
                {
                    "name": name,
                    "categories": ["Summary", first, 0, n, 0],
                    "values": ["Summary", first, col, n, col],
                }
            )
        chart.set_title({"name": f"Spend per period ({currency})"})
        chart.set_y_axis({"num_format": "#,##0"})
        chart.set_size({"width": 640, "height": 320})
        summary.sheet.insert_chart(n + 2, 0, chart)

    # Detail, streamed
    sheet = book.sheet("Detail")
    sheet.header(0, details.HEADER, widths=DETAIL_WIDTHS)
    written = _write_detail(book, sheet, detail, progress)
    sheet.table_done(0, written, len(details.HEADER))

    # Headcount
    sheet = book.sheet("Headcount")
    sheet.header(0, HEADCOUNT_HEADER, widths=(12, 10, 13, 10))
    n = 0
    for n, point in enumerate(headcount, start=1):
        sheet.write_row(n, [point.on, point.people, point.engagements, point.fte])
    sheet.table_done(0, n, len(HEADCOUNT_HEADER))
    book.close()
    return written


def _write_detail(book: XlsxBook, sheet, detail: Iterable[details.DetailRow], progress) -> int:
    """The Detail rows, read (the database, the pricing) on this thread and written by a
    second one: while one waits on the database or the disk, the other works. Returns the
    number of rows."""
    batches: queue.Queue = queue.Queue(maxsize=8)
    failed: list[BaseException] = []

    def write_batches() -> None:
        try:
            _write_rows(book, sheet, _from_batches(batches))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            failed.append(exc)
            while batches.get() is not None:  # let the reader finish without blocking
                pass

    writer = threading.Thread(target=write_batches, name="spend-detail-writer", daemon=True)
    writer.start()
    count, batch = 0, []
    try:
        for row in detail:
            batch.append(row)
            count += 1
            if len(batch) == _BATCH:
                if failed:  # the writer stopped: its error is raised below
                    break
                batches.put(batch)
                batch = []
                if progress and count % 5000 == 0:
                    progress(count)
        batches.put(batch)
    finally:
        batches.put(None)
        writer.join()
    if failed:
        raise failed[0]
    return count


_BATCH = 1000


def _from_batches(batches: queue.Queue):
    while (batch := batches.get()) is not None:
        yield from batch


def _write_rows(book: XlsxBook, sheet, rows) -> int:
    written = 0
    # the Detail's cells have fixed types: written straight, the cell rules of
    # XlsxSheet.write applied column by column (text a typed string, never a formula)
    put_text, put_number, put_date = (
        sheet.sheet.write_string,
        sheet.sheet.write_number,
        sheet.sheet.write_datetime,
    )
    # the quote prefix keeps text text even when someone edits the cell: only text that
    # could be read as a formula needs it, and on every cell it costs 15 % of the write
    quoted = book.format("text")
    day = book.format("number", DATE_FORMAT)
    count = book.format("number", "#,##0")
    money_format = {}  # per currency: the format of its amounts, as XlsxSheet.write uses
    for written, row in enumerate(rows, start=1):
        n = written
        currency = row.currency
        amount_format = money_format.get(currency)
        if amount_format is None:
            amount_format = money_format[currency] = sheet.money_format(currency)
        put_text(n, 0, row.item)
        put_date(n, 1, row.start, day)
        put_date(n, 2, row.end, day)
        for col, value in ((3, row.freelancer), (4, row.engagement), (5, row.cost_centre)):
            put_text(n, col, value, quoted if value.startswith(FORMULA_STARTS) else None)
        value = row.supplier
        put_text(n, 6, value, quoted if value.startswith(FORMULA_STARTS) else None)
        put_text(n, 7, currency)
        put_number(n, 8, finite(row.amount), amount_format)
        put_number(n, 9, row.minutes, count)
        if (value := row.invoice) is not None:
            put_text(n, 10, value, quoted if value.startswith(FORMULA_STARTS) else None)
    return written


def detail_csv(rows: Iterable[details.DetailRow]):
    """The Detail rows as CSV, a row at a time (constant memory)."""
    return csv_rows(details.HEADER, (row.cells() for row in rows))


def bar_chart_svg(
    series: Sequence[tuple[str, Decimal, Decimal]], *, width: int = 640, height: int = 240
) -> str:
    """A small grouped bar chart (approved, invoiced per period) as inline SVG text; labels
    are escaped. Used by the PDF (WeasyPrint draws inline SVG)."""
    from markupsafe import escape

    top = max([max(a, i) for _, a, i in series] or [Decimal(0)]) or Decimal(1)
    left, bottom, plot_h = 60, 28, height - 48
    slot = (width - left - 10) / max(len(series), 1)
    bar = max(2.0, slot * 0.35)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Spend per period">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
        'stroke="#555"/>',
        f'<text x="{left - 6}" y="{height - bottom - plot_h + 4}" font-size="9" '
        f'text-anchor="end">{escape(format(top, ",.0f"))}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" font-size="9" text-anchor="end">0</text>',
    ]
    for n, (label, approved, invoiced) in enumerate(series):
        x = left + n * slot + slot * 0.1
        for k, (value, colour) in enumerate(((approved, "#2f6db5"), (invoiced, "#9cc3e6"))):
            h = float(value / top) * plot_h if value > 0 else 0.0
            y = height - bottom - h
            parts.append(
                f'<rect x="{x + k * bar:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{height - bottom + 12}" font-size="8" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<rect x="{left}" y="4" width="8" height="8" fill="#2f6db5"/>'
        f'<text x="{left + 12}" y="12" font-size="9">Approved</text>'
        f'<rect x="{left + 80}" y="4" width="8" height="8" fill="#9cc3e6"/>'
        f'<text x="{left + 92}" y="12" font-size="9">Invoiced</text></svg>'
    )
    return "".join(parts)


def render_spend_pdf(*, report: spend.SpendReport, cover: Cover) -> bytes:
    """The PDF spend report: the filters, a chart per period and the summary table."""
    from flask import render_template
    from markupsafe import Markup

    from fms.pdf import render_pdf

    currency, periods = by_period(report)
    html = render_template(
        "reports/pdf/spend.html",
        report=report,
        cover=cover,
        header=summary_header(report.query),
        chart=Markup(bar_chart_svg(periods)),  # noqa: S704 - built from escaped parts above
        chart_currency=currency,
    )
    return render_pdf(html)


# --- gathering the figures ---------------------------------------------------------------


def headcount_points(session: Session, *, org_id: int, start: date, end: date, today: date):
    """Workforce's headcount at each month's end in the range (not after today)."""
    from fms.workforce import queries as workforce

    points = []
    for on in month_ends_between(start, min(end, today)):
        figures = workforce.headcount(session, org_id=org_id, on=on).total
        points.append(HeadcountPoint(on, figures.people, figures.engagements, figures.fte))
    return points


def build_cover(session: Session, *, actor, query: spend.SpendQuery, now: datetime) -> Cover:
    from fms.identity.models import Organization

    org = session.get(Organization, actor.org_id)
    return Cover(organization=org.name if org else "", generated_at=now, query=query)


def build_export(
    session: Session,
    *,
    actor,
    query: spend.SpendQuery,
    fmt: str,
    target: BinaryIO,
    today: date,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export of `query` in `fmt` to `target` (the page, the job and the CLI all
    call this); returns the number of Detail rows written (0 for a PDF)."""
    require(actor, "reports.spend")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if fmt == "csv":
        rows = details.detail_rows(session, actor=actor, start=query.start, end=query.end)
        lines = -1  # the first chunk is the header
        for chunk in detail_csv(rows):
            target.write(chunk)
            lines += 1
        return lines
    report = spend.spend_report(session, actor=actor, query=query)
    cover = build_cover(session, actor=actor, query=query, now=now)
    if fmt == "pdf":
        target.write(render_spend_pdf(report=report, cover=cover))
        return 0
    total = details.detail_count(session, actor=actor, start=query.start, end=query.end)
    return write_spend_workbook(
        target,
        report=report,
        detail=details.detail_rows(session, actor=actor, start=query.start, end=query.end),
        headcount=headcount_points(
            session, org_id=actor.org_id, start=query.start, end=query.end, today=today
        ),
        cover=cover,
        progress=(lambda done: progress(min(99, done * 100 // max(total, 1))))
        if progress
        else None,
    )
