"""Money: ROUND_HALF_UP to the currency's minor unit, no floats, no cross-currency sums,
and exact ScaledDecimal columns on the real test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, delete, func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.sql import type_coerce

from fms.money import (
    ISO_4217,
    CurrencyError,
    Money,
    ScaledDecimal,
    check_currency,
    line_amount,
    minor_units,
    to_decimal,
    total,
)

# Minor units written out here, independently of fms.money's own table.
DIGITS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "CLF": 4}
BOUND = 10**12

PURE = settings(max_examples=200, deadline=None, database=None)
ON_DB = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

currencies = st.sampled_from(sorted(DIGITS))


def decimals(places: int, bound: int = BOUND):
    return st.decimals(
        min_value=-bound, max_value=bound, allow_nan=False, allow_infinity=False, places=places
    )


# Any amount, with 0 to 8 decimal places, or a plain int.
amounts = st.one_of(
    st.integers(0, 8).flatmap(decimals),
    st.integers(-BOUND, BOUND),
)


def half_up(exact: Fraction, digits: int) -> Fraction:
    """Reference rounding in exact rational arithmetic: nearest, halves away from zero."""
    scaled = abs(exact) * 10**digits
    units = math.floor(scaled + Fraction(1, 2))
    return Fraction(units if exact >= 0 else -units, 10**digits)


def exponent(value: Decimal) -> int:
    return value.as_tuple().exponent


# --- rounding -------------------------------------------------------------------------


@pytest.mark.parametrize("code, digits", sorted(DIGITS.items()))
def test_amounts_are_held_at_the_currencys_minor_unit(code, digits):
    assert minor_units(code) == digits
    assert exponent(Money("1.23456", code).amount) == -digits
    assert exponent(Money(7, code).amount) == -digits


@pytest.mark.parametrize(
    "value, code, expected",
    [
        ("0.005", "EUR", "0.01"),
        ("-0.005", "EUR", "-0.01"),
        ("0.025", "EUR", "0.03"),  # ROUND_HALF_EVEN would give 0.02
        ("-0.025", "EUR", "-0.03"),
        ("0.0049999", "EUR", "0.00"),
        ("1.0050000", "EUR", "1.01"),
        ("2.5", "JPY", "3"),  # ROUND_HALF_EVEN would give 2
        ("-2.5", "JPY", "-3"),
        ("0.4999", "JPY", "0"),
        ("0.0005", "KWD", "0.001"),
        ("0.0025", "KWD", "0.003"),
        ("0.00005", "CLF", "0.0001"),
    ],
)
def test_halves_round_away_from_zero(value, code, expected):
    assert str(Money(value, code).amount) == expected
    assert str(Money(Decimal(value), code).amount) == expected


@PURE
@given(value=amounts, code=currencies)
def test_money_is_always_at_the_minor_unit(value, code):
    assert exponent(Money(value, code).amount) == -DIGITS[code]


@PURE
@given(value=amounts, code=currencies)
def test_money_differs_from_its_input_by_at_most_half_a_minor_unit(value, code):
    error = abs(Fraction(Money(value, code).amount) - Fraction(value))
    assert error <= Fraction(1, 2 * 10 ** DIGITS[code])


@PURE
@given(value=amounts, code=currencies)
def test_money_rounds_half_up_like_exact_arithmetic(value, code):
    assert Fraction(Money(value, code).amount) == half_up(Fraction(value), DIGITS[code])


@st.composite
def exact_halves(draw):
    """An amount exactly halfway between two minor units, and its currency."""
    code = draw(currencies)
    units = draw(st.integers(0, BOUND))
    sign = draw(st.sampled_from([1, -1]))
    value = sign * (Decimal(units) + Decimal("0.5")).scaleb(-DIGITS[code])
    away = sign * Decimal(units + 1).scaleb(-DIGITS[code])
    return value, code, away


@PURE
@given(case=exact_halves())
def test_exact_halves_round_away_from_zero(case):
    value, code, away = case
    assert Money(value, code).amount == away


@PURE
@given(data=st.data(), code=currencies)
def test_amounts_already_at_the_minor_unit_are_kept_exactly(data, code):
    value = data.draw(decimals(DIGITS[code]))
    assert Money(value, code).amount == value


# --- sums -----------------------------------------------------------------------------


@PURE
@given(data=st.data(), code=currencies)
def test_total_is_the_exact_sum_in_any_order(data, code):
    values = data.draw(st.lists(decimals(DIGITS[code], 10**15), max_size=30))
    items = [Money(v, code) for v in values]
    result = total(items, code)
    assert result.currency == code
    assert Fraction(result.amount) == sum((Fraction(v) for v in values), Fraction(0))
    assert exponent(result.amount) == -DIGITS[code]
    shuffled = data.draw(st.permutations(items))
    assert total(shuffled, code) == result
    assert total(reversed(items), code) == result


@pytest.mark.parametrize("code", sorted(DIGITS))
def test_total_of_nothing_is_zero_in_that_currency(code):
    assert total([], code) == Money(0, code)
    assert exponent(total([], code).amount) == -DIGITS[code]


def test_total_of_cents_is_exact():
    # 0.10 + 0.20 is 0.30000000000000004 in floating point.
    assert total([Money("0.10", "EUR"), Money("0.20", "EUR")], "EUR").amount == Decimal("0.30")
    assert total([Money("0.01", "EUR")] * 10_000, "EUR").amount == Decimal("100.00")
    # Beyond 2**53 a float cannot even hold the cents.
    big = [Money("1000000000000000.01", "EUR"), Money("0.01", "EUR"), Money("0.01", "EUR")]
    assert total(big, "EUR").amount == Decimal("1000000000000000.03")


@PURE
@given(pair=st.lists(st.sampled_from(sorted(ISO_4217)), min_size=2, max_size=2, unique=True))
def test_amounts_in_different_currencies_are_never_combined(pair):
    first, second = Money(1, pair[0]), Money(1, pair[1])
    with pytest.raises(CurrencyError):
        first + second
    with pytest.raises(CurrencyError):
        first - second
    with pytest.raises(CurrencyError):
        first < second  # noqa: B015
    with pytest.raises(CurrencyError):
        first <= second  # noqa: B015
    with pytest.raises(CurrencyError):
        total([first, second], pair[0])
    with pytest.raises(CurrencyError):
        total([second], pair[0])


def test_money_only_combines_with_money():
    with pytest.raises(TypeError):
        Money(1, "EUR") + Decimal(1)


# --- refusals -------------------------------------------------------------------------


@PURE
@given(value=st.floats(allow_nan=True, allow_infinity=True), code=currencies)
def test_floats_are_refused(value, code):
    with pytest.raises(TypeError):
        Money(value, code)
    with pytest.raises(TypeError):
        to_decimal(value)
    with pytest.raises(TypeError):
        Money(1, code).times(value)
    with pytest.raises(TypeError):
        line_amount(value, 60, code)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "", "1,5", "one"])
def test_non_numbers_are_refused(value):
    with pytest.raises(ValueError):
        Money(value, "EUR")


@pytest.mark.parametrize("code", ["EURO", "usd1", "", "EU", "US$", " EUR", "E UR", None, 978])
def test_unknown_currency_codes_are_refused(code):
    with pytest.raises(CurrencyError):
        check_currency(code)
    with pytest.raises(CurrencyError):
        Money(1, code)


@PURE
@given(code=st.text(max_size=6).filter(lambda s: s.upper() not in ISO_4217))
def test_anything_but_an_iso_4217_code_is_refused(code):
    with pytest.raises(CurrencyError):
        Money(1, code)


def test_currency_codes_are_normalised_to_upper_case():
    assert check_currency("eur") == "EUR"
    assert Money("1", "jpy") == Money("1", "JPY")
    assert Money("1", "jpy").currency == "JPY"


# --- time lines -----------------------------------------------------------------------


@PURE
@given(
    data=st.data(),
    code=currencies,
    minutes=st.integers(-100_000, 100_000),
)
def test_line_amount_rounds_the_exact_line_once(data, code, minutes):
    rate = data.draw(st.integers(0, 6).flatmap(lambda places: decimals(places, 10**6)))
    result = line_amount(rate, minutes, code)
    assert result.currency == code
    assert exponent(result.amount) == -DIGITS[code]
    assert Fraction(result.amount) == half_up(Fraction(rate) * minutes / 60, DIGITS[code])


@pytest.mark.parametrize(
    "rate, minutes, expected",
    [
        ("100.00", 7, "11.67"),  # not 7 x round(100/60) = 11.69
        ("0.10", 3, "0.01"),  # 0.005 rounds half up, once, on the line
        ("0.30", 1, "0.01"),  # 0.005 again
        ("59.99", 450, "449.93"),  # 449.925
        ("10.004", 120, "20.01"),  # rounding the rate first would give 20.00
        pytest.param("0.00499999999999999999999999999999", 60, "0.00"),
    ],
)
def test_line_amount_examples(rate, minutes, expected):
    assert str(line_amount(Decimal(rate), minutes, "EUR").amount) == expected


@pytest.mark.parametrize("minutes", [7.5, 60.0, True, False, "60", Decimal(60), None])
def test_line_amount_refuses_anything_but_int_minutes(minutes):
    with pytest.raises(TypeError):
        line_amount(Decimal("100"), minutes, "EUR")


# --- ScaledDecimal on the real test database ------------------------------------------


@pytest.fixture
def scaled_table(session):
    """A throwaway table on its own MetaData; created in the test transaction, so the
    rollback at the end of the test removes it again."""
    table = Table(
        "test_money_scaled_decimal",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("money", ScaledDecimal(4)),
        Column("rate", ScaledDecimal(6)),
    )
    conn = session.connection()
    table.create(conn)
    return conn, table


@contextmanager
def refused(error: type[Exception]):
    """The value is refused before it reaches the database: `error` itself, or a
    StatementError that SQLAlchemy wraps around it."""
    with pytest.raises((error, StatementError)) as info:
        yield
    if isinstance(info.value, StatementError):
        assert isinstance(info.value.orig, error), info.value


def _round_trip(conn, table, column: str, value):
    conn.execute(delete(table))
    conn.execute(table.insert().values({column: value}))
    return conn.execute(select(table.c[column])).scalar_one()


@pytest.mark.parametrize(
    "value",
    [
        "12.34",
        "-0.0001",
        "0.0001",
        "0",
        "-12345.6789",
        "92233720368547.7580",
        "922337203685477.5807",  # BIGINT max at scale 4
        "-922337203685477.5808",  # BIGINT min at scale 4
    ],
)
def test_scaled_decimal_4_round_trips_exactly(scaled_table, value):
    conn, table = scaled_table
    back = _round_trip(conn, table, "money", Decimal(value))
    assert isinstance(back, Decimal)
    assert back == Decimal(value)
    assert exponent(back) == -4


@pytest.mark.parametrize(
    "value",
    ["0.000001", "-0.000001", "123.456789", "9223372036854.775807", "-9223372036854.775808"],
)
def test_scaled_decimal_6_round_trips_exactly(scaled_table, value):
    conn, table = scaled_table
    back = _round_trip(conn, table, "rate", Decimal(value))
    assert isinstance(back, Decimal)
    assert back == Decimal(value)
    assert exponent(back) == -6


def test_scaled_decimal_stores_integer_units_of_its_scale(scaled_table):
    conn, table = scaled_table
    conn.execute(table.insert().values(money=Decimal("12.34"), rate=Decimal("-0.000001")))
    raw = conn.execute(
        select(type_coerce(table.c.money, BigInteger), type_coerce(table.c.rate, BigInteger))
    ).one()
    assert tuple(raw) == (123400, -1)


def test_scaled_decimal_accepts_money_ints_and_strings(scaled_table):
    conn, table = scaled_table
    assert _round_trip(conn, table, "money", Money("12.345", "EUR")) == Decimal("12.35")
    assert _round_trip(conn, table, "money", 42) == Decimal(42)
    assert _round_trip(conn, table, "money", "-7.5") == Decimal("-7.5")
    assert _round_trip(conn, table, "money", None) is None
    # Zeros past the scale lose nothing, so they are not "more places".
    assert _round_trip(conn, table, "money", Decimal("12.340000")) == Decimal("12.34")


@pytest.mark.parametrize(
    "column, value",
    [
        ("money", "0.00001"),
        ("money", "12.34567"),
        ("money", "-0.00005"),
        ("rate", "0.0000001"),
        ("rate", "1.0000005"),
        pytest.param("money", "0.10000000000000000000000000001"),
    ],
)
def test_scaled_decimal_refuses_more_places_than_its_scale(scaled_table, column, value):
    conn, table = scaled_table
    with refused(ValueError):
        conn.execute(table.insert().values({column: Decimal(value)}))
    assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


@pytest.mark.parametrize("column", ["money", "rate"])
def test_scaled_decimal_refuses_floats(scaled_table, column):
    conn, table = scaled_table
    with refused(TypeError):
        conn.execute(table.insert().values({column: 0.1}))
    with refused(TypeError):
        conn.execute(table.insert().values({column: 12.0}))
    assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_scaled_decimal_beyond_bigint_is_refused(scaled_table):
    conn, table = scaled_table
    # refused before it reaches the database, with the same error on both
    with pytest.raises(StatementError, match="too large to store"):
        conn.execute(table.insert().values(money=Decimal("922337203685477.5808")))
    assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_sum_in_sql_is_exact(scaled_table):
    conn, table = scaled_table
    conn.execute(table.insert(), [{"money": Decimal("0.10")}] * 1000)
    result = conn.execute(
        select(type_coerce(func.sum(table.c.money), ScaledDecimal(4)))
    ).scalar_one()
    assert isinstance(result, Decimal)
    assert result == Decimal("100")
    assert str(result) == "100.0000"


@ON_DB
@given(value=st.integers(0, 4).flatmap(decimals))
def test_any_amount_with_up_to_four_places_round_trips(scaled_table, value):
    conn, table = scaled_table
    back = _round_trip(conn, table, "money", value)
    assert isinstance(back, Decimal)
    assert back == value


def test_amounts_that_round_to_zero_have_no_sign():
    assert Money(Decimal("-0.004"), "EUR").as_json() == {"amount": "0.00", "currency": "EUR"}


@pytest.mark.parametrize("code", ["ınr", "ſek"])
def test_look_alike_currency_codes_are_refused(code):
    with pytest.raises(CurrencyError):
        Money(Decimal(1), code)
