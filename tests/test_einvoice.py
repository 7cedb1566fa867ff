"""Factur-X / ZUGFeRD e-invoices (EN 16931): the XML of every kind of document we issue
passes both validations with zero findings — the factur-x XSD check and the EN 16931
business rules (FACTUR-X_EN16931.xslt from factur-x's package data, run offline by
saxonche; never `facturx.xml_check_schematron()`, which asks a server on localhost:5000 and
answers success when none is there) — and its figures equal the invoice's rows; the stored
PDF is PDF/A-3b with the XML attached; who may download the XML, and which invoices are
no e-invoices.

The billing world (tests/factories_invoicing.py): 90.00 EUR an hour, a German issuer "FMS
Services GmbH" (DE999999999, IBAN DE89370400440532013000) billing "Client GmbH"
(DE123456789) at 19 %, 30 days' payment terms."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from importlib import resources

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from fms import storage
from fms.errors import NotAllowed, RuleViolation
from fms.identity.models import User
from fms.invoicing import einvoice
from fms.invoicing import pdf as invoice_pdf
from fms.invoicing import settings as billing
from fms.invoicing.models import BillToEntity, Invoice
from tests.factories import as_org

NOV_2 = date(2026, 11, 2)  # a Monday
ISSUED_ON = date(2026, 12, 4)
D = Decimal
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}

# --- the two validators --------------------------------------------------------------------

_XSLT = (
    resources.files("facturx") / "xsd_and_schematron" / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
)
_compiled: dict = {}


def _rules():
    """The EN 16931 rules, compiled once per test run (a few seconds)."""
    if "exe" not in _compiled:
        from saxonche import PySaxonProcessor

        processor = PySaxonProcessor(license=False)
        xslt = processor.new_xslt30_processor()
        # compiled from its file, so document('FACTUR-X_EN16931_codedb.xml') is read offline
        _compiled["exe"] = xslt.compile_stylesheet(stylesheet_file=str(_XSLT))
        _compiled["processor"] = processor
    return _compiled["processor"], _compiled["exe"]


def business_rule_findings(xml: bytes) -> list[str]:
    """Every failed assert and every successful report (errors and warnings alike) of the
    EN 16931 rules on this XML, as "[flag] location: text"."""
    processor, exe = _rules()
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = exe.transform_to_string(xdm_node=node)
    assert report and "schematron-output" in report, report
    root = etree.fromstring(report.encode("utf-8"))
    findings = []
    for kind in ("failed-assert", "successful-report"):
        for finding in root.iterfind(f".//svrl:{kind}", SVRL):
            text = " ".join(finding.findtext("svrl:text", "", SVRL).split())
            findings.append(f"{kind} [{finding.get('flag')}] {finding.get('location')}: {text}")
    return findings


def assert_valid(xml: bytes) -> None:
    """Both validations, zero findings."""
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    findings = business_rule_findings(xml)
    assert findings == [], "\n".join(findings)


# --- reading the XML back ------------------------------------------------------------------


def _x(root, path):
    return root.xpath(path, namespaces=NS)


def _dec(root, path) -> Decimal:
    (value,) = _x(root, path + "/text()")
    return Decimal(value)


def figures(xml: bytes) -> dict:
    """What the XML says, as plain values."""
    root = etree.fromstring(xml)
    settle = "//ram:ApplicableHeaderTradeSettlement"
    sums = f"{settle}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    return {
        "type": _x(root, "//rsm:ExchangedDocument/ram:TypeCode/text()")[0],
        "number": _x(root, "//rsm:ExchangedDocument/ram:ID/text()")[0],
        "guideline": _x(root, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()")[0],
        "currency": _x(root, f"{settle}/ram:InvoiceCurrencyCode/text()")[0],
        "net": _dec(root, f"{sums}/ram:LineTotalAmount"),
        "basis": _dec(root, f"{sums}/ram:TaxBasisTotalAmount"),
        # BT-110 in the invoice currency; BT-111 (when there is one) in the tax currency
        "tax": _dec(
            root, f"{sums}/ram:TaxTotalAmount[@currencyID={settle}/ram:InvoiceCurrencyCode]"
        ),
        "tax_currency": _x(root, f"{settle}/ram:TaxCurrencyCode/text()"),
        "tax_in_tax_currency": [
            (row.get("currencyID"), Decimal(row.text))
            for row in _x(
                root, f"{sums}/ram:TaxTotalAmount[@currencyID!={settle}/ram:InvoiceCurrencyCode]"
            )
        ],
        "gross": _dec(root, f"{sums}/ram:GrandTotalAmount"),
        "due": _dec(root, f"{sums}/ram:DuePayableAmount"),
        "lines": [
            Decimal(text)
            for text in _x(
                root,
                "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()",
            )
        ],
        "line_categories": _x(
            root,
            "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()",
        ),
        "vat": [
            (
                row.findtext("ram:CategoryCode", namespaces=NS),
                Decimal(row.findtext("ram:RateApplicablePercent", namespaces=NS)),
                Decimal(row.findtext("ram:BasisAmount", namespaces=NS)),
                Decimal(row.findtext("ram:CalculatedAmount", namespaces=NS)),
                row.findtext("ram:ExemptionReason", namespaces=NS),
            )
            for row in _x(root, f"{settle}/ram:ApplicableTradeTax")
        ],
        "seller_vat": _x(root, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()"),
        "buyer_vat": _x(root, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()"),
        "seller_country": _x(root, "//ram:SellerTradeParty//ram:CountryID/text()"),
        "buyer_country": _x(root, "//ram:BuyerTradeParty//ram:CountryID/text()"),
        "po": _x(root, "//ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID/text()"),
        "preceding": _x(root, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()"),
        "iban": _x(root, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID/text()"),
        "bic": _x(root, "//ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID/text()"),
        "due_date": _x(root, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/*/text()"),
        "issue_date": _x(root, "//rsm:ExchangedDocument/ram:IssueDateTime/*/text()")[0],
    }


def xml_of(session, invoice) -> bytes:
    return einvoice.einvoice_xml(session, invoice_id=invoice.id)


# --- the worlds ----------------------------------------------------------------------------


def _enable(bill):
    billing.set_einvoice(bill.session, actor=bill.finance, enabled=True)


def _issue_one(bill, *, po=None):
    """One week of time (480 + 480 + 450 = 1,410 min at 90.00 = 2,115.00) and a 500.00
    milestone: net 2,615.00, issued on 4 December 2026."""
    if po:
        bill.world.engagement.po_number = po
        bill.session.flush()
    bill.approved_week(NOV_2, (480, 480, 450))
    bill.milestone("500", date(2026, 11, 20))
    (invoice,) = bill.close().invoices
    bill.issue(invoice, today=ISSUED_ON)
    return invoice


@pytest.fixture
def standard(session, billing_for):
    bill = billing_for(address="Marktplatz 5\n80331 München")
    _enable(bill)
    return bill, _issue_one(bill, po="PO-4711")


# --- every kind validates, with the invoice's figures ---------------------------------------


def test_a_standard_rate_invoice(session, standard):
    bill, invoice = standard
    xml = xml_of(session, invoice)
    assert_valid(xml)
    got = figures(xml)
    # 2,115.00 + 500.00 = 2,615.00; 19 % = 496.85; 3,111.85
    assert got["type"] == "380" and got["number"] == "INV-2026-00001"
    assert got["guideline"] == "urn:cen.eu:en16931:2017"
    assert got["currency"] == "EUR" and got["issue_date"] == "20261204"
    assert got["lines"] == [D("2115.00"), D("500.00")]
    assert (got["net"], got["basis"], got["tax"], got["gross"], got["due"]) == (
        D("2615.00"),
        D("2615.00"),
        D("496.85"),
        D("3111.85"),
        D("3111.85"),
    )
    assert got["vat"] == [("S", D(19), D("2615.00"), D("496.85"), None)]
    assert got["line_categories"] == ["S", "S"]
    assert got["seller_vat"] == ["DE999999999"] and got["buyer_vat"] == ["DE123456789"]
    assert got["seller_country"] == ["DE"] and got["buyer_country"] == ["DE"]
    assert got["po"] == ["PO-4711"]
    assert got["iban"] == ["DE89370400440532013000"] and got["bic"] == ["COBADEFFXXX"]
    assert got["due_date"] == ["20270103"]  # 30 days after 4 December
    # and they are the invoice's stored figures
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("2615.00"),
        D("496.85"),
        D("3111.85"),
    )


def test_a_reduced_rate_invoice(session, billing_for):
    bill = billing_for(tax_category="reduced")
    billing.add_vat_rate(
        session,
        actor=bill.finance,
        country="DE",
        category="reduced",
        rate="7",
        effective_from="2020-01-01",
    )
    _enable(bill)
    invoice = _issue_one(bill)
    xml = xml_of(session, invoice)
    assert_valid(xml)
    got = figures(xml)
    # 2,615.00 x 7 % = 183.05
    assert got["vat"] == [("S", D(7), D("2615.00"), D("183.05"), None)]
    assert (got["net"], got["tax"], got["gross"]) == (D("2615.00"), D("183.05"), D("2798.05"))
    assert (invoice.tax_total, invoice.gross_total) == (D("183.05"), D("2798.05"))


@pytest.mark.parametrize(
    ("category", "code", "reason"),
    [
        ("zero", "Z", None),
        ("exempt", "E", "Exempt from VAT."),
    ],
)
def test_zero_rated_and_exempt_invoices(session, billing_for, category, code, reason):
    bill = billing_for(tax_category=category)
    _enable(bill)
    invoice = _issue_one(bill)
    xml = xml_of(session, invoice)
    assert_valid(xml)
    got = figures(xml)
    assert got["vat"] == [(code, D(0), D("2615.00"), D("0.00"), reason)]
    assert got["line_categories"] == [code, code]
    assert (got["net"], got["tax"], got["gross"]) == (D("2615.00"), D("0.00"), D("2615.00"))


def test_a_reverse_charge_invoice(session, billing_for):
    bill = billing_for(name="Client SARL", country="FR", vat_id="FR12345678901")
    _enable(bill)
    invoice = _issue_one(bill)
    xml = xml_of(session, invoice)
    assert_valid(xml)
    got = figures(xml)
    assert got["vat"] == [
        (
            "AE",
            D(0),
            D("2615.00"),
            D("0.00"),
            "Reverse charge: VAT is due by the recipient (Art. 196 Directive 2006/112/EC).",
        )
    ]
    assert got["buyer_vat"] == ["FR12345678901"] and got["buyer_country"] == ["FR"]
    assert got["gross"] == D("2615.00")


def test_a_credit_note_names_the_invoice_it_corrects(session, standard):
    bill, invoice = standard
    credit = bill.credit(invoice, reason="Wrong rate")
    bill.issue(credit, today=date(2026, 12, 10))
    xml = xml_of(session, credit)
    assert_valid(xml)
    got = figures(xml)
    assert got["type"] == "381" and got["number"] == "CN-2026-00001"
    assert got["preceding"] == ["INV-2026-00001"]
    # a full credit: the invoice's figures, positive in a credit note
    assert got["lines"] == [D("2115.00"), D("500.00")]
    assert (got["net"], got["tax"], got["gross"]) == (D("2615.00"), D("496.85"), D("3111.85"))


@pytest.mark.parametrize("currency", ["USD", "GBP"])
def test_an_invoice_in_another_currency(session, billing_for, currency):
    """An expense in another currency is an invoice of its own in that currency."""
    bill = billing_for()
    _enable(bill)
    bill.approved_week(NOV_2, (480,))  # 8 h at 90.00 EUR = 720.00 EUR
    bill.expense("123.45", date(2026, 11, 4), currency=currency)
    invoices = bill.close().invoices
    (other,) = [i for i in invoices if i.currency == currency]
    (eur,) = [i for i in invoices if i.currency == "EUR"]
    for invoice in (eur, other):
        bill.issue(invoice, today=ISSUED_ON)
    got = figures(xml := xml_of(session, other))
    assert_valid(xml)
    # 123.45 x 19 % = 23.4555 -> 23.46
    assert got["currency"] == currency
    assert got["lines"] == [D("123.45")]
    assert (got["net"], got["tax"], got["gross"]) == (D("123.45"), D("23.46"), D("146.91"))
    assert (other.net_total, other.tax_total, other.gross_total) == (
        D("123.45"),
        D("23.46"),
        D("146.91"),
    )
    got = figures(xml := xml_of(session, eur))
    assert_valid(xml)
    assert (got["net"], got["tax"], got["gross"]) == (D("720.00"), D("136.80"), D("856.80"))


def test_the_validator_can_fail(session, standard):
    """A total tampered with is an EN 16931 error: the rules do run."""
    bill, invoice = standard
    xml = xml_of(session, invoice)
    broken = xml.replace(b">3111.85<", b">3111.86<")
    assert broken != xml
    findings = business_rule_findings(broken)
    assert any("failed-assert" in f and "BR-CO-15" in f for f in findings), findings


# --- the PDF ---------------------------------------------------------------------------------


def _pdf(session, invoice) -> bytes:
    stored = invoice_pdf.render_invoice_pdf(session, invoice_id=invoice.id)
    return storage.path_of(stored).read_bytes()


def _resolve(obj):
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _fonts(reader):
    """Every font dictionary of every page (descendant fonts of Type0 fonts included)."""
    for page in reader.pages:
        resources_ = _resolve(page.get("/Resources")) or {}
        fonts = _resolve(resources_.get("/Font")) or {}
        for ref in fonts.values():
            font = _resolve(ref)
            yield font
            for child in _resolve(font.get("/DescendantFonts")) or []:
                yield _resolve(child)


def test_the_stored_pdf_is_pdf_a_3b_with_the_xml_attached(session, standard):
    bill, invoice = standard
    data = _pdf(session, invoice)
    reader = PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    # XMP: PDF/A part 3, conformance B, and Factur-X EN 16931
    xmp = _resolve(root["/Metadata"]).get_data().decode("utf-8")
    assert re.search(r"pdfaid:part(>|=\")3", xmp), xmp
    assert re.search(r"pdfaid:conformance(>|=\")B", xmp), xmp
    assert "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp
    assert re.search(r"fx:ConformanceLevel(>|=\")EN 16931", xmp), xmp
    # the output intent with its ICC colour profile
    (intent,) = [_resolve(i) for i in _resolve(root["/OutputIntents"])]
    assert intent["/S"] == "/GTS_PDFA1"
    assert _resolve(intent["/DestOutputProfile"]).get_data()[36:40] == b"acsp"  # ICC magic
    # factur-x.xml, the associated data file (factur-x sets /Data), listed in /AF
    names = _resolve(_resolve(root["/Names"])["/EmbeddedFiles"])["/Names"]
    files = dict(zip(names[::2], (_resolve(spec) for spec in names[1::2]), strict=True))
    spec = files["factur-x.xml"]
    assert spec["/AFRelationship"] == "/Data"
    assert spec.indirect_reference in list(_resolve(root["/AF"]))
    embedded = _resolve(spec["/EF"]["/F"]).get_data()
    assert embedded == xml_of(session, invoice)
    assert_valid(embedded)
    # every font embedded
    fonts = list(_fonts(reader))
    assert fonts
    for font in fonts:
        if font.get("/Subtype") == "/Type0":
            continue  # its descendant carries the descriptor
        descriptor = _resolve(font.get("/FontDescriptor"))
        assert descriptor is not None, font
        assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), font
    # and it still prints the invoice
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "INV-2026-00001" in text and "€3,111.85" in text


def test_with_e_invoices_off_the_pdf_is_plain(session, billing_for):
    bill = billing_for()
    invoice = _issue_one(bill)
    assert einvoice.einvoice_problems(session, invoice) == [
        "E-invoices are off in the billing settings."
    ]
    reader = PdfReader(io.BytesIO(_pdf(session, invoice)))
    root = reader.trailer["/Root"]
    assert "/AF" not in root and "/OutputIntents" not in root
    assert not reader.attachments
    with pytest.raises(einvoice.NotEligible, match="off in the billing settings"):
        xml_of(session, invoice)


# --- eligibility ---------------------------------------------------------------------------


def test_a_three_decimal_currency_is_no_e_invoice(session, billing_for):
    bill = billing_for()
    _enable(bill)
    bill.approved_week(NOV_2, (480,))
    bill.expense("12.345", date(2026, 11, 4), currency="BHD")
    (bhd,) = [i for i in bill.close().invoices if i.currency == "BHD"]
    bill.issue(bhd, today=ISSUED_ON)
    assert einvoice.einvoice_problems(session, bhd) == [
        "BHD has 3 decimals; e-invoices (EN 16931) allow at most 2."
    ]
    with pytest.raises(einvoice.NotEligible, match="BHD has 3 decimals"):
        xml_of(session, bhd)
    reader = PdfReader(io.BytesIO(_pdf(session, bhd)))
    assert not reader.attachments and "/OutputIntents" not in reader.trailer["/Root"]


def test_switching_on_needs_the_issuers_vat_id_and_is_audited(session, bill):
    from sqlalchemy import select

    from fms.audit.models import AuditEntry

    billing.update_billing_settings(session, actor=bill.finance, issuer_vat_id="")
    with pytest.raises(RuleViolation, match="VAT id"):
        billing.set_einvoice(session, actor=bill.finance, enabled=True)
    billing.update_billing_settings(session, actor=bill.finance, issuer_vat_id="DE999999999")
    with pytest.raises(NotAllowed):
        billing.set_einvoice(session, actor=bill.world.manager, enabled=True)
    assert billing.set_einvoice(session, actor=bill.finance, enabled=True).einvoice_enabled
    billing.set_einvoice(session, actor=bill.finance, enabled=False)
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.like("billing_settings.einvoice%"))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["billing_settings.einvoice_enabled", "billing_settings.einvoice_disabled"]


def test_a_draft_has_no_e_invoice(session, bill):
    _enable(bill)
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    with pytest.raises(RuleViolation, match="draft invoice has no e-invoice"):
        xml_of(session, invoice)


# --- downloads -----------------------------------------------------------------------------


@pytest.fixture
def client_as(app, session, sign_in):
    def make(actor, org):
        client = app.test_client()
        sign_in(client, session.get(User, actor.user_id), org)
        return client

    return make


def _their_invoice(session, make_org) -> int:
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
    return theirs.id


def test_finance_downloads_the_xml_from_the_api_and_the_page(
    session, standard, client_as, make_org
):
    bill, invoice = standard
    theirs = _their_invoice(session, make_org)
    session.commit()
    finance = client_as(bill.finance, bill.org)
    got = finance.get(f"/api/v1/invoices/{invoice.id}/xml")
    assert got.status_code == 200, got.get_data()[:300]
    assert got.mimetype == "application/xml"
    assert "INV-2026-00001.xml" in got.headers["Content-Disposition"]
    assert_valid(got.get_data())
    page = finance.get(f"/invoicing/{invoice.id}/xml")
    assert page.status_code == 200 and page.get_data() == got.get_data()
    html = finance.get(f"/invoicing/{invoice.id}").get_data(as_text=True)
    assert "PDF (Factur-X, PDF/A-3)" in html and "Factur-X XML" in html  # not rendered yet
    pdf = finance.get(f"/invoicing/{invoice.id}/pdf")
    assert list(PdfReader(io.BytesIO(pdf.get_data())).attachments) == ["factur-x.xml"]
    html = finance.get(f"/invoicing/{invoice.id}").get_data(as_text=True)
    assert "PDF (Factur-X, PDF/A-3)" in html  # the stored one, asked itself
    # another organization's invoice is not found; a hiring manager may not download
    assert finance.get(f"/api/v1/invoices/{theirs}/xml").status_code == 404
    assert finance.get(f"/invoicing/{theirs}/xml").status_code == 404
    manager = client_as(bill.world.manager, bill.org)
    assert manager.get(f"/api/v1/invoices/{invoice.id}/xml").status_code == 403


def test_the_api_says_why_there_is_no_xml(session, bill, client_as):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    session.commit()
    finance = client_as(bill.finance, bill.org)
    draft = finance.get(f"/api/v1/invoices/{invoice.id}/xml")
    assert draft.status_code == 409 and draft.mimetype == "application/problem+json"
    bill.issue(invoice, today=ISSUED_ON)
    session.commit()
    off = finance.get(f"/api/v1/invoices/{invoice.id}/xml")
    assert off.status_code == 422 and off.mimetype == "application/problem+json"
    assert "off in the billing settings" in off.get_json()["detail"]
    html = finance.get(f"/invoicing/{invoice.id}").get_data(as_text=True)
    assert "Factur-X XML" not in html and "PDF (Factur-X" not in html
    # its plain PDF stored, then e-invoices switched on: the XML is offered, the stored PDF
    # stays what it is and the link says so
    assert finance.get(f"/invoicing/{invoice.id}/pdf").status_code == 200
    _enable(bill)
    session.commit()
    html = finance.get(f"/invoicing/{invoice.id}").get_data(as_text=True)
    assert "Factur-X XML" in html and "PDF (Factur-X" not in html and "Download PDF" in html
    assert finance.get(f"/api/v1/invoices/{invoice.id}/xml").status_code == 200


# --- the demo --------------------------------------------------------------------------------


def test_the_demos_issued_invoices_are_valid_e_invoices(app, session):
    """`flask fms demo`: e-invoices on, the issued invoices and the credit note validate and
    their stored PDFs carry the XML."""
    from sqlalchemy import select

    from fms.demo import DEMO_SLUG
    from fms.identity.models import Organization
    from fms.tenancy import scope_session

    assert app.test_cli_runner().invoke(args=["fms", "demo"]).exit_code == 0
    org = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    scope_session(session, org.id)
    assert billing.billing_settings(session).einvoice_enabled
    issued = session.scalars(
        select(Invoice).where(Invoice.state.in_(("issued", "paid", "credited")))
    ).all()
    kinds = {invoice.kind for invoice in issued}
    assert kinds == {"invoice", "credit_note"}, kinds
    for invoice in issued:
        xml = xml_of(session, invoice)
        assert_valid(xml)
        got = figures(xml)
        assert (got["net"], got["tax"], got["gross"]) == (
            invoice.net_total,
            invoice.tax_total,
            invoice.gross_total,
        )
        assert sum(got["lines"]) == invoice.net_total
    reader = PdfReader(io.BytesIO(_pdf(session, issued[0])))
    assert list(reader.attachments) == ["factur-x.xml"]


def test_the_settings_page_and_the_api_switch_e_invoices(session, bill, client_as):
    session.commit()
    finance = client_as(bill.finance, bill.org)
    page = finance.get("/invoicing/settings")
    html = " ".join(page.get_data(as_text=True).split())
    assert page.status_code == 200
    assert "only for currencies with at most two decimals" in html
    assert "BHD, KWD, OMR" in html
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    token = token or re.search(r'name="csrf_token" value="([^"]+)"', html)
    saved = finance.post(
        "/invoicing/settings/einvoice",
        data={"csrf_token": token[1], "einvoice_enabled": "y"},
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:500]
    session.expire_all()
    assert billing.billing_settings(session).einvoice_enabled is True
    body = finance.get("/api/v1/billing-settings").get_json()
    assert body["einvoice_enabled"] is True
    off = finance.put("/api/v1/billing-settings", json={"einvoice_enabled": False})
    assert off.status_code == 200 and off.get_json()["einvoice_enabled"] is False
    # without the issuer's VAT id it is refused, and nothing changes
    refused = finance.put(
        "/api/v1/billing-settings", json={"issuer_vat_id": "", "einvoice_enabled": True}
    )
    assert refused.status_code == 409 and "VAT id" in refused.get_json()["detail"]
    assert finance.get("/api/v1/billing-settings").get_json()["issuer_vat_id"] == "DE999999999"


def test_what_en_16931_needs_and_is_missing_makes_no_e_invoice(session, billing_for):
    """A reverse charge to an entity without a VAT id (its category fixed), and an issuer
    whose VAT id was removed after e-invoices were switched on: plain PDFs, with reasons."""
    bill = billing_for(name="Client SARL", country="FR", vat_id=None, tax_category="reverse_charge")
    _enable(bill)
    billing.update_billing_settings(session, actor=bill.finance, issuer_vat_id="")
    invoice = _issue_one(bill)
    assert einvoice.einvoice_problems(session, invoice) == [
        "The issuing entity has no VAT id (EN 16931 requires the seller's).",
        "A reverse charge needs the bill-to entity's VAT id.",
    ]
    assert not einvoice.is_einvoice(session, invoice)
    reader = PdfReader(io.BytesIO(_pdf(session, invoice)))
    assert not reader.attachments


@pytest.mark.parametrize(
    ("unit", "quantity", "rate", "net", "expected"),
    [
        # 1,410 min at 90.00 an hour: 1410 MIN at 90 per 60 MIN = 2,115.00
        ("minute", 1410, "90", "2115.00", ("1410", "MIN", "90", "60")),
        # minus 30 minutes: a negative quantity, never a negative price (BR-27)
        ("minute", -30, "90", "-45.00", ("-30", "MIN", "90", "60")),
        # 3 half days at 800.00 a day: 1.5 DAY at 800
        ("half_day", 3, "800", "1200.00", ("1.5", "DAY", "800", "1")),
        # an amount correction of -12.34 (no rate): the net per its one item
        ("each", 1, "0", "-12.34", ("-1", "C62", "12.34", "1")),
        # two expenses of different amounts on one line: the net per the two
        ("each", 2, "0", "30.00", ("2", "C62", "30.00", "2")),
    ],
)
def test_a_lines_quantity_times_its_price_is_its_net(unit, quantity, rate, net, expected):
    from fms.invoicing.models import InvoiceLine

    line = InvoiceLine(unit=unit, quantity=quantity, rate=D(rate), net=D(net))
    got = einvoice.line_price(line, "EUR")
    assert (str(got.quantity), got.unit_code, str(got.price), str(got.base_quantity)) == expected
    assert got.quantity * got.price / got.base_quantity == D(net)


def test_vat_in_the_buyers_tax_currency_is_bt_111(session, billing_for):
    """An entity invoiced in EUR that accounts VAT in PLN: the XML names PLN as the tax
    currency (BT-6) and gives the VAT total in PLN at the rate fixed at issue (BT-111, rule
    BR-53), and both validations pass."""
    from fms.workforce import services as workforce

    bill = billing_for(name="Klient Sp. z o.o.", tax_currency="PLN")
    _enable(bill)
    workforce.add_exchange_rate(
        session, actor=bill.finance, currency="PLN", rate="0.235", effective_from="2026-01-01"
    )
    bill.approved_week(NOV_2, (480,))  # 8 h at 90.00 = 720.00 EUR, VAT 19 % = 136.80 EUR
    (invoice,) = bill.close().invoices
    bill.issue(invoice, today=ISSUED_ON)
    got = figures(xml := xml_of(session, invoice))
    assert_valid(xml)
    assert (got["currency"], got["tax"]) == ("EUR", D("136.80"))
    # 136.80 EUR / 0.235 EUR per PLN = 582.1276... -> 582.13 PLN
    assert (got["tax_currency"], got["tax_in_tax_currency"]) == (["PLN"], [("PLN", D("582.13"))])


def test_stacked_taxes_make_no_e_invoice(session, billing_for):
    """GST + QST on one line cannot be said in EN 16931 (one VAT category per line): the
    invoice is a plain PDF and the XML is refused with the reason."""
    from tests.test_invoicing_taxes import quebec

    bill = quebec(billing_for)
    _enable(bill)
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice, today=ISSUED_ON)
    problems = einvoice.einvoice_problems(session, invoice)
    assert any("stacked taxes" in problem for problem in problems)
    with pytest.raises(einvoice.NotEligible):
        xml_of(session, invoice)
    _pdf(session, invoice)
    assert not einvoice.pdf_is_einvoice(session, invoice)
