"""Closing a billing period: what it will bill (the preview), then the draft invoices.

One plan serves both, so the preview and the drafts agree to the cent: every approved, not
yet invoiced item with a work date up to the period's end (late items of earlier periods
too, listed as prior-period items), priced at the terms valid on its work date
(`fms.timesheets.pricing`), billed to the bill-to entity of the cost centre its terms name
that day, in its own currency; one invoice per bill-to entity x currency; one line per
cost centre x PO x engagement x kind x rate, its net rounded once; VAT per category on the
sum of the line nets, rounded once (each stacked tax - GST, QST - the same way).

Service fee: after the lines, one fee line per cost centre x PO x fee percent x VAT of
each invoice (a supplier's own percent, else the organization's): the fee on the sum of
the rounded nets of the lines it derives from, rounded once, taxed like them, placed last
in its cost centre and PO group (so the group's subtotal, the PO and the cost centre's spend
include it). Expense lines included: the fee is on all the spend billed.

Lock order: the organization's audit chain head first (it also queues two closes of one
organization behind each other), then the period lock row, then the items (conditional
updates WHERE invoice_id IS NULL: an item is billed once or the close fails whole).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import AlreadyExists, RuleViolation
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.invoicing import arithmetic, rules
from fms.invoicing.models import (
    BillToEntity,
    CostCentreBilling,
    Invoice,
    InvoiceAnnexRow,
    InvoiceLine,
    InvoiceLineItem,
    InvoiceTax,
)
from fms.invoicing.settings import (
    billing_settings,
    components_for,
    fee_percent,
    service_fees,
    tax_component_sets,
    vat_rates,
)
from fms.timesheets import pricing
from fms.timesheets import services as timesheets
from fms.timesheets.models import Adjustment, Expense, Milestone, PeriodLock, Timesheet
from fms.timesheets.models import TimesheetEntry as Entry
from fms.workforce.engagements import org_today
from fms.workforce.models import Engagement

# marking items runs in chunks: a close of 10,000 freelancers holds ~200,000 day entries,
# more than one statement's parameters may hold on SQLite
CHUNK = 5000
# pricing's kinds -> (line kind, unit)
_LINE_KIND = {
    "time": ("time", "minute"),
    "day": ("time", "half_day"),
    "overtime": ("overtime", "minute"),
    "milestone": ("milestone", "each"),
    "expense": ("expense", "each"),
}
_KIND_ORDER = {kind: n for n, kind in enumerate(rules.LINE_KINDS)}


@dataclass
class PlannedLine:
    engagement_id: int | None
    freelancer_id: int | None
    kind: str
    unit: str
    rate: Decimal
    cost_centre_id: int | None
    po_number: str | None
    vat_category: str
    vat_rate: Decimal
    description: str
    currency: str
    quantity: int = 0
    exact: Fraction = Fraction(0)
    first_date: date | None = None
    last_date: date | None = None
    # (item_type, item_id, work_date, quantity)
    items: list[tuple[str, int, date, int]] = field(default_factory=list)
    # stacked taxes: [[name, percent text], ...]; None: plain VAT at vat_rate
    tax_components: list | None = None
    # the engagement's supplier (the service fee's percent follows it)
    supplier_id: int | None = None
    # the fee percent on this line (a fee line's own, or the fee it feeds); None: no fee
    fee_percent: Decimal | None = None

    @property
    def net(self) -> Decimal:
        """The exact sum of the line's items, rounded once."""
        return pricing.round_exact(self.exact, self.currency)


@dataclass(frozen=True, slots=True)
class PriorItem:
    """An item whose work date lies before the period: billed late, shown with its date."""

    item_type: str
    item_id: int
    engagement_id: int
    work_date: date
    kind: str


@dataclass
class AnnexWeek:
    freelancer_id: int | None
    engagement_id: int
    week_start: date
    week_end: date
    first_date: date
    last_date: date
    minutes: int = 0
    half_days: int = 0


@dataclass
class PlannedInvoice:
    bill_to_entity_id: int
    bill_to_name: str
    currency: str
    lines: list[PlannedLine]
    totals: arithmetic.Totals
    prior_period: list[PriorItem]
    annex: list[AnnexWeek]
    # every item the invoice marks (zero-minute days too, so a sheet becomes invoiced)
    entry_ids: list[int]
    adjustment_ids: list[int]
    milestone_ids: list[int]
    expense_ids: list[int]

    @property
    def item_count(self) -> int:
        return sum(len(line.items) for line in self.lines)


