"""The year's Detail XLSX against xlsxwriter's constant-memory floor, on the same rows.

    .venv/bin/python bench/xlsx_year.py [--freelancers 10000] [--weeks 52] [--reuse]
                                        [--openpyxl]   # also time openpyxl write-only

On PostgreSQL (FMS_BENCH_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/
fms_bench; created when missing, its schema emptied unless --reuse) it loads the scale data
of `flask fms seed-scale` (N freelancers x W weekly sheets) and then, each in its own
subprocess so each peak memory is its own:

  (a) the spend export's workbook with the year's Detail sheet, through the export's own
      code (`fms.reports.exports.write_spend_workbook` over `fms.reports.detail.detail_rows`:
      the query, the pricing at each day's terms and the writing, rows streamed);
  (b) the floor: the same rows, read beforehand (not timed), written by a plain xlsxwriter
      constant-memory workbook with the same number formats (dates, a currency format per
      row's currency, integers) and nothing else;
  (c) with --openpyxl: the same rows through openpyxl's write-only mode with the same
      number formats (the alternative issue 14 measured at ~2x the floor).

Targets (issue 14): (a) at most 1.3x (b), and under 100 MB peak memory. Figures go to
bench/results/latest.json (keys merged with what other benchmarks wrote): xlsx.year.s,
xlsx.year.xlsxwriter_s, xlsx.year.peak_mb (and xlsx.year.rows, xlsx.year.ratio, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/fms_bench"
RESULTS = ROOT / "bench" / "results" / "latest.json"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_app(url: str, tmp: str):
    from fms import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "FMS_STORAGE_DIR": tmp, "TESTING": True})


def tenant(session):
    """The scale tenant, a finance actor for it, and the year's range (its sheets)."""
    from sqlalchemy import func, select

    from fms.identity.actor import system_actor
    from fms.identity.models import Organization
    from fms.tenancy import scope_session
    from fms.timesheets import scale
    from fms.timesheets.models import TimesheetEntry

    org = session.scalar(select(Organization).where(Organization.slug == scale.DEFAULT_SLUG))
    scope_session(session, org.id)
    first, last = session.execute(
        select(func.min(TimesheetEntry.work_date), func.max(TimesheetEntry.work_date))
    ).one()
    return org, system_actor(org.id, channel="cli"), first, last


def phase(name: str, url: str, out: str) -> dict:
    """One measurement, in this (fresh) process."""
    from datetime import UTC, datetime

    from fms.extensions import db

    tmp = tempfile.mkdtemp(prefix="fms-bench-xlsx-")
    app = make_app(url, tmp)
    with app.app_context():
        session = db.session
        org, actor, first, last = tenant(session)
        before = peak_mb()
        from fms.reports import detail, exports, spend

        if name == "export":
            query = spend.SpendQuery(start=first, end=last)
            report = spend.SpendReport(query=query, base_currency="EUR", rows=[], totals={})
            begin = time.perf_counter()
            rows = exports.write_spend_workbook(
                out,
                report=report,
                detail=detail.detail_rows(session, actor=actor, start=first, end=last),
                headcount=[],
                cover=exports.Cover(org.name, datetime(2026, 12, 2, tzinfo=UTC), query),
            )
            seconds = time.perf_counter() - begin
            return {"rows": rows, "s": seconds, "peak_mb": peak_mb(), "start_mb": before}
        # the floor and openpyxl: the same rows, read first (not timed)
        cells = [
            row.cells() for row in detail.detail_rows(session, actor=actor, start=first, end=last)
        ]
        loaded = peak_mb()
        begin = time.perf_counter()
        if name == "xlsxwriter":
            write_xlsxwriter(out, cells)
        else:
            write_openpyxl(out, cells)
        seconds = time.perf_counter() - begin
        return {"rows": len(cells), "s": seconds, "peak_mb": peak_mb(), "start_mb": loaded}


def _currency_formats():
    from fms.exports import currency_format
    from fms.money import minor_units

    cache = {}

    def get(currency):
        if currency not in cache:
            cache[currency] = currency_format(currency, minor_units(currency))
        return cache[currency]

    return get


