"""The README's rule, "LibreOffice to open our spreadsheets": an exported XLSX converted by
LibreOffice itself (`soffice --headless --convert-to csv`) gives back what was exported —
text cells as typed (`=1+1`, `0012`, `+49 30`), numbers as numbers, dates as dates."""

import csv
import io
import subprocess
from datetime import date
from decimal import Decimal

import pytest

from fms.exports import xlsx_write

pytestmark = pytest.mark.office

ROWS = [
    ["=1+1", "0012", Decimal("85.00"), 1500, date(2026, 12, 1)],
    ["+49 30 1234", "@home", Decimal("-12.50"), -3, date(1999, 1, 31)],
    ["Zoë «quoted», comma", "-minus", Decimal("0.125"), 0, None],
]


def _convert(tmp_path, workbook: bytes) -> list[list[str]]:
    source = tmp_path / "export.xlsx"
    source.write_bytes(workbook)
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            # CSV with comma separators, double quotes and UTF-8 (76)
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    text = (tmp_path / "export.csv").read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text)))


def test_libreoffice_reads_back_what_we_exported(tmp_path):
    buffer = io.BytesIO()
    xlsx_write(buffer, ["name", "code", "amount", "count", "day"], ROWS)
    rows = _convert(tmp_path, buffer.getvalue())
    assert rows[0] == ["name", "code", "amount", "count", "day"]
    body = rows[1:]
    # text comes back as typed: no formula evaluated, no leading zeros lost, no quote added
    assert [r[0] for r in body] == ["=1+1", "+49 30 1234", "Zoë «quoted», comma"]
    assert [r[1] for r in body] == ["0012", "@home", "-minus"]
    # numbers are numbers (LibreOffice writes them as numbers, not as the text "85.00")
    assert [Decimal(r[2]) for r in body] == [Decimal("85"), Decimal("-12.5"), Decimal("0.125")]
    assert [int(r[3]) for r in body] == [1500, -3, 0]
    assert body[0][4] == "2026-12-01" and body[1][4] == "1999-01-31" and body[2][4] == ""


def test_libreoffice_keeps_text_cells_text(tmp_path):
    """The same file converted to XLSX by LibreOffice and read with openpyxl: the text cells
    are still strings and the numbers still numbers after a round trip through Calc."""
    import openpyxl

    buffer = io.BytesIO()
    xlsx_write(buffer, ["name", "amount"], [["=1+1", Decimal("85.00")], ["0012", 7]])
    source = tmp_path / "in.xlsx"
    source.write_bytes(buffer.getvalue())
    out = tmp_path / "out"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    sheet = openpyxl.load_workbook(out / "in.xlsx").active
    cells = list(sheet.iter_rows(min_row=2, values_only=False))
    assert cells[0][0].value == "=1+1" and cells[0][0].data_type == "s"
    assert cells[1][0].value == "0012" and cells[1][0].data_type == "s"
    assert cells[0][1].data_type == "n" and Decimal(str(cells[0][1].value)) == Decimal("85")
    assert cells[1][1].value == 7
