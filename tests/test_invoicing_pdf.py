"""The invoice PDF: what it prints (read back with pypdf, against figures worked out by hand
from the factory data), its layout over pages, the restricted fetcher, rendering once
(a job run twice, two renders at once on PostgreSQL) and who may download it.

The billing world (tests/factories_invoicing.py): an engagement at 90.00 EUR an hour, a
German issuer "FMS Services GmbH" (VAT id DE999999999) billing "Client GmbH" (DE123456789)
at 19 %, 30 days' payment terms, the organization's locale "en"."""

import hashlib
import io
import threading
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from fms import storage
from fms.errors import NotAllowed, NotFound, RuleViolation
from fms.extensions import db
from fms.invoicing import pdf as invoice_pdf
from fms.invoicing import services as invoicing
from fms.invoicing import settings as billing
from fms.invoicing.models import BillToEntity, ImmutableInvoice, Invoice, InvoiceLine
from fms.jobs import JobRun
from fms.storage import StoredFile
from fms.tenancy import scope_session
from tests.factories import as_org

NOV_2 = date(2026, 11, 2)  # a Monday
ISSUED_ON = date(2026, 12, 4)  # the factory's issue date: due 30 days later, 3 January 2027
D = Decimal


def pdf_pages(stored) -> list[str]:
    """The text of each page of a stored PDF, checking its SHA-256 on the way."""
    data = storage.path_of(stored).read_bytes()
    assert data.startswith(b"%PDF-")
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def flat(text: str) -> str:
    """Text with its line breaks and runs of spaces as single spaces."""
    return " ".join(text.split())


def pdf_files(session) -> int:
    return session.scalar(
        select(func.count())
        .select_from(StoredFile)
        .where(StoredFile.media_type == "application/pdf")
    )


@pytest.fixture
def stored_paths(monkeypatch):
    """The paths of the files `storage.store` writes from here on, in order."""
    paths = []
    real = storage.store

    def store(*args, **kw):
        stored = real(*args, **kw)
        paths.append(storage.path_of(stored))
        return stored

    monkeypatch.setattr(storage, "store", store)
    return paths


@pytest.fixture
def issued(session, billing_for):
    """An issued invoice: 23:30 h at 90.00 (2,115.00) and a 500.00 milestone on PO-4711;
    net 2,615.00, VAT 19 % 496.85, gross 3,111.85."""
    bill = billing_for(address="Marktplatz 5\n80331 München")
    bill.world.engagement.po_number = "PO-4711"
    session.flush()
    bill.approved_week(NOV_2, (480, 480, 450))  # 1,410 minutes
    bill.milestone("500", date(2026, 11, 20))
    (invoice,) = bill.close().invoices
    bill.issue(invoice, today=ISSUED_ON)
    return bill, invoice


# --- what it prints ------------------------------------------------------------------------


def test_the_pdf_prints_both_parties_the_lines_and_the_totals_as_issued(session, issued):
    bill, invoice = issued
    stored = invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id)
    pages = pdf_pages(stored)
    text = flat("\n".join(pages))
    engagement = bill.world.engagement.title
    for expected in (
        # both parties, with address and VAT id
        "FMS Services GmbH",
        "Hauptstr. 1, 10115 Berlin",
        "VAT ID DE999999999",
        "Client GmbH",
        "Marktplatz 5 80331 München",
        "VAT ID DE123456789",
        # the document
        "Invoice",
        "Number INV-2026-00001",
        "Issue date Dec 4, 2026",
        "Due date Jan 3, 2027",
        "Period Nov 1, 2026 – Nov 30, 2026",
        "PO PO-4711",
        # the lines, as the rows say: 1,410 min = 23:30 h at 90.00 = 2,115.00; the milestone
        f"{engagement} - Time",
        "23:30 h €90.00 19 % €2,115.00",
        f"{engagement} - Milestone",
        "1 €500.00 19 % €500.00",
        # one cost centre and PO: its subtotal is the net
        "· PO PO-4711 €2,615.00",
        # VAT per category on the sum of the nets: 2,615.00 x 19 % = 496.85
        "Standard rate 19 % €2,615.00 €496.85",
        "Net total €2,615.00",
        "VAT €496.85",
        "Total due €3,111.85",
        # payment details
        "Payable within 30 days, by Jan 3, 2027, quoting INV-2026-00001.",
        "IBAN DE89370400440532013000",
        "BIC COBADEFFXXX",
        # the annex: the week of 2 November, 23:30 h
        "Annex: time per freelancer and week",
        f"{bill.world.freelancer.legal_name} {engagement} Nov 2, 2026 – Nov 8, 2026",
        "Nov 2, 2026 – Nov 4, 2026 23:30 h",
    ):
        assert expected in text, expected
    # "page x of y" on every page; the annex starts a page of its own
    assert len(pages) == 2
    assert "Page 1 of 2" in pages[0] and "Page 2 of 2" in pages[1]
    assert "Annex" in pages[1] and "Annex" not in pages[0]
    # stored once, with its SHA-256 on the invoice
    session.refresh(invoice)
    assert (invoice.pdf_file_id, invoice.pdf_sha256) == (stored.id, stored.sha256)
    assert stored.original_name == "INV-2026-00001.pdf"


