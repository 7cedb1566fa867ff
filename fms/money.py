"""Money: Decimal amounts with an ISO 4217 currency, and the exact column type for them.

Rules that hold everywhere:
- an amount is a `Decimal` together with an ISO 4217 currency code; never a float;
- rounding is ROUND_HALF_UP to the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD);
- amounts in different currencies are never added;
- in the database, amounts are integers at a fixed scale (`ScaledDecimal`), exact on both
  SQLite and PostgreSQL and summable in SQL: SQLite has no decimal type and SQLAlchemy's
  `Numeric` passes through a float there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from fractions import Fraction

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

# ISO 4217 currencies whose minor unit is not 2 digits.
_MINOR_UNITS_EXCEPTIONS = {
    # no minor unit
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # three digits
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four digits (units of account)
    "CLF": 4, "UYW": 4,
}  # fmt: skip

# Active ISO 4217 codes (list one, 2025), used to reject typos such as "EURO" or "US$".
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
    IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
    VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(_ISO_4217_CODES.split())

# Scale of money columns: 4 decimal places holds every ISO 4217 minor unit exactly.
MONEY_SCALE = 4
# Scale of rate columns (hourly rates, exchange rates), finer than any minor unit.
RATE_SCALE = 6


# Money arithmetic never depends on the thread's decimal context (28 digits by default,
# which would round long inputs before our rules see them): it runs in this exact one.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_UP)
_BIGINT = 2**63


class CurrencyError(ValueError):
    """An unknown currency, or a sum across currencies."""


def check_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code, or raise CurrencyError for anything else."""
    if not isinstance(code, str) or not code.isascii() or code.upper() not in ISO_4217:
        raise CurrencyError(f"{code!r} is not an ISO 4217 currency code")
    return code.upper()


def minor_units(currency: str) -> int:
    """Digits after the decimal point in the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    return _MINOR_UNITS_EXCEPTIONS.get(check_currency(currency), 2)


# What an amount given as text may look like: ASCII digits, one optional sign, decimal point
# and exponent. Decimal() alone would also read "NaN", "Infinity", "1_000" and other
# scripts' digits ("١٢" is 12 to Python), none of which a person means as an amount.
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def to_decimal(value) -> Decimal:
    """Parse an amount without ever going through a float; text in ASCII digits only."""
    if isinstance(value, float | bool):
        raise TypeError("money must not be a float; pass a str, int or Decimal")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        text = str(value).strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"{value!r} is not a number in ASCII digits")
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a number") from exc
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, halves away from zero (ROUND_HALF_UP)."""
    quantum = Decimal(1).scaleb(-minor_units(currency))
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_UP, context=EXACT)
    return rounded.copy_abs() if rounded.is_zero() else rounded  # never "-0.00"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency, always held at the currency's minor unit."""

    amount: Decimal
    currency: str

    def __post_init__(self):
        currency = check_currency(self.currency)
        amount = to_decimal(self.amount)
        rounded = round_half_up(amount, currency)
        object.__setattr__(self, "currency", currency)
        object.__setattr__(self, "amount", rounded)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("money can only be combined with money")
        if other.currency != self.currency:
            raise CurrencyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(EXACT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(EXACT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def times(self, factor) -> Money:
        """Multiply by an exact factor (a quantity or rate), rounding once at the end."""
        return Money(EXACT.multiply(self.amount, to_decimal(factor)), self.currency)

    def __str__(self) -> str:
        return f"{self.amount:,} {self.currency}"

    def as_json(self) -> dict:
        return {"amount": str(self.amount), "currency": self.currency}


def total(amounts: Iterable[Money], currency: str) -> Money:
    """Sum amounts of one currency; a different currency is an error, never converted."""
    result = Money.zero(currency)
    for item in amounts:
        result = result + item
    return result


def line_amount(rate: Decimal, minutes: int, currency: str) -> Money:
    """The amount of one time line: rate per hour times minutes, rounded once per line."""
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        raise TypeError("time is integer minutes")
    exact = Fraction(to_decimal(rate)) * minutes / 60  # no decimal context can round this
    digits = minor_units(currency)
    units = math.floor(abs(exact) * 10**digits + Fraction(1, 2))  # half up, away from zero
    return Money(Decimal(units if exact >= 0 else -units).scaleb(-digits), currency)


class ScaledDecimal(TypeDecorator):
    """An exact Decimal stored as a BIGINT of units of 10**-scale.

    Values with more decimal places than the scale are refused rather than rounded,
    so nothing is lost silently. Sums in SQL stay integers; wrap them with
    `type_coerce(func.sum(col), ScaledDecimal(scale))` to read them back as Decimal.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = MONEY_SCALE):
        super().__init__()
        self.scale = scale

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, Money):
            value = value.amount
        number = to_decimal(value)
        scaled = number.scaleb(self.scale, context=EXACT)
        if scaled != scaled.to_integral_value(context=EXACT):
            raise ValueError(f"{number} has more than {self.scale} decimal places")
        units = int(scaled)
        if not -_BIGINT <= units < _BIGINT:
            raise ValueError(f"{number} is too large to store")
        return units

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.scale)