def write_xlsxwriter(path: str, rows) -> None:
    """Plain xlsxwriter, constant memory: the same cells and number formats, no more."""
    import xlsxwriter

    from fms.reports.detail import AMOUNT_COLUMN, CURRENCY_COLUMN, HEADER

    book = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = book.add_worksheet("Detail")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    int_format = book.add_format({"num_format": "#,##0"})
    money = {}
    number_format = _currency_formats()
    for col, label in enumerate(HEADER):
        sheet.write_string(0, col, label)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if c == AMOUNT_COLUMN:
                currency = row[CURRENCY_COLUMN]
                if currency not in money:
                    money[currency] = book.add_format({"num_format": number_format(currency)})
                sheet.write_number(r, c, float(value), money[currency])
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            elif isinstance(value, int):
                sheet.write_number(r, c, value, int_format)
            else:
                sheet.write_datetime(r, c, value, date_format)
    book.close()


def write_openpyxl(path: str, rows) -> None:
    """openpyxl write-only (lxml), the same cells and number formats."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from fms.reports.detail import AMOUNT_COLUMN, CURRENCY_COLUMN, HEADER

    number_format = _currency_formats()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Detail")
    sheet.append(list(HEADER))
    for row in rows:
        cells = []
        for c, value in enumerate(row):
            cell = WriteOnlyCell(sheet, value=float(value) if c == AMOUNT_COLUMN else value)
            if c == AMOUNT_COLUMN:
                cell.number_format = number_format(row[CURRENCY_COLUMN])
            elif isinstance(value, int):
                cell.number_format = "#,##0"
            elif value is not None and not isinstance(value, str):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    book.save(path)


def ensure_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ):
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def seed(url: str, freelancers: int, weeks: int) -> float:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from fms.extensions import db
    from fms.timesheets import scale

    app = make_app(url, tempfile.mkdtemp(prefix="fms-bench-xlsx-"))
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(revision="heads")
        started = time.perf_counter()
        scale.seed_scale(db.session, freelancers=freelancers, weeks=weeks, progress=print)
        db.session.commit()
        scale.analyze(db.session)
        return time.perf_counter() - started


def merge_results(figures: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    current.update(figures)
    RESULTS.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--freelancers", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--reuse", action="store_true", help="Time the tenant loaded before.")
    parser.add_argument("--openpyxl", action="store_true", help="Also time openpyxl write-only.")
    parser.add_argument(
        "--phase", choices=("export", "xlsxwriter", "openpyxl"), help=argparse.SUPPRESS
    )
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = os.environ.get("FMS_BENCH_DATABASE_URL") or DEFAULT_URL
    if args.phase:
        print(json.dumps(phase(args.phase, url, args.out)))
        return
    ensure_database(url)
    if not args.reuse:
        print(f"seeded in {seed(url, args.freelancers, args.weeks):.0f} s")
    results = {}
    phases = ["export", "xlsxwriter"] + (["openpyxl"] if args.openpyxl else [])
    out_dir = tempfile.mkdtemp(prefix="fms-bench-xlsx-out-")
    for name in phases:
        out = os.path.join(out_dir, f"{name}.xlsx")
        done = subprocess.run(  # noqa: S603 - this script, our arguments
            [sys.executable, __file__, "--phase", name, "--out", out],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "FMS_BENCH_DATABASE_URL": url},
        )
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        size = os.path.getsize(out) / 1e6
        r = results[name]
        print(
            f"{name:<11} {r['rows']:>9,} rows  {r['s']:7.1f} s  peak {r['peak_mb']:6.0f} MB "
            f"(at start {r['start_mb']:.0f} MB)  file {size:.1f} MB"
        )
    export, floor = results["export"], results["xlsxwriter"]
    ratio = export["s"] / floor["s"]
    # the process holds the app and its libraries before the export starts (start_mb): the
    # export's own memory is what it adds to that
    added = export["peak_mb"] - export["start_mb"]
    print(
        f"export / xlsxwriter floor: {ratio:.2f}x (target <= 1.3x); "
        f"peak {export['peak_mb']:.0f} MB, the export adding {added:.0f} MB (target < 100 MB)"
    )
    figures = {
        "xlsx.year.s": round(export["s"], 2),
        "xlsx.year.xlsxwriter_s": round(floor["s"], 2),
        "xlsx.year.peak_mb": round(export["peak_mb"], 1),
        "xlsx.year.export_mb": round(added, 1),
        "xlsx.year.process_start_mb": round(export["start_mb"], 1),
        "xlsx.year.rows": export["rows"],
        "xlsx.year.ratio": round(ratio, 2),
        "xlsx.year.size": f"{args.freelancers} freelancers x {args.weeks} weeks",
    }
    if "openpyxl" in results:
        figures["xlsx.year.openpyxl_s"] = round(results["openpyxl"]["s"], 2)
    merge_results(figures)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
