"""The PDF of an issued invoice or credit note: rendered once, stored once, downloaded by
finance and org admins.

- `invoice_document()` gathers what the page prints (the invoice as issued: its snapshots
  of both parties, lines grouped by cost centre and PO with subtotals, the VAT breakdown
  with the rule's wording, totals, payment details and the annex), every figure already
  formatted per DESIGN.md (fms.formatting, in the organization's locale); a credit note's
  amounts print negative.
- `invoice_pdf_bytes()` renders that through templates/invoicing/pdf/invoice.html and
  fms.pdf's restricted fetcher (a pure function of the document); a long one in parts on
  both cores, compactly (fms.invoicing.pdf_parts).
- `render_invoice_pdf()` stores the PDF and attaches it to the invoice with a conditional
  update WHERE pdf_file_id IS NULL: a retried or duplicated job, or two renders at once,
  leave one file; the loser discards the file it stored. The job
  `render_invoice_pdf_job` runs it after the issue commits (`enqueue_render`).
- `invoice_pdf()` is the download: an issued document's stored PDF, rendered now when its
  job has not run yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from fms import formatting, jobs, money, storage
from fms.audit import services as audit
from fms.errors import NotFound, RuleViolation
from fms.extensions import db
from fms.identity.actor import Actor, system_actor
from fms.identity.permissions import require
from fms.invoicing import queries, rules
from fms.invoicing.models import Invoice
from fms.tenancy import get_in_org, session_org_id
from fms.timekeeping import format_minutes

log = logging.getLogger(__name__)

TEMPLATE = "invoicing/pdf/invoice.html"
# an invoice of 10,000 lines stays well below this
MAX_PDF_BYTES = 50 * 1024 * 1024
# logos we embed (as data: URLs built from the stored bytes; nothing is fetched)
LOGO_MEDIA_TYPES = ("image/png", "image/jpeg")
MAX_LOGO_BYTES = 1024 * 1024

CATEGORY_LABELS = {
    "standard": "Standard rate",
    "reduced": "Reduced rate",
    "zero": "Zero rate",
    "exempt": "Exempt",
    "reverse_charge": "Reverse charge",
}
KIND_LABELS = {
    "time": "Time",
    "overtime": "Overtime",
    "milestone": "Milestone",
    "expense": "Expense",
    "adjustment": "Adjustment",
    "fee": "Service fee",
}


# --- the document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    name: str
    address: str
    country: str
    vat_id: str | None


@dataclass(frozen=True)
class DocLine:
    position: int
    description: str
    kind: str
    dates: str  # the line's work dates; "" when it has none
    prior_period: bool
    quantity: str
    rate: str
    vat: str
    net: str


@dataclass(frozen=True)
class LineGroup:
    cost_centre: str  # "Cost centre CODE Name"
    po_number: str | None
    lines: list[DocLine]
    subtotal: str


@dataclass(frozen=True)
class TaxLine:
    category: str  # the category's label, and the tax's name when stacked ("GST")
    rate: str
    taxable: str
    tax: str
    name: str = ""  # a stacked tax's component; "" for plain VAT
    # in the tax currency, at the rate fixed at the issue (None: no tax currency)
    taxable_in_tax_currency: str | None = None
    tax_in_tax_currency: str | None = None


@dataclass(frozen=True)
class AnnexLine:
    freelancer: str
    engagement: str
    week: str
    billed_days: str
    hours: str
    days: str


@dataclass(frozen=True)
class InvoiceDocument:
    """What the PDF prints, every figure formatted already."""

    title: str  # "Invoice" or "Credit note"
    number: str
    is_credit_note: bool
    credited_number: str | None
    reason: str | None
    currency: str
    issuer: Party
    bill_to: Party
    logo_data_url: str | None
    issue_date: str
    due_date: str
    period: str
    po_number: str | None
    groups: list[LineGroup]
    taxes: list[TaxLine]
    vat_notes: list[str]
    net_total: str
    tax_total: str
    gross_total: str
    iban: str | None
    bic: str | None
    bank_text: str | None
    payment_terms: str
    annex: list[AnnexLine] = field(default_factory=list)
    # the paper, by the bill-to country: CSS `@page { size }` ("A4" or "letter")
    page_size: str = "A4"
    # the tax currency (BT-6) when it differs from the invoice's: the rate fixed at the issue
    # ("1 EUR = 1.4587 CAD") and the VAT total in it (BT-111)
    tax_currency: str | None = None
    tax_exchange_rate: str | None = None
    tax_total_in_tax_currency: str | None = None


def _plain(value: Decimal) -> Decimal:
    """A Decimal without trailing zeros and without an exponent (19.000000 -> 19)."""
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


class _Formats:
    """The figures of one document, in the organization's locale."""

    def __init__(self, currency: str, locale: str | None, sign: int):
        self.currency, self.locale, self.sign = currency, locale, sign

    def money(self, amount) -> str:
        """An amount as the document shows it (a credit note's negative)."""
        return formatting.format_money(self.sign * Decimal(amount), self.currency, self.locale)

    def rate(self, rate) -> str:
        """A unit price: money when it has no more digits than the currency's minor unit,
        else every digit it has (a rate is not rounded for display)."""
        plain = _plain(rate)
        if -plain.as_tuple().exponent <= money.minor_units(self.currency):
            return formatting.format_money(plain, self.currency, self.locale)
        return f"{formatting.format_number(plain, self.locale)} {self.currency}"

    def percent(self, rate) -> str:
        return f"{formatting.format_number(_plain(rate), self.locale)} %"

    def day(self, value: date | None) -> str:
        return formatting.format_day(value, self.locale)

    def span(self, first: date | None, last: date | None) -> str:
        if first is None:
            return ""
        if last is None or last == first:
            return self.day(first)
        return f"{self.day(first)} – {self.day(last)}"

    def quantity(self, quantity: int, unit: str) -> str:
        if unit == "minute":
            return f"{format_minutes(quantity)} h"
        if unit == "half_day":
            days = Decimal(quantity) / 2
            word = "day" if days == 1 else "days"
            return f"{formatting.format_number(_plain(days), self.locale)} {word}"
        return formatting.format_number(quantity, self.locale)


