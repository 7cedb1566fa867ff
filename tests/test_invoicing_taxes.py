"""More tax (issue 13): stacked taxes (Quebec's GST + QST, each rounded once), the tax
currency's exchange rate fixed at the issue with the VAT in it (BT-111), the service fee as
its own lines (the organization's percent, a supplier's instead), and the paper by the
bill-to country. Figures are worked out by hand from the factories' data: the engagement
bills 90.00 EUR an hour; the factory's VAT rate is 19 %; the organization's base currency
is EUR."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity.models import User
from fms.invoicing import pdf as invoice_pdf
from fms.invoicing import rules
from fms.invoicing import services as invoicing
from fms.invoicing import settings as billing
from fms.invoicing.models import Invoice, InvoiceTax, NumberSeries, ServiceFee
from fms.tenancy import scope_session
from fms.workforce import services as workforce

NOV_2 = date(2026, 11, 2)  # a Monday
ISSUED_ON = date(2026, 12, 4)
D = Decimal


def taxes(session, invoice):
    return [
        (row.name, row.rate, row.taxable, row.tax)
        for row in session.scalars(
            select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id).order_by(InvoiceTax.id)
        )
    ]


def quebec(billing_for):
    """A bill-to entity in Quebec (its standard category fixed: the issuer is registered for
    GST and QST there), with Quebec's set: GST 5 % and QST 9.975 %."""
    bill = billing_for(
        name="Client Québec Inc.", country="CA", region="QC", tax_category="standard"
    )
    for name, rate in (("GST", "5"), ("QST", "9.975")):
        billing.add_tax_component(
            bill.session,
            actor=bill.finance,
            country="CA",
            region="QC",
            name=name,
            rate=rate,
            effective_from="2020-01-01",
        )
    return bill


# --- stacked taxes -------------------------------------------------------------------------


def test_gst_and_qst_stack_each_on_the_net_rounded_once(session, billing_for):
    bill = quebec(billing_for)
    bill.approved_week(NOV_2, (480, 480, 37))
    # 997 min at 90.00/h = 1,495.50
    # GST 5 % = 74.775 -> 74.78; QST 9.975 % = 149.176125 -> 149.18; taxes 223.96
    # (the combined 14.975 % rounded once would give 223.951125 -> 223.95)
    (planned,) = invoicing.preview_close(session, actor=bill.finance, period="2026-11").invoices
    (line,) = planned.lines
    assert (line.net, line.vat_rate) == (D("1495.50"), D("14.975"))
    assert line.tax_components == [["GST", "5"], ["QST", "9.975"]]
    assert [(r.name, r.rate, r.taxable, r.tax) for r in planned.totals.breakdown] == [
        ("GST", D("5"), D("1495.50"), D("74.78")),
        ("QST", D("9.975"), D("1495.50"), D("149.18")),
    ]
    assert (planned.totals.net, planned.totals.tax, planned.totals.gross) == (
        D("1495.50"),
        D("223.96"),
        D("1719.46"),
    )

    (invoice,) = bill.close().invoices
    assert taxes(session, invoice) == [
        ("GST", D("5"), D("1495.50"), D("74.78")),
        ("QST", D("9.975"), D("1495.50"), D("149.18")),
    ]
    assert (invoice.tax_total, invoice.gross_total) == (D("223.96"), D("1719.46"))
    assert invoicing.has_stacked_taxes(invoice)

    bill.issue(invoice)
    document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    assert [(t.category, t.rate, t.tax) for t in document.taxes] == [
        ("GST (Standard rate)", "5 %", "€74.78"),
        ("QST (Standard rate)", "9.975 %", "€149.18"),
    ]
    html = invoice_pdf.invoice_html(document)
    assert "GST (Standard rate)" in html and "QST (Standard rate)" in html

    # a full credit note credits both taxes the same way
    note = bill.credit(invoice)
    assert taxes(session, note) == [
        ("GST", D("5"), D("1495.50"), D("74.78")),
        ("QST", D("9.975"), D("1495.50"), D("149.18")),
    ]
    assert note.stacked_taxes and note.gross_total == D("1719.46")


