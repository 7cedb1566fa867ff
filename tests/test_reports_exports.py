"""Spend exports (issue 14): the workbook read back with openpyxl, the streamed CSV, the PDF,
the job above the size threshold, and `flask fms reports export`.

The spend figures themselves are rep1's (`fms.reports.spend`); here a `SpendReport` is built
by hand and `spend_report` answers it, so the tests check what the exports do with it. The
Detail and Headcount figures come from the database and are computed by hand below.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from fms.reports import detail, exports, spend
from fms.reports.exports import Cover, HeadcountPoint

NOV = (date(2026, 11, 1), date(2026, 11, 30))
NOW = datetime(2026, 12, 3, 7, 30)
EUR = '#,##0.00 "EUR"'


def _row(period, start, keys, approved, invoiced, minutes, currency="EUR"):
    return spend.SpendRow(
        period=period,
        period_start=start,
        keys=keys,
        currency=currency,
        approved=Decimal(approved),
        invoiced=Decimal(invoiced),
        minutes=minutes,
        fte=Decimal("0.50"),
        average_rate=Decimal("90.00"),
    )


def _report(query=None):
    query = query or spend.SpendQuery(start=date(2026, 10, 1), end=NOV[1], group_by=("supplier",))
    rows = [
        _row("2026-10", date(2026, 10, 1), ("Direct",), "720.00", "720.00", 480),
        _row("2026-11", date(2026, 11, 1), ("Direct",), "2665.50", "1620.00", 1080),
        _row("2026-11", date(2026, 11, 1), ("=cmd|' /C calc'!A0",), "10.00", "0.00", 0),
    ]
    total = spend.SpendRow(
        "Total",
        query.start,
        (),
        "EUR",
        Decimal("3395.50"),
        Decimal("2340.00"),
        1560,
        Decimal("0.50"),
        Decimal("90.00"),
    )
    return spend.SpendReport(query=query, base_currency="EUR", rows=rows, totals={"EUR": total})


@pytest.fixture
def fake_spend(monkeypatch):
    """rep1's spend_report and parse_spend_query, answering the hand-built report."""

    def parse(args, *, today):
        return spend.SpendQuery(
            start=date.fromisoformat(args.get("from") or "2026-11-01"),
            end=date.fromisoformat(args.get("to") or "2026-11-30"),
            grain=args.get("grain") or "month",
            group_by=tuple(g for g in (args.get("group_by") or "").split(",") if g),
            currency=args.get("currency") or "base",
        )

    def report(session, *, actor, query):
        assert actor.can("reports.spend")
        return _report(query)

    monkeypatch.setattr(spend, "parse_spend_query", parse)
    monkeypatch.setattr(spend, "spend_report", report)


@pytest.fixture
def november(session, bill):
    """Approved November work, closed: a two-day week (480 + 600 min at 90/h), a milestone
    of 1,000.00, an expense of 45.50, and a week straddling the month's end (30 Nov billed
    with November, 1 Dec not yet)."""
    world = bill.world
    world.freelancer.display_name = '=HYPERLINK("http://evil","x")'
    bill.approved_week(date(2026, 11, 2), (480, 600))
    bill.milestone("1000.00", date(2026, 11, 20))
    bill.expense("45.50", date(2026, 11, 10))
    bill.approved_week(date(2026, 11, 30), (480, 240))
    [invoice] = bill.close().invoices
    session.flush()
    return bill, invoice


def _actor(bill):
    return bill.finance


# --- the Detail rows ----------------------------------------------------------------------


