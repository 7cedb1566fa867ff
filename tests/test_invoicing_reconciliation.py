"""Reconciliation, as a property: for any rates, minutes and a mid-month rate amendment, the
lines a close bills are the approved days priced at the terms of each day and rounded once
per line. The expected nets are computed here with plain Decimal arithmetic, not with the
code under test."""

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fms.invoicing import services as invoicing
from fms.timesheets.models import Timesheet, TimesheetEntry

NOVEMBER = [date(2026, 11, 1) + timedelta(days=n) for n in range(30)]
AMENDED_FROM = date(2026, 11, 16)
rates = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)


def expected_net(minutes: int, rate: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 50
        return (Decimal(minutes) * rate / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def approved_days(session, bill, engagement, minutes_by_day):
    """Approved sheets of the engagement holding these days, as rows (what approval
    stores); weeks start on Monday."""
    weeks: dict[date, list] = {}
    for day, minutes in minutes_by_day.items():
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append((day, minutes))
    for week_start, days in weeks.items():
        sheet = Timesheet(
            org_id=bill.org.id,
            engagement_id=engagement.id,
            freelancer_id=engagement.freelancer_id,
            week_start=week_start,
            week_end=week_start + timedelta(days=6),
            state="approved",
        )
        session.add(sheet)
        session.flush()
        session.add_all(
            TimesheetEntry(
                org_id=bill.org.id,
                timesheet_id=sheet.id,
                engagement_id=engagement.id,
                work_date=day,
                minutes=minutes,
            )
            for day, minutes in days
        )
    session.flush()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rate=rates,
    new_rate=st.one_of(st.none(), rates),
    minutes=st.lists(st.integers(min_value=0, max_value=600), min_size=30, max_size=30),
)
def test_line_nets_are_the_days_priced_and_rounded_once(
    session, bill, add_terms, rate, new_rate, minutes
):
    world = bill.world
    engagement = world.make_engagement(world.org, manager_id=world.manager.user_id, rate=str(rate))
    if new_rate is not None:
        add_terms(engagement, AMENDED_FROM, rate=new_rate)
    approved_days(session, bill, engagement, dict(zip(NOVEMBER, minutes, strict=True)))

    before = sum(m for day, m in zip(NOVEMBER, minutes, strict=True) if day < AMENDED_FROM)
    after = sum(minutes) - before
    if new_rate is None or new_rate == rate:
        expected = {rate: (sum(minutes), expected_net(sum(minutes), rate))}
    else:
        expected = {rate: (before, expected_net(before, rate))}
        expected[new_rate] = (after, expected_net(after, new_rate))
    expected = {r: value for r, value in expected.items() if value[0]}  # no time: no line

    preview = invoicing.preview_close(session, actor=bill.finance, period="2026-11")
    lines = [
        line
        for planned in preview.invoices
        for line in planned.lines
        if line.engagement_id == engagement.id
    ]
    assert {line.rate: (line.quantity, line.net) for line in lines} == expected
    assert sum((line.net for line in lines), Decimal(0)) == sum(
        (net for _, net in expected.values()), Decimal(0)
    )
    # nothing of it is billed yet: a preview writes nothing
    assert not session.scalars(
        select(TimesheetEntry.id).where(
            TimesheetEntry.engagement_id == engagement.id, TimesheetEntry.invoice_id.is_not(None)
        )
    ).all()
