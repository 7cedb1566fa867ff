"""Invoicing rules with no I/O: states, billing periods, the VAT category of a line,
invoice numbers, due dates and "overdue"."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from fms.errors import InvalidInput

# draft -> issued (or -> awaiting_approval -> issued, when four eyes are required);
# a draft may be discarded (its items are released); issued -> paid; issued or paid ->
# credited when credit notes cover all of it. "Overdue" is no state: an issued invoice
# past its due date (see `is_overdue`).
INVOICE_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"issued", "awaiting_approval", "discarded"},
    "awaiting_approval": {"issued", "draft"},
    "issued": {"paid", "credited"},
    "paid": {"credited"},
    "credited": set(),
    "discarded": set(),
}
# states of a document that counts (drafts count for what a credit note may still credit)
LIVE_STATES = ("draft", "awaiting_approval", "issued", "paid", "credited")
ISSUED_STATES = ("issued", "paid", "credited")

BILLING_PERIODS = ("monthly", "weekly", "semi_monthly")
LINE_KINDS = ("time", "overtime", "milestone", "expense", "adjustment", "fee")

# --- billing periods ---------------------------------------------------------------------

_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_HALF = re.compile(r"(\d{4})-(\d{2})-([12])", re.ASCII)
_WEEK = re.compile(r"(\d{4})-W(\d{2})", re.ASCII)
PERIOD_FORMATS = {
    "monthly": "YYYY-MM",
    "semi_monthly": "YYYY-MM-1 or YYYY-MM-2",
    "weekly": "YYYY-Www",
}
# the business range of billing periods (DESIGN.md: dates within a documented range)
FIRST_YEAR, LAST_YEAR = 2000, 2100


def period_bounds(billing_period: str, text: str) -> tuple[date, date]:
    """The first and last day of a billing period named as the organization's period kind
    says: monthly "2026-11"; semi-monthly "2026-11-1" (1st-15th) or "2026-11-2" (16th to
    the month's end); weekly ISO weeks "2026-W47" (Monday to Sunday)."""
    text = (text or "").strip()
    wrong = InvalidInput(
        f"A {billing_period.replace('_', '-')} period is written {PERIOD_FORMATS[billing_period]}.",
        errors={"period": ["Format."]},
    )
    try:
        if billing_period == "monthly" and (m := _MONTH.fullmatch(text)):
            year, month = int(m[1]), int(m[2])
            start = date(year, month, 1)
            end = date(year, month, calendar.monthrange(year, month)[1])
        elif billing_period == "semi_monthly" and (m := _HALF.fullmatch(text)):
            year, month, half = int(m[1]), int(m[2]), int(m[3])
            last = calendar.monthrange(year, month)[1]
            start, end = (
                (date(year, month, 1), date(year, month, 15))
                if half == 1
                else (date(year, month, 16), date(year, month, last))
            )
        elif billing_period == "weekly" and (m := _WEEK.fullmatch(text)):
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            end = start + timedelta(days=6)
        else:
            raise wrong
    except ValueError:
        raise wrong from None
    if not FIRST_YEAR <= start.year <= LAST_YEAR:
        raise InvalidInput(
            f"Billing periods lie between {FIRST_YEAR} and {LAST_YEAR}.",
            errors={"period": ["Range."]},
        )
    return start, end


def period_name(billing_period: str, start: date) -> str:
    """The name `period_bounds` reads for the period starting on `start`."""
    if billing_period == "weekly":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if billing_period == "semi_monthly":
        return f"{start:%Y-%m}-{1 if start.day == 1 else 2}"
    return f"{start:%Y-%m}"


# --- VAT -----------------------------------------------------------------------------------

VAT_CATEGORIES = ("standard", "reduced", "zero", "exempt", "reverse_charge")
# categories that never carry VAT, whatever the rate table says
ZERO_RATED = ("zero", "exempt", "reverse_charge")
# the text an invoice prints for a category that carries no VAT (EN 16931 exemption reason)
VAT_NOTES = {
    "reverse_charge": "Reverse charge: VAT is due by the recipient (Art. 196 Directive "
    "2006/112/EC).",
    "exempt": "Exempt from VAT.",
    "zero": "Zero-rated supply.",
}


def vat_category(
    *,
    issuer_country: str,
    issuer_vat_id: str | None,
    bill_to_country: str,
    bill_to_vat_id: str | None,
    fixed_category: str | None = None,
) -> str:
    """The VAT category of a line, by who supplies and who is billed (services, B2B):

    1. a category fixed on the bill-to entity (an exempt body, a reduced-rate agreement)
       wins;
    2. same country (domestic supply): "standard";
    3. different countries and both parties have a VAT id (cross-border B2B): the
       recipient accounts for the VAT: "reverse_charge";
    4. otherwise (a recipient without a VAT id): "standard", at the bill-to country's rate.
    """
    if fixed_category:
        if fixed_category not in VAT_CATEGORIES:
            raise ValueError(f"unknown VAT category {fixed_category!r}")
        return fixed_category
    if issuer_country.upper() == bill_to_country.upper():
        return "standard"
    if (issuer_vat_id or "").strip() and (bill_to_vat_id or "").strip():
        return "reverse_charge"
    return "standard"


def components_on(sets: list[tuple[date, object]], day: date):
    """The tax components of a jurisdiction in effect on a day, from (effective_from,
    components) sets: the newest set from that day or before (a set replaces the one
    before it whole); None before the first."""
    return rate_on(sets, day)


# countries whose paper is US Letter (8.5 x 11 in), else A4 (ISO 216): the territories of
# CLDR's measurementData, <paperSize type="US-Letter" territories="BZ CA CL CO CR GT MX NI
# PA PH PR SV US VE"/> (Unicode LDML part 6, supplemental data)
LETTER_COUNTRIES = frozenset(
    ("BZ", "CA", "CL", "CO", "CR", "GT", "MX", "NI", "PA", "PH", "PR", "SV", "US", "VE")
)


def page_size(bill_to_country: str | None) -> str:
    """The invoice's paper: US Letter for a bill-to entity in a Letter country, else A4
    (ISO 216)."""
    return "letter" if (bill_to_country or "").upper() in LETTER_COUNTRIES else "A4"


def rate_on(rates: list[tuple[date, object]], day: date):
    """The rate in effect on a day from (effective_from, rate) pairs; None before the
    first."""
    current = None
    for effective_from, rate in sorted(rates, key=lambda pair: pair[0]):
        if effective_from <= day:
            current = rate
    return current


# --- numbers and dates ---------------------------------------------------------------------


def series_year(issue_date: date, yearly_reset: bool) -> int:
    """The series a document is numbered in: its issue year, or 0 when numbers never
    restart."""
    return issue_date.year if yearly_reset else 0


def number_text(prefix: str, year: int, number: int) -> str:
    """An invoice number: prefix, the year when the series resets yearly, the number
    (INV-2026-00001; INV-000001 without reset)."""
    if year:
        return f"{prefix}{year}-{number:05d}"
    return f"{prefix}{number:06d}"


def due_date(issue_date: date, payment_terms_days: int) -> date:
    return issue_date + timedelta(days=payment_terms_days)


def is_overdue(state: str, due: date | None, today: date) -> bool:
    """An issued, unpaid invoice is overdue the day after its due date."""
    return state == "issued" and due is not None and today > due