def test_detail_has_one_row_per_approved_item_split_where_the_invoice_splits(session, november):
    bill, invoice = november
    rows = list(
        detail.detail_rows(
            session, actor=_actor(bill), start=date(2026, 11, 1), end=date(2026, 12, 31)
        )
    )
    by_kind = [(r.item, r.start, r.end, r.amount, r.minutes, r.invoice) for r in rows]
    assert by_kind == [
        # 1,080 min x 90 / 60 = 1,620.00
        ("Time", date(2026, 11, 2), date(2026, 11, 3), Decimal("1620.000000"), 1080, "draft"),
        ("Time", date(2026, 11, 30), date(2026, 11, 30), Decimal("720.000000"), 480, "draft"),
        ("Time", date(2026, 12, 1), date(2026, 12, 1), Decimal("360.000000"), 240, None),
        ("Milestone", date(2026, 11, 20), date(2026, 11, 20), Decimal("1000.000000"), 0, "draft"),
        ("Expense", date(2026, 11, 10), date(2026, 11, 10), Decimal("45.500000"), 0, "draft"),
    ]
    assert {r.currency for r in rows} == {"EUR"}
    assert {r.engagement for r in rows} == {bill.world.engagement.title}
    # the close billed exactly the November rows: their sum is the invoice's net
    november_rows = sum(r.amount for r in rows if r.invoice)
    assert november_rows == Decimal("3385.50") == invoice.net_total
    assert detail.detail_count(session, actor=_actor(bill), start=NOV[0], end=NOV[1]) == 4


def test_weeks_with_overtime_or_a_rate_change_are_priced_day_by_day(session, bill, add_terms):
    """A week that does not price as its sum (overtime beyond the standard day, new terms
    from a Wednesday) gets one row per kind and rate, as the close prices its days."""
    world = bill.world
    add_terms(world.engagement, date(2026, 11, 11), rate=Decimal("100"))
    bill.approved_week(date(2026, 11, 9), (480, 480, 480))
    overtime = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
    )
    world.set_terms(engagement=overtime, overtime_rate=Decimal("120"))
    bill.approved_week(date(2026, 11, 16), (600, 300), engagement=overtime)
    rows = detail.detail_rows(session, actor=bill.finance, start=NOV[0], end=NOV[1])
    assert sorted((r.item, r.start, r.end, r.amount, r.minutes) for r in rows) == [
        # 120 minutes beyond the 8-hour Monday at 120/h; the rest at 90/h
        ("Overtime", date(2026, 11, 16), date(2026, 11, 16), Decimal("240.000000"), 120),
        # Monday and Tuesday at 90/h, Wednesday at the new 100/h
        ("Time", date(2026, 11, 9), date(2026, 11, 10), Decimal("1440.000000"), 960),
        ("Time", date(2026, 11, 11), date(2026, 11, 11), Decimal("800.000000"), 480),
        ("Time", date(2026, 11, 16), date(2026, 11, 17), Decimal("1170.000000"), 780),
    ]


def test_rounded_and_overtime_weeks_price_in_one_step(session, bill, monkeypatch):
    """Rounded up to 15 minutes a day at 90/h: Nov 2-3 of 7 and 481 minutes bill 15 + 495 =
    510 minutes = 765.00. Another engagement rounds to the nearest 6 minutes, with 120/h
    beyond 8 hours: Nov 9 of 533 min -> 534 = 480 time + 54 overtime, Nov 10 of 100 -> 102:
    time 582 min x 90/60 = 873.00, overtime 54 min x 120/60 = 108.00. The statement rounds
    and splits each day, so no day is priced one by one."""
    from fms.timesheets import pricing
    from fms.timesheets import services as ts

    world = bill.world
    ts.set_time_rounding(
        session, actor=world.procurement, engagement_id=world.engagement.id, mode="up_15"
    )
    bill.approved_week(date(2026, 11, 2), (7, 481))
    other = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
    )
    world.set_terms(engagement=other, overtime_rate=Decimal("120"))
    ts.set_time_rounding(session, actor=world.procurement, engagement_id=other.id, mode="nearest_6")
    bill.approved_week(date(2026, 11, 9), (533, 100), engagement=other)

    def day_by_day(*_args, **_kwargs):
        raise AssertionError("a day priced one by one")

    monkeypatch.setattr(pricing.PricingContext, "entry_items", day_by_day)
    rows = detail.detail_rows(session, actor=bill.finance, start=NOV[0], end=NOV[1])
    assert [(r.item, r.start, r.end, r.amount, r.minutes) for r in rows] == [
        ("Time", date(2026, 11, 2), date(2026, 11, 3), Decimal("765.000000"), 510),
        ("Time", date(2026, 11, 9), date(2026, 11, 10), Decimal("873.000000"), 582),
        ("Overtime", date(2026, 11, 9), date(2026, 11, 9), Decimal("108.000000"), 54),
    ]


