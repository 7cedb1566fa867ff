"""The spend workbook opens in a real spreadsheet application: LibreOffice converts every
sheet to CSV (one file per sheet: the last filter token, -1) and the values are those of
the database — the Detail rows computed by hand from the factory data, the headcount
Workforce's figures, the Summary the report's — with text never evaluated as a formula."""

from __future__ import annotations

import csv
import io
import subprocess
import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest

from fms.reports import exports, spend
from tests.test_reports_exports import NOV, fake_spend, november  # noqa: F401 - fixtures

pytestmark = pytest.mark.office
FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


def _sheets(tmp_path, workbook: bytes) -> dict[str, list[list[str]]]:
    source = tmp_path / "spend.xlsx"
    source.write_bytes(workbook)
    profile = tmp_path / f"lo-{uuid.uuid4().hex}"  # each run its own profile
    out = tmp_path / "csv"
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation=file://{profile}",
            "--convert-to",
            FILTER,
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return {
        path.stem.removeprefix("spend-"): list(
            csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
        )
        for path in out.glob("spend-*.csv")
    }


def test_libreoffice_reads_the_spend_workbook_as_the_database_has_it(
    session,
    tmp_path,
    november,  # noqa: F811 - the fixture imported above
    fake_spend,  # noqa: F811
):
    from fms.workforce import queries as workforce

    bill, _ = november
    query = spend.SpendQuery(start=NOV[0], end=date(2026, 12, 31), group_by=("supplier",))
    buffer = io.BytesIO()
    exports.build_export(
        session,
        actor=bill.finance,
        query=query,
        fmt="xlsx",
        target=buffer,
        today=date(2026, 12, 3),
        now=datetime(2026, 12, 3, 7, 30),
    )
    sheets = _sheets(tmp_path, buffer.getvalue())
    assert set(sheets) == {"Cover", "Summary", "Detail", "Headcount"}

    detail = sheets["Detail"]
    assert detail[0][:3] == ["Item", "From", "To"]
    name = '=HYPERLINK("http://evil","x")'  # text as typed, not evaluated
    title = bill.world.engagement.title
    # (item, from, to, freelancer, engagement, currency, amount, minutes): 1,080 min and
    # 480 min at 90/h, 30 Nov billed with November and 1 Dec (240 min) not yet
    assert [[r[0], r[1], r[2], r[3], r[4], r[7], Decimal(r[8]), int(r[9])] for r in detail[1:]] == [
        ["Time", "2026-11-02", "2026-11-03", name, title, "EUR", Decimal(1620), 1080],
        ["Time", "2026-11-30", "2026-11-30", name, title, "EUR", Decimal(720), 480],
        ["Time", "2026-12-01", "2026-12-01", name, title, "EUR", Decimal(360), 240],
        ["Milestone", "2026-11-20", "2026-11-20", name, title, "EUR", Decimal(1000), 0],
        ["Expense", "2026-11-10", "2026-11-10", name, title, "EUR", Decimal("45.5"), 0],
    ]
    assert [r[10] for r in detail[1:]] == ["draft", "draft", "", "draft", "draft"]

    headcount = sheets["Headcount"]
    expected = [
        [on.isoformat(), str(h.people), str(h.engagements), format(h.fte.normalize(), "f")]
        for on in (date(2026, 11, 30), date(2026, 12, 3))
        for h in [workforce.headcount(session, org_id=bill.org.id, on=on).total]
    ]
    assert headcount[1:] == expected and expected[0][1] == "1"

    summary = sheets["Summary"]
    assert summary[0][:4] == ["Period", "Supplier", "Currency", "Approved"]
    assert summary[2][:4] == ["2026-11", "Direct", "EUR", "2665.5"]
    assert summary[3][1] == "=cmd|' /C calc'!A0"
    assert summary[5][:4] == ["Total", "", "EUR", "3395.5"]
    cover = dict((r[0], r[1]) for r in sheets["Cover"] if r and r[0])
    assert cover["From"] == "2026-11-01" and cover["To"] == "2026-12-31"
