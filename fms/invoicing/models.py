"""Invoicing tables: billing settings, bill-to entities and their cost centres, VAT rates,
invoices and credit notes with their lines, tax breakdown and annex, and number series.

Amounts are `ScaledDecimal` (exact integers in the database); a line's net and a tax
category's VAT are stored already rounded (half-up, once, to the currency's minor unit).
Timestamps are UTC (`UTCDateTime`); issue, due and payment dates are plain dates in the
organization's timezone.

Which items an invoice bills is recorded twice, on purpose: each billable item carries the
invoice's id (timesheets' `invoice_id` column, set by a conditional update WHERE it is
NULL: the database's guarantee that an item is on at most one non-credited invoice), and
`invoice_line_item` says which line priced it (for the annex, per-line credit notes and
statements).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.money import MONEY_SCALE, RATE_SCALE, ScaledDecimal
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow

# an exchange rate fixed at the issue: finer than workforce's rates, since a cross rate
# (neither currency the base) is a quotient of two of them
TAX_FX_SCALE = 10


class BillingSettings(TenantMixin, db.Model):
    """Per organization: the billing period, the issuing entity (who invoices), numbering
    and the four-eyes rule for issuing. No row means the defaults (`rules.DEFAULTS`)."""

    __tablename__ = "billing_settings"
    __table_args__ = (
        UniqueConstraint("org_id"),
        CheckConstraint(
            "billing_period IN ('monthly', 'weekly', 'semi_monthly')", name="billing_period"
        ),
        CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="payment_terms_days"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    billing_period: Mapped[str] = mapped_column(String(20), default="monthly")
    # the issuing entity: the operator of the installation or the managed-service provider
    issuer_legal_name: Mapped[str] = mapped_column(String(200), default="")
    issuer_address: Mapped[str] = mapped_column(Text, default="")
    issuer_country: Mapped[str] = mapped_column(String(2), default="DE")
    issuer_vat_id: Mapped[str | None] = mapped_column(String(40))
    issuer_iban: Mapped[str | None] = mapped_column(String(34))
    issuer_bic: Mapped[str | None] = mapped_column(String(11))
    # bank details that are no IBAN/BIC (an account number and routing code, say)
    issuer_bank_text: Mapped[str | None] = mapped_column(Text)
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    logo_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))
    invoice_prefix: Mapped[str] = mapped_column(String(20), default="INV-")
    credit_note_prefix: Mapped[str] = mapped_column(String(20), default="CN-")
    # numbering restarts at 1 every calendar year (of the issue date)
    yearly_reset: Mapped[bool] = mapped_column(Boolean, default=True)
    # issuing needs a second finance user's approval
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=False)
    # issued invoices are Factur-X (EN 16931) PDF/A-3 with their XML (fms.invoicing.einvoice)
    einvoice_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BillToEntity(TenantMixin, db.Model):
    """One of the client's legal entities that invoices are addressed to."""

    __tablename__ = "bill_to_entity"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text, default="")
    country: Mapped[str] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(40))
    # the currency the client's tax authority wants the VAT total in (shown, not converted)
    tax_currency: Mapped[str | None] = mapped_column(String(3))
    po_required: Mapped[bool] = mapped_column(Boolean, default=False)
    default_po: Mapped[str | None] = mapped_column(String(40))
    # a fixed VAT category for this entity (an exempt body, say) instead of the rule's
    tax_category: Mapped[str | None] = mapped_column(String(20))
    # the ISO 3166-2 subdivision (province, state: "QC" of CA-QC) whose taxes stack on its
    # country's (`TaxComponent`); None: the country's
    region: Mapped[str | None] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CostCentreBilling(TenantMixin, db.Model):
    """Which bill-to entity a cost centre's spend is invoiced to (invoicing's own table:
    workforce's cost centre knows nothing of invoicing)."""

    __tablename__ = "cost_centre_billing"
    __table_args__ = (UniqueConstraint("cost_centre_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    cost_centre_id: Mapped[int] = mapped_column(ForeignKey("cost_centre.id"))
    bill_to_entity_id: Mapped[int] = mapped_column(ForeignKey("bill_to_entity.id"), index=True)


class VatRate(TenantMixin, db.Model):
    """The VAT rate (percent) of a category in a bill-to country from a date on."""

    __tablename__ = "vat_rate"
    __table_args__ = (
        UniqueConstraint("org_id", "country", "category", "effective_from"),
        CheckConstraint(
            "category IN ('standard', 'reduced', 'zero', 'exempt', 'reverse_charge')",
            name="category",
        ),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    category: Mapped[str] = mapped_column(String(20))
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    effective_from: Mapped[date] = mapped_column(Date)


class TaxComponent(TenantMixin, db.Model):
    """One named tax of a jurisdiction (country, and region or "" for the whole country)
    for a VAT category, from a date on: Canada's GST 5 %, Quebec's GST 5 % and QST 9.975 %.
    The components of one jurisdiction, category and date form its set from that day (a
    change is a new set); where a jurisdiction has a set, a line carries each component,
    each computed on the net (`arithmetic.tax_breakdown`); where none, `VatRate` applies."""

    __tablename__ = "tax_component"
    __table_args__ = (
        UniqueConstraint("org_id", "country", "region", "category", "effective_from", "name"),
        CheckConstraint(
            "category IN ('standard', 'reduced', 'zero', 'exempt', 'reverse_charge')",
            name="category",
        ),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(3), default="")
    category: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(20))
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    effective_from: Mapped[date] = mapped_column(Date)


class ServiceFee(TenantMixin, db.Model):
    """The service fee (percent of the lines' net) the close adds as its own lines: the
    organization's (no supplier) or one supplier's instead. No row: no fee."""

    __tablename__ = "service_fee"
    __table_args__ = (
        UniqueConstraint("org_id", "supplier_id"),
        # one organization-wide fee (a unique constraint lets NULLs repeat)
        Index(
            "uq_service_fee_org_default",
            "org_id",
            unique=True,
            sqlite_where=text("supplier_id IS NULL"),
            postgresql_where=text("supplier_id IS NULL"),
        ),
        CheckConstraint("percent >= 0 AND percent <= 1000000", name="percent"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id"), index=True)
    # 0 to 100, at most 4 decimals (the check reads the stored units: 100 % is 1,000,000)
    percent: Mapped[Decimal] = mapped_column(ScaledDecimal(4))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Invoice(TenantMixin, db.Model):
    """A consolidated invoice (kind "invoice") or a credit note (kind "credit_note", which
    names the invoice it corrects). States: `rules.INVOICE_TRANSITIONS`. A number is given
    when it is issued, from its kind's series; issued documents never change (a payment or
    a credit moves only the state)."""

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        CheckConstraint("kind IN ('invoice', 'credit_note')", name="kind"),
        Index("ix_invoice_org_period", "org_id", "period_start", "kind"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="invoice")
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    number: Mapped[str | None] = mapped_column(String(40))
    bill_to_entity_id: Mapped[int] = mapped_column(ForeignKey("bill_to_entity.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    po_number: Mapped[str | None] = mapped_column(String(40))
    net_total: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE), default=0)
    tax_total: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE), default=0)
    gross_total: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE), default=0)
    # the issuing entity and the bill-to entity as they were when it was issued: a later
    # change of address never changes an issued invoice
    issuer_snapshot: Mapped[dict | None] = mapped_column(JSON)
    bill_to_snapshot: Mapped[dict | None] = mapped_column(JSON)
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # four eyes: who asked for the issue (the approver must be someone else)
    issue_requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    paid_on: Mapped[date | None] = mapped_column(Date)
    payment_reference: Mapped[str | None] = mapped_column(String(140))
    # a credit note: the invoice it corrects, and whether issuing it releases the items
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    release_items: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # the rendered PDF and its SHA-256: attached once after the issue, by a conditional
    # update WHERE pdf_file_id IS NULL (fms.invoicing.pdf), never through the ORM
    pdf_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # a line carries more than one tax (GST + QST): no EN 16931 e-invoice for it
    stacked_taxes: Mapped[bool] = mapped_column(Boolean, default=False)
    # the bill-to entity's tax currency when it differs from `currency`, fixed at the issue
    # (BT-6): units of it per unit of `currency`, and the VAT total in it (BT-111)
    tax_currency: Mapped[str | None] = mapped_column(String(3))
    tax_exchange_rate: Mapped[Decimal | None] = mapped_column(ScaledDecimal(TAX_FX_SCALE))
    tax_total_in_tax_currency: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))


