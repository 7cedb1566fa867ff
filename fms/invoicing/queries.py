"""Invoicing reads for pages, the API and exports: the invoice list (with "overdue"
derived from the due date, never stored) and one invoice with its lines, VAT breakdown
and annex. Each reads in a fixed number of statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.errors import InvalidInput
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.invoicing import rules
from fms.invoicing.models import (
    BillToEntity,
    Invoice,
    InvoiceAnnexRow,
    InvoiceLine,
    InvoiceTax,
)
from fms.tenancy import get_in_org

# what the list filters by: the stored states, and "overdue" (issued, past its due date)
LIST_STATES = (*rules.INVOICE_TRANSITIONS, "overdue")


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    kind: str
    number: str | None
    state: str
    overdue: bool
    period_start: date
    period_end: date
    bill_to_entity_id: int
    bill_to_name: str
    currency: str
    net: Decimal
    tax: Decimal
    gross: Decimal
    issue_date: date | None
    due_date: date | None
    credited_invoice_id: int | None


def invoice_rows(
    session: Session, *, actor: Actor, today: date, kind: str | None = None, state=None
) -> list[InvoiceRow]:
    """Invoices and credit notes of the organization, newest period first (one statement);
    `state` may be "overdue": issued and past the due date on `today`."""
    require(actor, "invoicing.read")
    query = (
        select(Invoice, BillToEntity.name)
        .join(BillToEntity, BillToEntity.id == Invoice.bill_to_entity_id)
        .order_by(Invoice.period_start.desc(), Invoice.id.desc())
    )
    if kind is not None:
        query = query.where(Invoice.kind == kind)
    if state is not None:
        if state not in LIST_STATES:
            raise InvalidInput("Unknown status.", errors={"state": ["Unknown."]})
        if state == "overdue":
            query = query.where(Invoice.state == "issued", Invoice.due_date < today)
        else:
            query = query.where(Invoice.state == state)
    return [
        InvoiceRow(
            id=invoice.id,
            kind=invoice.kind,
            number=invoice.number,
            state=invoice.state,
            overdue=rules.is_overdue(invoice.state, invoice.due_date, today),
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            bill_to_entity_id=invoice.bill_to_entity_id,
            bill_to_name=name,
            currency=invoice.currency,
            net=invoice.net_total,
            tax=invoice.tax_total,
            gross=invoice.gross_total,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            credited_invoice_id=invoice.credited_invoice_id,
        )
        for invoice, name in session.execute(query)
    ]


@dataclass(frozen=True)
class InvoiceDetail:
    invoice: Invoice
    lines: list[InvoiceLine]
    taxes: list[InvoiceTax]
    annex: list[InvoiceAnnexRow]
    # the VAT notes the document prints (reverse charge wording and the like)
    vat_notes: list[str]


def invoice_detail(session: Session, *, actor: Actor, invoice_id) -> InvoiceDetail:
    """One invoice or credit note with its lines (by position), VAT breakdown and annex
    (by freelancer and week): four statements."""
    require(actor, "invoicing.read")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
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
    annex = list(
        session.scalars(
            select(InvoiceAnnexRow)
            .where(InvoiceAnnexRow.invoice_id == invoice.id)
            .order_by(InvoiceAnnexRow.freelancer_id, InvoiceAnnexRow.week_start)
        )
    )
    notes = [rules.VAT_NOTES[t.category] for t in taxes if t.category in rules.VAT_NOTES]
    return InvoiceDetail(invoice, lines, taxes, annex, notes)


def credit_notes_of(session: Session, *, actor: Actor, invoice_id: int) -> list[Invoice]:
    """The credit notes that reference an invoice (discarded ones left out), oldest first:
    one statement."""
    require(actor, "invoicing.read")
    return list(
        session.scalars(
            select(Invoice)
            .where(Invoice.credited_invoice_id == invoice_id, Invoice.state != "discarded")
            .order_by(Invoice.id)
        )
    )


@dataclass(frozen=True)
class LinePage:
    rows: list[InvoiceLine]
    total: int


def line_page(session: Session, *, invoice_id: int, page: int, per_page: int) -> LinePage:
    """One page of an invoice's lines by position, and how many it has (two statements;
    the caller has loaded the invoice with `get_invoice`, which checks the permission)."""
    total = session.scalar(
        select(func.count()).select_from(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
    )
    rows = session.scalars(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice_id)
        .order_by(InvoiceLine.position)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return LinePage(list(rows), total or 0)