def test_another_organizations_items_never_reach_the_detail(
    session, november, make_org, make_member, actor_of
):
    """The Detail's grouped statement runs on the connection (no session filter): it names
    the organization itself. Another organization's finance user gets no rows of ours."""
    from tests.factories import as_org

    other_org = make_org()
    stranger = actor_of(make_member(other_org, roles=("finance",)))
    with as_org(session, other_org.id):
        assert list(detail.detail_rows(session, actor=stranger, start=NOV[0], end=NOV[1])) == []


def test_detail_needs_the_spend_permission(session, november):
    from fms.errors import NotAllowed

    with pytest.raises(NotAllowed):
        list(detail.detail_rows(session, actor=november[0].world.me, start=NOV[0], end=NOV[1]))


# --- the workbook -------------------------------------------------------------------------


def _workbook(session, bill, tmp_path):
    from fms.workforce import queries as workforce

    query = spend.SpendQuery(start=date(2026, 10, 1), end=NOV[1], group_by=("supplier",))
    points = [
        HeadcountPoint(on, h.people, h.engagements, h.fte)
        for on in (date(2026, 10, 31), date(2026, 11, 30))
        for h in [workforce.headcount(session, org_id=bill.org.id, on=on).total]
    ]
    path = tmp_path / "spend.xlsx"
    written = exports.write_spend_workbook(
        str(path),
        report=_report(query),
        detail=detail.detail_rows(session, actor=_actor(bill), start=query.start, end=query.end),
        headcount=points,
        cover=Cover("Acme & Co", NOW, query),
    )
    return path, written


def test_workbook_holds_numbers_dates_formats_frozen_headers_filters_and_a_chart(
    session, november, tmp_path
):
    bill, _ = november
    path, written = _workbook(session, bill, tmp_path)
    assert written == 4
    book = load_workbook(path)
    assert book.sheetnames == ["Cover", "Summary", "Detail", "Headcount"]

    cover = book["Cover"]
    labels = {cover.cell(r, 1).value: cover.cell(r, 2).value for r in range(3, 10)}
    assert labels["Organization"] == "Acme & Co"
    assert labels["From"] == datetime(2026, 10, 1) and labels["To"] == datetime(2026, 11, 30)
    assert labels["Dimensions"] == "Supplier"
    assert labels["Generated at (UTC)"] == NOW

    summary = book["Summary"]
    assert [c.value for c in summary[1]] == [
        "Period",
        "Supplier",
        "Currency",
        "Approved",
        "Invoiced",
        "Minutes",
        "FTE",
        "Average rate",
    ]
    assert summary.freeze_panes == "A2" and summary.auto_filter.ref == "A1:H4"
    approved = summary["D3"]
    assert approved.value == 2665.5 and approved.data_type == "n" and approved.number_format == EUR
    assert summary["F3"].value == 1080 and summary["F3"].data_type == "n"
    # the totals row, bold, under the table
    assert summary["A6"].value == "Total" and summary["D6"].value == 3395.5
    assert summary["D6"].font.b and summary["D6"].number_format == EUR
    # the chart's data: approved and invoiced per period, and the chart itself
    assert [summary.cell(r, 1).value for r in (9, 10)] == ["2026-10", "2026-11"]
    assert [summary.cell(r, 2).value for r in (9, 10)] == [720, 2675.5]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert "xl/charts/chart1.xml" in names
        chart = archive.read("xl/charts/chart1.xml").decode()
        assert "<c:barChart>" in chart and "Summary!$B$9:$B$10" in chart
        rels = archive.read("xl/worksheets/_rels/sheet2.xml.rels").decode()
        assert "drawing" in rels

    sheet = book["Detail"]
    assert [c.value for c in sheet[1]] == list(detail.HEADER)
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:K5"
    assert [sheet.cell(2, c).value for c in (1, 2, 3)] == [
        "Time",
        datetime(2026, 11, 2),
        datetime(2026, 11, 3),
    ]
    amounts = [sheet.cell(r, 9) for r in range(2, 6)]
    assert all(c.data_type == "n" and c.number_format == EUR for c in amounts)
    assert sorted(c.value for c in amounts) == [45.5, 720, 1000, 1620]
    assert all(sheet.cell(r, 2).number_format == "yyyy-mm-dd" for r in range(2, 6))
    assert sheet.column_dimensions["D"].width > 20

    headcount = book["Headcount"]
    assert [c.value for c in headcount[1]] == ["Month end", "People", "Engagements", "FTE"]
    assert headcount.freeze_panes == "A2" and headcount.auto_filter.ref == "A1:D3"
    # the world's one active engagement of 40 h a week: one person, one FTE
    assert [[c.value for c in row] for row in headcount.iter_rows(min_row=2)] == [
        [datetime(2026, 10, 31), 1, 1, 1],
        [datetime(2026, 11, 30), 1, 1, 1],
    ]


