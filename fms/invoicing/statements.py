"""What a freelancer sees of invoicing: per billing period, the invoice lines that billed
their work and whether the invoice they are on has been paid. Only their own lines, only
issued documents (a draft may still change), never the client's other lines.

`statement()` is the self-billing statement of one period as a PDF: the same lines with
the invoice each is on, what was billed for their work and what they will be paid. The
data model has one rate per engagement (its terms' rate): it is what the client is billed
and what the freelancer is paid for their approved time, so "to be paid" equals "billed"
per currency (before VAT; a credit note's lines count negative). There is no
freelancer's id in the route: a statement is only ever the signed-in freelancer's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.errors import NotFound
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
    invoice_number: str | None = None


@dataclass(frozen=True)
class BilledPeriod:
    period_start: date
    period_end: date
    lines: list[BilledLine]
    # net per currency, credits subtracted
    totals: dict[str, Decimal]


def _profile(session: Session, actor: Actor) -> Freelancer | None:
    """The actor's own freelancer profile in the session's organization, if any."""
    if actor.user_id is None or not actor.can("own_engagements.read"):
        return None
    return session.scalar(select(Freelancer).where(Freelancer.user_id == actor.user_id))


def billed_work(
    session: Session, *, actor: Actor, today: date, period_start: date | None = None
) -> list[BilledPeriod]:
    """The actor's own billed work (as the freelancer of the organization), newest period
    first, in one statement; nobody else's lines. Staff and others without a freelancer
    profile get an empty list. With `period_start`, that period's only."""
    profile = _profile(session, actor)
    if profile is None:
        return []
    query = (
        select(InvoiceLine, Invoice, Engagement.title)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Engagement, Engagement.id == InvoiceLine.engagement_id)
        .where(
            InvoiceLine.freelancer_id == profile.id,
            Invoice.state.in_(rules.ISSUED_STATES),
        )
        .order_by(Invoice.period_start.desc(), Invoice.id, InvoiceLine.position)
    )
    if period_start is not None:
        query = query.where(Invoice.period_start == period_start)
    periods: dict[tuple[date, date], BilledPeriod] = {}
    for line, invoice, title in session.execute(query):
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
                invoice_number=invoice.number,
            )
        )
        signed = period.lines[-1].net
        period.totals[invoice.currency] = period.totals.get(invoice.currency, Decimal(0)) + signed
    return list(periods.values())


# --- the self-billing statement -------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    invoice: str
    engagement: str
    description: str
    quantity: str
    rate: str
    amount: str
    status: str


@dataclass(frozen=True)
class StatementTotal:
    currency: str
    billed: str
    to_be_paid: str


@dataclass(frozen=True)
class Statement:
    """What a statement PDF prints, every figure formatted already."""

    period: str  # "2026-11"
    period_dates: str
    issued_on: str
    issuer: str
    freelancer: str
    freelancer_country: str
    tax_id: str | None
    iban_end: str | None  # the last four characters of the account paid to
    lines: list[StatementLine]
    totals: list[StatementTotal]


STATUS_WORDS = {
    "issued": "Invoiced, not paid yet",
    "overdue": "Invoiced, payment overdue",
    "paid": "Paid by the client",
    "credited": "Credited",
}


def statement(session: Session, *, actor: Actor, period: str, today: date) -> Statement:
    """The signed-in freelancer's self-billing statement of a billing period named as the
    organization's period kind says ("2026-11"): their lines on issued invoices and credit
    notes of that period and, per currency, what was billed for their work and what they
    will be paid (the same: one rate per engagement, see the module). Someone without a
    freelancer profile here, or a period with nothing billed for them, is NotFound; a
    malformed period is InvalidInput."""
    from fms.identity.models import Organization
    from fms.invoicing.pdf import _Formats
    from fms.invoicing.settings import billing_settings

    settings = billing_settings(session)
    start, end = rules.period_bounds(settings.billing_period, period)
    profile = _profile(session, actor)
    periods = billed_work(session, actor=actor, today=today, period_start=start) if profile else []
    if not periods:
        raise NotFound(f"Nothing was billed for your work in {period}.")
    org = session.get(Organization, actor.org_id)
    locale = org.locale if org else None
    formats: dict[str, _Formats] = {}

    def fmt(currency: str) -> _Formats:
        return formats.setdefault(currency, _Formats(currency, locale, 1))

    lines = [
        StatementLine(
            invoice=(line.invoice_number or "") + (" (credit note)" if line.is_credit else ""),
            engagement=line.engagement_title,
            description=line.description,
            quantity=fmt(line.currency).quantity(line.quantity, line.unit),
            rate="—"
            if line.rate == 0 and line.unit == "each"
            else fmt(line.currency).rate(line.rate),
            amount=fmt(line.currency).money(line.net),
            status=STATUS_WORDS.get(line.invoice_status, line.invoice_status),
        )
        for period_ in periods
        for line in period_.lines
    ]
    totals = [
        StatementTotal(currency, fmt(currency).money(total), fmt(currency).money(total))
        for currency, total in sorted(periods[0].totals.items())
    ]
    dates = _Formats("EUR", locale, 1)  # days and spans: the currency plays no part
    return Statement(
        period=period,
        period_dates=dates.span(start, end),
        issued_on=dates.day(today),
        issuer=settings.issuer_legal_name or (org.name if org else ""),
        freelancer=profile.legal_name,
        freelancer_country=profile.country,
        tax_id=profile.tax_id,
        iban_end=profile.iban[-4:] if profile.iban else None,
        lines=lines,
        totals=totals,
    )


def statement_pdf(session: Session, *, actor: Actor, period: str, today: date) -> bytes:
    """The statement as PDF (templates/invoicing/pdf/statement.html), rendered like the
    invoices (fms.invoicing.pdf_parts)."""
    from flask import render_template

    from fms.invoicing import pdf_parts
    from fms.pdf import StaticOnlyFetcher

    document = statement(session, actor=actor, period=period, today=today)
    html = render_template("invoicing/pdf/statement.html", doc=document)
    return pdf_parts.render_parts(
        [html], fetcher=StaticOnlyFetcher(), pdf_variant=None, workers=pdf_parts.WORKERS
    )


def period_names(session: Session, periods: list[BilledPeriod]) -> dict[date, str]:
    """The name of each billed period ("2026-11"), as statements are asked for."""
    from fms.invoicing.settings import billing_settings

    kind = billing_settings(session).billing_period
    return {p.period_start: rules.period_name(kind, p.period_start) for p in periods}


def statement_response(data: bytes, period: str):
    """A statement PDF as a download (the page and the API answer the same)."""
    import io

    from flask import send_file

    return send_file(
        io.BytesIO(data),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"statement-{period}.pdf",
    )
