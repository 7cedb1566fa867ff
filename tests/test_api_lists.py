"""The API's catalogue, structure and invitations lists take the list pages' sort keys,
filters and paging (fms.lists.api_schema / api_page) and answer `{items, page, per_page,
total}`; a bad sort key or page size is a 422 problem, another organization's rows never
appear, and the API and the page agree on the rows."""

import re
from datetime import date
from decimal import Decimal

import pytest

from fms.identity.models import Organization, User
from fms.workforce.models import ExchangeRate
from tests.factories import as_org


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def other(make_org):
    return make_org(name="Elsewhere")


@pytest.fixture
def web(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


@pytest.fixture
def make_rate(session):
    def make(org, currency, rate="0.9", effective_from=date(2026, 1, 1)):
        with as_org(session, org.id):
            session.add(
                ExchangeRate(
                    org_id=org.id,
                    currency=currency,
                    rate=Decimal(rate),
                    effective_from=effective_from,
                )
            )
            session.flush()

    return make


@pytest.fixture
def rows(org, other, make_supplier, make_skill, make_unit, make_invitation, make_rate):
    """Three rows of each list in the organization (written out of order), and one in
    another organization that would sort first."""

    def three(make, values):
        for value in values:
            make(org, value)
        make(other, "AAA")

    three(
        lambda o, v: make_supplier(o, name=v, country="FR" if v == "Alpha" else "DE"),
        ["Bravo", "Alpha", "Charlie"],
    )
    three(lambda o, v: make_skill(o, name=v), ["Bravo", "Alpha", "Charlie"])
    three(lambda o, v: make_rate(o, v if v != "AAA" else "AAD"), ["USD", "CHF", "GBP"])
    for kind in ("department", "cost_centre", "location"):
        three(lambda o, v, kind=kind: make_unit(o, kind, code=v), ["B-1", "A-1", "C-1"])
    three(
        lambda o, v: make_invitation(o, email=f"{v.lower()}@freelance.example"),
        ["Bravo", "Alpha", "Charlie"],
    )


# route, the item field shown, the sort key, the ascending order, a filter and what it leaves
ROUTES = {
    "suppliers": ("name", "name", ["Alpha", "Bravo", "Charlie"], "country=FR", ["Alpha"]),
    "skills": ("name", "name", ["Alpha", "Bravo", "Charlie"], "q=rav", ["Bravo"]),
    "exchange-rates": ("currency", "currency", ["CHF", "GBP", "USD"], "currency=gbp", ["GBP"]),
    "departments": ("code", "code", ["A-1", "B-1", "C-1"], "q=c-1", ["C-1"]),
    "cost-centres": ("code", "code", ["A-1", "B-1", "C-1"], "q=b-", ["B-1"]),
    "locations": ("code", "code", ["A-1", "B-1", "C-1"], "q=a-1", ["A-1"]),
    "invitations": (
        "email",
        "email",
        ["alpha@freelance.example", "bravo@freelance.example", "charlie@freelance.example"],
        "q=charlie",
        ["charlie@freelance.example"],
    ),
}


def _shown(body, field):
    return [item[field] for item in body["items"]]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_each_list_route_sorts_filters_and_pages_like_its_page(web, rows, route):
    field, sort, ascending, narrow, narrowed = ROUTES[route]
    url = f"/api/v1/{route}"
    body = web.get(f"{url}?sort={sort}").get_json()
    assert _shown(body, field) == ascending  # never another organization's "AAA" row
    assert (body["page"], body["per_page"], body["total"]) == (1, 50, 3)
    assert _shown(web.get(f"{url}?sort=-{sort}").get_json(), field) == ascending[::-1]
    filtered = web.get(f"{url}?sort={sort}&{narrow}").get_json()
    assert _shown(filtered, field) == narrowed and filtered["total"] == len(narrowed)
    second = web.get(f"{url}?sort={sort}&per_page=1&page=2").get_json()
    assert _shown(second, field) == ascending[1:2]
    assert (second["page"], second["per_page"], second["total"]) == (2, 1, 3)
    for bad in ("sort=nope", "sort=--" + sort, "per_page=500", "per_page=0", "page=0"):
        response = web.get(f"{url}?{bad}")
        assert response.status_code == 422, bad
        assert response.mimetype == "application/problem+json"
    spec = web.get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p for p in spec["paths"][url]["get"]["parameters"]}
    assert {"page", "per_page", "sort"} <= set(params) and "unit" not in params
    assert f"-{sort}" in params["sort"]["schema"]["enum"]


def test_a_structure_route_names_its_own_list(web, rows):
    """The page's hidden `?unit=` is the route's: the caller cannot switch the list."""
    body = web.get("/api/v1/locations?unit=departments&sort=code").get_json()
    assert body["total"] == 3 and set(body["items"][0]) >= {"city", "country"}


def test_the_api_and_the_pages_agree_on_the_rows(web, rows):
    api = _shown(web.get("/api/v1/locations?sort=-code&q=-1").get_json(), "code")
    html = web.get("/admin/structure?unit=locations&sort=-code&q=-1").get_data(as_text=True)
    page = re.findall(r">([A-C]-1)</a>", html[html.index('id="location"') :])
    assert page == api == ["C-1", "B-1", "A-1"]

    api = _shown(web.get("/api/v1/suppliers?sort=-name&country=DE").get_json(), "name")
    html = web.get("/suppliers?sort=-name&country=DE").get_data(as_text=True)
    page = re.findall(r'href="/suppliers/\d+"[^>]*>([^<]+)</a>', html)
    assert page == api == ["Charlie", "Bravo"]


def test_the_invitations_route_is_for_those_who_manage_invitations(
    client, session, org, rows, make_member, sign_in
):
    member = make_member(org, roles=("finance",))
    sign_in(client, session.get(User, member.user_id), org)
    response = client.get("/api/v1/invitations")
    assert response.status_code == 403
    assert client.get("/admin/invitations").status_code == 403