def test_the_invoice_page_shows_each_stacked_tax(session, billing_for, client, sign_in):
    bill = quebec(billing_for)
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    sign_in(client, session.get(User, bill.finance.user_id), bill.org)
    response = client.get(f"/invoicing/{invoice.id}")
    assert response.status_code == 200
    page = " ".join(response.get_data(as_text=True).split())
    # 720.00: GST 36.00, QST 71.82
    assert "GST (Standard rate) 5 %" in page and "QST (Standard rate) 9.975 %" in page
    assert "€36.00" in page and "€71.82" in page


def test_a_plain_vat_invoice_is_not_stacked(session, bill):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    assert not invoicing.has_stacked_taxes(invoice)
    assert taxes(session, invoice) == [("", D("19"), D("720.00"), D("136.80"))]


def test_a_region_without_its_own_set_takes_its_countrys():
    day = date(2026, 11, 30)
    sets = {
        ("CA", "", "standard"): [(date(2020, 1, 1), (("GST", D("5")),))],
        ("CA", "QC", "standard"): [
            (date(2020, 1, 1), (("GST", D("5")), ("QST", D("9.975")))),
            (date(2027, 1, 1), (("GST", D("5")), ("QST", D("10")))),  # not yet
        ],
    }
    assert billing.components_for(
        sets, country="CA", region="AB", category="standard", day=day
    ) == (("GST", D("5")),)
    assert billing.components_for(
        sets, country="CA", region="QC", category="standard", day=day
    ) == (("GST", D("5")), ("QST", D("9.975")))
    assert (
        billing.components_for(sets, country="DE", region=None, category="standard", day=day)
        is None
    )


def test_bad_tax_components_are_refused(session, bill):
    for values, field in (
        ({"rate": "101"}, "rate"),
        ({"rate": "-1"}, "rate"),
        ({"rate": "9.12345"}, "rate"),
        ({"region": "QUEBEC"}, "region"),
        ({"name": "=cmd()"}, "name"),
        ({"category": "reverse_charge"}, "category"),
    ):
        args = {"country": "CA", "region": "QC", "name": "QST", "rate": "9.975"}
        args.update(values)
        with pytest.raises(InvalidInput) as caught:
            billing.add_tax_component(
                session, actor=bill.finance, effective_from="2020-01-01", **args
            )
        assert field in caught.value.errors
    assert billing.tax_component_sets(session) == {}


# --- the tax currency ----------------------------------------------------------------------


def polish(billing_for):
    """A bill-to entity invoiced in EUR that declares its VAT in PLN."""
    return billing_for(name="Klient Sp. z o.o.", tax_currency="PLN")


def test_the_rate_is_fixed_at_the_issue_and_never_changes(session, billing_for):
    bill = polish(billing_for)
    # 1 PLN = 0.235 EUR, so 1 EUR = 1 / 0.235 = 4.25531914893... PLN
    workforce.add_exchange_rate(
        session, actor=bill.finance, currency="PLN", rate="0.235", effective_from="2026-01-01"
    )
    bill.approved_week(NOV_2, (480,))  # 720.00 EUR, VAT 136.80 EUR
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    assert invoice.tax_currency == "PLN"
    assert invoice.tax_exchange_rate == D("4.2553191489")
    # 720.00 / 0.235 = 3,063.8297... -> 3,063.83; 136.80 / 0.235 = 582.1276... -> 582.13
    (row,) = session.scalars(select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id))
    assert (row.taxable_in_tax_currency, row.tax_in_tax_currency) == (D("3063.83"), D("582.13"))
    assert invoice.tax_total_in_tax_currency == D("582.13")

    # the rate changes afterwards (even back to a day before the issue): nothing moves
    workforce.add_exchange_rate(
        session, actor=bill.finance, currency="PLN", rate="0.25", effective_from="2026-12-01"
    )
    session.expire_all()
    invoice = session.get(Invoice, invoice.id)
    assert (invoice.tax_exchange_rate, invoice.tax_total_in_tax_currency) == (
        D("4.2553191489"),
        D("582.13"),
    )
    document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    assert document.tax_currency == "PLN"
    assert "582.13" in document.tax_total_in_tax_currency
    assert document.tax_exchange_rate == "1 EUR = 4.2553191489 PLN"
    assert "582.13" in document.taxes[0].tax_in_tax_currency
    assert "VAT in PLN" in invoice_pdf.invoice_html(document)

    # a credit note takes the invoice's rate, not the day's (0.25: it would be 547.20)
    note = bill.credit(invoice)
    bill.issue(note, today=date(2026, 12, 10))
    assert (note.tax_exchange_rate, note.tax_total_in_tax_currency) == (
        D("4.2553191489"),
        D("582.13"),
    )


