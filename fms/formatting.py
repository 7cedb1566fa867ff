"""Numbers, dates and money shown to people, in their locale (Babel). One module, used by
the Jinja filters; the UI text itself stays English for now.

Money is formatted from amounts already rounded by `fms.money` (ISO 4217 minor units,
half-up). Babel is only asked to lay the digits out: it gets the currency's ISO digits as
an explicit precision and `decimal_quantization=False`, so it never rounds (its own
rounding is half-even) and never uses CLDR's digits, which differ from ISO 4217 for some
currencies (CLDR gives HUF and COP 0 digits and IQD 0; ISO gives 2, 2 and 3).
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_date
from babel.numbers import format_decimal as _babel_decimal

from fms import money

DEFAULT_LOCALE = "en"
# The locales people can choose, with their names in English (the UI is English).
SUPPORTED_LOCALES = {
    "en": "English (United States)",
    "en_GB": "English (United Kingdom)",
    "de": "German",
    "de_CH": "German (Switzerland)",
    "fr": "French",
    "nl": "Dutch",
    "es": "Spanish",
    "it": "Italian",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "pt": "Portuguese",
}


class LocaleError(ValueError):
    """A locale FMS does not offer."""


def check_locale(value) -> str:
    """The supported locale identifier for `value` ('de', 'en-GB' -> 'en_GB'), or LocaleError."""
    if not isinstance(value, str) or not value.strip() or len(value) > 20:
        raise LocaleError("Choose one of the offered languages and regions.")
    try:
        identifier = str(Locale.parse(value.strip().replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise LocaleError(f"{value!r} is not a known locale.") from exc
    if identifier not in SUPPORTED_LOCALES:
        raise LocaleError(f"{identifier!r} is not one of the offered locales.")
    return identifier


@lru_cache(maxsize=64)
def _locale(identifier: str | None) -> Locale:
    try:
        return Locale.parse(identifier or DEFAULT_LOCALE)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


@lru_cache(maxsize=256)
def _currency_pattern(identifier: str | None, digits: int):
    pattern = copy.copy(_locale(identifier).currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    return pattern


def format_money(amount, currency: str, locale: str | None = None) -> str:
    """1234.5 EUR -> '€1,234.50' (en), '1.234,50 €' (de); rounded half-up by our rules first."""
    currency = money.check_currency(currency)
    rounded = money.round_half_up(money.to_decimal(amount), currency)
    loc = _locale(locale)
    return _currency_pattern(str(loc), money.minor_units(currency)).apply(
        rounded, loc, currency=currency, currency_digits=False, decimal_quantization=False
    )


def format_number(value, locale: str | None = None) -> str:
    """A plain decimal with the locale's separators, every digit it has (never rounded)."""
    if not isinstance(value, Decimal | int):
        value = money.to_decimal(value)
    return _babel_decimal(value, locale=_locale(locale), decimal_quantization=False)


def format_day(value: date | datetime | None, locale: str | None = None, style="medium") -> str:
    """A working day ('Dec 2, 2026' in en, '02.12.2026' in de); '—' for none."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    return _cached_day(value, locale, style)


@lru_cache(maxsize=4096)
def _cached_day(value: date, locale: str | None, style: str) -> str:
    # a queue of 500 rows shows a handful of distinct days: format each once
    return _babel_date(value, format=style, locale=_locale(locale))
