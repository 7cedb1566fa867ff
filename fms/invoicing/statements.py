"""What a freelancer sees of invoicing: per billing period, the invoice lines that billed
their work and whether the invoice they are on has been paid. Only their own lines, only
issued documents (a draft may still change), never the client's other lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.identity.actor import Actor
from fms.invoicing import rules
from fms.invoicing.models import Invoice, InvoiceLine
from fms.workforce.models import Engagement, Freelancer


@dataclass(frozen=True, slots=True)
class BilledLine:
    period_start: date
    period_end: date
    engagement_title: str
    kind: str
    unit: str
    description: str
    quantity: int
    rate: Decimal
    net: Decimal
    currency: str
    # "issued", "paid", "credited", or "overdue" (issued, past its due date)
    invoice_status: str
    paid_on: date | None
    is_credit: bool


@dataclass(frozen=True)
class BilledPeriod:
    period_start: date
    period_end: date
    lines: list[BilledLine]
    # net per currency, credits subtracted
    totals: dict[str, Decimal]


def billed_work(session: Session, *, actor: Actor, today: date) -> list[BilledPeriod]:
    """The actor's own billed work (as the freelancer of the organization), newest period
    first, in one statement; nobody else's lines. Staff and others without a freelancer
    profile get an empty list."""
    if actor.user_id is None or not actor.can("own_engagements.read"):
        return []
    profile_id = session.scalar(select(Freelancer.id).where(Freelancer.user_id == actor.user_id))
    if profile_id is None:
        return []
    rows = session.execute(
        select(InvoiceLine, Invoice, Engagement.title)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Engagement, Engagement.id == InvoiceLine.engagement_id)
        .where(
            InvoiceLine.freelancer_id == profile_id,
            Invoice.state.in_(rules.ISSUED_STATES),
        )
        .order_by(Invoice.period_start.desc(), Invoice.id, InvoiceLine.position)
    )
    periods: dict[tuple[date, date], BilledPeriod] = {}
    for line, invoice, title in rows:
        key = (invoice.period_start, invoice.period_end)
        period = periods.setdefault(key, BilledPeriod(*key, [], {}))
        status = (
            "overdue" if rules.is_overdue(invoice.state, invoice.due_date, today) else invoice.state
        )
        is_credit = invoice.kind != "invoice"
        period.lines.append(
            BilledLine(
                *key,
                engagement_title=title,
                kind=line.kind,
                unit=line.unit,
                description=line.description,
                quantity=line.quantity,
                rate=line.rate,
                net=-line.net if is_credit and line.net > 0 else line.net,
                currency=invoice.currency,
                invoice_status=status,
                paid_on=invoice.paid_on,
                is_credit=is_credit,
            )
        )
        signed = period.lines[-1].net
        period.totals[invoice.currency] = period.totals.get(invoice.currency, Decimal(0)) + signed
    return list(periods.values())