def test_the_issue_is_refused_without_a_rate_and_nothing_changes(session, billing_for):
    bill = polish(billing_for)
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    with pytest.raises(RuleViolation, match="no exchange rate"):
        bill.issue(invoice)
    assert (invoice.state, invoice.number, invoice.tax_currency) == ("draft", None, None)
    assert session.scalar(select(func.count()).select_from(NumberSeries)) == 0
    (row,) = session.scalars(select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id))
    assert row.tax_in_tax_currency is None

    # four eyes: the request is refused the same way; with a rate, the approval fixes it
    billing.update_billing_settings(session, actor=bill.finance, four_eyes=True)
    with pytest.raises(RuleViolation, match="no exchange rate"):
        bill.issue(invoice)
    assert invoice.state == "draft"
    workforce.add_exchange_rate(
        session, actor=bill.finance, currency="PLN", rate="0.25", effective_from="2026-12-01"
    )
    bill.issue(invoice)
    assert (invoice.state, invoice.tax_currency) == ("awaiting_approval", None)
    invoicing.approve_issue(
        session, actor=bill.finance2, invoice_id=invoice.id, today=date(2026, 12, 5)
    )
    # 1 EUR = 4 PLN: VAT 136.80 EUR = 547.20 PLN
    assert (invoice.state, invoice.tax_exchange_rate, invoice.tax_total_in_tax_currency) == (
        "issued",
        D("4"),
        D("547.20"),
    )


def test_a_cross_rate_goes_through_the_base_currency(session, bill):
    for currency, rate in (("USD", "0.9"), ("PLN", "0.235")):
        workforce.add_exchange_rate(
            session, actor=bill.finance, currency=currency, rate=rate, effective_from="2026-01-01"
        )
    rate = invoicing.tax_exchange_rate
    org = bill.org.id
    day = date(2026, 12, 4)
    # 0.9 / 0.235 = 3.82978723404... ; EUR is the base: 1 / 0.235, and PLN -> EUR 0.235
    assert rate(session, org_id=org, currency="USD", tax_currency="PLN", on=day) == D(
        "3.8297872340"
    )
    assert rate(session, org_id=org, currency="EUR", tax_currency="PLN", on=day) == D(
        "4.2553191489"
    )
    assert rate(session, org_id=org, currency="PLN", tax_currency="EUR", on=day) == D("0.235")
    assert rate(session, org_id=org, currency="CHF", tax_currency="EUR", on=day) is None


# --- the service fee -----------------------------------------------------------------------


def _lines(lines):
    return [(line.kind, line.description, line.net, line.vat_rate) for line in lines]


def test_fee_lines_in_the_preview_equal_the_drafts(session, bill):
    billing.set_service_fee(session, actor=bill.finance, percent="2.345")
    bill.approved_week(NOV_2, (480,))  # 720.00
    bill.milestone("100.00", date(2026, 11, 20))
    # fee 2.345 % of 820.00 = 19.229 -> 19.23; VAT 19 % of 839.23 = 159.4537 -> 159.45
    (planned,) = invoicing.preview_close(session, actor=bill.finance, period="2026-11").invoices
    title = bill.world.engagement.title
    expected = [
        ("time", f"{title} - Time", D("720.00"), D("19")),
        ("milestone", f"{title} - Milestone", D("100.00"), D("19")),
        ("fee", "Service fee 2.345 % on 820.00 EUR", D("19.23"), D("19")),
    ]
    assert _lines(planned.lines) == expected
    assert (planned.totals.net, planned.totals.tax, planned.totals.gross) == (
        D("839.23"),
        D("159.45"),
        D("998.68"),
    )
    (invoice,) = bill.close().invoices
    lines = invoicing.lines_of(session, invoice.id)
    assert _lines(lines) == expected
    fee = lines[-1]
    assert (fee.engagement_id, fee.quantity, fee.rate, fee.unit) == (None, 1, D("19.23"), "each")
    assert fee.cost_centre_id == lines[0].cost_centre_id
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("839.23"),
        D("159.45"),
        D("998.68"),
    )
    # the PDF prints it as its own line
    bill.issue(invoice)
    document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    assert document.groups[0].lines[-1].kind == "Service fee"

    # a credit note of the whole invoice credits the fee too; one of the fee line alone
    # credits just it
    note = bill.credit(invoice, mode="lines", line_ids=[fee.id])
    assert (note.net_total, note.tax_total) == (D("19.23"), D("3.65"))  # 19.23 x 19 % = 3.6537


