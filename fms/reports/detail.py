"""The Detail rows of a spend export: one row per approved item in a date range.

An item is what a close bills (`fms.invoicing.close`): the approved day entries of a
timesheet, an approved adjustment, an accepted milestone, an approved expense, each priced
at the terms valid on its work date (`fms.timesheets.pricing`). A timesheet's days are one
row per week as long as they share an invoice, a cost centre, a kind (time, overtime, days)
and a rate — a week that straddles a month end billed on two invoices, or a rate that
changes mid-week, gives two rows — so a year of 10,000 freelancers stays within a
spreadsheet's million rows. Amounts are exact to six decimal places (the invoice rounds per
line, not per item); the Summary sheet carries the rounded figures.

Rows are read in chunks (`yield_per`) and priced as they stream: memory holds the
organization's engagements and names, not the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from fms import money
from fms.identity.permissions import require
from fms.invoicing.models import Invoice
from fms.reports.spend import billable_minutes_sql, without_jit
from fms.timesheets import pricing, rules
from fms.timesheets import services as timesheets
from fms.timesheets.models import Adjustment, Expense, Milestone, TimeRounding, Timesheet
from fms.timesheets.models import TimesheetEntry as Entry
from fms.workforce.models import CostCentre, Engagement, Freelancer, Supplier

HEADER = (
    "Item",
    "From",
    "To",
    "Freelancer",
    "Engagement",
    "Cost centre",
    "Supplier",
    "Currency",
    "Amount",
    "Minutes",
    "Invoice",
)
# column kinds for the writers: which cells are amounts (formatted in the row's currency)
AMOUNT_COLUMN = HEADER.index("Amount")
CURRENCY_COLUMN = HEADER.index("Currency")
KIND_LABELS = {
    "time": "Time",
    "overtime": "Overtime",
    "day": "Days",
    "adjustment": "Adjustment",
    "milestone": "Milestone",
    "expense": "Expense",
}
CHUNK = 5000
# approved, and stays counted once billed (approved -> invoiced is its only way on)
SHEET_STATES = ("approved", "invoiced")


def _states(model) -> tuple[str, str]:
    """An adjustment, milestone or expense counts from the state a close bills it in."""
    return (timesheets.BILLED_FROM[model.__tablename__], "invoiced")


PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class DetailRow:
    item: str
    start: date
    end: date
    freelancer: str
    engagement: str
    cost_centre: str
    supplier: str
    currency: str
    amount: Decimal
    minutes: int
    invoice: str | None

    def cells(self) -> tuple:
        return (
            self.item,
            self.start,
            self.end,
            self.freelancer,
            self.engagement,
            self.cost_centre,
            self.supplier,
            self.currency,
            self.amount,
            self.minutes,
            self.invoice,
        )


def _exact(amount: Fraction) -> Decimal:
    """An exact amount to six places, half-up (finer than any currency's minor unit)."""
    value = Decimal(amount.numerator) / Decimal(amount.denominator)
    return value.quantize(PLACES, rounding=ROUND_HALF_UP)


def detail_count(session: Session, *, actor, start: date, end: date) -> int:
    """About how many Detail rows a range has (a week is one row unless it splits): what
    decides whether an export runs at once or as a job. Four counts in SQL."""
    require(actor, "reports.spend")
    sheets = session.scalar(
        select(func.count(func.distinct(Entry.timesheet_id)))
        .join(Timesheet, Timesheet.id == Entry.timesheet_id)
        .where(Timesheet.state.in_(SHEET_STATES), Entry.work_date.between(start, end))
    )
    total = int(sheets or 0)
    for model, day in (
        (Adjustment, Adjustment.work_date),
        (Milestone, Milestone.due_date),
        (Expense, Expense.spent_on),
    ):
        total += int(
            session.scalar(
                select(func.count(model.id)).where(
                    model.state.in_(_states(model)),
                    day.between(start, end),
                )
            )
            or 0
        )
    return total


class _Names:
    """The organization's labels, loaded once (bounded by its size, not by the rows)."""

    def __init__(self, session: Session):
        self.freelancers = dict(
            session.execute(select(Freelancer.id, Freelancer.display_name)).all()
        )
        self.centres = dict(session.execute(select(CostCentre.id, CostCentre.name)).all())
        self.suppliers = dict(session.execute(select(Supplier.id, Supplier.name)).all())
        self.invoices = dict(session.execute(select(Invoice.id, Invoice.number)).all())

    def invoice(self, invoice_id: int | None) -> str | None:
        if invoice_id is None:
            return None
        return self.invoices.get(invoice_id) or "draft"


def detail_rows(
    session: Session,
    *,
    actor,
    start: date,
    end: date,
    progress: Callable[[int], None] | None = None,
) -> Iterator[DetailRow]:
    """Every approved item with a work date in [start, end], as Detail rows: timesheet weeks
    (by engagement, week), then adjustments, milestones and expenses (by date)."""
    require(actor, "reports.spend")
    without_jit(session)
    total = detail_count(session, actor=actor, start=start, end=end) if progress else 0
    names = _Names(session)
    engagement_ids = session.scalars(select(Engagement.id)).all()
    context = pricing.PricingContext(session, engagement_ids)
    done = 0

    def centre_on(engagement_id: int, day: date):
        terms = context.terms(engagement_id, day)
        return terms.cost_centre_id if terms else None

    def row(engagement: Engagement, kind, first, last, currency, amount, minutes, invoice, centre):
        return DetailRow(
            item=KIND_LABELS.get(kind, kind),
            start=first,
            end=last,
            freelancer=names.freelancers.get(engagement.freelancer_id, ""),
            engagement=engagement.title,
            cost_centre=names.centres.get(centre, ""),
            supplier=names.suppliers.get(engagement.supplier_id, "Direct"),
            currency=currency,
            amount=_exact(amount),
            minutes=minutes,
            invoice=names.invoice(invoice),
        )

    sheet_filter = (Timesheet.state.in_(SHEET_STATES), Entry.work_date.between(start, end))
    # each day's billable minutes under the engagement's rounding, and their split at the
    # standard day (overtime when the terms have an overtime rate), as pricing does per day
    rounding = aliased(TimeRounding)
    billable = billable_minutes_sql(Entry.minutes, func.coalesce(rounding.mode, "none"))
    standard = rules.STANDARD_DAY_MINUTES
    beyond = billable > standard
    positive = billable > 0
    halves = func.coalesce(Entry.half_days, 0)
    # One row per sheet x engagement x invoice, summed in SQL; priced here in one step when
    # the sum prices like its days (see `whole`), else the sheet is priced day by day below.
    # the organization named in the statement itself: it runs on the connection, without
    # the ORM's per-row work (a year's Detail reads 100,000 groups), so without the
    # session's tenant filter too
    org_id = actor.org_id
    groups = session.connection().execute(
        select(
            Entry.timesheet_id,
            Entry.engagement_id,
            Entry.invoice_id,
            func.min(case((positive, Entry.work_date))),
            func.max(case((positive, Entry.work_date))),
            func.sum(billable),
            func.min(case((halves > 0, Entry.work_date))),
            func.max(case((halves > 0, Entry.work_date))),
            func.sum(halves),
            func.sum(case((beyond, billable - standard), else_=0)),
            func.min(case((beyond, Entry.work_date))),
            func.max(case((beyond, Entry.work_date))),
        )
        .join(Timesheet, Timesheet.id == Entry.timesheet_id)
        .outerjoin(
            rounding,
            and_(rounding.engagement_id == Entry.engagement_id, rounding.org_id == org_id),
        )
        .where(*sheet_filter, Entry.org_id == org_id, Timesheet.org_id == org_id)
        .group_by(Entry.timesheet_id, Entry.engagement_id, Entry.invoice_id)
        .order_by(Entry.timesheet_id, Entry.engagement_id, func.min(Entry.work_date))
        .execution_options(yield_per=CHUNK)
    )
    # plain values per engagement, read once: the fast path below runs once per sheet
    plain = {}
    for e in context.engagements.values():
        plain[e.id] = (
            e.kind,
            e.currency,
            names.freelancers.get(e.freelancer_id, ""),
            e.title,
            names.suppliers.get(e.supplier_id, "Direct"),
            [
                (t.effective_from, t.rate, t.overtime_rate, t.cost_centre_id)
                for t in context.history[e.id]
            ],
        )
    label = {kind: KIND_LABELS[kind] for kind in ("time", "overtime", "day")}

    def terms_at(history, day):
        """The index of the terms row in effect on `day` (the earliest before the start)."""
        found = 0
        for n, terms in enumerate(history):
            if terms[0] <= day:
                found = n
        return found

    def whole(group) -> list[DetailRow] | bool:
        """The group's rows priced at once (none: nothing billable), or False when its days
        must be priced one by one: terms that change within the week. The minutes come
        rounded per day and split at the standard day by the statement (overtime: its own
        row, as its own invoice line). Exact: rate x minutes / 60 in Decimal, to six places
        as `_exact` rounds the Fraction of the same quotient."""
        (_, engagement_id, invoice_id, first, last, minutes) = group[:6]
        first_d, last_d, half, overtime, first_ot, last_ot = group[6:]
        kind, currency, freelancer, title, supplier, history = plain[engagement_id]
        if kind == "daily":
            first, last = first_d, last_d
        if first is None:
            return []  # only empty days: nothing to bill, as day by day
        if not history:
            return False
        at = terms_at(history, first)
        if at != terms_at(history, last):
            return False
        _, rate, overtime_rate, centre = history[at]
        common = (freelancer, title, names.centres.get(centre, ""), supplier, currency)
        invoice = names.invoice(invoice_id)
        if kind == "daily":
            amount = Decimal(rate) * int(half) / 2
            return [_detail_row(label["day"], first, last, common, amount, 0, invoice)]
        extra = int(overtime) if overtime_rate is not None else 0
        regular = int(minutes) - extra
        rows = [
            _detail_row(
                label["time"], first, last, common, Decimal(rate) * regular / 60, regular, invoice
            )
        ]
        if extra:
            amount = Decimal(overtime_rate) * extra / 60
            rows.append(
                _detail_row(label["overtime"], first_ot, last_ot, common, amount, extra, invoice)
            )
        return rows

    deferred: list[int] = []
    sheet_id, pending, simple = None, [], True
    for group in groups:
        if group[0] != sheet_id:
            if simple:
                yield from pending
            else:
                deferred.append(sheet_id)
            done += 1
            if progress and done % CHUNK == 0:
                progress(done * 100 // max(total, 1))
            sheet_id, pending, simple = group[0], [], True
        if simple:
            priced = whole(group)
            if priced is False:
                simple, pending = False, []
            else:
                pending.extend(priced)
    if sheet_id is not None:
        if simple:
            yield from pending
        else:
            deferred.append(sheet_id)

    def by_day(sheet_ids):
        """Sheets priced day by day, as a close prices them: one row per engagement x
        invoice x cost centre x kind x rate."""
        entries = session.execute(
            select(
                Entry.timesheet_id,
                Entry.engagement_id,
                Entry.work_date,
                Entry.minutes,
                Entry.half_days,
                Entry.invoice_id,
            )
            .join(Timesheet, Timesheet.id == Entry.timesheet_id)
            .where(*sheet_filter, Entry.timesheet_id.in_(sheet_ids))
            .order_by(Entry.timesheet_id, Entry.work_date, Entry.id)
        )
        sheet, groups = None, {}
        for entry in entries:
            if entry.timesheet_id != sheet:
                yield from flush(groups)
                sheet, groups = entry.timesheet_id, {}
            centre = centre_on(entry.engagement_id, entry.work_date)
            for item in context.entry_items(entry):
                key = (entry.engagement_id, entry.invoice_id, centre, item.kind, item.rate)
                g = groups.get(key)
                if g is None:
                    groups[key] = [item.work_date, item.work_date, item.amount, item.minutes]
                else:
                    g[1] = item.work_date
                    g[2] += item.amount
                    g[3] += item.minutes
        yield from flush(groups)

    def flush(groups):
        for (engagement_id, invoice_id, centre, kind, _rate), g in groups.items():
            engagement = context.engagements[engagement_id]
            yield row(
                engagement, kind, g[0], g[1], engagement.currency, g[2], g[3], invoice_id, centre
            )

    for n in range(0, len(deferred), CHUNK):
        yield from by_day(deferred[n : n + CHUNK])

    for model, day, price in (
        (Adjustment, Adjustment.work_date, context.adjustment_item),
        (Milestone, Milestone.due_date, pricing.milestone_item),
        (Expense, Expense.spent_on, pricing.expense_item),
    ):
        for obj in session.scalars(
            select(model)
            .where(
                model.state.in_(_states(model)),
                day.between(start, end),
            )
            .order_by(day, model.id)
            .execution_options(yield_per=CHUNK)
        ):
            item = price(obj)
            engagement = context.engagements[obj.engagement_id]
            yield row(
                engagement,
                item.kind,
                item.work_date,
                item.work_date,
                item.currency,
                item.amount,
                item.minutes,
                obj.invoice_id,
                centre_on(engagement.id, item.work_date),
            )


def _detail_row(item, first, last, common, amount: Decimal, minutes: int, invoice) -> DetailRow:
    freelancer, engagement, centre, supplier, currency = common
    return DetailRow(
        item=item,
        start=first,
        end=last,
        freelancer=freelancer,
        engagement=engagement,
        cost_centre=centre,
        supplier=supplier,
        currency=currency,
        amount=amount.quantize(PLACES, rounding=ROUND_HALF_UP),
        minutes=minutes,
        invoice=invoice,
    )


def currency_places(currency: str) -> int:
    """The currency's ISO 4217 minor-unit digits (the cell format shows that many)."""
    return money.minor_units(currency)
