"""Spend analytics (fms/reports/spend.py): the figures agree with the invoices and with the
approved items to the cent; expectations are computed by hand from the factory data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fms.errors import InvalidInput, NotAllowed
from fms.reports import spend
from fms.reports.spend import SpendQuery
from fms.workforce.models import ExchangeRate
from tests.factories import as_org
from tests.factories_invoicing import AFTER_DECEMBER  # noqa: F401
from tests.factories_timesheets import terms_rows

NOV = SpendQuery(start=date(2026, 11, 1), end=date(2026, 12, 31), currency="original")


def report(bill, query, actor=None):
    with as_org(bill.session, bill.org.id):
        return spend.spend_report(bill.session, actor=actor or bill.finance, query=query)


@pytest.fixture
def november(bill):
    """Hand-made figures. Rate 95/h, overtime 120/h beyond 8 h a day:
    Nov 2-4: 480, 510, 7 minutes -> time 480+480+7 = 967 min x 95/60 = 1531.0833 -> 1531.08;
    overtime 30 min x 120/60 = 60.00; milestone 1000.00 (Nov 20); expense 45.30 (Nov 10).
    November is closed and issued: 2636.38. December (not invoiced): Dec 7, 240 min x 95/60
    = 380.00."""
    bill.world.set_terms(rate=Decimal("95"), overtime_rate=Decimal("120"))
    bill.approved_week(date(2026, 11, 2), (480, 510, 7))
    bill.milestone("1000.00", date(2026, 11, 20))
    bill.expense("45.30", date(2026, 11, 10))
    result = bill.close()
    [invoice] = result.invoices
    bill.issue(invoice)
    bill.approved_week(date(2026, 12, 7), (240,))
    return invoice


def test_period_sums_equal_the_invoices_and_the_approved_items(bill, november):
    result = report(bill, NOV)
    by_period = {(r.period, r.currency): r for r in result.rows}
    nov, dec = by_period[("2026-11", "EUR")], by_period[("2026-12", "EUR")]
    assert november.net_total == Decimal("2636.38")
    assert nov.invoiced == Decimal("2636.38") == november.net_total
    assert nov.approved == Decimal("2636.38")
    assert nov.minutes == 997
    assert dec.approved == Decimal("380.00") and dec.invoiced == Decimal("0")
    assert dec.minutes == 240
    total = result.totals["EUR"]
    assert total.approved == Decimal("3016.38") and total.invoiced == Decimal("2636.38")
    assert total.period == "total" and total.keys == ()
    # average rate: approved / hours
    assert dec.average_rate == Decimal("95.00")