def test_a_credit_note_on_work_credits_its_fee_so_rebilled_work_is_charged_one_fee(session, bill):
    billing.set_service_fee(session, actor=bill.finance, percent="2.345")
    bill.approved_week(NOV_2, (480,))  # 720.00
    bill.milestone("100.00", date(2026, 11, 20))
    (invoice,) = bill.close().invoices  # fee 2.345 % of 820.00 = 19.23 (above)
    bill.issue(invoice)
    time, milestone, fee = invoicing.lines_of(session, invoice.id)
    assert fee.net == D("19.23")

    # the milestone was billed by mistake this month: credit it and bill it again later.
    # The fee left is the fee on the 720.00 kept: 16.884 -> 16.88, so 2.35 of it goes too
    note = bill.credit(invoice, mode="lines", line_ids=[milestone.id], release_items=True)
    assert [(line.kind, line.net) for line in invoicing.lines_of(session, note.id)] == [
        ("milestone", D("100.00")),
        ("fee", D("2.35")),
    ]
    # 102.35 x 19 % = 19.4465 -> 19.45
    assert (note.net_total, note.tax_total, note.gross_total) == (
        D("102.35"),
        D("19.45"),
        D("121.80"),
    )
    bill.issue(note)
    assert invoice.state == "issued"  # the time and most of the fee stay billed

    # December's close bills the milestone again with its own fee: 2.345 % of 100.00 =
    # 2.345 -> 2.35; in all the client pays 16.88 + 2.35 = 19.23 of fees, as first billed
    (again,) = bill.close(period="2026-12", today=date(2027, 1, 4)).invoices
    assert [(line.kind, line.net) for line in invoicing.lines_of(session, again.id)] == [
        ("milestone", D("100.00")),
        ("fee", D("2.35")),
    ]


def test_a_part_credit_of_work_lowers_its_fee_and_a_chosen_fee_line_is_left_as_chosen(
    session, bill
):
    billing.set_service_fee(session, actor=bill.finance, percent="2.345")
    bill.approved_week(NOV_2, (480,))  # 720.00, fee 2.345 % = 16.884 -> 16.88
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    time, fee = invoicing.lines_of(session, invoice.id)
    # a 200.00 discount on the time: the fee on the 520.00 kept is 12.194 -> 12.19
    note = bill.credit(invoice, mode="amount", line_id=time.id, amount="200.00")
    assert [(line.kind, line.net) for line in invoicing.lines_of(session, note.id)] == [
        ("time", D("200.00")),
        ("fee", D("4.69")),
    ]
    bill.issue(note)
    # crediting what is left of the time and the fee line by choice: the fee's rest, once
    other = bill.credit(invoice, mode="lines", line_ids=[time.id, fee.id])
    assert [(line.kind, line.net) for line in invoicing.lines_of(session, other.id)] == [
        ("time", D("520.00")),
        ("fee", D("12.19")),
    ]