def test_figures_follow_the_organizations_locale(session, issued):
    bill, invoice = issued
    bill.org.locale = "de"
    session.flush()
    text = flat(" ".join(pdf_pages(invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id))))
    for expected in (
        "Due date 03.01.2027",
        "23:30 h 90,00 € 19 % 2.115,00 €",
        "Standard rate 19 % 2.615,00 € 496,85 €",
        "Total due 3.111,85 €",
    ):
        assert expected in text, expected


def test_a_reverse_charge_invoice_prints_the_rule(session, billing_for):
    bill = billing_for(name="Client SARL", country="FR", vat_id="FR12345678901")
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice, today=ISSUED_ON)
    text = flat(" ".join(pdf_pages(invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id))))
    # 8:00 h at 90.00 = 720.00, no VAT
    assert "8:00 h €90.00 Reverse charge €720.00" in text
    assert "Reverse charge 0 % €720.00 €0.00" in text
    assert "Reverse charge: VAT is due by the recipient (Art. 196 Directive 2006/112/EC)." in text
    assert "Total due €720.00" in text


def test_a_credit_note_prints_credit_note_the_original_number_and_negative_figures(session, issued):
    bill, invoice = issued
    note = bill.credit(
        invoice,
        reason="Milestone not delivered",
        mode="lines",
        line_ids=[invoicing.lines_of(session, invoice.id)[1].id],
    )
    bill.issue(note, today=date(2026, 12, 10))
    text = flat(" ".join(pdf_pages(invoice_pdf.render_invoice_pdf(session, invoice_id=note.id))))
    for expected in (
        "Credit note",
        "Number CN-2026-00001",
        "Credits invoice INV-2026-00001",
        "Reason: Milestone not delivered",
        "1 €500.00 19 % -€500.00",
        # 500.00 x 19 % = 95.00
        "Net total -€500.00",
        "VAT -€95.00",
        "Total credited -€595.00",
        "This credit note corrects invoice INV-2026-00001.",
    ):
        assert expected in text, expected
    assert "Total due" not in text and "Due date" not in text


def test_a_300_line_invoice_repeats_the_table_header_on_every_page(session, bill):
    """Lines made directly (a close would need 300 engagements): 1:00 h at 90.00 each."""
    invoice = Invoice(
        org_id=bill.org.id,
        bill_to_entity_id=bill.entity.id,
        currency="EUR",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        net_total=D("27000"),
        tax_total=D("5130"),
        gross_total=D("32130"),
    )
    session.add(invoice)
    session.flush()
    session.add_all(
        InvoiceLine(
            org_id=bill.org.id,
            invoice_id=invoice.id,
            position=n,
            kind="time",
            unit="minute",
            description=f"Line number {n:03d}",
            quantity=60,
            rate=D("90"),
            net=D("90"),
            vat_category="standard",
            vat_rate=D("19"),
        )
        for n in range(1, 301)
    )
    session.flush()
    bill.issue(invoice, today=ISSUED_ON)
    pages = pdf_pages(invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id))
    count = len(pages)
    assert count >= 4  # 300 lines do not fit on one page
    with_lines = [page for page in pages if "Line number" in page]
    assert len(with_lines) >= 3
    for n, page in enumerate(pages, start=1):
        assert f"Page {n} of {count}" in page
    for page in with_lines:  # the header row on every page the table runs over
        assert "# Description Quantity Rate VAT Net" in flat(page)
    text = flat(" ".join(pages))
    assert all(f"Line number {n:03d}" in text for n in range(1, 301))
    assert "Total due €32,130.00" in text


# --- the fetcher ---------------------------------------------------------------------------