def test_a_row_the_writer_refuses_fails_the_export_and_a_failed_read_too(tmp_path):
    """The Detail is written on a second thread: what fails there (an amount that is not a
    number) fails the export, and what fails while reading the rows stops the writer; both
    come back as the error, neither hangs."""
    query = spend.SpendQuery(start=NOV[0], end=NOV[1])

    def good(n):
        return detail.DetailRow(
            "Time", NOV[0], NOV[0], "Ada", "Build", "CC", "Direct", "EUR", Decimal("1"), 60, None
        )

    def rows(bad_at, failure=None):
        for n in range(3000):
            if n == bad_at:
                if failure:
                    raise failure
                yield dataclasses.replace(good(n), amount=Decimal("NaN"))
            else:
                yield good(n)

    def write(detail_rows):
        return exports.write_spend_workbook(
            str(tmp_path / "spend.xlsx"),
            report=_report(query),
            detail=detail_rows,
            headcount=[],
            cover=Cover("Acme & Co", NOW, query),
        )

    with pytest.raises(ValueError, match="not a finite amount"):
        write(rows(1500))
    with pytest.raises(LookupError, match="gone"):
        write(rows(2500, LookupError("gone")))
    assert write(rows(-1)) == 3000


def test_formula_text_is_neutralised_in_the_workbook_and_the_csv(session, november, tmp_path):
    bill, _ = november
    path, _ = _workbook(session, bill, tmp_path)
    book = load_workbook(path)
    evil = book["Detail"]["D2"]
    assert evil.value == '=HYPERLINK("http://evil","x")'
    assert evil.data_type == "s" and evil.quotePrefix  # text, never a formula
    with zipfile.ZipFile(path) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet3.xml").decode()
        assert "<f>" not in archive.read("xl/worksheets/sheet2.xml").decode()
    assert book["Summary"]["B4"].data_type == "s"
    rows = detail.detail_rows(session, actor=_actor(bill), start=NOV[0], end=NOV[1])
    text = b"".join(exports.detail_csv(rows)).decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(detail.HEADER)
    assert parsed[1][3] == "'" + '=HYPERLINK("http://evil","x")'
    assert parsed[1][8] == "1620.000000"  # a number, not neutralised


# --- pages, jobs, CLI -----------------------------------------------------------------------


def _user(session, actor):
    from fms.identity.models import User

    return session.get(User, actor.user_id)


def test_the_page_answers_small_exports_at_once_and_streams_the_csv(
    client, sign_in, november, fake_spend
):
    bill, _ = november
    sign_in(client, _user(bill.session, bill.finance))
    page = client.get("/reports/exports?from=2026-11-01&to=2026-11-30")
    assert page.status_code == 200 and b"Download XLSX" in page.data
    answer = client.get("/reports/exports/spend.csv?from=2026-11-01&to=2026-11-30")
    assert answer.status_code == 200 and answer.is_streamed
    assert (
        answer.headers["Content-Disposition"]
        == 'attachment; filename="spend-2026-11-01-2026-11-30.csv"'
    )
    assert answer.data.decode("utf-8-sig").count("\r\n") == 5  # header + 4 items
    book = client.get("/reports/exports/spend.xlsx?from=2026-11-01&to=2026-11-30&group_by=supplier")
    assert book.status_code == 200 and book.data[:2] == b"PK"
    assert load_workbook(io.BytesIO(book.data))["Summary"]["D3"].value == 2665.5
    pdf = client.get("/reports/exports/spend.pdf?from=2026-11-01&to=2026-11-30")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"
    assert client.get("/reports/exports/spend.docx").status_code in (404, 422)