class InvoiceLine(TenantMixin, db.Model):
    """Engagement x rate x kind within one invoice (and its cost centre and PO, which the
    invoice groups by). `quantity` is minutes (time, overtime, minute adjustments), half days
    (`unit` "half_day") or a count; `net` is the exact sum of its items rounded once. A
    service fee line (kind "fee") has no engagement: its net is the fee on the lines it
    derives from, rounded once."""

    __tablename__ = "invoice_line"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('time', 'overtime', 'milestone', 'expense', 'adjustment', 'fee')",
            name="kind",
        ),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    engagement_id: Mapped[int | None] = mapped_column(ForeignKey("engagement.id"), index=True)
    freelancer_id: Mapped[int | None] = mapped_column(ForeignKey("freelancer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    net: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE))
    cost_centre_id: Mapped[int | None] = mapped_column(ForeignKey("cost_centre.id"))
    po_number: Mapped[str | None] = mapped_column(String(40))
    vat_category: Mapped[str] = mapped_column(String(20))
    vat_rate: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    # the first and last work date of its items (prior-period lines start before the period)
    first_date: Mapped[date | None] = mapped_column(Date)
    last_date: Mapped[date | None] = mapped_column(Date)
    # a credit note's line: the invoice line it credits
    credited_line_id: Mapped[int | None] = mapped_column(ForeignKey("invoice_line.id"), index=True)
    # stacked taxes: [[name, percent text], ...] whose sum is `vat_rate`; None: plain VAT
    tax_components: Mapped[list | None] = mapped_column(JSON)
    # the service fee percent: on a fee line, its own; on a line a fee derives from, that
    # fee's (a credit note on the line credits the fee with it); None: no fee
    fee_percent: Mapped[Decimal | None] = mapped_column(ScaledDecimal(RATE_SCALE))


class InvoiceLineItem(TenantMixin, db.Model):
    """One billable item priced on a line: a day entry (its time or its overtime part), an
    adjustment, a milestone or an expense, with its exact amount's work date."""

    __tablename__ = "invoice_line_item"
    __table_args__ = (
        CheckConstraint(
            "item_type IN ('entry', 'adjustment', 'milestone', 'expense')", name="item_type"
        ),
        Index("ix_invoice_line_item_item", "item_type", "item_id"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("invoice_line.id"), index=True)
    item_type: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[Id] = mapped_column()
    work_date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)


class InvoiceTax(TenantMixin, db.Model):
    """One row of an invoice's VAT breakdown: per category, tax (its component's name, ""
    for plain VAT) and rate, the sum of the line nets and the tax on it, rounded once
    (EN 16931 BR-CO-17); and, when the invoice has a tax currency, both in it (set at the
    issue, at the invoice's fixed rate)."""

    __tablename__ = "invoice_tax"
    __table_args__ = (UniqueConstraint("invoice_id", "category", "name", "rate"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    category: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(20), default="")
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    taxable: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE))
    tax: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE))
    taxable_in_tax_currency: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))
    tax_in_tax_currency: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))


