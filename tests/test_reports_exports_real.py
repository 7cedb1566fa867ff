"""The spend exports end to end (issue 14: "the same figures as the screen"): the workbook's
Summary and the PDF are written from the real spend report of real approved and invoiced
work, and agree with the invoice to the cent. Figures are worked out by hand in
`tests.test_reports_spend.november`; nothing here is read from the code under test."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from openpyxl import load_workbook
from pypdf import PdfReader

from fms.reports import exports
from tests.factories import as_org
from tests.factories_invoicing import AFTER_DECEMBER  # noqa: F401 - the fixture below uses it
from tests.test_reports_spend import NOV, november  # noqa: F401 - the hand-made figures

NOW = datetime(2027, 1, 4, 8, 0)


def _export(bill, fmt):
    target = io.BytesIO()
    with as_org(bill.session, bill.org.id):
        exports.build_export(
            bill.session,
            actor=bill.finance,
            query=NOV,
            fmt=fmt,
            target=target,
            today=date(2027, 1, 4),
            now=NOW,
        )
    return target.getvalue()


def test_the_workbook_summary_is_the_spend_of_the_invoice_and_the_approved_work(bill, november):  # noqa: F811 - the imported fixture
    book = load_workbook(io.BytesIO(_export(bill, "xlsx")))
    summary = book["Summary"]
    header = [cell.value for cell in summary[1]]
    assert header[:5] == ["Period", "Currency", "Approved", "Invoiced", "Minutes"]
    # the table's rows (the chart's data below it starts with periods too)
    rows = {
        row[0]: row[1:5]
        for row in summary.iter_rows(min_row=2, max_col=5, values_only=True)
        if row[1] == "EUR"
    }
    # November: closed and issued, 2,636.38 net on the invoice; December: approved 380.00
    assert november.net_total == Decimal("2636.38")
    assert rows["2026-11"] == ("EUR", 2636.38, 2636.38, 997)
    assert rows["2026-12"] == ("EUR", 380, 0, 240)
    assert rows["Total"][1:] == (3016.38, 2636.38, 1237)


def test_the_pdf_report_prints_the_same_figures(bill, november):  # noqa: F811 - the imported fixture
    text = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(_export(bill, "pdf"))).pages
    )
    for figure in ("€2,636.38", "€380.00", "€3,016.38", "1,237", "2027-01-04 08:00"):
        assert figure in text, figure