@dataclass
class ClosePreview:
    period: str
    period_start: date
    period_end: date
    invoices: list[PlannedInvoice]
    # what stops the close (an unassigned cost centre, a missing PO or VAT rate)
    problems: list[str]
    already_closed: bool = False


@dataclass
class CloseResult:
    period_start: date
    period_end: date
    invoices: list[Invoice]
    created: bool  # False: the period was closed already; these are its drafts


# --- the plan ------------------------------------------------------------------------------


def _unbilled(session: Session, end: date):
    """Approved, not yet invoiced items with a work date up to `end` (four statements)."""
    entries = session.execute(
        select(
            Entry.id,
            Entry.engagement_id,
            Entry.work_date,
            Entry.minutes,
            Entry.half_days,
            Timesheet.week_start,
            Timesheet.week_end,
            Timesheet.freelancer_id,
        )
        .join(Timesheet, Timesheet.id == Entry.timesheet_id)
        .where(
            Timesheet.state == "approved",
            Entry.invoice_id.is_(None),
            Entry.invoiced_at.is_(None),
            Entry.work_date <= end,
        )
        .order_by(Entry.engagement_id, Entry.work_date, Entry.id)
    ).all()
    adjustments, milestones, expenses = (
        session.scalars(
            select(model)
            .where(
                model.state == timesheets.BILLED_FROM[model.__tablename__],
                model.invoice_id.is_(None),
                day <= end,
            )
            .order_by(model.id)
        ).all()
        for model, day in (
            (Adjustment, Adjustment.work_date),
            (Milestone, Milestone.due_date),
            (Expense, Expense.spent_on),
        )
    )
    return entries, adjustments, milestones, expenses


