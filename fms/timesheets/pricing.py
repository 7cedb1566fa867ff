"""Pricing by DESIGN.md's money rules: each day at the terms valid on its work date; exact
until the invoice line.

An item's amount is an exact `Fraction` (minutes x hourly rate / 60 has no finite decimal
form in general, e.g. 7 minutes at 100/h); nothing is rounded per day or per sheet.
`invoice_lines` groups items the way an invoice line does (engagement x rate x kind x
currency) and rounds each line's net once, half-up, to the currency's minor unit, so a
queue, a draft invoice and the issued invoice show the same figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms import money
from fms.timesheets import rules
from fms.timesheets.models import Adjustment, TimeRounding, TimesheetEntry
from fms.workforce.models import Engagement, EngagementTerms


@dataclass(frozen=True, slots=True)
class BillableItem:
    """One priced piece of an approved (or to-be-approved) day, adjustment or milestone.

    kind: time | overtime | day | adjustment | milestone | expense. `quantity` is minutes for
    time, overtime and minute adjustments, half days for "day", 0 for amount adjustments, 1
    for a milestone or an expense."""

    engagement_id: int
    work_date: date
    kind: str
    quantity: int
    rate: Decimal
    amount: Fraction
    currency: str
    entry_id: int | None = None
    adjustment_id: int | None = None
    milestone_id: int | None = None
    expense_id: int | None = None

    @property
    def minutes(self) -> int:
        return self.quantity if self.kind in ("time", "overtime", "adjustment") else 0


@dataclass(frozen=True, slots=True)
class Line:
    engagement_id: int
    kind: str
    rate: Decimal
    currency: str
    quantity: int
    net: Decimal  # rounded once, half-up, to the currency's minor unit


def round_exact(amount: Fraction, currency: str) -> Decimal:
    """An exact amount rounded half-up (away from zero) to the currency's minor unit."""
    digits = money.minor_units(currency)
    units = math.floor(abs(amount) * 10**digits + Fraction(1, 2))
    return Decimal(units if amount >= 0 else -units).scaleb(-digits)


def terms_for_day(history: list, day: date):
    """The terms row in effect on a day, from one engagement's rows (oldest first); the
    earliest before the start, as workforce's `terms_on`."""
    current = history[0] if history else None
    for row in history:
        if row.effective_from <= day:
            current = row
    return current


def price_day(
    *,
    engagement_id: int,
    kind: str,
    currency: str,
    work_date: date,
    minutes: int,
    half_days: int | None,
    terms,
    rounding: str = "none",
    entry_id: int | None = None,
) -> list[BillableItem]:
    """The billable items of one day entry (pure): daily engagements bill half days x
    daily rate / 2; hourly ones the rounded minutes, beyond the standard day at the
    overtime rate when one is set."""
    rate = terms.rate
    if kind == "daily":
        if not half_days:
            return []
        amount = Fraction(rate) * half_days / 2
        return [
            BillableItem(
                engagement_id, work_date, "day", half_days, rate, amount, currency, entry_id
            )
        ]
    billable = rules.round_minutes(minutes, rounding)
    if billable == 0:
        return []
    overtime_rate = terms.overtime_rate
    regular, extra = rules.split_overtime(billable, overtime_rate is not None)
    items = []
    if regular:
        amount = Fraction(rate) * regular / 60
        items.append(
            BillableItem(
                engagement_id, work_date, "time", regular, rate, amount, currency, entry_id
            )
        )
    if extra:
        amount = Fraction(overtime_rate) * extra / 60
        items.append(
            BillableItem(
                engagement_id,
                work_date,
                "overtime",
                extra,
                overtime_rate,
                amount,
                currency,
                entry_id,
            )
        )
    return items


def price_adjustment(*, adjustment, kind: str, terms) -> BillableItem:
    """An adjustment's item: signed minutes at the rate of the day it corrects (per day for
    daily engagements: minutes / standard day), or its signed amount."""
    if adjustment.amount is not None:
        amount, rate, quantity = Fraction(adjustment.amount), Decimal(0), 0
    else:
        rate, quantity = terms.rate, adjustment.minutes
        per = rules.STANDARD_DAY_MINUTES if kind == "daily" else 60
        amount = Fraction(rate) * quantity / per
    return BillableItem(
        adjustment.engagement_id,
        adjustment.work_date,
        "adjustment",
        quantity,
        rate,
        amount,
        adjustment.currency,
        adjustment_id=adjustment.id,
    )


def _amount_item(row, kind: str, day: date, **ids) -> BillableItem:
    amount = Decimal(row.amount)
    return BillableItem(
        row.engagement_id, day, kind, 1, amount, Fraction(amount), row.currency, **ids
    )


