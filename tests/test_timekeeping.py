"""Time: UTCDateTime comes back aware and in UTC on every database, month_start groups
by calendar month on SQLite and PostgreSQL alike, and time is whole minutes."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Date, DateTime, Integer, MetaData, Table, delete, func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.sql import type_coerce

from fms.timekeeping import UTCDateTime, format_minutes, minutes_from_hours, month_start

ON_DB = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
PURE = settings(max_examples=200, deadline=None, database=None)


@pytest.fixture
def times_table(session):
    """A throwaway table on its own MetaData; created in the test transaction, so the
    rollback at the end of the test removes it again."""
    table = Table(
        "test_timekeeping_times",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime()),
        Column("day", Date),
    )
    conn = session.connection()
    table.create(conn)
    return conn, table


@contextmanager
def refused(error: type[Exception]):
    """Refused before reaching the database: `error`, or SQLAlchemy's StatementError
    wrapped around it."""
    with pytest.raises((error, StatementError)) as info:
        yield
    if isinstance(info.value, StatementError):
        assert isinstance(info.value.orig, error), info.value


def _round_trip(conn, table, value: datetime) -> datetime:
    conn.execute(delete(table))
    conn.execute(table.insert().values(at=value))
    return conn.execute(select(table.c.at)).scalar_one()


# --- UTCDateTime ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 31, 23, 59, 58, 123456, tzinfo=UTC),
        datetime(2026, 1, 1, 3, 0, 0, 654321, tzinfo=ZoneInfo("Asia/Kolkata")),  # +05:30
        datetime(2026, 7, 1, 20, 15, 0, 1, tzinfo=ZoneInfo("America/New_York")),  # DST
        datetime(2026, 3, 1, 0, 0, 0, 999999, tzinfo=ZoneInfo("Pacific/Chatham")),  # +13:45
    ],
    ids=["utc", "kolkata", "new-york-summer", "chatham"],
)
def test_aware_datetimes_come_back_aware_in_utc_as_the_same_instant(times_table, moment):
    conn, table = times_table
    back = _round_trip(conn, table, moment)
    assert back.tzinfo is not None
    assert back.utcoffset() == timedelta(0)
    assert back == moment
    assert back.replace(tzinfo=None) == moment.astimezone(UTC).replace(tzinfo=None)
    assert back.microsecond == moment.microsecond


def test_timestamps_are_stored_in_utc(times_table):
    conn, table = times_table
    moment = datetime(2026, 1, 1, 3, 0, 0, 654321, tzinfo=ZoneInfo("Asia/Kolkata"))
    conn.execute(table.insert().values(at=moment))
    raw = conn.execute(select(type_coerce(table.c.at, DateTime()))).scalar_one()
    if raw.tzinfo is None:  # SQLite: the UTC wall-clock time, not Kolkata's
        assert raw == datetime(2025, 12, 31, 21, 30, 0, 654321)
    else:
        assert raw == moment


@pytest.mark.parametrize(
    "naive", [datetime(2026, 1, 31, 12, 0), datetime(2026, 7, 1, 0, 0, 0, 1), datetime.now()]
)
def test_naive_datetimes_are_refused(times_table, naive):
    conn, table = times_table
    with refused(ValueError):
        conn.execute(table.insert().values(at=naive))
    assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_none_stays_none(times_table):
    conn, table = times_table
    assert _round_trip(conn, table, None) is None


@ON_DB
@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.timezones(),
        allow_imaginary=False,
    )
)
def test_any_aware_datetime_round_trips_to_the_same_utc_instant(times_table, moment):
    conn, table = times_table
    back = _round_trip(conn, table, moment)
    assert back.utcoffset() == timedelta(0)
    assert back == moment.astimezone(UTC)


# --- month_start ----------------------------------------------------------------------


def _month(value) -> str:
    """SQLite's date() gives a string, PostgreSQL's a date: compare ISO dates."""
    return str(value)[:10]


def test_month_start_truncates_dates_to_the_first_of_their_month(times_table):
    conn, table = times_table
    days = [
        date(2026, 1, 31),
        date(2026, 2, 1),
        date(2026, 2, 28),
        date(2024, 2, 29),
        date(2026, 12, 31),
    ]
    conn.execute(table.insert(), [{"id": n, "day": d} for n, d in enumerate(days, 1)])
    month = month_start(table.c.day, conn.dialect.name)
    rows = conn.execute(select(month).order_by(table.c.id)).scalars().all()
    assert [_month(m) for m in rows] == [
        "2026-01-01",
        "2026-02-01",
        "2026-02-01",
        "2024-02-01",
        "2026-12-01",
    ]


def test_month_start_groups_rows_by_month(times_table):
    conn, table = times_table
    days = [date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 28)]
    conn.execute(table.insert(), [{"day": d} for d in days])
    month = month_start(table.c.day, conn.dialect.name)
    grouped = conn.execute(select(month, func.count()).group_by(month)).all()
    assert {_month(m): n for m, n in grouped} == {"2026-01-01": 1, "2026-02-01": 2}


def test_month_start_of_a_timestamp_is_its_utc_month(times_table):
    conn, table = times_table
    if conn.dialect.name == "postgresql":
        # even a session in another time zone groups by the UTC month
        conn.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))  # rolled back with the test
    moments = [
        datetime(2026, 1, 31, 23, 30, tzinfo=UTC),  # 05:00 on 1 February in Kolkata
        datetime(2026, 2, 1, 0, 30, tzinfo=UTC),
    ]
    conn.execute(table.insert(), [{"id": n, "at": m} for n, m in enumerate(moments, 1)])
    month = month_start(table.c.at, conn.dialect.name)
    rows = conn.execute(select(month).order_by(table.c.id)).scalars().all()
    assert [_month(m) for m in rows] == ["2026-01-01", "2026-02-01"]


# --- minutes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hours, minutes",
    [
        ("7.5", 450),
        ("0.25", 15),
        ("8", 480),
        (8, 480),
        (Decimal("1.75"), 105),
        ("0.05", 3),
        ("-0.5", -30),
        ("0", 0),
    ],
)
def test_minutes_from_hours(hours, minutes):
    result = minutes_from_hours(hours)
    assert type(result) is int
    assert result == minutes


@pytest.mark.parametrize(
    "hours",
    [
        "0.3333",
        "0.01",
        "7.51",
        "-0.001",
        pytest.param("7.49999999999999999999999999999"),
        pytest.param(Decimal(1) / Decimal(3)),
    ],
)
def test_minutes_from_hours_refuses_fractions_of_a_minute(hours):
    with pytest.raises(ValueError):
        minutes_from_hours(hours)


def test_minutes_from_hours_refuses_floats():
    with pytest.raises(TypeError):
        minutes_from_hours(7.5)


@PURE
@given(minutes=st.integers(-(10**6), 10**6).map(lambda k: 3 * k))
def test_minutes_from_hours_inverts_exact_hours(minutes):
    # A multiple of 3 minutes is an exact decimal number of hours (n/60 = (n/3)/20).
    assert minutes_from_hours(str(Decimal(minutes) / 60)) == minutes


@pytest.mark.parametrize(
    "minutes, shown",
    [(450, "7:30"), (-75, "-1:15"), (0, "0:00"), (5, "0:05"), (600, "10:00"), (-30, "-0:30")],
)
def test_format_minutes(minutes, shown):
    assert format_minutes(minutes) == shown


@PURE
@given(minutes=st.integers(-(10**7), 10**7))
def test_format_minutes_reads_back_to_the_same_minutes(minutes):
    shown = format_minutes(minutes)
    sign = -1 if shown.startswith("-") else 1
    hours, rest = shown.lstrip("-").split(":")
    assert len(rest) == 2
    assert 0 <= int(rest) < 60
    assert sign * (int(hours) * 60 + int(rest)) == minutes