def test_the_fetcher_refuses_files_and_the_network_in_an_injected_template(app, session, issued):
    from fms.pdf import StaticOnlyFetcher

    _, invoice = issued
    document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    injected = app.jinja_env.from_string(
        '{% extends "invoicing/pdf/invoice.html" %}{% block head %}{{ super() }}'
        '<link rel="stylesheet" href="http://127.0.0.1:9/evil.css">'
        '<style>@import url("file:///etc/passwd");</style>{% endblock %}'
    )
    fetcher = StaticOnlyFetcher()
    html = invoice_pdf.invoice_html(document, template=injected).replace(
        "<body",
        '<img src="file:///etc/passwd"><img src="http://127.0.0.1/pixel.png">'
        '<img src="data:text/html;base64,PHA+eDwvcD4="><img src="../../../../etc/hostname"><body',
    )
    from fms.pdf import render_pdf

    data = render_pdf(html, fetcher=fetcher)
    assert data.startswith(b"%PDF-")
    refused = fetcher.refused
    for url in (
        "file:///etc/passwd",
        "http://127.0.0.1/pixel.png",
        "http://127.0.0.1:9/evil.css",
        "data:text/html;base64,PHA+eDwvcD4=",
    ):
        assert url in refused, url
    assert any(url.endswith("/etc/hostname") for url in refused)
    assert not any(url.endswith("invoice-pdf.css") for url in refused)  # our own: served
    text = flat(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages))
    assert "root:" not in text and "Total due €3,111.85" in text


def test_what_people_typed_is_text_in_the_pdf_never_markup(session, issued):
    from dataclasses import replace

    _, invoice = issued
    document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    typed = '<img src="file:///etc/passwd">{{ config }}'
    html = invoice_pdf.invoice_html(
        replace(document, bill_to=replace(document.bill_to, name=typed, address=typed))
    )
    assert '<img src="file:' not in html and "&lt;img src=" in html
    assert "{{ config }}" in html  # printed as typed, never evaluated


def test_the_issuers_logo_is_embedded_from_its_stored_bytes(session, issued):
    from PIL import Image

    bill, _ = issued
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (44, 93, 138)).save(buffer, format="PNG")
    logo = storage.store(
        session,
        org_id=bill.org.id,
        filename="logo.png",
        allowed_kinds=("png",),
        max_bytes=10**6,
        data=buffer.getvalue(),
    )
    billing.update_billing_settings(session, actor=bill.finance, logo_file_id=logo.id)
    bill.approved_week(date(2026, 11, 9), (480,))
    (invoice,) = bill.close("2026-12", today=date(2027, 1, 4)).invoices
    bill.issue(invoice, today=date(2027, 1, 4))
    document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    assert document.logo_data_url.startswith("data:image/png;base64,")
    stored = invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id)
    reader = PdfReader(io.BytesIO(storage.path_of(stored).read_bytes()))
    assert len(reader.pages[0].images) == 1


# --- rendered once -------------------------------------------------------------------------


def test_issuing_renders_the_pdf_by_a_job_once_and_a_second_job_stores_nothing(session, bill):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    before = pdf_files(session)
    bill.issue(invoice, today=ISSUED_ON)
    assert invoice.pdf_file_id is None  # not before the issue commits
    session.commit()  # the job runs inline, after the commit
    session.expire_all()
    runs = session.scalars(select(JobRun).where(JobRun.name.like("%render_invoice_pdf_job"))).all()
    assert [(run.state, run.args) for run in runs] == [("finished", [invoice.id])]
    first = session.get(Invoice, invoice.id).pdf_file_id
    assert first is not None and runs[0].result["file_id"] == first
    assert pdf_files(session) == before + 1

    # a duplicated job, and the render called again: the same file, nothing stored
    invoice_pdf.enqueue_render(session, session.get(Invoice, invoice.id))
    session.commit()
    assert invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id).id == first
    session.commit()
    session.expire_all()
    runs = session.scalars(select(JobRun).where(JobRun.name.like("%render_invoice_pdf_job"))).all()
    assert [run.state for run in runs] == ["finished", "finished"]
    assert {run.result["file_id"] for run in runs} == {first}
    assert pdf_files(session) == before + 1


def test_a_render_that_loses_the_race_discards_its_file(session, bill, monkeypatch, stored_paths):
    """What the losing job of two meets: the invoice got its PDF while it rendered."""
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice, today=ISSUED_ON)
    winner = storage.store(
        session,
        org_id=bill.org.id,
        filename="w.pdf",
        allowed_kinds=("pdf",),
        max_bytes=10**6,
        data=b"%PDF-1.4 the other job's",
    )
    real = invoice_pdf.invoice_pdf_bytes

    def render_while_the_other_attaches(document, **kw):
        data = real(document, **kw)
        session.execute(  # the other job's conditional update, committed meanwhile
            Invoice.__table__.update()
            .where(Invoice.id == invoice.id)
            .values(pdf_file_id=winner.id, pdf_sha256=winner.sha256)
        )
        return data

    monkeypatch.setattr(invoice_pdf, "invoice_pdf_bytes", render_while_the_other_attaches)
    files = pdf_files(session)
    assert invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id).id == winner.id
    assert pdf_files(session) == files  # ours was removed: row ...
    theirs, ours = stored_paths
    assert theirs.exists() and not ours.exists()  # ... and bytes
    assert session.get(Invoice, invoice.id).pdf_file_id == winner.id


