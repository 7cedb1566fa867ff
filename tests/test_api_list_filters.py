"""The API's list conventions: every paginated list has a documented maximum page size,
and the engagements and timesheets lists take the filters integrations use (status,
dates, freelancer, cost centre, engagement)."""

from __future__ import annotations

import pytest

from fms.timesheets import services as ts
from tests.factories_timesheets import MONDAY
from tests.test_api_idempotency import signed_in_client


@pytest.fixture
def api(app, session, world, sign_in):
    return signed_in_client(app, session, world, sign_in)


@pytest.fixture
def two(session, world, make_freelancer, make_unit):
    """A second freelancer on a second engagement in another cost centre, and a sheet of
    the week on each engagement."""
    other = make_freelancer(world.org)
    centre = make_unit(world.org, "cost_centre")
    engagement = world.make_engagement(
        world.org, freelancer=other, manager_id=world.manager.user_id, cost_centre_id=centre.id
    )
    mine = ts.open_timesheet(
        session, actor=world.me, engagement_id=world.engagement.id, week_start=MONDAY
    )
    session.flush()
    from fms.timesheets.models import Timesheet

    theirs = Timesheet(
        org_id=world.org.id,
        engagement_id=engagement.id,
        freelancer_id=other.id,
        week_start=MONDAY,
        week_end=mine.week_end,
    )
    session.add(theirs)
    session.commit()
    return {
        "freelancer": other,
        "centre": centre,
        "engagement": engagement,
        "sheets": (mine, theirs),
    }


def _ids(response):
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_engagements_filter_by_freelancer_and_cost_centre(api, world, two):
    client = api.as_(world.procurement)
    assert _ids(client.get(f"/api/v1/engagements?freelancer_id={two['freelancer'].id}")) == [
        two["engagement"].id
    ]
    assert _ids(client.get(f"/api/v1/engagements?freelancer_id={world.freelancer.id}")) == [
        world.engagement.id
    ]
    assert _ids(client.get(f"/api/v1/engagements?cost_centre_id={two['centre'].id}")) == [
        two["engagement"].id
    ]
    bad = client.get("/api/v1/engagements?cost_centre_id=x")
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["parameter"] == "cost_centre_id"


def test_timesheets_filter_by_freelancer_and_cost_centre(api, world, two):
    mine, theirs = two["sheets"]
    client = api.as_(world.procurement)
    assert _ids(client.get(f"/api/v1/timesheets?freelancer_id={two['freelancer'].id}")) == [
        theirs.id
    ]
    assert _ids(client.get(f"/api/v1/timesheets?cost_centre_id={two['centre'].id}")) == [theirs.id]
    both = f"/api/v1/timesheets?engagement_id={world.engagement.id}&state=draft&week_from={MONDAY}"
    assert _ids(client.get(both)) == [mine.id]
    # the filters narrow what the actor may see, never widen it
    me = api.as_(world.me)
    assert _ids(me.get(f"/api/v1/timesheets?freelancer_id={two['freelancer'].id}")) == []


def test_the_filters_are_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, names in {
        "/api/v1/engagements": {
            "state",
            "starts_from",
            "starts_to",
            "freelancer_id",
            "cost_centre_id",
        },
        "/api/v1/timesheets": {
            "state",
            "week_from",
            "week_to",
            "engagement_id",
            "freelancer_id",
            "cost_centre_id",
        },
    }.items():
        documented = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert names <= documented, (path, names - documented)


def test_every_paginated_list_documents_its_maximum_page_size(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paginated = 0
    for path, item in spec["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        per_page = [p for p in operation.get("parameters", []) if p["name"] == "per_page"]
        if not per_page:
            continue
        paginated += 1
        maximum = per_page[0]["schema"].get("maximum")
        assert maximum is not None and maximum <= 200, path
    assert paginated >= 20
