"""Invoice PDFs at month-end scale: the close of N engagements and its PDF, against the naive
floor.

    .venv/bin/python bench/invoice_pdf.py [--lines 10000] [--database-url URL] [--no-naive]

Loads the scale data of `flask fms seed-scale` (`fms.timesheets.scale.seed_scale`, N
freelancers, one week of timesheets) into a temporary SQLite database (or --database-url),
then makes it one client's month: every sheet of that week approved, every engagement in
euros (its prices converted at the scale data's exchange rates) under the bill-to
entity's framework PO (the scale data gives each engagement its own PO and its
freelancer's currency, which would make one invoice per currency and one group per line),
billing settings, one German bill-to entity for every cost centre, German VAT. Then it
times, in this process:

  data   the real close (`close_period`) of the month, issuing its invoice and building
         its `InvoiceDocument` (queries, arithmetic, rows) — one line per engagement (two
         where a rate changed mid-week), and the annex (one row per engagement and week);

and, each in its own subprocess (so their peaks are separate; warmed up first, as the rq
worker is), the PDF of that document:

  pdf    our render (`invoice_pdf_bytes`: compact rows, parts on both cores, joined);
  naive  the floor: the same lines as ONE 8-column HTML table (and the annex as a second
         table, so both print the same text) in one WeasyPrint call.

Peak memory is the largest process of a render (the subprocess or any worker it forked:
ru_maxrss of itself and of its waited-for children). The two PDFs must print the same
lines, subtotals, annex rows and totals (text extracted with pypdf, whitespace collapsed,
each document string found in order in both). Writes `invoice.close_10k.*` into
bench/results/latest.json (merged with what other benches wrote) and prints a table.
Targets: data < 10 % of the close; pdf >= 3x faster than naive with <= 1/3 of its peak.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "latest.json"
KEY = "invoice.close_10k"


def make_app(url: str, storage: str):
    from fms import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "FMS_STORAGE_DIR": storage,
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
        }
    )


# --- the data -------------------------------------------------------------------------------


def seed_month(session, n: int, progress=print):
    """The scale tenant with `n` freelancers and one week, made one client's month (see
    the module docstring); returns (finance actor, period, today)."""
    from sqlalchemy import select, update

    from fms.identity.actor import Actor
    from fms.identity.models import Membership, User
    from fms.invoicing import rules
    from fms.invoicing import settings as billing
    from fms.tenancy import scope_session
    from fms.timesheets import scale
    from fms.timesheets.models import Milestone, Timesheet
    from fms.workforce.models import CostCentre, Engagement, EngagementTerms

    data = scale.seed_scale(session, freelancers=n, weeks=1, progress=progress)
    session.commit()
    scope_session(session, data.org_id)
    week = data.week_starts[0]
    decider = data.manager_ids[0]
    session.execute(
        update(Timesheet)
        .where(Timesheet.state.in_(("draft", "submitted")))
        .values(state="approved", decided_by_user_id=decider)
        .execution_options(synchronize_session=False)
    )
    # each engagement's prices in euros (the scale data's exchange rates), to the cent
    currency_of = dict(session.execute(select(Engagement.id, Engagement.currency)).all())

    def euros(amount, currency):
        per_unit = Decimal(scale.EUR_PER_UNIT.get(currency, "1"))
        return None if amount is None else (amount * per_unit).quantize(Decimal("0.01"))

    for terms in session.scalars(select(EngagementTerms)):
        currency = currency_of[terms.engagement_id]
        terms.rate = euros(terms.rate, currency)
        terms.overtime_rate = euros(terms.overtime_rate, currency)
        terms.budget_cap = euros(terms.budget_cap, currency)
    for milestone in session.scalars(select(Milestone)):
        milestone.amount = euros(milestone.amount, milestone.currency)
    session.flush()
    session.execute(
        update(Engagement)
        .values(currency="EUR", po_number=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Milestone).values(currency="EUR").execution_options(synchronize_session=False)
    )
    row = session.execute(
        select(User.id, Membership.roles)
        .join(Membership, Membership.user_id == User.id)
        .where(User.email == f"finance@{data.slug}.example")
    ).one()
    finance = Actor(user_id=row.id, org_id=data.org_id, roles=frozenset(row.roles), channel="cli")
    billing.update_billing_settings(
        session,
        actor=finance,
        issuer_legal_name="FMS Managed Services GmbH",
        issuer_address="Friedrichstrasse 68\n10117 Berlin\nGermany",
        issuer_country="DE",
        issuer_vat_id="DE287654321",
        issuer_iban="DE89370400440532013000",
        issuer_bic="COBADEFFXXX",
        payment_terms_days=30,
    )
    entity = billing.add_bill_to_entity(
        session,
        actor=finance,
        name="Scale Client AG",
        country="DE",
        address="Am Kupfergraben 4\n10117 Berlin\nGermany",
        vat_id="DE811234567",
        default_po="PO-FRAME-2026",
    )
    for centre_id in session.scalars(select(CostCentre.id)):
        billing.assign_cost_centre(
            session, actor=finance, cost_centre_id=centre_id, bill_to_entity_id=entity.id
        )
    billing.add_vat_rate(
        session,
        actor=finance,
        country="DE",
        category="standard",
        rate="19",
        effective_from="2007-01-01",
    )
    session.commit()
    scope_session(session, data.org_id)
    return finance, rules.period_name("monthly", week.replace(day=1)), data.today


def close_month(session, finance, period, today):
    """The timed data work: close, issue the largest invoice, build its document; returns
    the document and the seconds of each step."""
    from fms.invoicing import pdf as invoice_pdf
    from fms.invoicing import services as invoicing

    steps = {}
    began = time.perf_counter()
    result = invoicing.close_period(session, actor=finance, period=period, today=today)
    steps["close"] = time.perf_counter() - began
    invoice = max(result.invoices, key=lambda i: len(invoicing.lines_of(session, i.id)))
    began = time.perf_counter()
    invoicing.issue_invoice(session, actor=finance, invoice_id=invoice.id, today=today)
    session.flush()
    steps["issue"] = time.perf_counter() - began
    began = time.perf_counter()
    document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    steps["document"] = time.perf_counter() - began
    return document, steps


# --- the naive floor ------------------------------------------------------------------------


def naive_html(doc) -> str:
    """The document as one 8-column table (group heads and subtotals as its rows), the
    summary, and the annex as a second table."""
    e = html.escape
    out = [
        '<!doctype html><html><head><meta charset="utf-8"><style>'
        "@page { size: A4; margin: 16mm 16mm 20mm;"
        ' @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 7.5pt'
        ' "DejaVu Sans" } }'
        ' body { font: 8pt "DejaVu Sans", sans-serif }'
        " table { border-collapse: collapse; width: 100% } thead { display: table-header-group }"
        " td, th { padding: 1mm; border-bottom: 0.3pt solid #ccd; text-align: left;"
        " vertical-align: top } tr { page-break-inside: avoid }"
        "</style></head><body>",
        f"<h1>{e(doc.title)} {e(doc.number)}</h1>",
        "<table><thead><tr><th>#</th><th>Description</th><th>Dates</th><th>Quantity</th>"
        "<th>Rate</th><th>VAT</th><th>Net</th><th>Kind</th></tr></thead><tbody>",
    ]
    for group in doc.groups:
        title = group.cost_centre + (f" · PO {group.po_number}" if group.po_number else "")
        out.append(f'<tr><td colspan="8">{e(title)}</td></tr>')
        for line in group.lines:
            description = line.description + (" · prior period" if line.prior_period else "")
            out.append(
                f"<tr><td>{line.position}</td><td>{e(description)}</td><td>{e(line.dates)}</td>"
                f"<td>{e(line.quantity)}</td><td>{e(line.rate)}</td><td>{e(line.vat)}</td>"
                f"<td>{e(line.net)}</td><td>{e(line.kind)}</td></tr>"
            )
        out.append(
            f'<tr><td></td><td colspan="5">Subtotal: {e(title)}</td>'
            f"<td>{e(group.subtotal)}</td><td></td></tr>"
        )
    out.append("</tbody></table>")
    out.append(
        f"<p>Net total {e(doc.net_total)}</p><p>VAT {e(doc.tax_total)}</p>"
        f"<p>{'Total credited' if doc.is_credit_note else 'Total due'} {e(doc.gross_total)}</p>"
    )
    if doc.annex:
        out.append(
            "<table><thead><tr><th>Freelancer</th><th>Engagement</th><th>Week</th>"
            "<th>Days billed here</th><th>Hours</th><th>Days</th></tr></thead><tbody>"
        )
        for row in doc.annex:
            cells = (row.freelancer, row.engagement, row.week, row.billed_days, row.hours, row.days)
            out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "".join(out)


# --- one render in its own process ----------------------------------------------------------


def peak_mb() -> float:
    """The largest resident set of this process and of its waited-for children (Linux
    ru_maxrss is in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def render_child(kind: str, doc_path: str, out_path: str) -> None:
    """Run in a subprocess: render the pickled document, write the PDF, print timings."""
    from fms.pdf import render_pdf, warm_up

    app = make_app("sqlite://", tempfile.mkdtemp(prefix="fms-bench-pdf-"))
    with app.app_context():
        warm_up()  # as the rq worker does before it forks
        with open(doc_path, "rb") as stream:
            doc = pickle.load(stream)  # noqa: S301 - the file this run wrote
        started = time.perf_counter()
        if kind == "naive":
            data = render_pdf(naive_html(doc))
        else:
            from fms.invoicing.pdf import invoice_pdf_bytes

            data = invoice_pdf_bytes(doc)
        seconds = time.perf_counter() - started
    Path(out_path).write_bytes(data)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "bytes": len(data)}))