def milestone_item(milestone) -> BillableItem:
    """A milestone bills its agreed amount, once, dated on its due date."""
    return _amount_item(milestone, "milestone", milestone.due_date, milestone_id=milestone.id)


def expense_item(expense) -> BillableItem:
    """An expense bills its amount in its own currency, dated on the day it was spent."""
    return _amount_item(expense, "expense", expense.spent_on, expense_id=expense.id)


def invoice_lines(items: Iterable[BillableItem]) -> list[Line]:
    """Group items as invoice lines (engagement x rate x kind x currency); each line's net
    is the exact sum rounded once."""
    groups: dict[tuple, list] = defaultdict(lambda: [0, Fraction(0)])
    for item in items:
        group = groups[(item.engagement_id, item.kind, item.rate, item.currency)]
        group[0] += item.quantity
        group[1] += item.amount
    return [
        Line(engagement_id, kind, rate, currency, quantity, round_exact(amount, currency))
        for (engagement_id, kind, rate, currency), (quantity, amount) in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3])
        )
    ]


def totals_by_currency(items: Iterable[BillableItem]) -> dict[str, Decimal]:
    """What the lines of these items add up to, per currency (sums of rounded line nets)."""
    result: dict[str, Decimal] = {}
    for line in invoice_lines(items):
        result[line.currency] = result.get(line.currency, Decimal(0)) + line.net
    return result


# --- loading -------------------------------------------------------------------------------


class PricingContext:
    """Engagements, terms histories and rounding modes of many engagements: three
    statements whatever their number."""

    def __init__(self, session: Session, engagement_ids: Iterable[int]):
        ids = sorted(set(engagement_ids))
        self.engagements: dict[int, Engagement] = {}
        self.history: dict[int, list] = defaultdict(list)
        self.rounding: dict[int, str] = {}
        if not ids:
            return
        for engagement in session.scalars(select(Engagement).where(Engagement.id.in_(ids))):
            self.engagements[engagement.id] = engagement
        for terms in session.scalars(
            select(EngagementTerms)
            .where(EngagementTerms.engagement_id.in_(ids))
            .order_by(EngagementTerms.engagement_id, EngagementTerms.effective_from)
        ):
            self.history[terms.engagement_id].append(terms)
        for engagement_id, mode in session.execute(
            select(TimeRounding.engagement_id, TimeRounding.mode).where(
                TimeRounding.engagement_id.in_(ids)
            )
        ):
            self.rounding[engagement_id] = mode

    def terms(self, engagement_id: int, day: date):
        return terms_for_day(self.history[engagement_id], day)

    def entry_items(self, entry) -> list[BillableItem]:
        engagement = self.engagements[entry.engagement_id]
        return price_day(
            engagement_id=engagement.id,
            kind=engagement.kind,
            currency=engagement.currency,
            work_date=entry.work_date,
            minutes=entry.minutes,
            half_days=entry.half_days,
            terms=self.terms(engagement.id, entry.work_date),
            rounding=self.rounding.get(engagement.id, "none"),
            entry_id=getattr(entry, "id", None),
        )

    def adjustment_item(self, adjustment) -> BillableItem:
        engagement = self.engagements[adjustment.engagement_id]
        return price_adjustment(
            adjustment=adjustment,
            kind=engagement.kind,
            terms=self.terms(engagement.id, adjustment.work_date),
        )


def sheet_items(session: Session, sheet_ids: Iterable[int]) -> dict[int, list[BillableItem]]:
    """The billable items of sheets, by sheet id: four statements whatever their number."""
    ids = list(sheet_ids)
    # plain rows, not ORM objects: a queue prices thousands of entries and only reads them
    entries = (
        session.execute(
            select(
                TimesheetEntry.id,
                TimesheetEntry.timesheet_id,
                TimesheetEntry.engagement_id,
                TimesheetEntry.work_date,
                TimesheetEntry.minutes,
                TimesheetEntry.half_days,
            )
            .where(TimesheetEntry.timesheet_id.in_(ids))
            .order_by(TimesheetEntry.timesheet_id, TimesheetEntry.work_date)
        ).all()
        if ids
        else []
    )
    context = PricingContext(session, {e.engagement_id for e in entries})
    result: dict[int, list[BillableItem]] = {i: [] for i in ids}
    for entry in entries:
        result[entry.timesheet_id].extend(context.entry_items(entry))
    return result


def adjustment_items(session: Session, adjustments: list[Adjustment]) -> list[BillableItem]:
    context = PricingContext(session, {a.engagement_id for a in adjustments})
    return [context.adjustment_item(a) for a in adjustments]
