"""ETag / If-Match on records people edit at the same time: freelancer profiles (by
procurement and by the freelancer), a draft timesheet's entries, compliance policy items.

A read answers an ETag; an update with the ETag it read succeeds and answers the new one;
an update with a stale ETag is a 412 problem and changes nothing; an update without
If-Match is accepted as before."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.tenancy import scope_session
from fms.timesheets.models import TimesheetEntry
from fms.workforce.models import Freelancer
from tests.factories_timesheets import MONDAY
from tests.test_api_idempotency import _problem, signed_in_client


@pytest.fixture
def api(app, session, world, sign_in):
    return signed_in_client(app, session, world, sign_in)


def _tag(response) -> str:
    assert response.status_code == 200, response.get_json()
    tag = response.headers.get("ETag")
    assert tag and tag.startswith('"') and tag.endswith('"'), tag
    return tag


def _headline(session, freelancer_id):
    session.expire_all()
    return session.get(Freelancer, freelancer_id).headline


# --- freelancer profiles ---------------------------------------------------------------------


def test_a_profile_read_answers_a_stable_etag(api, world):
    url = f"/api/v1/freelancers/{world.freelancer.id}"
    procurement = api.as_(world.procurement)
    assert _tag(procurement.get(url)) == _tag(procurement.get(url))


def test_an_update_with_the_read_etag_succeeds_and_answers_the_new_one(api, session, world):
    url = f"/api/v1/freelancers/{world.freelancer.id}"
    procurement = api.as_(world.procurement)
    first = _tag(procurement.get(url))
    changed = procurement.patch(
        url, json={"headline": "Data engineer"}, headers={"If-Match": first}
    )
    new = _tag(changed)
    assert new != first
    assert changed.get_json()["headline"] == "Data engineer"
    assert _tag(procurement.get(url)) == new


def test_a_stale_etag_is_a_412_problem_and_changes_nothing(api, session, world):
    url = f"/api/v1/freelancers/{world.freelancer.id}"
    procurement = api.as_(world.procurement)
    read = _tag(procurement.get(url))
    # someone else changes the profile meanwhile (the freelancer, on their own page)
    me = api.as_(world.me)
    assert me.patch("/api/v1/my/profile", json={"headline": "Theirs"}).status_code == 200
    procurement = api.as_(world.procurement)
    body = _problem(
        procurement.patch(url, json={"headline": "Mine"}, headers={"If-Match": read}), 412
    )
    assert "changed" in body["detail"]
    assert _headline(session, world.freelancer.id) == "Theirs"


def test_without_if_match_the_update_is_accepted(api, session, world):
    url = f"/api/v1/freelancers/{world.freelancer.id}"
    procurement = api.as_(world.procurement)
    assert procurement.patch(url, json={"headline": "No tag"}).status_code == 200
    assert _headline(session, world.freelancer.id) == "No tag"


def test_if_match_takes_a_list_and_a_star_but_never_a_weak_tag(api, session, world):
    url = f"/api/v1/freelancers/{world.freelancer.id}"
    procurement = api.as_(world.procurement)
    current = _tag(procurement.get(url))
    listed = procurement.patch(
        url, json={"headline": "A"}, headers={"If-Match": f'"0000", {current}'}
    )
    assert listed.status_code == 200
    assert (
        procurement.patch(url, json={"headline": "B"}, headers={"If-Match": "*"}).status_code == 200
    )
    current = _tag(procurement.get(url))
    _problem(
        procurement.patch(url, json={"headline": "C"}, headers={"If-Match": f"W/{current}"}), 412
    )
    _problem(procurement.patch(url, json={"headline": "C"}, headers={"If-Match": "garbage"}), 412)
    assert _headline(session, world.freelancer.id) == "B"


def test_the_freelancers_own_profile_takes_if_match_too(api, session, world):
    me = api.as_(world.me)
    read = _tag(me.get("/api/v1/my/profile"))
    saved = me.patch("/api/v1/my/profile", json={"headline": "One"}, headers={"If-Match": read})
    assert saved.status_code == 200
    _problem(
        me.patch("/api/v1/my/profile", json={"headline": "Two"}, headers={"If-Match": read}), 412
    )
    assert _headline(session, world.freelancer.id) == "One"


def test_a_stale_tag_does_not_get_past_the_permission_check(api, world, make_member, actor_of):
    # someone who may not edit the profile is refused as before, not told about versions
    other = actor_of(make_member(world.org, roles=("hiring_manager",)))
    url = f"/api/v1/freelancers/{world.freelancer.id}"
    response = api.as_(other).patch(url, json={"headline": "x"}, headers={"If-Match": '"old"'})
    assert response.status_code in (403, 404)


# --- a draft timesheet's entries -------------------------------------------------------------


def _entries(day_minutes):
    return {"entries": [{"work_date": MONDAY.isoformat(), "minutes": day_minutes}]}


def test_a_draft_week_is_edited_with_its_etag(api, session, world):
    me = api.as_(world.me)
    opened = me.post(
        "/api/v1/timesheets",
        json={"engagement_id": world.engagement.id, "week_start": MONDAY.isoformat()},
    )
    sheet_id = opened.get_json()["id"]
    url = f"/api/v1/timesheets/{sheet_id}"
    read = _tag(me.get(url))
    saved = me.put(f"{url}/entries", json=_entries(480), headers={"If-Match": read})
    assert _tag(saved) == _tag(me.get(url)) != read
    # a second tab still holds the first read: refused, the 480 minutes stay
    _problem(me.put(f"{url}/entries", json=_entries(60), headers={"If-Match": read}), 412)
    session.expire_all()
    scope_session(session, world.org.id)
    minutes = session.scalars(
        select(TimesheetEntry.minutes).where(TimesheetEntry.timesheet_id == sheet_id)
    ).all()
    assert minutes == [480]


# --- compliance policy items -----------------------------------------------------------------


def test_a_policy_item_is_read_and_changed_with_its_etag(api, world, make_member, actor_of):
    officer = actor_of(make_member(world.org, roles=("org_admin",)))
    client = api.as_(officer)
    made = client.post("/api/v1/compliance/policy-items", json={"document_kind": "nda"})
    assert made.status_code == 201, made.get_json()
    url = f"/api/v1/compliance/policy-items/{made.get_json()['id']}"
    read = _tag(client.get(url))
    changed = client.patch(url, json={"requirement": "optional"}, headers={"If-Match": read})
    assert changed.get_json()["requirement"] == "optional"
    _problem(client.patch(url, json={"requirement": "exempt"}, headers={"If-Match": read}), 412)
    assert client.get(url).get_json()["requirement"] == "optional"


# --- the OpenAPI document --------------------------------------------------------------------

# The updates of records edited concurrently, written out here on purpose.
IF_MATCH = {
    ("patch", "/api/v1/freelancers/{freelancer_id}"),
    ("patch", "/api/v1/my/profile"),
    ("put", "/api/v1/timesheets/{timesheet_id}/entries"),
    ("patch", "/api/v1/compliance/policy-items/{policy_item_id}"),
}
ETAG_READS = {
    ("get", "/api/v1/freelancers/{freelancer_id}"),
    ("get", "/api/v1/my/profile"),
    ("get", "/api/v1/timesheets/{timesheet_id}"),
    ("get", "/api/v1/compliance/policy-items/{policy_item_id}"),
}


def test_the_document_declares_if_match_412_and_etag(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for method, path in IF_MATCH:
        operation = spec["paths"][path][method]
        headers = {p["name"] for p in operation["parameters"] if p.get("in") == "header"}
        assert "If-Match" in headers, (method, path)
        assert "412" in operation["responses"], (method, path)
        assert "ETag" in operation["responses"]["200"].get("headers", {}), (method, path)
    for method, path in ETAG_READS:
        answer = spec["paths"][path][method]["responses"]["200"]
        assert "ETag" in answer.get("headers", {}), (method, path)
    assert "If-Match" not in {
        p.get("name") for p in spec["paths"]["/api/v1/timesheets"]["post"].get("parameters", [])
    }