def run_render(kind: str, doc_path: str, out_path: str) -> dict:
    done = subprocess.run(  # noqa: S603 - this script, our arguments
        [sys.executable, __file__, "--render", kind, doc_path, out_path],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- same text ------------------------------------------------------------------------------


def expected_strings(doc) -> list[list[str]]:
    """What both PDFs must print, per kind of string, in document order."""
    heads, figures, annex = [], [], []
    for group in doc.groups:
        title = group.cost_centre + (f" · PO {group.po_number}" if group.po_number else "")
        for line in group.lines:
            heads.append(
                f"{line.position} {line.description}"
                + (" · prior period" if line.prior_period else "")
            )
            figures.append(
                " ".join(v for v in (line.dates, line.quantity, line.rate, line.vat, line.net) if v)
            )
        figures.append(f"Subtotal: {title} {group.subtotal}")
    figures += [
        f"Net total {doc.net_total}",
        f"VAT {doc.tax_total}",
        f"{'Total credited' if doc.is_credit_note else 'Total due'} {doc.gross_total}",
    ]
    for row in doc.annex:
        annex.append(row.freelancer)
        annex.append(" ".join(v for v in (row.week, row.billed_days, row.hours, row.days) if v))
    return [heads, figures, annex]


def flat_text(path: str) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def missing_in_order(text: str, strings: list[str]) -> list[str]:
    """The strings not found in `text` in their order (each after the previous one)."""
    missing, at = [], 0
    for string in strings:
        found = text.find(string, at)
        if found < 0:
            missing.append(string)
        else:
            at = found + len(string)
    return missing


def same_text(doc, ours: str, naive: str) -> tuple[bool, str]:
    texts = {"ours": flat_text(ours), "naive": flat_text(naive)}
    problems = []
    for strings in expected_strings(doc):
        for name, text in texts.items():
            missing = missing_in_order(text, strings)
            if missing:
                problems.append(f"{name}: {len(missing)} missing, e.g. {missing[0]!r}")
    return not problems, "; ".join(problems) or "same lines, subtotals, annex and totals"


# --- main -----------------------------------------------------------------------------------


def write_results(values: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged.update(values)
    RESULTS.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--render":
        render_child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=10_000, help="engagements (about lines)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive floor")
    parser.add_argument("--no-write", action="store_true", help="do not write latest.json")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fms-bench-invoice-pdf-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"

    from flask_migrate import upgrade
    from sqlalchemy import text

    from fms.extensions import db

    app = make_app(url, tmp)
    with app.app_context():
        session = db.session
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(revision="heads")
        began = time.perf_counter()
        finance, period, today = seed_month(session, args.lines, progress=print)
        print(f"seeded in {time.perf_counter() - began:.0f} s; closing {period}")
        # as in the rq worker (fms.jobs.start_worker): WeasyPrint imported and warm before
        # the close, so its import (a few seconds, and the document builder's logo step
        # would pay it) is not counted as data work
        from fms.pdf import warm_up

        warm_up()
        doc, steps = close_month(session, finance, period, today)
        data_s = sum(steps.values())
        session.rollback()  # nothing is kept: the PDF job never runs
    lines = sum(len(group.lines) for group in doc.groups)
    doc_path = f"{tmp}/doc.pickle"
    with open(doc_path, "wb") as stream:
        pickle.dump(doc, stream)

    ours = run_render("ours", doc_path, f"{tmp}/ours.pdf")
    naive = None if args.no_naive else run_render("naive", doc_path, f"{tmp}/naive.pdf")
    from pypdf import PdfReader

    pages = len(PdfReader(f"{tmp}/ours.pdf").pages)
    close_s = data_s + ours["seconds"]
    print()
    print(
        f"{lines:,} lines in {len(doc.groups)} groups, {len(doc.annex):,} annex rows; "
        f"our PDF {pages} pages, {ours['bytes'] / 1e6:.1f} MB ({os.cpu_count()} cores)"
    )
    print(f"{'':<34}{'seconds':>9}{'peak MB':>9}{'target':>22}")
    print(
        f"{'data (close, issue, document)':<34}{data_s:>9.1f}{'':>9}"
        f"{f'< 10 % ({100 * data_s / close_s:.1f} %)':>22}"
    )
    print("  " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items()))
    print(f"{'PDF (ours)':<34}{ours['seconds']:>9.1f}{ours['peak_mb']:>9.0f}")
    values = {
        f"{KEY}.lines": lines,
        f"{KEY}.data_s": round(data_s, 2),
        **{f"{KEY}.data_{step}_s": round(seconds, 2) for step, seconds in steps.items()},
        f"{KEY}.pdf_s": round(ours["seconds"], 2),
        f"{KEY}.peak_mb": round(ours["peak_mb"]),
    }
    if naive:
        same, detail = same_text(doc, f"{tmp}/ours.pdf", f"{tmp}/naive.pdf")
        speed = naive["seconds"] / ours["seconds"]
        memory = naive["peak_mb"] / ours["peak_mb"]
        print(
            f"{'PDF naive (one table)':<34}{naive['seconds']:>9.1f}{naive['peak_mb']:>9.0f}"
            f"{f'x{speed:.1f} faster, x{memory:.1f} less':>22}"
        )
        print(f"same text: {'yes' if same else 'NO'} ({detail})")
        values.update(
            {
                f"{KEY}.naive_pdf_s": round(naive["seconds"], 2),
                f"{KEY}.naive_peak_mb": round(naive["peak_mb"]),
                f"{KEY}.same_text": same,
            }
        )
    if not args.no_write:
        write_results(values)
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