def plan_close(session: Session, *, actor: Actor, period: str) -> ClosePreview:
    """What closing `period` bills, per bill-to entity x currency: lines, totals, VAT, the
    prior-period items and the annex; and what would stop it. Reads only."""
    require(actor, "invoicing.read")
    settings = billing_settings(session)
    start, end = rules.period_bounds(settings.billing_period, period)
    closed = session.scalar(select(PeriodLock.id).where(PeriodLock.period_start == start))
    entries, adjustments, milestones, expenses = _unbilled(session, end)
    engagement_ids = (
        {row.engagement_id for row in entries}
        | {row.engagement_id for row in adjustments}
        | {row.engagement_id for row in milestones}
        | {row.engagement_id for row in expenses}
    )
    context = pricing.PricingContext(session, engagement_ids)
    centres = dict(
        session.execute(
            select(CostCentreBilling.cost_centre_id, CostCentreBilling.bill_to_entity_id)
        ).all()
    )
    entities = {row.id: row for row in session.scalars(select(BillToEntity))}
    rates = vat_rates(session)
    component_sets = tax_component_sets(session)
    fees = service_fees(session)
    problems: dict[str, None] = {}  # ordered set of messages
    groups: dict[tuple[int, str], dict] = {}

    def target(engagement: Engagement, day: date, currency: str):
        """The invoice (bill-to entity x currency) and line context of an item on `day`."""
        terms = context.terms(engagement.id, day)
        centre = terms.cost_centre_id if terms else None
        entity_id = centres.get(centre)
        if entity_id is None or entity_id not in entities:
            problems[f"Cost centre {centre} is billed to no bill-to entity."] = None
            return None
        entity = entities[entity_id]
        po = engagement.po_number or entity.default_po
        if entity.po_required and not po:
            problems[
                f"Engagement {engagement.id} ({engagement.title}) has no PO number, and "
                f"{entity.name} requires one."
            ] = None
        category = rules.vat_category(
            issuer_country=settings.issuer_country,
            issuer_vat_id=settings.issuer_vat_id,
            bill_to_country=entity.country,
            bill_to_vat_id=entity.vat_id,
            fixed_category=entity.tax_category,
        )
        components = None
        if category in rules.ZERO_RATED:
            vat = Decimal(0)
        elif stacked := components_for(
            component_sets,
            country=entity.country,
            region=entity.region,
            category=category,
            day=end,
        ):
            components = [[name, _plain_text(percent)] for name, percent in stacked]
            vat = sum((percent for _, percent in stacked), Decimal(0))
        else:
            vat = rules.rate_on(rates.get((entity.country, category), []), end)
            if vat is None:
                problems[f"No {category} VAT rate for {entity.country} on {end.isoformat()}."] = (
                    None
                )
                return None
        group = groups.setdefault(
            (entity.id, currency),
            {"entity": entity, "lines": {}, "prior": [], "annex": {}, "ids": defaultdict(list)},
        )
        return group, centre, po, category, vat, components

    def add(item, group_ctx, engagement, item_type, item_id, week=None, freelancer_id=None):
        group, centre, po, category, vat, components = group_ctx
        line_kind, unit = _LINE_KIND.get(item.kind, ("adjustment", "minute"))
        if item.kind == "adjustment" and item.quantity == 0:
            unit = "each"  # an amount correction
        rate = item.rate
        key = (centre or 0, po or "", engagement.id, _KIND_ORDER[line_kind], unit, rate)
        line = group["lines"].get(key)
        if line is None:
            line = group["lines"][key] = PlannedLine(
                engagement_id=engagement.id,
                freelancer_id=engagement.freelancer_id,
                kind=line_kind,
                unit=unit,
                rate=rate,
                cost_centre_id=centre,
                po_number=po,
                vat_category=category,
                vat_rate=vat,
                description=_describe(engagement, line_kind, unit),
                currency=item.currency,
                tax_components=components,
                supplier_id=engagement.supplier_id,
            )
        quantity = 1 if unit == "each" else item.quantity
        line.quantity += quantity
        line.exact += item.amount
        line.first_date = min(filter(None, (line.first_date, item.work_date)))
        line.last_date = max(filter(None, (line.last_date, item.work_date)))
        line.items.append((item_type, item_id, item.work_date, item.quantity))
        if item.work_date < start:
            group["prior"].append(
                PriorItem(item_type, item_id, engagement.id, item.work_date, line_kind)
            )
        if week is not None and line_kind in ("time", "overtime"):
            row = group["annex"].get((engagement.id, week[0]))
            if row is None:
                row = group["annex"][(engagement.id, week[0])] = AnnexWeek(
                    freelancer_id, engagement.id, week[0], week[1], item.work_date, item.work_date
                )
            row.first_date = min(row.first_date, item.work_date)
            row.last_date = max(row.last_date, item.work_date)
            if unit == "half_day":
                row.half_days += item.quantity
            else:
                row.minutes += item.quantity

    for row in entries:
        engagement = context.engagements[row.engagement_id]
        where = target(engagement, row.work_date, engagement.currency)
        if where is None:
            continue
        where[0]["ids"]["entry"].append(row.id)  # marked even when it bills nothing
        for item in context.entry_items(row):
            add(
                item,
                where,
                engagement,
                "entry",
                row.id,
                (row.week_start, row.week_end),
                row.freelancer_id,
            )
    for item_type, rows, price in (
        ("adjustment", adjustments, context.adjustment_item),
        ("milestone", milestones, pricing.milestone_item),
        ("expense", expenses, pricing.expense_item),
    ):
        for row in rows:
            item = price(row)  # dated on the day it corrects, its due date, or when spent
            engagement = context.engagements[row.engagement_id]
            where = target(engagement, item.work_date, item.currency)
            if where is not None:
                where[0]["ids"][item_type].append(row.id)
                add(item, where, engagement, item_type, row.id)

    invoices = []
    for (entity_id, currency), group in sorted(
        groups.items(), key=lambda kv: (kv[1]["entity"].name, kv[0][1])
    ):
        if not group["lines"]:
            continue  # only days without time: nothing to bill
        group["lines"].update(_fee_lines(group["lines"], fees, currency))
        lines = [group["lines"][key] for key in sorted(group["lines"])]
        totals = arithmetic.invoice_totals(
            ((line.vat_category, line.vat_rate, line.net, line.tax_components) for line in lines),
            currency,
        )
        invoices.append(
            PlannedInvoice(
                bill_to_entity_id=entity_id,
                bill_to_name=group["entity"].name,
                currency=currency,
                lines=lines,
                totals=totals,
                prior_period=sorted(group["prior"], key=lambda p: (p.work_date, p.item_id)),
                annex=sorted(
                    group["annex"].values(), key=lambda a: (a.freelancer_id or 0, a.week_start)
                ),
                entry_ids=sorted(group["ids"]["entry"]),
                adjustment_ids=sorted(group["ids"]["adjustment"]),
                milestone_ids=sorted(group["ids"]["milestone"]),
                expense_ids=sorted(group["ids"]["expense"]),
            )
        )
    return ClosePreview(period, start, end, invoices, list(problems), already_closed=bool(closed))


# a fee line sorts after every engagement's lines of its cost centre and PO
_AFTER_ENGAGEMENTS = 2**63