class InvoiceAnnexRow(TenantMixin, db.Model):
    """The annex: each week of each freelancer's time on an invoice."""

    __tablename__ = "invoice_annex_row"
    __table_args__ = (UniqueConstraint("invoice_id", "engagement_id", "week_start"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    freelancer_id: Mapped[int | None] = mapped_column(ForeignKey("freelancer.id"))
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"))
    week_start: Mapped[date] = mapped_column(Date)
    week_end: Mapped[date] = mapped_column(Date)
    # only the days of the week that this invoice bills (a straddling week is split)
    first_date: Mapped[date] = mapped_column(Date)
    last_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer, default=0)
    half_days: Mapped[int] = mapped_column(Integer, default=0)


class NumberSeries(TenantMixin, db.Model):
    """The last number given in one series (organization x kind x year; year 0 when the
    series never resets). Advanced under a row lock in the transaction that issues, so
    numbers are gapless and unique."""

    __tablename__ = "invoice_number_series"
    __table_args__ = (UniqueConstraint("org_id", "kind", "year"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


# --- immutability --------------------------------------------------------------------------


class ImmutableInvoice(RuntimeError):
    """Code tried to change an issued invoice or its lines: a programming error."""


@event.listens_for(Session, "before_flush")
def _guard_issued(session, flush_context, instances):
    """Issued documents never change through the ORM. What may change after the issue is
    written by conditional updates, which do not pass here: the state moves, and attaching
    the rendered PDF once (`pdf_file_id`, `pdf_sha256` WHERE pdf_file_id IS NULL, in
    fms.invoicing.pdf); an ORM change of those columns is refused like any other."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Invoice):
            history = inspect(obj).attrs.state.history
            state = (history.deleted or [obj.state])[0]
            changed = obj in session.deleted or session.is_modified(obj)
            if changed and state != "draft":
                raise ImmutableInvoice(f"invoice {obj.id} is {state}: it cannot change")
        elif isinstance(obj, InvoiceLine | InvoiceTax) and (
            obj in session.deleted or session.is_modified(obj)
        ):
            with session.no_autoflush:
                parent = session.scalar(select(Invoice.state).where(Invoice.id == obj.invoice_id))
            if parent not in (None, "draft"):
                raise ImmutableInvoice(f"invoice {obj.invoice_id} is {parent}: it cannot change")
