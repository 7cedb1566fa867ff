"""`?updated_since=` on the engagements, timesheets and requisitions lists: integrations
poll for what changed. Every change counts: an edit through the ORM, a bulk UPDATE a
service runs (state transitions), and a change to a part the record shows (an engagement's
terms, a sheet's days)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from fms.tenancy import ALL_TENANTS
from fms.timesheets import services as ts
from fms.timesheets.models import Timesheet
from fms.workforce.models import Engagement, Requisition
from tests.factories_timesheets import MONDAY
from tests.test_api_idempotency import signed_in_client

# every row is put back to this moment before the changes under test; the filter's moment
# is a day later, and every change the test makes happens "now" (long after both)
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)
SINCE = "2026-01-02T00:00:00Z"
ALL = {ALL_TENANTS: True}


@pytest.fixture
def api(app, session, world, sign_in):
    return signed_in_client(app, session, world, sign_in)


def _age_everything(session):
    """Set updated_at of every record to LONG_AGO (an explicit value: onupdate leaves it)."""
    for model in (Engagement, Timesheet, Requisition):
        session.execute(
            update(model.__table__).values(updated_at=LONG_AGO).execution_options(**ALL)
        )
    session.commit()


def _ids(response):
    assert response.status_code == 200, response.get_json()
    return sorted(item["id"] for item in response.get_json()["items"])


def test_engagements_changed_by_a_bulk_update_or_in_their_terms(api, session, world):
    bulk = world.make_engagement(world.org, manager_id=world.manager.user_id)
    untouched = world.make_engagement(world.org, manager_id=world.manager.user_id)
    session.commit()
    _age_everything(session)
    client = api.as_(world.procurement)
    assert _ids(client.get(f"/api/v1/engagements?updated_since={SINCE}")) == []

    # a budget increase adds a terms row: the engagement's row itself is not written
    world.amend("budget_increase", "2026-03-01", new_budget_cap="200000")
    # a bulk UPDATE that does not name updated_at (as the services' transitions are)
    session.execute(update(Engagement).where(Engagement.id == bulk.id).values(po_number="PO-7"))
    session.commit()

    changed = _ids(client.get(f"/api/v1/engagements?updated_since={SINCE}"))
    assert changed == sorted([world.engagement.id, bulk.id])
    everything = _ids(client.get("/api/v1/engagements"))
    assert untouched.id in everything and len(everything) == 3
    # the same moment written with another offset (%2B is '+')
    same = _ids(client.get("/api/v1/engagements?updated_since=2026-01-02T01:00:00%2B01:00"))
    assert same == changed
    # a moment after every change: nothing
    assert _ids(client.get("/api/v1/engagements?updated_since=2199-01-01T00:00:00Z")) == []


def test_timesheets_changed_in_their_days_or_by_a_transition(api, session, world):
    edited = world.fill(MONDAY, minutes=(480,))
    submitted = world.fill(date(2026, 3, 9), minutes=(480,))
    untouched = world.fill(date(2026, 3, 16), minutes=(480,))
    cleared = world.fill(date(2026, 3, 23), minutes=(480,))
    session.commit()
    _age_everything(session)
    client = api.as_(world.procurement)
    assert _ids(client.get(f"/api/v1/timesheets?updated_since={SINCE}")) == []

    # one day's minutes change: only the entry row is written
    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=edited.id,
        entries=[{"work_date": MONDAY.isoformat(), "minutes": 420}],
    )
    world.submit(submitted)  # UPDATE timesheet SET state=... WHERE state='draft'
    # every day removed: a bulk DELETE of the entries, nothing left to flush
    ts.save_entries(session, actor=world.me, timesheet_id=cleared.id, entries=[])
    session.commit()

    changed = _ids(client.get(f"/api/v1/timesheets?updated_since={SINCE}&sort=updated"))
    assert changed == sorted([edited.id, submitted.id, cleared.id])
    assert untouched.id in _ids(client.get("/api/v1/timesheets"))


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01",  # a date is not a moment
        "2026-12-01T09:30:00",  # no offset: which 09:30?
        "2026-12-01T09:30:00 01:00",  # an unencoded '+' arrives as a space
        "2026-13-01T09:30:00Z",
        "0001-01-01T00:00:00Z",  # outside the business range
        "yesterday",
    ],
)
def test_a_bad_moment_is_a_422_naming_the_parameter(api, world, value):
    client = api.as_(world.procurement)
    for path in ("/api/v1/engagements", "/api/v1/timesheets", "/api/v1/requisitions"):
        bad = client.get(path, query_string={"updated_since": value})
        assert bad.status_code == 422, (path, value)
        assert bad.headers["Content-Type"].startswith("application/problem+json")
        assert bad.get_json()["errors"][0]["parameter"] == "updated_since"


def test_updated_since_is_documented_as_a_date_time(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/engagements", "/api/v1/timesheets", "/api/v1/requisitions"):
        [param] = [
            p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "updated_since"
        ]
        assert param["in"] == "query"
        assert param["schema"]["type"] == "string"
        assert param["schema"]["format"] == "date-time"
        sort = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "sort")
        assert "updated" in sort["schema"]["enum"]


def test_new_records_start_with_their_creation_time(session, world):
    engagement = world.make_engagement(world.org, manager_id=world.manager.user_id)
    session.flush()
    assert engagement.updated_at is not None
    assert engagement.updated_at >= engagement.created_at


# --- updated_at in the answers, and state transitions -----------------------------------------


def _moment(response, *path) -> datetime:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    for key in path:
        body = body[key]
    return datetime.fromisoformat(body["updated_at"])


def test_each_record_shows_when_it_last_changed(api, session, world, make_requisition):
    sheet = world.fill(MONDAY, minutes=(480,))
    req = make_requisition(world.org)
    session.commit()
    _age_everything(session)
    client = api.as_(world.procurement)
    for url in (
        f"/api/v1/engagements/{world.engagement.id}",
        f"/api/v1/timesheets/{sheet.id}",
        f"/api/v1/requisitions/{req.id}",
    ):
        assert client.get(url).get_json()["updated_at"] == "2026-01-01T00:00:00+00:00", url
    spec = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name in ("EngagementOut", "TimesheetOut", "TimesheetDetailOut", "RequisitionOut"):
        assert spec[name]["properties"]["updated_at"]["format"] == "date-time", name


def test_a_transition_shows_its_moment_on_the_object_it_returns(session, world):
    """The transition's UPDATE does not synchronise the session: the object the service
    hands back (to the API answer, a webhook payload) must still show the new moment."""
    sheet = world.fill(MONDAY, minutes=(480,))
    session.commit()
    _age_everything(session)
    sheet = session.get(Timesheet, sheet.id)
    assert sheet.updated_at == LONG_AGO
    before = datetime.now(UTC)
    world.submit(sheet)
    after = datetime.now(UTC)
    assert sheet.state == "submitted"
    assert before <= sheet.updated_at <= after
    stored = session.scalar(select(Timesheet.updated_at).where(Timesheet.id == sheet.id))
    assert stored == sheet.updated_at


def test_submitting_and_approving_a_week_moves_updated_at_and_its_etag(api, session, world):
    sheet = world.fill(MONDAY, minutes=(480,))
    untouched = world.fill(date(2026, 3, 9), minutes=(480,))
    session.commit()
    _age_everything(session)
    url = f"/api/v1/timesheets/{sheet.id}"
    me = api.as_(world.me)
    draft_tag = me.get(url).headers["ETag"]

    before = datetime.now(UTC)
    submitted = me.post(f"{url}/submit")
    at_submit = _moment(submitted, "timesheet")
    assert before <= at_submit <= datetime.now(UTC)
    assert me.get(url).headers["ETag"] != draft_tag

    manager = api.as_(world.manager)
    before_approval = datetime.now(UTC)
    approved = manager.post(f"{url}/approve")
    at_approval = _moment(approved)
    assert approved.get_json()["state"] == "approved"
    assert at_submit <= before_approval <= at_approval <= datetime.now(UTC)

    since = {"updated_since": before.isoformat()}
    changed = _ids(api.as_(world.procurement).get("/api/v1/timesheets", query_string=since))
    assert changed == [sheet.id]
    assert untouched.id not in changed


def test_submitting_a_requisition_moves_updated_at(
    api, session, world, make_member, actor_of, make_requisition, approval_chain
):
    approval_chain(world.org)
    requester = make_member(world.org, roles=("hiring_manager",))
    req = make_requisition(world.org, requester=requester)
    other = make_requisition(world.org, requester=requester)
    session.commit()
    _age_everything(session)
    client = api.as_(actor_of(requester))
    before = datetime.now(UTC)
    submitted = client.post(f"/api/v1/requisitions/{req.id}/submit")
    assert submitted.get_json().get("state") == "submitted", submitted.get_json()
    assert before <= _moment(submitted) <= datetime.now(UTC)
    since = {"updated_since": before.isoformat()}
    assert _ids(client.get("/api/v1/requisitions", query_string=since)) == [req.id]
    assert other.id in _ids(client.get("/api/v1/requisitions"))
