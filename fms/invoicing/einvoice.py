"""The e-invoice (Factur-X / ZUGFeRD, EN 16931 profile) of an issued invoice or credit note:
the UN/CEFACT CII XML built with drafthorse from the document's stored rows (its lines, its
VAT breakdown and its copies of both parties), so every figure in the XML is the invoice's.

Rules (EN 16931 and what we store):
- offered only when the organization enabled e-invoices (`BillingSettings.einvoice_enabled`)
  and the document is eligible (`einvoice_problems` says why not): EN 16931 allows at most
  two decimals in amounts, so a currency with three minor digits (BHD, KWD, ...) is refused;
  the seller's VAT id is required by every VAT category we bill in (BR-S-02, BR-Z-02,
  BR-E-02, BR-AE-02), a reverse charge also needs the buyer's (BR-AE-02);
- categories: standard and reduced "S" (with their rate), zero "Z", exempt "E" and reverse
  charge "AE" (0 %, with the exemption reason the PDF prints, BR-E-10 / BR-AE-10);
- a credit note is type 381, amounts positive, naming the invoice it corrects (BT-25/26);
- a line's quantity and price are written so that quantity x price / base quantity is its
  net: minutes as MIN at an hourly price per 60 MIN, half days as days (DAY) at the day
  rate, counts as C62; where the stored rate does not give the net (an amount correction),
  the net itself per the line's quantity. Prices are never negative (BR-27): a negative
  line has a negative quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms import money
from fms.errors import RuleViolation
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.invoicing import rules
from fms.invoicing.models import Invoice, InvoiceLine, InvoiceTax
from fms.tenancy import get_in_org

GUIDELINE = "urn:cen.eu:en16931:2017"
# drafthorse's name of the schema it checks the XML against while serializing
SCHEMA = "FACTUR-X_EN16931"
FILENAME = "factur-x.xml"
# the PDF an e-invoice is embedded in: PDF/A-3b (WeasyPrint adds the ICC output intent)
PDF_VARIANT = "pdf/a-3b"
MEDIA_TYPE = "application/xml"
# EN 16931 writes amounts with at most two decimals (BR-DEC-*)
MAX_MINOR_UNITS = 2

# our VAT categories as UNTDID 5305 codes
CATEGORY_CODES = {
    "standard": "S",
    "reduced": "S",
    "zero": "Z",
    "exempt": "E",
    "reverse_charge": "AE",
}
# categories whose breakdown carries an exemption reason (EN 16931 forbids it on S and Z)
_REASONED = ("exempt", "reverse_charge")
TYPE_INVOICE, TYPE_CREDIT_NOTE = "380", "381"
# UNTDID 4461: 58 SEPA credit transfer (EUR to an IBAN), 30 credit transfer otherwise
SEPA_TRANSFER, CREDIT_TRANSFER = "58", "30"


class NotEligible(RuleViolation):
    """The document cannot be an e-invoice; `reasons` says why (in users' words). A 422:
    the document is fine, it is just no e-invoice."""

    status = 422
    title = "No e-invoice"

    def __init__(self, reasons: list[str]):
        super().__init__(" ".join(reasons))
        self.reasons = reasons


# --- eligibility ---------------------------------------------------------------------------


def currency_problem(currency: str) -> str | None:
    """Why a currency cannot be used for e-invoices (None when it can): EN 16931 allows at
    most two decimals."""
    if money.minor_units(currency) > MAX_MINOR_UNITS:
        return (
            f"{currency} has {money.minor_units(currency)} decimals; e-invoices (EN 16931) "
            f"allow at most {MAX_MINOR_UNITS}."
        )
    return None


def _stacked_tax_problems(session: Session, invoice: Invoice) -> list[str]:
    """Stacked taxes (more than one tax on a line, e.g. GST + QST): EN 16931 allows one VAT
    category per line, so such a document is no e-invoice (the PDF shows the taxes)."""
    from fms.invoicing.services import has_stacked_taxes

    if has_stacked_taxes(invoice):
        return [
            "It carries stacked taxes (such as GST and QST on one line): EN 16931 allows one "
            "VAT category per line, so it is issued as a PDF only."
        ]
    return []


def einvoice_problems(session: Session, invoice: Invoice) -> list[str]:
    """Why an invoice or credit note of the session's organization cannot be an e-invoice
    (an empty list when it can): e-invoices off in the billing settings, a currency with
    more than two decimals, no seller VAT id, missing names or countries, a reverse charge
    without the buyer's VAT id, stacked taxes. The parties are the issued document's copies
    (a draft has none yet)."""
    from fms.invoicing.settings import billing_settings

    problems = []
    if not billing_settings(session).einvoice_enabled:
        problems.append("E-invoices are off in the billing settings.")
    if problem := currency_problem(invoice.currency):
        problems.append(problem)
    issued = invoice.issuer_snapshot is not None
    issuer = invoice.issuer_snapshot or {}
    buyer = invoice.bill_to_snapshot or {}
    if issued:
        if not (issuer.get("legal_name") or "").strip():
            problems.append("The issuing entity has no legal name.")
        if not issuer.get("country"):
            problems.append("The issuing entity has no country.")
        if not (issuer.get("vat_id") or "").strip():
            problems.append("The issuing entity has no VAT id (EN 16931 requires the seller's).")
        if not (buyer.get("name") or "").strip() or not buyer.get("country"):
            problems.append("The bill-to entity has no name or country.")
    categories = set(
        session.scalars(
            select(InvoiceLine.vat_category).where(InvoiceLine.invoice_id == invoice.id).distinct()
        )
    )
    if issued and "reverse_charge" in categories and not (buyer.get("vat_id") or "").strip():
        problems.append("A reverse charge needs the bill-to entity's VAT id.")
    if unknown := categories - set(CATEGORY_CODES):
        problems.append(f"Unknown VAT categories: {', '.join(sorted(unknown))}.")
    problems.extend(_stacked_tax_problems(session, invoice))
    return problems


def is_einvoice(session: Session, invoice: Invoice) -> bool:
    """An issued document that is (or will be) stored as Factur-X PDF/A-3."""
    return invoice.state in rules.ISSUED_STATES and not einvoice_problems(session, invoice)


def pdf_is_einvoice(session: Session, invoice: Invoice) -> bool:
    """Whether the document's PDF is (or, not rendered yet, will be) Factur-X: a stored PDF
    is asked itself (its catalog names the attached factur-x.xml; pypdf reads only the
    cross-reference table and the catalog), since one stored before e-invoices were
    switched on, or after they were switched off, keeps what it was."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    from fms import storage
    from fms.errors import NotFound

    if invoice.pdf_file_id is None:
        return is_einvoice(session, invoice)
    try:
        stored = storage.get_file(session, invoice.pdf_file_id)
        with storage.open_stored(stored) as stream:
            root = PdfReader(stream).trailer["/Root"]
            if "/AF" not in root:
                return False
            names = root["/Names"]["/EmbeddedFiles"]["/Names"]
            return FILENAME in [str(name) for name in names[::2]]
    except (OSError, NotFound, PyPdfError, KeyError, TypeError):
        return False  # an erased or unreadable file: no e-invoice to offer


# --- the XML -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinePrice:
    """How a line's quantity and price are written (BT-129, BT-130, BT-146, BT-149, BT-150)."""

    quantity: Decimal
    unit_code: str
    price: Decimal
    base_quantity: Decimal


def _amount(value, currency: str) -> Decimal:
    """An amount at the currency's minor unit (stored at scale 4: 2615.0000 -> 2615.00)."""
    return money.round_half_up(Decimal(value), currency)


def _plain(value) -> Decimal:
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def line_price(line: InvoiceLine, currency: str) -> LinePrice:
    """Quantity, unit and price of a line such that quantity x price / base = its net."""
    net = _amount(line.net, currency)
    rate = _plain(line.rate)
    if line.unit == "minute":
        candidate = LinePrice(Decimal(line.quantity), "MIN", rate, Decimal(60))
    elif line.unit == "half_day":
        candidate = LinePrice(_plain(Decimal(line.quantity) / 2), "DAY", rate, Decimal(1))
    else:
        candidate = LinePrice(Decimal(line.quantity), "C62", rate, Decimal(1))
    exact = candidate.quantity * candidate.price / candidate.base_quantity
    if rate >= 0 and candidate.quantity and money.round_half_up(exact, currency) == net:
        return candidate
    # the rate does not give the net (an amount correction): the net per the quantity
    count = Decimal(line.quantity or 1).copy_abs()
    sign = -1 if net < 0 else 1
    return LinePrice(sign * count, candidate.unit_code if line.quantity else "C62", abs(net), count)


def _address(address, text: str, country: str) -> None:
    """A free-text address as up to three lines (EN 16931 BT-35..37); the country code."""
    lines = [part.strip() for part in (text or "").splitlines() if part.strip()]
    if lines:
        address.line_one = lines[0][:200]
    if len(lines) > 1:
        address.line_two = lines[1][:200]
    if len(lines) > 2:
        address.line_three = ", ".join(lines[2:])[:200]
    address.country_id = country


def _party(party, name: str, address: str, country: str, vat_id: str | None) -> None:
    party.name = name
    _address(party.address, address, country)
    if vat_id:
        from drafthorse.models.party import TaxRegistration

        registration = TaxRegistration()
        registration.id = ("VA", vat_id)
        party.tax_registrations.add(registration)


def einvoice_xml(session: Session, *, invoice_id) -> bytes:
    """The CII XML (Factur-X EN 16931) of an issued, eligible invoice or credit note of the
    session's organization; a draft is a RuleViolation, an ineligible one NotEligible."""
    from drafthorse.models.accounting import ApplicableTradeTax
    from drafthorse.models.document import Document
    from drafthorse.models.note import IncludedNote
    from drafthorse.models.payment import PaymentMeans, PaymentTerms
    from drafthorse.models.tradelines import LineItem

    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    if invoice.state not in rules.ISSUED_STATES or invoice.number is None:
        label = "credit note" if invoice.kind == "credit_note" else "invoice"
        raise RuleViolation(f"A draft {label} has no e-invoice: issue it first.")
    problems = einvoice_problems(session, invoice)
    if problems:
        raise NotEligible(problems)
    currency = invoice.currency
    credit = invoice.kind == "credit_note"
    issuer = invoice.issuer_snapshot or {}
    buyer = invoice.bill_to_snapshot or {}
    lines = list(
        session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position)
        )
    )
    taxes = list(
        session.scalars(
            select(InvoiceTax)
            .where(InvoiceTax.invoice_id == invoice.id)
            .order_by(InvoiceTax.category, InvoiceTax.rate)
        )
    )

    doc = Document()
    doc.context.guideline_parameter.id = GUIDELINE
    doc.header.id = invoice.number
    doc.header.type_code = TYPE_CREDIT_NOTE if credit else TYPE_INVOICE
    doc.header.issue_date_time = invoice.issue_date
    if credit and invoice.reason:
        note = IncludedNote()
        note.content = invoice.reason[:1000]
        doc.header.notes.add(note)

    agreement = doc.trade.agreement
    _party(
        agreement.seller,
        issuer.get("legal_name") or "",
        issuer.get("address") or "",
        issuer.get("country") or "",
        issuer.get("vat_id"),
    )
    _party(
        agreement.buyer,
        buyer.get("name") or "",
        buyer.get("address") or "",
        buyer.get("country") or "",
        buyer.get("vat_id"),
    )
    if invoice.po_number:
        agreement.buyer_order.issuer_assigned_id = invoice.po_number  # BT-13

    for line in lines:
        item = LineItem()
        item.document.line_id = str(line.position)
        item.product.name = line.description
        price = line_price(line, currency)
        item.agreement.net.amount = price.price
        if price.base_quantity != 1:
            item.agreement.net.basis_quantity = (price.base_quantity, price.unit_code)
        item.delivery.billed_quantity = (price.quantity, price.unit_code)
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = CATEGORY_CODES[line.vat_category]
        item.settlement.trade_tax.rate_applicable_percent = _plain(line.vat_rate)
        if line.first_date and line.last_date:
            item.settlement.period.start = line.first_date
            item.settlement.period.end = line.last_date
        item.settlement.monetary_summation.total_amount = _amount(line.net, currency)
        doc.trade.items.add(item)

    # the services were delivered over the billing period (BG-14 below); its last day is the
    # delivery date (BT-72), and an empty delivery element is a finding of its own
    doc.trade.delivery.event.occurrence = invoice.period_end

    settlement = doc.trade.settlement
    settlement.currency_code = currency
    settlement.payment_reference = invoice.number
    iban = issuer.get("iban")
    if iban:
        means = PaymentMeans()
        means.type_code = SEPA_TRANSFER if currency == "EUR" else CREDIT_TRANSFER
        means.payee_account.iban = iban
        if issuer.get("bic"):
            means.payee_institution.bic = issuer["bic"]
        settlement.payment_means.add(means)
    for row in taxes:
        tax = ApplicableTradeTax()
        tax.type_code = "VAT"
        tax.category_code = CATEGORY_CODES[row.category]
        tax.rate_applicable_percent = _plain(row.rate)
        tax.basis_amount = _amount(row.taxable, currency)
        tax.calculated_amount = _amount(row.tax, currency)
        if row.category in _REASONED:
            tax.exemption_reason = rules.VAT_NOTES[row.category]
        settlement.trade_tax.add(tax)
    settlement.period.start = invoice.period_start
    settlement.period.end = invoice.period_end
    if credit:
        credited = session.execute(
            select(Invoice.number, Invoice.issue_date).where(
                Invoice.id == invoice.credited_invoice_id
            )
        ).first()
        if credited is not None:
            settlement.invoice_referenced_document.issuer_assigned_id = credited.number
            if credited.issue_date:
                settlement.invoice_referenced_document.issue_date_time = credited.issue_date
    terms = PaymentTerms()
    terms.description = _terms_text(invoice, issuer)
    if invoice.due_date and not credit:
        terms.due = invoice.due_date
    settlement.terms.add(terms)

    totals = settlement.monetary_summation
    net = _amount(invoice.net_total, currency)
    totals.line_total = net
    totals.charge_total = _amount(0, currency)
    totals.allowance_total = _amount(0, currency)
    totals.tax_basis_total = net
    totals.tax_total = (_amount(invoice.tax_total, currency), currency)
    if invoice.tax_currency and invoice.tax_currency != currency:
        # BT-6 and BT-111 (BR-53): the VAT total also in the currency the buyer accounts
        # VAT in, at the rate fixed at issue
        settlement.tax_currency_code = invoice.tax_currency
        totals.tax_total_other_currency.add(
            (_amount(invoice.tax_total_in_tax_currency, invoice.tax_currency), invoice.tax_currency)
        )
    totals.grand_total = _amount(invoice.gross_total, currency)
    totals.prepaid_total = _amount(0, currency)
    totals.due_amount = _amount(invoice.gross_total, currency)
    return doc.serialize(schema=SCHEMA)