def test_a_suppliers_fee_replaces_the_organizations(session, bill, make_supplier, make_engagement):
    agency = make_supplier(bill.org, name="Agency One")
    other = make_supplier(bill.org, name="Agency Two")
    world = bill.world
    through_agency = make_engagement(
        world.org, freelancer=world.freelancer, supplier_id=agency.id, title="Via agency"
    )
    through_other = make_engagement(
        world.org, freelancer=world.freelancer, supplier_id=other.id, title="Via other"
    )
    billing.set_service_fee(session, actor=bill.finance, percent="2.345")
    billing.set_service_fee(session, actor=bill.finance, percent="1.5", supplier_id=agency.id)
    billing.set_service_fee(session, actor=bill.finance, percent="0", supplier_id=other.id)
    bill.approved_week(NOV_2, (480,))  # direct: 720.00
    bill.milestone("200.00", date(2026, 11, 20), engagement=through_agency)
    bill.milestone("300.00", date(2026, 11, 20), engagement=through_other)
    (invoice,) = bill.close().invoices
    fees = [
        (line.description, line.net)
        for line in invoicing.lines_of(session, invoice.id)
        if line.kind == "fee"
    ]
    # 2.345 % of 720.00 = 16.884 -> 16.88; 1.5 % of 200.00 = 3.00; the other agency: none
    assert sorted(fees) == [
        ("Service fee 1.5 % on 200.00 EUR", D("3.00")),
        ("Service fee 2.345 % on 720.00 EUR", D("16.88")),
    ]
    # 720 + 200 + 300 + 16.88 + 3.00 = 1,239.88; VAT 235.5772 -> 235.58
    assert (invoice.net_total, invoice.tax_total) == (D("1239.88"), D("235.58"))


def test_fee_settings_are_audited_and_an_empty_percent_removes_one(session, bill, make_supplier):
    agency = make_supplier(bill.org)
    billing.set_service_fee(session, actor=bill.finance, percent="3")
    billing.set_service_fee(session, actor=bill.finance, percent="2.5", supplier_id=agency.id)
    billing.set_service_fee(session, actor=bill.finance, percent="4")
    assert billing.service_fees(session) == {None: D("4"), agency.id: D("2.5")}
    billing.set_service_fee(session, actor=bill.finance, percent="", supplier_id=agency.id)
    assert billing.service_fees(session) == {None: D("4")}
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.like("service_fee.%"))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == [
        "service_fee.set",
        "service_fee.set",
        "service_fee.set",
        "service_fee.removed",
    ]


@pytest.mark.parametrize("percent", ["-1", "100.01", "2.34567", "abc", "NaN", "1e3"])
def test_bad_fees_are_refused_and_nothing_changes(session, bill, percent):
    billing.set_service_fee(session, actor=bill.finance, percent="2")
    with pytest.raises(InvalidInput) as caught:
        billing.set_service_fee(session, actor=bill.finance, percent=percent)
    assert "percent" in caught.value.errors
    assert billing.service_fees(session) == {None: D("2")}


def test_another_organizations_supplier_is_not_found(
    session, bill, make_org, make_supplier, app, sign_in
):
    foreign = make_supplier(make_org(), name="Not ours")
    scope_session(session, bill.org.id)
    with pytest.raises(NotFound):
        billing.set_service_fee(session, actor=bill.finance, percent="2", supplier_id=foreign.id)

    client = app.test_client()
    sign_in(client, session.get(User, bill.finance.user_id), bill.org)
    response = client.put("/api/v1/service-fees", json={"supplier_id": foreign.id, "percent": "2"})
    assert response.status_code == 404
    assert response.content_type.startswith("application/problem+json")
    for body in ({"percent": "-1"}, {"percent": "101"}, {"percent": "1.23456"}):
        response = client.put("/api/v1/service-fees", json=body)
        assert response.status_code == 422, body
        assert response.content_type.startswith("application/problem+json")
    assert session.scalar(select(func.count()).select_from(ServiceFee)) == 0

    response = client.put("/api/v1/service-fees", json={"percent": "2.5"})
    assert response.status_code == 200
    assert response.get_json() == {"percent": "2.50", "suppliers": []}


# --- the paper -----------------------------------------------------------------------------


def _media_box(session, bill, invoice) -> tuple[int, int]:
    bill.issue(invoice)
    data = invoice_pdf.invoice_pdf_bytes(
        invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    )
    box = PdfReader(io.BytesIO(data)).pages[0].mediabox
    return round(float(box.width)), round(float(box.height))