def _fee_lines(lines: dict, fees: dict, currency: str) -> dict:
    """The service fee lines of one invoice's lines (keyed as `plan_close` keys lines): per
    cost centre x PO x fee percent x VAT, the fee on the sum of those lines' rounded nets,
    rounded once; none where the percent is 0 or the fee comes to nothing."""
    bases: dict[tuple, list[PlannedLine]] = {}
    for line in lines.values():
        percent = fee_percent(fees, line.supplier_id)
        if not percent:
            continue
        line.fee_percent = percent
        components = tuple(map(tuple, line.tax_components or ()))
        key = (
            line.cost_centre_id or 0,
            line.po_number or "",
            percent,
            line.vat_category,
            line.vat_rate,
            components,
        )
        bases.setdefault(key, []).append(line)
    result = {}
    for (centre, po, percent, category, vat, components), derived in bases.items():
        base = sum((line.net for line in derived), Decimal(0))
        amount = arithmetic.fee(base, percent, currency)
        if amount == 0:
            continue
        first = derived[0]
        shown = f"{_plain_text(percent)} %"
        key = (
            centre,
            po,
            _AFTER_ENGAGEMENTS,
            _KIND_ORDER["fee"],
            category,
            percent,
            vat,
            components,
        )
        result[key] = PlannedLine(
            engagement_id=None,
            freelancer_id=None,
            kind="fee",
            unit="each",
            rate=amount,
            cost_centre_id=first.cost_centre_id,
            po_number=first.po_number,
            vat_category=category,
            vat_rate=vat,
            description=f"Service fee {shown} on {base:f} {currency}",
            currency=currency,
            quantity=1,
            exact=Fraction(amount),
            tax_components=first.tax_components,
            fee_percent=percent,
        )
    return result


def _plain_text(value: Decimal) -> str:
    """A percent without trailing zeros or exponent (2.5000 -> 2.5, 10 -> 10)."""
    return f"{Decimal(value).normalize():f}"


def _describe(engagement: Engagement, kind: str, unit: str) -> str:
    label = {
        "time": "Days" if unit == "half_day" else "Time",
        "overtime": "Overtime",
        "milestone": "Milestone",
        "expense": "Expense",
        "adjustment": "Adjustment",
    }[kind]
    return f"{engagement.title} - {label}"[:300]


def preview_close(session: Session, *, actor: Actor, period: str) -> ClosePreview:
    """What a close of `period` will bill, exactly as the drafts it makes (same plan)."""
    return plan_close(session, actor=actor, period=period)


# --- the close -----------------------------------------------------------------------------


def close_period(
    session: Session, *, actor: Actor, period: str, today: date | None = None
) -> CloseResult:
    """Close a billing period that is over: one draft invoice per bill-to entity x currency
    holding every approved, not yet invoiced item with a work date up to its end (late
    items included), each item marked with its invoice (once: a conditional update), the
    timesheets period lock written, all audited in this transaction. Closing a closed period
    again bills nothing and answers its drafts (a retried job, a double click)."""
    require(actor, "invoicing.manage")
    settings = billing_settings(session)
    start, end = rules.period_bounds(settings.billing_period, period)
    today = today or org_today(session, actor)
    if end >= today:
        raise RuleViolation(
            f"The period {period} is not over yet: it ends on {end.isoformat()}.",
            errors={"period": ["Not over."]},
        )
    audit.take_head(session, actor.org_id)  # first: two closes of one organization queue here
    if session.scalar(select(PeriodLock.id).where(PeriodLock.period_start == start)):
        return CloseResult(start, end, _drafts_of(session, start), created=False)
    plan = plan_close(session, actor=actor, period=period)
    if plan.problems:
        raise RuleViolation(
            "The period cannot be closed: " + " ".join(plan.problems),
            errors={"period": plan.problems},
        )
    try:
        lock = timesheets.lock_period(session, actor=actor, period_start=start, period_end=end)
    except AlreadyExists:
        return CloseResult(start, end, _drafts_of(session, start), created=False)
    invoices = [_make_draft(session, actor, planned, start, end) for planned in plan.invoices]
    audit.record(
        session,
        actor,
        "invoicing.period_closed",
        lock,
        after={
            "period": period,
            "start": start,
            "end": end,
            "invoice_ids": [invoice.id for invoice in invoices],
        },
    )
    session.flush()
    return CloseResult(start, end, invoices, created=True)