def _party(snapshot: dict | None, *, name_key: str) -> Party:
    snapshot = snapshot or {}
    return Party(
        name=snapshot.get(name_key) or "",
        address=snapshot.get("address") or "",
        country=snapshot.get("country") or "",
        vat_id=snapshot.get("vat_id") or None,
    )


def _logo(session: Session, file_id) -> str | None:
    """The issuer's logo as a data: URL built from its stored bytes (PNG or JPEG of at most
    1 MB); None when there is none, or it is of another kind, too large or erased."""
    from fms.pdf import data_url

    if not file_id:
        return None
    try:
        stored = storage.get_file(session, file_id)
    except NotFound:
        return None
    if (
        stored.erased_at is not None
        or stored.media_type not in LOGO_MEDIA_TYPES
        or stored.size > MAX_LOGO_BYTES
    ):
        return None
    try:
        with storage.open_stored(stored) as stream:
            data = stream.read(MAX_LOGO_BYTES + 1)
    except (OSError, NotFound):
        log.warning("logo file %r of org %r cannot be read", stored.id, stored.org_id)
        return None
    return data_url(data, stored.media_type)


def _names(session: Session, model, column, ids) -> dict:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(model.id, column).where(model.id.in_(ids))).all())


def invoice_document(session: Session, *, invoice_id) -> InvoiceDocument:
    """What the PDF of an issued invoice or credit note of the session's organization
    prints: the document as issued (its snapshots of both parties), figures formatted in
    the organization's locale. A draft has none (RuleViolation)."""
    from fms.identity.models import Organization
    from fms.workforce.models import CostCentre, Engagement, Freelancer

    org_id = session_org_id(session)
    reader = system_actor(org_id, channel="job")
    detail = queries.invoice_detail(session, actor=reader, invoice_id=invoice_id)
    invoice = detail.invoice
    if invoice.state not in rules.ISSUED_STATES or invoice.number is None:
        raise RuleViolation(_not_issued(invoice))
    org = session.get(Organization, invoice.org_id)
    credit = invoice.kind == "credit_note"
    fmt = _Formats(invoice.currency, org.locale if org else None, -1 if credit else 1)

    centres = {
        row.id: f"Cost centre {row.code} {row.name}"
        for row in session.scalars(
            select(CostCentre).where(
                CostCentre.id.in_({line.cost_centre_id for line in detail.lines} - {None})
            )
        )
    }
    freelancers = _names(
        session,
        Freelancer,
        Freelancer.legal_name,
        [row.freelancer_id for row in detail.annex],
    )
    engagements = _names(
        session, Engagement, Engagement.title, [row.engagement_id for row in detail.annex]
    )

    groups: dict[tuple, list] = {}
    for line in detail.lines:  # by position: the close orders lines by cost centre and PO
        groups.setdefault((line.cost_centre_id, line.po_number), []).append(line)
    line_groups = []
    for (centre_id, po), lines in groups.items():
        docs = [
            DocLine(
                position=line.position,
                description=line.description,
                kind=KIND_LABELS.get(line.kind, line.kind),
                dates=fmt.span(line.first_date, line.last_date),
                prior_period=line.first_date is not None and line.first_date < invoice.period_start,
                quantity=fmt.quantity(line.quantity, line.unit),
                rate="—" if line.rate == 0 and line.unit == "each" else fmt.rate(line.rate),
                vat=(
                    CATEGORY_LABELS["reverse_charge"]
                    if line.vat_category == "reverse_charge"
                    else fmt.percent(line.vat_rate)
                ),
                net=fmt.money(line.net),
            )
            for line in lines
        ]
        subtotal = sum((line.net for line in lines), Decimal(0))
        line_groups.append(
            LineGroup(
                cost_centre=centres.get(centre_id, "Without cost centre"),
                po_number=po,
                lines=docs,
                subtotal=fmt.money(subtotal),
            )
        )

    tax_fmt = None
    if invoice.tax_currency and invoice.tax_exchange_rate is not None:
        tax_fmt = _Formats(invoice.tax_currency, fmt.locale, fmt.sign)

    def tax_line(tax) -> TaxLine:
        label = CATEGORY_LABELS.get(tax.category, tax.category)
        in_tc = tax_fmt is not None and tax.tax_in_tax_currency is not None
        return TaxLine(
            category=f"{tax.name} ({label})" if tax.name else label,
            rate=fmt.percent(tax.rate),
            taxable=fmt.money(tax.taxable),
            tax=fmt.money(tax.tax),
            name=tax.name or "",
            taxable_in_tax_currency=tax_fmt.money(tax.taxable_in_tax_currency) if in_tc else None,
            tax_in_tax_currency=tax_fmt.money(tax.tax_in_tax_currency) if in_tc else None,
        )

    credited_number = None
    if credit and invoice.credited_invoice_id:
        credited_number = session.scalar(
            select(Invoice.number).where(Invoice.id == invoice.credited_invoice_id)
        )
    issuer = invoice.issuer_snapshot or {}
    terms_days = issuer.get("payment_terms_days")
    if credit:
        terms = f"This credit note corrects invoice {credited_number}."
    elif terms_days:
        terms = (
            f"Payable within {terms_days} days, by {fmt.day(invoice.due_date)}, "
            f"quoting {invoice.number}."
        )
    else:
        terms = f"Payable on receipt, quoting {invoice.number}."
    return InvoiceDocument(
        title="Credit note" if credit else "Invoice",
        number=invoice.number,
        is_credit_note=credit,
        credited_number=credited_number,
        reason=invoice.reason if credit else None,
        currency=invoice.currency,
        issuer=_party(issuer, name_key="legal_name"),
        bill_to=_party(invoice.bill_to_snapshot, name_key="name"),
        logo_data_url=_logo(session, issuer.get("logo_file_id")),
        issue_date=fmt.day(invoice.issue_date),
        due_date=fmt.day(invoice.due_date),
        period=fmt.span(invoice.period_start, invoice.period_end),
        po_number=invoice.po_number,
        groups=line_groups,
        taxes=[tax_line(tax) for tax in detail.taxes],
        vat_notes=detail.vat_notes,
        net_total=fmt.money(invoice.net_total),
        tax_total=fmt.money(invoice.tax_total),
        gross_total=fmt.money(invoice.gross_total),
        iban=issuer.get("iban"),
        bic=issuer.get("bic"),
        bank_text=issuer.get("bank_text"),
        payment_terms=terms,
        annex=[
            AnnexLine(
                freelancer=freelancers.get(row.freelancer_id, "—"),
                engagement=engagements.get(row.engagement_id, "—"),
                week=fmt.span(row.week_start, row.week_end),
                billed_days=fmt.span(row.first_date, row.last_date),
                hours=f"{format_minutes(row.minutes)} h" if row.minutes else "",
                days=fmt.quantity(row.half_days, "half_day") if row.half_days else "",
            )
            for row in detail.annex
        ],
        page_size=rules.page_size((invoice.bill_to_snapshot or {}).get("country")),
        tax_currency=invoice.tax_currency if tax_fmt else None,
        tax_exchange_rate=(
            f"1 {invoice.currency} = "
            f"{formatting.format_number(_plain(invoice.tax_exchange_rate), fmt.locale)} "
            f"{invoice.tax_currency}"
            if tax_fmt
            else None
        ),
        tax_total_in_tax_currency=(
            tax_fmt.money(invoice.tax_total_in_tax_currency)
            if tax_fmt and invoice.tax_total_in_tax_currency is not None
            else None
        ),
    )


