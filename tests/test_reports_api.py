"""GET /api/v1/reports/spend: the service's figures (the dashboard's), amounts as strings;
bad filters are a 422 problem naming the parameters; 403 for hiring managers and
freelancers; only the organization's own spend; documented in the OpenAPI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fms.identity.models import User

PROBLEM = "application/problem+json"


@pytest.fixture
def api(app, session, bill, sign_in):
    client = app.test_client()

    def as_(actor, org=None):
        sign_in(client, session.get(User, actor.user_id), org or bill.org)
        return client

    client.as_ = as_
    return client


@pytest.fixture
def november(bill):
    """Nov 2-3: 480 and 30 minutes at 90/h -> 765.00 EUR, closed and issued; Dec 7: 60
    minutes -> 90.00 approved."""
    bill.approved_week(date(2026, 11, 2), (480, 30))
    [invoice] = bill.close().invoices
    bill.issue(invoice)
    bill.approved_week(date(2026, 12, 7), (60,))
    return invoice


def test_spend_api_answers_the_figures(api, bill, november):
    response = api.as_(bill.finance).get(
        "/api/v1/reports/spend?from=2026-11-01&to=2026-12-31&grain=month&currency=original"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    rows = {(r["period"], r["currency"]): r for r in body["rows"]}
    assert rows[("2026-11", "EUR")]["approved"] == "765.00"
    assert rows[("2026-11", "EUR")]["invoiced"] == "765.00"
    assert rows[("2026-11", "EUR")]["minutes"] == 510
    assert rows[("2026-12", "EUR")]["approved"] == "90.00"
    assert body["totals"]["EUR"]["approved"] == "855.00"
    assert body["totals"]["EUR"]["invoiced"] == "765.00"
    assert body["filters"] == {
        "from": "2026-11-01",
        "to": "2026-12-31",
        "grain": "month",
        "group_by": [],
        "currency": "original",
    }
    assert Decimal(body["totals"]["EUR"]["average_rate"]) == Decimal("90.00")


def test_grouped_rows_carry_their_labels(api, bill, november):
    body = (
        api.as_(bill.finance)
        .get("/api/v1/reports/spend?from=2026-11-01&to=2026-11-30&group_by=country,supplier")
        .get_json()
    )
    [row] = body["rows"]
    assert row["keys"] == [bill.world.freelancer.country, "Direct (no supplier)"]


@pytest.mark.parametrize(
    "query, names",
    [
        ("from=2026-02-30", {"from"}),
        ("from=2026-05-01&to=2026-04-01", {"to"}),
        ("grain=day&currency=yen", {"grain", "currency"}),
        ("group_by=a,b,c", {"group_by"}),
    ],
)
def test_bad_filters_are_a_422_problem_naming_them(api, bill, query, names):
    response = api.as_(bill.finance).get(f"/api/v1/reports/spend?{query}")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    named = {e.get("pointer") or e.get("parameter") or e.get("field") for e in body["errors"]}
    assert {n.strip("/") for n in named} == names


def test_hiring_managers_and_freelancers_get_403(api, bill):
    for actor in (bill.world.manager, bill.world.me):
        assert api.as_(actor).get("/api/v1/reports/spend").status_code == 403


def test_another_organizations_spend_is_not_there(
    api, bill, november, make_org, make_member, actor_of
):
    other = make_org()
    finance = actor_of(make_member(other, roles=("finance",)))
    body = api.as_(finance, other).get("/api/v1/reports/spend?from=2026-11-01&to=2026-12-31")
    assert body.status_code == 200
    assert body.get_json()["rows"] == []


def test_documented_in_the_openapi(app):
    client = app.test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/reports/spend"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"from", "to", "grain", "group_by", "currency"} <= names
    assert "422" in operation["responses"]