# what an invoice line has in common with the line it is made from (a planned line, or the
# invoice line a credit note credits)
_LINE_FIELDS = (
    "engagement_id",
    "freelancer_id",
    "kind",
    "unit",
    "description",
    "quantity",
    "rate",
    "cost_centre_id",
    "po_number",
    "vat_category",
    "vat_rate",
    "first_date",
    "last_date",
    "tax_components",
    "fee_percent",
)


def line_like(source, invoice: Invoice, position: int, **values) -> InvoiceLine:
    """A new line of `invoice` with the fields of `source`, and `values` instead."""
    fields = {name: getattr(source, name) for name in _LINE_FIELDS}
    fields.update(values)
    return InvoiceLine(org_id=invoice.org_id, invoice_id=invoice.id, position=position, **fields)


def stacked(lines) -> bool:
    """Whether any of the lines carries more than one tax (GST + QST)."""
    return any(len(line.tax_components or ()) > 1 for line in lines)


def add_tax_rows(session: Session, invoice: Invoice, breakdown) -> None:
    """Store an invoice's VAT breakdown (`arithmetic.TaxRow`s)."""
    session.add_all(
        InvoiceTax(
            org_id=invoice.org_id,
            invoice_id=invoice.id,
            category=row.category,
            rate=row.rate,
            taxable=row.taxable,
            tax=row.tax,
            name=row.name,
        )
        for row in breakdown
    )


def _drafts_of(session: Session, start: date) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice)
            .where(Invoice.kind == "invoice", Invoice.period_start == start)
            .order_by(Invoice.id)
        )
    )


def _make_draft(session, actor, planned: PlannedInvoice, start: date, end: date) -> Invoice:
    pos = {line.po_number for line in planned.lines}
    invoice = Invoice(
        org_id=actor.org_id,
        kind="invoice",
        state="draft",
        bill_to_entity_id=planned.bill_to_entity_id,
        currency=planned.currency,
        period_start=start,
        period_end=end,
        po_number=pos.pop() if len(pos) == 1 else None,
        net_total=planned.totals.net,
        tax_total=planned.totals.tax,
        gross_total=planned.totals.gross,
        stacked_taxes=stacked(planned.lines),
        created_by_user_id=actor.user_id,
    )
    session.add(invoice)
    session.flush()
    lines = [
        line_like(planned_line, invoice, position, net=planned_line.net)
        for position, planned_line in enumerate(planned.lines, start=1)
    ]
    session.add_all(lines)
    session.flush()
    rows = [
        {
            "org_id": actor.org_id,
            "invoice_id": invoice.id,
            "line_id": line.id,
            "item_type": item_type,
            "item_id": item_id,
            "work_date": work_date,
            "quantity": quantity,
        }
        for line, planned_line in zip(lines, planned.lines, strict=True)
        for item_type, item_id, work_date, quantity in planned_line.items
    ]
    for chunk in range(0, len(rows), CHUNK):
        session.execute(insert(InvoiceLineItem), rows[chunk : chunk + CHUNK])
    add_tax_rows(session, invoice, planned.totals.breakdown)
    session.add_all(
        InvoiceAnnexRow(
            org_id=actor.org_id,
            invoice_id=invoice.id,
            freelancer_id=week.freelancer_id,
            engagement_id=week.engagement_id,
            week_start=week.week_start,
            week_end=week.week_end,
            first_date=week.first_date,
            last_date=week.last_date,
            minutes=week.minutes,
            half_days=week.half_days,
        )
        for week in planned.annex
    )
    session.flush()
    # each item once: conditional updates WHERE invoice_id IS NULL; any miss fails the close
    for chunk in range(0, len(planned.entry_ids), CHUNK):
        timesheets.mark_invoiced(
            session,
            actor=actor,
            entry_ids=planned.entry_ids[chunk : chunk + CHUNK],
            invoice_id=invoice.id,
        )
    for model, ids in (
        (Adjustment, planned.adjustment_ids),
        (Milestone, planned.milestone_ids),
        (Expense, planned.expense_ids),
    ):
        for chunk in range(0, len(ids), CHUNK):
            timesheets.mark_items_invoiced(
                session,
                actor=actor,
                model=model,
                item_ids=ids[chunk : chunk + CHUNK],
                invoice_id=invoice.id,
            )
    audit.record(
        session,
        actor,
        "invoice.drafted",
        invoice,
        after={
            "bill_to_entity_id": invoice.bill_to_entity_id,
            "currency": invoice.currency,
            "period_start": start,
            "period_end": end,
            "net": invoice.net_total,
            "tax": invoice.tax_total,
            "gross": invoice.gross_total,
            "lines": len(lines),
        },
    )
    return invoice