def _terms_text(invoice: Invoice, issuer: dict) -> str:
    if invoice.kind == "credit_note":
        return "Credit note: nothing to pay."
    days = issuer.get("payment_terms_days")
    if days:
        return f"Payable within {days} days, quoting {invoice.number}."
    return f"Payable on receipt, quoting {invoice.number}."


def embed(pdf: bytes, xml: bytes) -> bytes:
    """A PDF/A-3 rendering with the XML attached as `factur-x.xml` (AFRelationship Data),
    its XMP metadata saying Factur-X EN 16931; the XML is checked against the XSD."""
    import facturx

    return facturx.generate_from_binary(
        pdf, xml, flavor="factur-x", level="en16931", check_xsd=True
    )


# --- download ------------------------------------------------------------------------------


def invoice_xml(session: Session, *, actor: Actor, invoice_id) -> tuple[str, bytes]:
    """The e-invoice XML of an issued invoice or credit note, for finance and org admins:
    (file name, bytes). Another organization's id is NotFound, a draft a RuleViolation, an
    ineligible one NotEligible with its reasons."""
    require(actor, "invoicing.read")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    return f"{invoice.number}.xml", einvoice_xml(session, invoice_id=invoice.id)


def xml_response(name: str, data: bytes):
    """The download of an e-invoice XML (the API's and the page's), with the headers that
    keep a browser from running what it downloads."""
    from flask import Response

    response = Response(data, mimetype=MEDIA_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