def test_a_us_bill_to_gets_letter_and_a_german_one_a4(session, billing_for):
    american = billing_for(name="Client Inc.", country="US")
    american.approved_week(NOV_2, (480,))
    (invoice,) = american.close().invoices
    # US Letter: 8.5 x 11 in = 612 x 792 pt
    assert _media_box(session, american, invoice) == (612, 792)


def test_a_german_bill_to_gets_a4(session, bill):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    # A4: 210 x 297 mm = 595.28 x 841.89 pt
    assert _media_box(session, bill, invoice) == (595, 842)


def test_letter_countries():
    assert [rules.page_size(c) for c in ("US", "ca", "MX", "DE", "GB", None)] == [
        "letter",
        "letter",
        "letter",
        "A4",
        "A4",
        "A4",
    ]


# --- the settings page -----------------------------------------------------------------------


def test_the_settings_page_sets_fees_and_stacked_taxes_and_refuses_bad_input(
    app, session, sign_in, bill, make_supplier
):
    agency = make_supplier(bill.org, name="Agency Page")
    session.commit()
    finance = app.test_client()
    sign_in(finance, session.get(User, bill.finance.user_id), bill.org)
    page = finance.get("/invoicing/settings")
    assert page.status_code == 200
    text = " ".join(page.get_data(as_text=True).split())
    assert "Stacked taxes" in text and "Service fee" in text and "Agency Page" in text

    for bad in ("-1", "100.5", "1.23456", "ten"):
        refused = finance.post("/invoicing/settings/service-fee", data={"percent": bad})
        assert refused.status_code == 422, bad
        assert "A percentage from 0 to 100" in refused.get_data(as_text=True)
    assert billing.service_fees(session) == {}
    saved = finance.post(
        "/invoicing/settings/service-fee", data={"percent": "1.75", "supplier_id": str(agency.id)}
    )
    assert saved.status_code == 302
    assert billing.service_fees(session) == {agency.id: D("1.75")}

    bad_tax = finance.post_form(
        "/invoicing/settings/tax-components",
        {"country": "CA", "region": "QC", "category": "standard", "name": "QST",
         "rate": "150", "effective_from": "2020-01-01"},
        page="/invoicing/settings",
    )  # fmt: skip
    assert bad_tax.status_code == 422
    good_tax = finance.post_form(
        "/invoicing/settings/tax-components",
        {"country": "CA", "region": "QC", "category": "standard", "name": "QST",
         "rate": "9.975", "effective_from": "2020-01-01"},
        page="/invoicing/settings",
    )  # fmt: skip
    assert good_tax.status_code == 302
    assert billing.tax_component_sets(session) == {
        ("CA", "QC", "standard"): [(date(2020, 1, 1), (("QST", D("9.975")),))]
    }


def test_the_api_shows_the_tax_currency_and_stacked_taxes(
    app, session, sign_in, billing_for, monkeypatch
):
    monkeypatch.setattr("fms.invoicing.api.org_today", lambda: ISSUED_ON)
    bill = polish(billing_for)
    workforce.add_exchange_rate(
        session, actor=bill.finance, currency="PLN", rate="0.235", effective_from="2026-01-01"
    )
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    client = app.test_client()
    sign_in(client, session.get(User, bill.finance.user_id), bill.org)
    body = client.get(f"/api/v1/invoices/{invoice.id}").get_json()
    assert (body["stacked_taxes"], body["tax_currency"], body["tax_exchange_rate"]) == (
        False,
        "PLN",
        "4.2553191489",
    )
    assert body["tax_total_in_tax_currency"] == {"amount": "582.13", "currency": "PLN"}
    assert body["tax_breakdown"][0]["tax_in_tax_currency"] == {
        "amount": "582.13",
        "currency": "PLN",
    }

    added = client.post(
        "/api/v1/tax-components",
        json={
            "country": "CA",
            "region": "CA-QC",
            "name": "QST",
            "rate": "9.975",
            "effective_from": "2020-01-01",
        },
    )
    assert added.status_code == 201
    assert (added.get_json()["region"], added.get_json()["rate"]) == ("QC", "9.975")
    refused = client.post(
        "/api/v1/tax-components",
        json={"country": "CA", "name": "GST", "rate": "500", "effective_from": "2020-01-01"},
    )
    assert refused.status_code == 422
