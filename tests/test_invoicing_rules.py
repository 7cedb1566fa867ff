"""Invoicing's pure rules and arithmetic, without a database: the VAT category of a line,
billing periods, numbers, due dates, and the EN 16931 tax breakdown (figures by hand)."""

from datetime import date
from decimal import Decimal

import pytest

from fms.errors import InvalidInput
from fms.invoicing import arithmetic, rules

D = Decimal


@pytest.mark.parametrize(
    ("issuer", "issuer_vat", "bill_to", "bill_to_vat", "fixed", "expected"),
    [
        # domestic supply: standard, with or without VAT ids
        ("DE", "DE1", "DE", "DE2", None, "standard"),
        ("DE", None, "DE", None, None, "standard"),
        ("de", "DE1", "DE", "DE2", None, "standard"),  # country codes in any case
        # cross-border B2B with both VAT ids: reverse charge (EU and beyond)
        ("DE", "DE1", "FR", "FR2", None, "reverse_charge"),
        ("DE", "DE1", "CH", "CHE2", None, "reverse_charge"),
        # cross-border without the recipient's (or the issuer's) VAT id: standard
        ("DE", "DE1", "FR", None, None, "standard"),
        ("DE", "DE1", "FR", "  ", None, "standard"),
        ("DE", None, "FR", "FR2", None, "standard"),
        # a category fixed on the bill-to entity wins
        ("DE", "DE1", "DE", "DE2", "exempt", "exempt"),
        ("DE", "DE1", "FR", "FR2", "reduced", "reduced"),
        ("DE", "DE1", "DE", "DE2", "zero", "zero"),
    ],
)
def test_vat_category(issuer, issuer_vat, bill_to, bill_to_vat, fixed, expected):
    assert (
        rules.vat_category(
            issuer_country=issuer,
            issuer_vat_id=issuer_vat,
            bill_to_country=bill_to,
            bill_to_vat_id=bill_to_vat,
            fixed_category=fixed,
        )
        == expected
    )


def test_an_unknown_fixed_category_is_refused():
    with pytest.raises(ValueError):
        rules.vat_category(
            issuer_country="DE",
            issuer_vat_id=None,
            bill_to_country="DE",
            bill_to_vat_id=None,
            fixed_category="half",
        )


@pytest.mark.parametrize(
    ("kind", "text", "start", "end"),
    [
        ("monthly", "2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("monthly", "2028-02", date(2028, 2, 1), date(2028, 2, 29)),  # leap year
        ("monthly", " 2026-12 ", date(2026, 12, 1), date(2026, 12, 31)),
        ("semi_monthly", "2026-11-1", date(2026, 11, 1), date(2026, 11, 15)),
        ("semi_monthly", "2026-02-2", date(2026, 2, 16), date(2026, 2, 28)),
        ("weekly", "2026-W48", date(2026, 11, 23), date(2026, 11, 29)),
        ("weekly", "2026-W53", date(2026, 12, 28), date(2027, 1, 3)),  # 2026 has 53 weeks
    ],
)
def test_period_bounds(kind, text, start, end):
    assert rules.period_bounds(kind, text) == (start, end)
    assert rules.period_name(kind, start) == text.strip()


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("monthly", "2026-13"),
        ("monthly", "2026-1"),
        ("monthly", "November"),
        ("monthly", "2026-W47"),  # a week for a monthly organization
        ("monthly", "1999-12"),  # before the business range
        ("monthly", "٢٠٢٦-١١"),  # other scripts' digits
        ("semi_monthly", "2026-11-3"),
        ("weekly", "2025-W53"),  # 2025 has 52 weeks
        ("weekly", ""),
    ],
)
def test_bad_periods_are_refused(kind, text):
    with pytest.raises(InvalidInput):
        rules.period_bounds(kind, text)


def test_numbers_due_dates_and_overdue():
    assert rules.number_text("INV-", 2026, 7) == "INV-2026-00007"
    assert rules.number_text("F", 0, 7) == "F000007"
    assert rules.series_year(date(2027, 1, 1), True) == 2027
    assert rules.series_year(date(2027, 1, 1), False) == 0
    assert rules.due_date(date(2026, 12, 4), 30) == date(2027, 1, 3)
    due = date(2027, 1, 3)
    assert not rules.is_overdue("issued", due, date(2027, 1, 3))
    assert rules.is_overdue("issued", due, date(2027, 1, 4))
    assert not rules.is_overdue("paid", due, date(2027, 2, 1))
    assert not rules.is_overdue("draft", None, date(2027, 2, 1))


def test_rate_on_picks_the_rate_in_effect():
    history = [
        (date(2020, 1, 1), D("19")),
        (date(2020, 7, 1), D("16")),
        (date(2021, 1, 1), D("19")),
    ]
    assert rules.rate_on(history, date(2019, 12, 31)) is None
    assert rules.rate_on(history, date(2020, 8, 1)) == D("16")
    assert rules.rate_on(history, date(2021, 1, 1)) == D("19")


def test_vat_is_computed_once_per_category_on_the_sum_of_line_nets():
    lines = [
        ("standard", D("19"), D("0.03")),
        ("standard", D("19"), D("0.03")),
        ("reduced", D("7"), D("10.07")),
        ("reverse_charge", D("0"), D("500.00")),
    ]
    totals = arithmetic.invoice_totals(lines, "EUR")
    # standard: 0.06 x 19 % = 0.0114 -> 0.01 (per line: 0.0057 -> 0.01 twice = 0.02)
    # reduced: 10.07 x 7 % = 0.7049 -> 0.70; reverse charge: 0
    assert [(r.category, r.taxable, r.tax) for r in totals.breakdown] == [
        ("reduced", D("10.07"), D("0.70")),
        ("reverse_charge", D("500.00"), D("0.00")),
        ("standard", D("0.06"), D("0.01")),
    ]
    assert (totals.net, totals.tax, totals.gross) == (D("510.13"), D("0.71"), D("510.84"))


def test_vat_rounds_half_up_and_to_the_currencys_minor_unit():
    # 0.50 x 19 % = 0.095 -> 0.10 (half up, not half even)
    assert arithmetic.invoice_totals([("standard", D("19"), D("0.50"))], "EUR").tax == D("0.10")
    # JPY has no minor unit: 1,050 x 10 % = 105; 1,055 x 10 % = 105.5 -> 106
    assert arithmetic.invoice_totals([("standard", D("10"), D("1055"))], "JPY").tax == D("106")
    # a negative category (a credit larger than the charges) rounds away from zero
    assert arithmetic.invoice_totals([("standard", D("19"), D("-0.50"))], "EUR").tax == D("-0.10")