def _not_issued(invoice: Invoice) -> str:
    label = "credit note" if invoice.kind == "credit_note" else "invoice"
    if invoice.state == "awaiting_approval":
        return f"This {label} waits for a second approval: it has no PDF until it is issued."
    return f"A draft {label} has no PDF: issue it first."


# --- rendering ------------------------------------------------------------------------------


def invoice_html(document: InvoiceDocument, *, template=TEMPLATE, **context) -> str:
    """The document's HTML (a template name, or a jinja Template); `context` is the compact
    layout's (fms.invoicing.pdf_parts: `compact` and the `part` to print)."""
    env = current_app.jinja_env
    compiled = env.get_template(template) if isinstance(template, str) else template
    return compiled.render(**{"compact": None, "part": None, **context, "doc": document})


def invoice_pdf_bytes(
    document: InvoiceDocument, *, template=TEMPLATE, fetcher=None, pdf_variant=None
) -> bytes:
    """The PDF of a document (pure: the same document gives the same pages). A long one
    (fms.invoicing.pdf_parts.FAST_MIN_LINES lines or more) prints its lines compactly and
    is rendered in parts on both cores, joined and page-numbered; `pdf_variant` (e.g.
    "pdf/a-3b") applies to every part, and the joined file keeps the first part's
    catalog."""
    from fms.invoicing import pdf_parts

    return pdf_parts.render_document(
        document, template=template, fetcher=fetcher, pdf_variant=pdf_variant
    )


