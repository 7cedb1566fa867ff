"""Pricing by DESIGN.md's money rules, and the pure timesheet rules. Expected amounts are
worked out by hand in the comments, never taken from the code under test."""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from fms.errors import InvalidInput
from fms.timesheets import pricing, rules
from fms.timesheets import services as ts
from fms.timesheets.models import TimesheetEntry
from tests.factories_timesheets import MONDAY


def _terms(rate, overtime=None):
    return SimpleNamespace(rate=Decimal(rate), overtime_rate=overtime and Decimal(overtime))


def _day(
    minutes,
    rate="90",
    overtime=None,
    rounding="none",
    kind="hourly",
    half_days=None,
    currency="EUR",
    day=MONDAY,
):
    return pricing.price_day(
        engagement_id=1,
        kind=kind,
        currency=currency,
        work_date=day,
        minutes=minutes,
        half_days=half_days,
        terms=_terms(rate, overtime),
        rounding=rounding,
    )


# --- pure rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "mode", "billable"),
    [
        (7, "none", 7),
        (7, "up_15", 15),
        (15, "up_15", 15),
        (16, "up_15", 30),
        (7, "nearest_15", 0),
        (8, "nearest_15", 15),  # 7.5 is the half: 8 rounds up
        (2, "nearest_6", 0),
        (3, "nearest_6", 6),  # the half rounds up
        (1, "up_6", 6),
        (0, "up_6", 0),
        (487, "nearest_6", 486),
    ],
)
def test_time_rounding(minutes, mode, billable):
    assert rules.round_minutes(minutes, mode) == billable


def test_overtime_split():
    assert rules.split_overtime(600, True) == (480, 120)
    assert rules.split_overtime(600, False) == (600, 0)
    assert rules.split_overtime(480, True) == (480, 0)


def test_weeks_follow_the_organizations_week_start():
    assert rules.week_bounds(date(2026, 3, 4), []) == (date(2026, 3, 2), date(2026, 3, 8))
    sundays_from_15th = [(date(2026, 3, 15), 6)]
    assert rules.week_bounds(date(2026, 3, 4), sundays_from_15th) == (
        date(2026, 3, 2),
        date(2026, 3, 8),
    )
    # the last Monday week before the change is short
    assert rules.week_bounds(date(2026, 3, 14), sundays_from_15th) == (
        date(2026, 3, 9),
        date(2026, 3, 14),
    )
    assert rules.week_bounds(date(2026, 3, 21), sundays_from_15th) == (
        date(2026, 3, 15),
        date(2026, 3, 21),
    )
    # chosen on a Monday for Wednesdays: the current week ends Sunday 8th, then Wed 11th
    assert rules.change_takes_effect(date(2026, 3, 2), [], 2) == date(2026, 3, 11)


def test_the_review_day_is_the_weeks_last_working_day_within_the_engagement():
    week = (date(2026, 3, 2), date(2026, 3, 8))
    assert rules.review_day(*week, date(2026, 1, 1), date(2026, 12, 31)) == date(2026, 3, 6)
    # the engagement ends on Wednesday: Wednesday
    assert rules.review_day(*week, date(2026, 1, 1), date(2026, 3, 4)) == date(2026, 3, 4)
    # it starts on Saturday: no working day inside, the last day within it
    assert rules.review_day(*week, date(2026, 3, 7), date(2026, 12, 31)) == date(2026, 3, 8)


def test_budget_levels():
    assert rules.budget_level(Decimal("799.99"), Decimal(1000)) == "ok"
    assert rules.budget_level(Decimal("800.00"), Decimal(1000)) == "warning"
    assert rules.budget_level(Decimal("1000.00"), Decimal(1000)) == "warning"
    assert rules.budget_level(Decimal("1000.01"), Decimal(1000)) == "over"


# --- pricing of days -----------------------------------------------------------------------------


def test_minutes_beyond_the_standard_day_are_overtime_at_its_rate():
    # 600 minutes, 90/h, overtime 135/h: 480 min x 90/60 = 720; 120 min x 135/60 = 270
    items = _day(600, overtime="135")
    assert [(i.kind, i.quantity, i.rate, i.amount) for i in items] == [
        ("time", 480, Decimal(90), Fraction(720)),
        ("overtime", 120, Decimal(135), Fraction(270)),
    ]
    # without an overtime rate every minute is time: 600 x 90/60 = 900
    assert [(i.kind, i.amount) for i in _day(600)] == [("time", Fraction(900))]


def test_nothing_is_rounded_per_day():
    # 7 minutes at 100/h = 11.666... a day; three days = 21 minutes = 35.00 exactly, where
    # rounding each day would give 3 x 11.67 = 35.01
    items = [i for d in range(3) for i in _day(7, rate="100", day=MONDAY + timedelta(days=d))]
    assert sum(i.amount for i in items) == Fraction(35)
    lines = pricing.invoice_lines(items)
    assert [(line.quantity, line.net) for line in lines] == [(21, Decimal("35.00"))]