def test_the_pdf_is_attached_once_and_never_through_the_orm(session, issued):
    _, invoice = issued
    stored = invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id)
    invoice.pdf_file_id = None
    with pytest.raises(ImmutableInvoice):
        session.flush()
    session.expire(invoice)
    assert invoice.pdf_file_id == stored.id


# --- download ------------------------------------------------------------------------------


def test_finance_and_org_admins_download_it_and_nobody_else(
    session, issued, make_member, actor_of, make_org
):
    bill, invoice = issued
    assert invoice.pdf_file_id is None  # issued, its job not run yet (nothing committed)
    got = invoicing.invoice_pdf(session, actor=bill.finance, invoice_id=invoice.id)
    assert got.media_type == "application/pdf"  # rendered now rather than failing
    assert session.get(Invoice, invoice.id).pdf_file_id == got.id
    admin = actor_of(make_member(bill.org, roles=("org_admin",)))
    assert invoicing.invoice_pdf(session, actor=admin, invoice_id=invoice.id).id == got.id
    for actor in (bill.world.manager, bill.world.me, bill.world.procurement):
        with pytest.raises(NotAllowed):
            invoicing.invoice_pdf(session, actor=actor, invoice_id=invoice.id)

    other = make_org()
    with as_org(session, other.id):
        entity = BillToEntity(org_id=other.id, name="Theirs", country="DE")
        session.add(entity)
        session.flush()
        theirs = Invoice(
            org_id=other.id,
            bill_to_entity_id=entity.id,
            currency="EUR",
            period_start=date(2026, 11, 1),
            period_end=date(2026, 11, 30),
        )
        session.add(theirs)
        session.flush()
    for invoice_id in (theirs.id, 10**12, "x"):
        with pytest.raises(NotFound):
            invoicing.invoice_pdf(session, actor=bill.finance, invoice_id=invoice_id)


def test_a_draft_has_no_pdf(session, bill):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    files = pdf_files(session)
    with pytest.raises(RuleViolation, match="draft invoice has no PDF"):
        invoicing.invoice_pdf(session, actor=bill.finance, invoice_id=invoice.id)
    with pytest.raises(RuleViolation):
        invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id)
    billing.update_billing_settings(session, actor=bill.finance, four_eyes=True)
    bill.issue(invoice, today=ISSUED_ON)
    assert invoice.state == "awaiting_approval"
    with pytest.raises(RuleViolation, match="second approval"):
        invoicing.invoice_pdf(session, actor=bill.finance, invoice_id=invoice.id)
    assert pdf_files(session) == files


# --- two renders at once -------------------------------------------------------------------


@pytest.mark.postgres
def test_two_renders_at_once_store_one_file(app, committed, monkeypatch, stored_paths):
    from tests.test_invoicing_concurrency import _setup

    org_id, people = _setup(committed)
    scope_session(committed, org_id)
    monkeypatch.setattr(invoicing, "enqueue_render", lambda session, invoice: None)
    (invoice,) = invoicing.close_period(
        committed, actor=people["finance1"], period="2026-03", today=date(2026, 4, 1)
    ).invoices
    invoicing.issue_invoice(
        committed, actor=people["finance1"], invoice_id=invoice.id, today=date(2026, 4, 2)
    )
    committed.commit()
    invoice_id = invoice.id

    rendered = threading.Barrier(2)
    real = invoice_pdf.invoice_pdf_bytes

    def render_then_wait(document, **kw):
        data = real(document, **kw)
        rendered.wait(timeout=60)  # both have rendered before either stores
        return data

    monkeypatch.setattr(invoice_pdf, "invoice_pdf_bytes", render_then_wait)
    results, errors = {}, []

    def render(name):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                results[name] = invoice_pdf.render_invoice_pdf(
                    db.session, invoice_id=invoice_id, actor=people[name]
                ).id
                db.session.commit()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=render, args=(n,)) for n in ("finance1", "finance2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    scope_session(committed, org_id)
    committed.expire_all()
    attached = committed.get(Invoice, invoice_id).pdf_file_id
    assert set(results.values()) == {attached}
    assert pdf_files(committed) == 1
    assert len(stored_paths) == 2  # both rendered and stored; the loser removed its file
    assert [path.exists() for path in stored_paths].count(True) == 1