def render_invoice_pdf(session: Session, *, invoice_id, actor: Actor | None = None):
    """The issued document's PDF, rendered and stored once: when it has one already, that
    one; else render, store, and attach it WHERE pdf_file_id IS NULL; a render that loses
    that race (a duplicated job) discards the file it stored and answers the winner's."""
    org_id = session_org_id(session)
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    if invoice.pdf_file_id is not None:
        return storage.get_file(session, invoice.pdf_file_id)
    from fms.invoicing import einvoice

    document = invoice_document(session, invoice_id=invoice.id)
    if einvoice.is_einvoice(session, invoice):
        # Factur-X: PDF/A-3b (WeasyPrint adds the output intent and embeds every font),
        # then the XML attached as factur-x.xml; a plain PDF would claim PDF/A falsely
        xml = einvoice.einvoice_xml(session, invoice_id=invoice.id)
        pdf = einvoice.embed(invoice_pdf_bytes(document, pdf_variant=einvoice.PDF_VARIANT), xml)
    else:
        pdf = invoice_pdf_bytes(document)
    stored = storage.store(
        session,
        org_id=invoice.org_id,
        filename=f"{invoice.number}.pdf",
        allowed_kinds=("pdf",),
        max_bytes=MAX_PDF_BYTES,
        data=pdf,
        created_by=actor.user_id if actor else None,
    )
    attached = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.pdf_file_id.is_(None))
        .values(pdf_file_id=stored.id, pdf_sha256=stored.sha256)
        .execution_options(synchronize_session=False)
    ).rowcount
    if attached != 1:
        _discard(session, stored)
        winner = session.scalar(select(Invoice.pdf_file_id).where(Invoice.id == invoice.id))
        log.info("invoice %r had its PDF already (file %r): discarded ours", invoice.id, winner)
        set_committed_value(invoice, "pdf_file_id", winner)
        return storage.get_file(session, winner)
    set_committed_value(invoice, "pdf_file_id", stored.id)
    set_committed_value(invoice, "pdf_sha256", stored.sha256)
    audit.record(
        session,
        actor or system_actor(org_id, channel="job"),
        f"{invoice.kind}.pdf_stored",
        invoice,
        after={"file_id": stored.id, "sha256": stored.sha256, "size": stored.size},
    )
    return stored


def _discard(session: Session, stored) -> None:
    """Remove a file this transaction stored and no longer needs: its row and its bytes."""
    path = storage.path_of(stored)
    session.execute(
        delete(storage.StoredFile)
        .where(storage.StoredFile.id == stored.id)
        .execution_options(synchronize_session=False)
    )
    session.expunge(stored)
    path.unlink(missing_ok=True)


@jobs.job
def render_invoice_pdf_job(actor: Actor, invoice_id: int) -> dict:
    """Render and store an issued document's PDF (safe to run twice: one file)."""
    stored = render_invoice_pdf(db.session, invoice_id=invoice_id, actor=actor)
    return {"invoice_id": invoice_id, "file_id": stored.id, "sha256": stored.sha256}


def enqueue_render(session: Session, invoice: Invoice):
    """Render the PDF once the transaction that issues `invoice` has committed (inline in
    the embedded default, on rq otherwise)."""
    return jobs.enqueue_after_commit(render_invoice_pdf_job, invoice.id, session=session)


# --- download -------------------------------------------------------------------------------


def invoice_pdf(session: Session, *, actor: Actor, invoice_id) -> storage.StoredFile:
    """The PDF of an issued invoice or credit note, for finance and org admins; another
    organization's id is NotFound, a draft has none. One whose job has not run yet is
    rendered and stored now (the caller commits)."""
    require(actor, "invoicing.read")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    if invoice.state not in rules.ISSUED_STATES:
        raise RuleViolation(_not_issued(invoice))
    if invoice.pdf_file_id is not None:
        return storage.get_file(session, invoice.pdf_file_id)
    return render_invoice_pdf(session, invoice_id=invoice.id, actor=actor)