def test_lines_round_half_up_to_the_currencys_minor_unit():
    # 3 minutes at 0.10/h = 0.005 -> 0.01 (half up, not half even)
    assert pricing.invoice_lines(_day(3, rate="0.10"))[0].net == Decimal("0.01")
    # 7 minutes at 1,000 JPY/h = 116.67 -> 117 (no minor unit)
    assert pricing.invoice_lines(_day(7, rate="1000", currency="JPY"))[0].net == Decimal(117)
    # 1 minute at 0.06 KWD/h = 0.001 KWD (three digits)
    assert pricing.invoice_lines(_day(1, rate="0.06", currency="KWD"))[0].net == Decimal("0.001")
    # a negative half rounds away from zero
    assert pricing.round_exact(Fraction(-5, 1000), "EUR") == Decimal("-0.01")


def test_daily_engagements_bill_half_days():
    # 1 + 0.5 + 0.5 days at 800/day = 4 half days x 400 = 1,600.00
    items = [i for hd in (2, 1, 1) for i in _day(0, rate="800", kind="daily", half_days=hd)]
    assert [i.amount for i in items] == [Fraction(800), Fraction(400), Fraction(400)]
    assert [(line.kind, line.quantity, line.net) for line in pricing.invoice_lines(items)] == [
        ("day", 4, Decimal("1600.00"))
    ]


def test_rounding_applies_before_pricing_and_overtime():
    # 487 minutes rounded up to 15 -> 495: 480 time + 15 overtime
    items = _day(487, overtime="120", rounding="up_15")
    assert [(i.kind, i.quantity, i.amount) for i in items] == [
        ("time", 480, Fraction(720)),
        ("overtime", 15, Fraction(30)),  # 15 x 120/60
    ]


# --- with the database -------------------------------------------------------------------------


def test_each_day_is_priced_at_the_terms_of_its_date(session, world):
    # rate 90 until Tuesday, 120 from Wednesday 2026-03-04 (an approved rate change)
    world.amend("rate_change", "2026-03-04", new_rate="120")
    sheet = world.fill(minutes=(480, 480, 480, 450))
    items = pricing.sheet_items(session, [sheet.id])[sheet.id]
    assert [(i.work_date.day, i.rate, i.amount) for i in items] == [
        (2, Decimal(90), Fraction(720)),
        (3, Decimal(90), Fraction(720)),
        (4, Decimal(120), Fraction(960)),
        (5, Decimal(120), Fraction(900)),
    ]
    # lines: 960 min at 90 = 1,440.00; 930 min at 120 = 1,860.00; total 3,300.00
    lines = pricing.invoice_lines(items)
    assert [(line.rate, line.quantity, line.net) for line in lines] == [
        (Decimal(90), 960, Decimal("1440.00")),
        (Decimal(120), 930, Decimal("1860.00")),
    ]
    assert pricing.totals_by_currency(items) == {"EUR": Decimal("3300.00")}


def test_rounding_never_changes_stored_minutes(session, world):
    with pytest.raises(InvalidInput):
        ts.set_time_rounding(
            session, actor=world.procurement, engagement_id=world.engagement.id, mode="up_7"
        )
    ts.set_time_rounding(
        session, actor=world.procurement, engagement_id=world.engagement.id, mode="up_15"
    )
    sheet = world.fill(minutes=(7, 61))
    items = pricing.sheet_items(session, [sheet.id])[sheet.id]
    # 7 -> 15 and 61 -> 75 billable: 90 min x 90/60 = 135.00
    assert [i.quantity for i in items] == [15, 75]
    assert pricing.totals_by_currency(items) == {"EUR": Decimal("135.00")}
    world.submit(sheet)
    stored = session.scalars(
        select(TimesheetEntry.minutes)
        .where(TimesheetEntry.timesheet_id == sheet.id)
        .order_by(TimesheetEntry.work_date)
    ).all()
    assert stored == [7, 61]


def test_adjustments_are_priced_at_the_terms_of_the_day_they_correct(session, world):
    world.amend("rate_change", "2026-03-04", new_rate="120")
    sheet = world.submit(world.fill(minutes=(480, 480, 480))).sheet
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    minus = ts.create_adjustment(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        work_date="2026-03-04",
        minutes=-45,
        reason="Double-counted",
    )
    plus = ts.create_adjustment(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        work_date="2026-03-02",
        amount="12.50",
        reason="Parking",
    )
    items = pricing.adjustment_items(session, [minus, plus])
    # -45 min at 120/h (Wednesday's rate) = -90.00; the amount as given
    assert [(i.kind, i.rate, i.amount) for i in items] == [
        ("adjustment", Decimal(120), Fraction(-90)),
        ("adjustment", Decimal(0), Fraction(25, 2)),
    ]
