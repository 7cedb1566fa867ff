"""The one CSV writer: formula-safe text, numbers and dates as the code wrote them, RFC 4180."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fms import exports
from fms.identity.models import Organization, User

BOM = b"\xef\xbb\xbf"


def _csv(header, rows) -> bytes:
    return b"".join(exports.csv_rows(header, rows))


# --- the writer ---------------------------------------------------------------------------


def test_file_is_utf8_with_bom_and_crlf_line_ends():
    data = _csv(["Name", "Amount"], [["Zoë", Decimal("12.50")]])
    assert data == BOM + "Name,Amount\r\nZoë,12.50\r\n".encode()


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        "+49 30 1234",
        "-2+3",
        "@SUM(A1:A2)",
        "\tleading tab",
        "\rleading carriage return",
        '=HYPERLINK("http://x","y")',
        "-",
    ],
)
def test_text_starting_with_a_formula_character_gets_a_single_quote(text):
    [row] = list(csv.reader(io.StringIO(_csv(["t"], [[text]]).decode("utf-8-sig"))))[1:]
    assert row == ["'" + text]


@pytest.mark.parametrize("text", ["a=b", "Sales - EMEA", "x@example.net", "", "'quoted"])
def test_other_text_is_written_as_is(text):
    [row] = list(csv.reader(io.StringIO(_csv(["t"], [[text]]).decode("utf-8-sig"))))[1:]
    assert row == [text]


def test_numbers_the_code_writes_are_never_touched_but_the_same_characters_as_text_are():
    data = _csv(
        ["int", "decimal", "text int", "text decimal"],
        [[-5, Decimal("-12.50"), "-5", "-12.50"]],
    )
    assert data.endswith(b"\r\n-5,-12.50,'-5,'-12.50\r\n")


def test_decimals_keep_their_scale_and_never_use_an_exponent():
    data = _csv(["a", "b", "c"], [[Decimal("0.10"), Decimal("1E+3"), Decimal("-0.00001")]])
    assert data.endswith(b"\r\n0.10,1000,-0.00001\r\n")


def test_dates_and_timestamps_are_iso_and_none_is_empty():
    moment = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    data = _csv(["d", "t", "n"], [[date(2026, 6, 1), moment, None]])
    assert data.endswith(b"\r\n2026-06-01,2026-06-01T09:30:00+00:00,\r\n")


def test_separators_quotes_and_line_breaks_inside_text_are_quoted():
    data = _csv(["t"], [['a,b "c"\r\nd']])
    assert data == BOM + b't\r\n"a,b ""c""\r\nd"\r\n'


def test_hostile_headers_are_neutralised_too():
    assert _csv(["=cmd"], []) == BOM + b"'=cmd\r\n"


@pytest.mark.parametrize("value", [1.5, True, object(), Decimal("NaN"), Decimal("Infinity")])
def test_values_without_an_exact_cell_type_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        _csv(["x"], [[value]])


def test_rows_are_streamed_not_collected():
    consumed = []

    def rows():
        for n in range(3):
            consumed.append(n)
            yield [n]

    chunks = exports.csv_rows(["n"], rows())
    assert next(chunks) == BOM + b"n\r\n"
    assert consumed == []
    assert b"".join(chunks) == b"0\r\n1\r\n2\r\n"


# --- /headcount.csv and the page, with hostile unit names ----------------------------------

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1)",
]


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def admin_client(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def test_headcount_csv_neutralises_hostile_cost_centre_names(
    admin_client, session, org, make_unit, make_engagement
):
    for name in HOSTILE:
        make_engagement(org, cost_centre_id=make_unit(org, "cost_centre", name=name).id)
    session.commit()
    response = admin_client.get("/headcount.csv?on=2026-06-01&group_by=cost_centre")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.mimetype_params.get("charset") == "utf-8"
    data = response.get_data()
    assert data.startswith(BOM)
    assert data.count(b"\r\n") == len(HOSTILE) + 2 and b"\n" not in data.replace(b"\r\n", b"")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["Cost centre", "People", "Engagements", "FTE", "As of"]
    assert sorted(r[0] for r in rows[1:-1]) == sorted("'" + name for name in HOSTILE)
    for row in rows[1:-1]:
        assert row[1:] == ["1", "1", "1.00", "2026-06-01"]
    assert rows[-1] == ["Total (each person once)", "4", "4", "4.00", "2026-06-01"]


def test_headcount_csv_neutralises_hostile_department_names(
    admin_client, session, org, make_unit, make_engagement
):
    make_engagement(org, department_id=make_unit(org, "department", name="=1+1").id)
    session.commit()
    data = admin_client.get("/headcount.csv?on=2026-06-01&group_by=department").get_data()
    assert b"\r\n'=1+1,1,1,1.00,2026-06-01\r\n" in data


def test_headcount_page_shows_hostile_names_as_text(
    admin_client, session, org, make_unit, make_engagement
):
    make_engagement(org, cost_centre_id=make_unit(org, "cost_centre", name=HOSTILE[0]).id)
    session.commit()
    page = admin_client.get("/headcount?on=2026-06-01").get_data(as_text=True)
    assert "<td>=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)</td>" in page