def test_the_pdf_shows_the_figures_and_a_chart(app, session, november, fake_spend):
    from pypdf import PdfReader

    bill, _ = november
    query = spend.SpendQuery(start=date(2026, 10, 1), end=NOV[1], group_by=("supplier",))
    with app.test_request_context():
        data = exports.render_spend_pdf(report=_report(query), cover=Cover("Acme", NOW, query))
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Spend report" in text and "€2,665.50" in text and "€3,395.50" in text
    svg = exports.bar_chart_svg([("2026-10", Decimal(720), Decimal(720)), ("<b>", Decimal(1), 0)])
    assert svg.count("<rect") == 6 and "&lt;b&gt;" in svg


def test_exports_above_the_threshold_run_as_a_job_with_a_download(
    app, client, sign_in, november, fake_spend, monkeypatch
):
    from fms import jobs

    bill, _ = november
    monkeypatch.setitem(app.config, "FMS_REPORT_INLINE_ROWS", 2)
    sign_in(client, _user(bill.session, bill.finance))
    answer = client.get("/reports/exports/spend.xlsx?from=2026-11-01&to=2026-11-30")
    assert answer.status_code == 302 and "/jobs/" in answer.headers["Location"]
    run_id = answer.headers["Location"].rsplit("/", 1)[-1]
    run = jobs.get_run(bill.session, run_id)
    assert run.state == "finished", run.error
    assert run.result == {
        "rows": 4,
        "format": "xlsx",
        "filename": "spend-2026-11-01-2026-11-30.xlsx",
    }
    page = client.get(f"/jobs/{run_id}")
    assert b"Download spend-2026-11-01-2026-11-30.xlsx" in page.data
    download = client.get(f"/jobs/{run_id}/download")
    assert download.status_code == 200
    assert load_workbook(io.BytesIO(download.data))["Detail"].max_row == 5


def test_the_export_needs_the_spend_permission(client, sign_in, november, fake_spend):
    bill, _ = november
    sign_in(client, _user(bill.session, bill.world.manager))
    assert client.get("/reports/exports/spend.csv").status_code == 403


def test_the_cli_writes_the_same_workbook_as_the_page(
    app, session, client, sign_in, november, fake_spend, tmp_path
):
    bill, _ = november
    out = tmp_path / "out.xlsx"
    result = app.test_cli_runner().invoke(
        args=[
            "fms",
            "reports",
            "export",
            "--org",
            bill.org.slug,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--format",
            "xlsx",
            "--group-by",
            "supplier",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "4 detail rows" in result.output
    sign_in(client, _user(bill.session, bill.finance))
    page = client.get("/reports/exports/spend.xlsx?from=2026-11-01&to=2026-11-30&group_by=supplier")

    def cells(book):
        return {
            name: [[c.value for c in row] for row in book[name].iter_rows()]
            for name in book.sheetnames
            if name != "Cover"  # the generation time differs
        }

    assert cells(load_workbook(out)) == cells(load_workbook(io.BytesIO(page.data)))
    csv_out = tmp_path / "out.csv"
    result = app.test_cli_runner().invoke(
        args=[
            "fms",
            "reports",
            "export",
            "--org",
            bill.org.slug,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--format",
            "csv",
            "--out",
            str(csv_out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert (
        csv_out.read_bytes()
        == client.get("/reports/exports/spend.csv?from=2026-11-01&to=2026-11-30").data
    )
    bad = app.test_cli_runner().invoke(
        args=[
            "fms",
            "reports",
            "export",
            "--org",
            "nobody",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--out",
            str(out),
        ]
    )
    assert bad.exit_code != 0 and "No organization 'nobody'" in bad.output
