"""Invoicing lists of the API (fms.lists specs): invoices and credit notes. Finance and org
admins (`invoicing.read`) see all of the organization's; the route refuses everyone else
(403) before the list is read, and the statement shows them nothing besides."""

from __future__ import annotations

import re

from sqlalchemy import and_, false, or_, select

from fms.forms import id_arg
from fms.input import parse_date
from fms.invoicing import rules
from fms.invoicing.models import BillToEntity, Invoice
from fms.lists import Column, Filter, ListSpec
from fms.money import CurrencyError, check_currency

STATES = (*rules.INVOICE_TRANSITIONS, "overdue")
KINDS = ("invoice", "credit_note")
_PERIOD_KINDS = {
    "monthly": re.compile(r"\d{4}-\d{2}", re.ASCII),
    "semi_monthly": re.compile(r"\d{4}-\d{2}-[12]", re.ASCII),
    "weekly": re.compile(r"\d{4}-W\d{2}", re.ASCII),
}


def _choices(text: str, options) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(v.strip() for v in text.split(",")))
    if not values or any(v not in options for v in values):
        raise ValueError(text)
    return values


def period_span(text: str):
    """A period filter's value: "2026-11" (a month), "2026-11-1"/"2026-11-2" (a half) or
    "2026-W47" (an ISO week), as its first and last day; ValueError otherwise."""
    from fms.errors import InvalidInput

    for kind, pattern in _PERIOD_KINDS.items():
        if pattern.fullmatch(text):
            try:
                return rules.period_bounds(kind, text)
            except InvalidInput:
                raise ValueError(text) from None
    raise ValueError(text)


def _currency(text: str) -> str:
    try:
        return check_currency(text.upper())
    except CurrencyError:
        raise ValueError(text) from None


def _states(stmt, values, ctx):
    conditions = []
    for state in values:
        if state == "overdue":
            conditions.append(and_(Invoice.state == "issued", Invoice.due_date < ctx["today"]))
        else:
            conditions.append(Invoice.state == state)
    return stmt.where(or_(*conditions))


def _invoices(session, actor, ctx):
    stmt = select(Invoice, BillToEntity.name.label("bill_to_name")).join(
        BillToEntity, BillToEntity.id == Invoice.bill_to_entity_id
    )
    return stmt if actor.can("invoicing.read") else stmt.where(false())


INVOICES = ListSpec(
    key="api_invoices",
    title="Invoices",
    statement=_invoices,
    tiebreak=Invoice.id.desc(),
    default_sort="-period_start",
    permission="invoicing.read",
    columns=[
        Column("id", "ID", Invoice.id, "number", page=False),
        Column("number", "Number", Invoice.number),
        Column("state", "Status", Invoice.state, "state"),
        Column("period_start", "Period", Invoice.period_start, "date"),
        Column("bill_to", "Bill-to", BillToEntity.name),
        Column("currency", "Currency", Invoice.currency),
        Column("gross", "Gross", Invoice.gross_total, "money"),
        Column("issue_date", "Issued", Invoice.issue_date, "date"),
        Column("due_date", "Due", Invoice.due_date, "date"),
    ],
    filters=[
        Filter(
            "state",
            "Status",
            lambda text: _choices(text, STATES),
            _states,
            choices=[(v, v.replace("_", " ").capitalize()) for v in STATES],
            kind="select",
            message="One or more of (comma-separated): " + ", ".join(STATES) + ".",
        ),
        Filter(
            "kind",
            "Kind",
            lambda text: _choices(text, KINDS),
            lambda s, v, c: s.where(Invoice.kind.in_(v)),
            choices=[("invoice", "Invoice"), ("credit_note", "Credit note")],
            kind="select",
            message="invoice, credit_note, or both (comma-separated).",
        ),
        Filter(
            "bill_to_entity_id",
            "Bill-to entity",
            id_arg,
            lambda s, v, c: s.where(Invoice.bill_to_entity_id == v),
            kind="number",
            message="A bill-to entity id.",
            api_type="integer",
        ),
        Filter(
            "currency",
            "Currency",
            _currency,
            lambda s, v, c: s.where(Invoice.currency == v),
            message="An ISO 4217 currency code, such as EUR.",
        ),
        Filter(
            "period",
            "Period",
            period_span,
            lambda s, v, c: s.where(Invoice.period_start.between(v[0], v[1])),
            message="A period: 2026-11, 2026-11-1 or -2 (half months), or 2026-W47.",
        ),
        Filter(
            "issued_from",
            "Issued from",
            parse_date,
            lambda s, v, c: s.where(Invoice.issue_date >= v),
            kind="date",
            api_type="date",
            message="A date (YYYY-MM-DD).",
        ),
        Filter(
            "issued_to",
            "Issued to",
            parse_date,
            lambda s, v, c: s.where(Invoice.issue_date <= v),
            kind="date",
            api_type="date",
            message="A date (YYYY-MM-DD).",
        ),
    ],
)
