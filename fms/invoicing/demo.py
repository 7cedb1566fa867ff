"""The demo organization's invoicing: billing settings (the issuing entity with its bank
details), a German, a French and a Canadian (Quebec) bill-to entity with the cost centres
they pay for, VAT rates and Quebec's stacked taxes (GST 5 % + QST 9.975 %), a service fee
(2.5 %, 1.5 % for one agency), tax currencies (the German entity declares VAT in EUR, so its
invoices in other currencies show the VAT in EUR at the rate fixed at the issue; the
Canadian one in CAD), and the month before last closed: invoices issued, one paid, one credited by a
credit note that releases its items (so the next close bills them again), and one draft
waiting for finance. Last month is left open, for finance to preview and close.

Everything goes through the services (settings, close, issue, payment, credit note), so
the audit log is the real one and the figures are the money rules'. E-invoices are on:
issued demo invoices are Factur-X PDF/A-3 with their EN 16931 XML. Loaded once: a second
run finds the billing settings and adds nothing. Runs after the timesheets demo, whose
approved weeks it bills.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.errors import RuleViolation
from fms.identity.actor import Actor
from fms.identity.models import Membership, User
from fms.invoicing import rules
from fms.invoicing import services as invoicing
from fms.invoicing import settings as billing
from fms.invoicing.models import BillingSettings, Invoice
from fms.workforce.models import CostCentre

FINANCE_EMAIL = "finance@northbridge.example"
ISSUER = {
    "issuer_legal_name": "FMS Managed Services GmbH",
    "issuer_address": "Friedrichstrasse 68\n10117 Berlin\nGermany",
    "issuer_country": "DE",
    "issuer_vat_id": "DE287654321",
    "issuer_iban": "DE89370400440532013000",
    "issuer_bic": "COBADEFFXXX",
    "payment_terms_days": 30,
}
# (name, country, address, VAT id, default PO, cost centres)
ENTITIES = [
    (
        "Northbridge Energy AG",
        "DE",
        "Am Kupfergraben 4\n10117 Berlin\nGermany",
        "DE811234567",
        "PO-DE-2026-0147",
        ("CC-4100", "CC-4200", "CC-4300"),
    ),
    (
        "Northbridge Énergie France SAS",
        "FR",
        "12 rue de la Paix\n75002 Paris\nFrance",
        "FR40123456789",
        "PO-FR-2026-0032",
        ("CC-5100", "CC-6100"),
    ),
    (
        "Northbridge Energy Canada Inc.",
        "CA",
        "1250 René-Lévesque Blvd W\nMontreal QC H3B 4W8\nCanada",
        "123456789RT0001",
        "PO-CA-2026-0009",
        ("CC-7100",),
    ),
]
# per entity name: its region, tax currency and fixed category (the issuer is registered for
# GST and QST in Quebec, so its Canadian invoices carry them instead of a reverse charge)
ENTITY_TAX = {
    "Northbridge Energy AG": {"tax_currency": "EUR"},
    "Northbridge Energy Canada Inc.": {
        "region": "QC",
        "tax_currency": "CAD",
        "tax_category": "standard",
    },
}
# country, region, name, percent, from: a set per jurisdiction and date
TAX_COMPONENTS = [
    ("CA", "", "GST", "5", "2008-01-01"),
    ("CA", "QC", "GST", "5", "2013-01-01"),
    ("CA", "QC", "QST", "9.975", "2013-01-01"),
]
# units of the base currency (EUR) per CAD, next to workforce's demo rates
CAD_RATE = "0.680000"
SERVICE_FEE = "2.5"
# one agency's own fee (workforce's demo suppliers)
SUPPLIER_FEES = {"Hays Talent Solutions GmbH": "1.5"}
# country, category, percent, from
VAT_RATES = [
    ("DE", "standard", "19", "2007-01-01"),
    ("DE", "reduced", "7", "2007-01-01"),
    ("FR", "standard", "20", "2014-01-01"),
    ("FR", "reverse_charge", "0", "2014-01-01"),
]
CREDIT_REASON = "Billed to the wrong legal entity: credited in full, re-billed at the next close."


def _finance(session: Session, org_id: int) -> Actor | None:
    row = session.execute(
        select(User.id, Membership.roles)
        .join(Membership, Membership.user_id == User.id)
        .where(User.email == FINANCE_EMAIL)
    ).first()
    if row is None:
        return None
    return Actor(user_id=row.id, org_id=org_id, roles=frozenset(row.roles), channel="cli")


def _month_before(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


def load_invoicing_demo(session: Session, *, actor: Actor, today: date) -> str:
    """Add the invoicing demo once; returns a one-line summary."""
    if session.scalar(select(BillingSettings.id)):
        return "Invoicing demo already loaded."
    finance = _finance(session, actor.org_id) or actor
    billing.update_billing_settings(session, actor=finance, **ISSUER)
    # issued demo invoices are Factur-X (EN 16931) PDF/A-3 with their XML
    billing.set_einvoice(session, actor=finance, enabled=True)
    centres = dict(session.execute(select(CostCentre.code, CostCentre.id)).all())
    for name, country, address, vat_id, po, codes in ENTITIES:
        entity = billing.add_bill_to_entity(
            session,
            actor=finance,
            name=name,
            country=country,
            address=address,
            vat_id=vat_id,
            default_po=po,
            **ENTITY_TAX.get(name, {}),
        )
        for code in codes:
            if code in centres:
                billing.assign_cost_centre(
                    session,
                    actor=finance,
                    cost_centre_id=centres[code],
                    bill_to_entity_id=entity.id,
                )
    for country, category, rate, start in VAT_RATES:
        billing.add_vat_rate(
            session,
            actor=finance,
            country=country,
            category=category,
            rate=rate,
            effective_from=start,
        )
    _taxes_and_fees(session, finance, today)
    # the month before last is closed; last month is left for finance to preview and close
    period = rules.period_name("monthly", _month_before(_month_before(today)).replace(day=1))
    try:
        with session.begin_nested():  # a refused close leaves nothing behind
            drafts = _drafts(session, finance, period, today)
    except RuleViolation as exc:  # a demo loaded on older data: say why, keep the rest
        return f"Invoicing demo: billing settings loaded; {period} not closed: {exc.detail}"
    # the last draft waits for finance (when there are three or more); the rest are issued
    waiting = drafts[-1:] if len(drafts) >= 3 else []
    issued = [invoice for invoice in drafts if invoice not in waiting]
    for invoice in issued:
        invoicing.issue_invoice(session, actor=finance, invoice_id=invoice.id, today=today)
    if issued:  # the first one is paid
        invoicing.record_payment(
            session,
            actor=finance,
            invoice_id=issued[0].id,
            paid_on=today,
            reference="SEPA-" + issued[0].number,
            today=today,
        )
    credited = issued[1:2]  # the second is credited in full and its items released
    for invoice in credited:
        note = invoicing.create_credit_note(
            session,
            actor=finance,
            invoice_id=invoice.id,
            mode="full",
            reason=CREDIT_REASON,
            release_items=True,
        )
        invoicing.issue_invoice(session, actor=finance, invoice_id=note.id, today=today)
    session.flush()
    return (
        f"Invoicing demo: billing settings, {len(ENTITIES)} bill-to entities, "
        f"{len(VAT_RATES)} VAT rates, GST + QST for Quebec, a {SERVICE_FEE} % service fee; "
        f"{period} closed: {len(issued)} invoices issued "
        f"({min(len(issued), 1)} paid, {len(credited)} credited by a credit note that "
        f"releases its items), {len(waiting)} draft waiting for {FINANCE_EMAIL}; last month "
        "is left to preview and close."
    )


def _drafts(session: Session, finance: Actor, period: str, today: date) -> list[Invoice]:
    """Close a period; its drafts with lines (an empty one is not issued), oldest first."""
    result = invoicing.close_period(session, actor=finance, period=period, today=today)
    return [invoice for invoice in result.invoices if invoicing.lines_of(session, invoice.id)]


def _taxes_and_fees(session: Session, finance: Actor, today: date) -> None:
    """Quebec's stacked taxes, the CAD rate the Canadian entity's VAT is shown in, and the
    service fee (the organization's and one agency's)."""
    from fms.workforce import services as workforce
    from fms.workforce.models import ExchangeRate, Supplier

    for country, region, name, rate, start in TAX_COMPONENTS:
        billing.add_tax_component(
            session,
            actor=finance,
            country=country,
            region=region,
            name=name,
            rate=rate,
            effective_from=start,
        )
    if not session.scalar(select(ExchangeRate.id).where(ExchangeRate.currency == "CAD")):
        workforce.add_exchange_rate(
            session,
            actor=finance,
            currency="CAD",
            rate=CAD_RATE,
            effective_from=today - timedelta(days=730),
        )
    billing.set_service_fee(session, actor=finance, percent=SERVICE_FEE)
    suppliers = dict(session.execute(select(Supplier.name, Supplier.id)).all())
    for name, percent in SUPPLIER_FEES.items():
        if name in suppliers:
            billing.set_service_fee(
                session, actor=finance, percent=percent, supplier_id=suppliers[name]
            )
