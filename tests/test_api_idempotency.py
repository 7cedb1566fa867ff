"""Idempotency-Key on the API's money POSTs: a retried request is answered from the first
answer (one object, the same body), a reused key with another body is a 409 problem, a
malformed key a 400 problem; 4xx answers are kept, failures free the key, expired keys are
free again, and the OpenAPI document declares the header on every money POST."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from fms.identity.models import User
from fms.tenancy import ALL_TENANTS
from fms.timekeeping import utcnow
from fms.timesheets import services as ts
from fms.timesheets.models import Timesheet
from tests.factories_timesheets import MONDAY

PROBLEM = "application/problem+json"
KEY = "Idempotency-Key"
NEXT_MONDAY = MONDAY + timedelta(days=7)


@pytest.fixture
def api(app, session, world, sign_in):
    return signed_in_client(app, session, world, sign_in)


def signed_in_client(app, session, world, sign_in):
    """A client that signs in as one of the world's people: `api.as_(world.manager)`."""
    client = app.test_client()

    def as_(actor):
        sign_in(client, session.get(User, actor.user_id), world.org)
        return client

    client.as_ = as_
    return client


def _sheets(session) -> int:
    return session.scalar(select(func.count()).select_from(Timesheet))


def _open(client, world, key, week=MONDAY):
    return client.post(
        "/api/v1/timesheets",
        json={"engagement_id": world.engagement.id, "week_start": week.isoformat()},
        headers={KEY: key} if key is not None else {},
    )


def _filled(client, world) -> int:
    """A draft week with one day of time, ready to submit."""
    sheet_id = _open(client, world, None).get_json()["id"]
    entries = [{"work_date": MONDAY.isoformat(), "minutes": 480}]
    saved = client.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": entries})
    assert saved.status_code == 200, saved.get_json()
    return sheet_id


def _problem(response, status):
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.content_type.startswith(PROBLEM)
    return response.get_json()


def _key_rows():
    from fms.api.idempotency import IdempotencyKey

    return IdempotencyKey


def test_a_retried_create_is_answered_from_the_first_answer(api, session, world):
    me = api.as_(world.me)
    first = _open(me, world, "open-week-1")
    assert first.status_code == 201, first.get_json()
    assert first.headers.get("Idempotent-Replayed") is None
    again = _open(me, world, "open-week-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.content_type == first.content_type
    assert _sheets(session) == 1


def test_without_a_key_nothing_changes(api, session, world):
    me = api.as_(world.me)
    assert _open(me, world, None).status_code == 201
    # the second identical request is the rule's own 409 (one sheet per week), not a replay
    second = _open(me, world, None)
    _problem(second, 409)
    assert "Idempotent-Replayed" not in second.headers
    assert _sheets(session) == 1


def test_the_same_key_with_another_body_is_a_409_problem(api, session, world):
    me = api.as_(world.me)
    assert _open(me, world, "k-1").status_code == 201
    body = _problem(_open(me, world, "k-1", week=NEXT_MONDAY), 409)
    assert "Idempotency-Key" in body["detail"]
    assert _sheets(session) == 1
    # the same key on another route is another request too
    sheet_id = session.scalar(select(Timesheet.id))
    _problem(me.post(f"/api/v1/timesheets/{sheet_id}/submit", headers={KEY: "k-1"}), 409)
    assert session.get(Timesheet, sheet_id).state == "draft"


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "tab\there", " leading", "trailing ", "caf\u00e9"],
    ids=["empty", "too-long", "control", "leading-space", "trailing-space", "non-ascii"],
)
def test_a_malformed_key_is_a_400_problem_and_nothing_happens(api, session, world, key):
    me = api.as_(world.me)
    headers = [(KEY, key.encode("latin-1").decode("latin-1"))]
    response = me.post(
        "/api/v1/timesheets",
        json={"engagement_id": world.engagement.id, "week_start": MONDAY.isoformat()},
        headers=headers,
    )
    body = _problem(response, 400)
    assert body["errors"] == [
        {"parameter": "Idempotency-Key", "in": "header", "detail": body["errors"][0]["detail"]}
    ]
    assert _sheets(session) == 0


def test_the_longest_key_and_every_printable_character_are_accepted(api, session, world):
    me = api.as_(world.me)
    printable = "".join(chr(c) for c in range(0x21, 0x7F))
    key = (printable + "a b" + printable * 3)[:255]
    assert len(key) == 255
    assert _open(me, world, key).status_code == 201
    assert _open(me, world, key).headers["Idempotent-Replayed"] == "true"
    assert _sheets(session) == 1


def test_a_client_error_is_kept_and_replayed(api, session, world):
    sheet_id = _filled(api.as_(world.me), world)
    manager = api.as_(world.manager)
    approve = f"/api/v1/timesheets/{sheet_id}/approve"
    early = _problem(manager.post(approve, headers={KEY: "a"}), 409)
    assert api.as_(world.me).post(f"/api/v1/timesheets/{sheet_id}/submit").status_code == 200
    manager = api.as_(world.manager)
    replayed = manager.post(approve, headers={KEY: "a"})
    assert replayed.status_code == 409 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == early
    assert session.get(Timesheet, sheet_id).state == "submitted"
    # a fresh key decides it
    assert (
        manager.post(f"/api/v1/timesheets/{sheet_id}/approve", headers={KEY: "b"}).status_code
        == 200
    )
    session.expire_all()
    assert session.get(Timesheet, sheet_id).state == "approved"


def test_an_invalid_body_is_refused_the_same_way_again(api, session, world):
    me = api.as_(world.me)
    bad = {"engagement_id": world.engagement.id, "week_start": "2026-02-30"}
    first = me.post("/api/v1/timesheets", json=bad, headers={KEY: "bad-body"})
    body = _problem(first, 422)
    again = me.post("/api/v1/timesheets", json=bad, headers={KEY: "bad-body"})
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == body
    assert _sheets(session) == 0


def test_a_failure_frees_the_key(api, session, world, monkeypatch):
    me = api.as_(world.me)
    sheet_id = _filled(me, world)
    assert me.post(f"/api/v1/timesheets/{sheet_id}/submit").status_code == 200
    manager = api.as_(world.manager)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ts, "approve_timesheet", broken)
    failed = manager.post(f"/api/v1/timesheets/{sheet_id}/approve", headers={KEY: "retry-me"})
    _problem(failed, 500)
    monkeypatch.undo()
    retried = manager.post(f"/api/v1/timesheets/{sheet_id}/approve", headers={KEY: "retry-me"})
    assert retried.status_code == 200, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.get_json()["state"] == "approved"


def test_an_expired_key_may_be_used_again(api, session, world):
    me = api.as_(world.me)
    assert _open(me, world, "weekly").status_code == 201
    rows = _key_rows()
    session.execute(
        update(rows)
        .values(expires_at=utcnow() - timedelta(seconds=1))
        .execution_options(**{ALL_TENANTS: True})
    )
    session.commit()
    fresh = _open(me, world, "weekly", week=NEXT_MONDAY)
    assert fresh.status_code == 201, fresh.get_json()
    assert "Idempotent-Replayed" not in fresh.headers
    assert _sheets(session) == 2


def _reservation(app, world, key, *, expires_in):
    """A reservation of `key` by the freelancer for opening MONDAY's week, still running
    (as if its request were under way, or its worker had died)."""
    from fms.api.idempotency import request_fingerprint

    body = {"engagement_id": world.engagement.id, "week_start": MONDAY.isoformat()}
    with app.test_request_context("/api/v1/timesheets", method="POST", json=body):
        fingerprint = request_fingerprint()
    return _key_rows()(
        org_id=world.org.id,
        principal=f"user:{world.me.user_id}",
        key=key,
        fingerprint=fingerprint,
        state="running",
        expires_at=utcnow() + expires_in,
    )


def test_a_request_still_running_is_answered_409_in_progress(app, api, session, world):
    session.add(_reservation(app, world, "busy", expires_in=timedelta(minutes=5)))
    session.commit()
    answer = _open(api.as_(world.me), world, "busy")
    body = _problem(answer, 409)
    assert answer.headers["Retry-After"] == "1"
    assert "still running" in body["detail"]
    assert _sheets(session) == 0


def test_an_abandoned_reservation_frees_its_key_after_its_lease(app, api, session, world):
    session.add(_reservation(app, world, "orphan", expires_in=timedelta(seconds=-1)))
    session.commit()
    answer = _open(api.as_(world.me), world, "orphan")
    assert answer.status_code == 201, answer.get_json()
    assert _sheets(session) == 1


def test_answers_are_kept_for_the_configured_time(app, api, session, world, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_IDEMPOTENCY_TTL_HOURS", 2)
    me = api.as_(world.me)
    before = utcnow()
    assert _open(me, world, "ttl").status_code == 201
    row = session.scalars(select(_key_rows()).execution_options(**{ALL_TENANTS: True})).one()
    assert before + timedelta(hours=2) <= row.expires_at <= utcnow() + timedelta(hours=2)


def test_keys_belong_to_their_principal(api, session, world):
    me = api.as_(world.me)
    sheet_id = _open(me, world, "shared-key").get_json()["id"]
    entries = [{"work_date": MONDAY.isoformat(), "minutes": 480}]
    assert (
        me.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": entries}).status_code
        == 200
    )
    assert me.post(f"/api/v1/timesheets/{sheet_id}/submit").status_code == 200
    # another person's identical key is theirs: no replay of the freelancer's answer
    manager = api.as_(world.manager)
    approved = manager.post(f"/api/v1/timesheets/{sheet_id}/approve", headers={KEY: "shared-key"})
    assert approved.status_code == 200, approved.get_json()
    assert "Idempotent-Replayed" not in approved.headers


def test_bulk_approval_is_replayed_not_repeated(api, session, world):
    from tests.factories_timesheets import add_submitted_sheets

    ids = [s.id for s in add_submitted_sheets(session, world, 2)]
    session.commit()
    manager = api.as_(world.manager)
    first = manager.post(
        "/api/v1/timesheets/bulk-approval", json={"timesheet_ids": ids}, headers={KEY: "bulk"}
    )
    assert first.get_json()["approved"] == ids
    again = manager.post(
        "/api/v1/timesheets/bulk-approval", json={"timesheet_ids": ids}, headers={KEY: "bulk"}
    )
    # without the key the second run would report both as changed meanwhile
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_equivalent_json_body_is_the_same_request(api, session, world):
    me = api.as_(world.me)
    first = me.post(
        "/api/v1/timesheets",
        data=f'{{"engagement_id": {world.engagement.id}, "week_start": "{MONDAY}"}}',
        content_type="application/json",
        headers={KEY: "spacing"},
    )
    assert first.status_code == 201
    reordered = me.post(
        "/api/v1/timesheets",
        data=f'{{"week_start":"{MONDAY}","engagement_id":{world.engagement.id}}}',
        content_type="application/json",
        headers={KEY: "spacing"},
    )
    assert reordered.status_code == 201
    assert reordered.headers["Idempotent-Replayed"] == "true"


def test_purge_removes_expired_answers_only(app, api, session, world):
    me = api.as_(world.me)
    assert _open(me, world, "old").status_code == 201
    assert _open(me, world, "new", week=NEXT_MONDAY).status_code == 201
    rows = _key_rows()
    session.execute(
        update(rows)
        .where(rows.key == "old")
        .values(expires_at=utcnow() - timedelta(minutes=1))
        .execution_options(**{ALL_TENANTS: True})
    )
    session.commit()
    result = app.test_cli_runner().invoke(args=["fms", "api", "purge-idempotency"])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    left = session.scalars(select(rows.key).execution_options(**{ALL_TENANTS: True})).all()
    assert left == ["new"]


# --- the OpenAPI document --------------------------------------------------------------------

# Every POST that creates or moves money (the list), written out here on purpose:
# a new money route must be added to this list and get the header.
MONEY_POSTS = {
    "/api/v1/timesheets",
    "/api/v1/timesheets/{timesheet_id}/copy-previous-week",
    "/api/v1/timesheets/{timesheet_id}/submit",
    "/api/v1/timesheets/{timesheet_id}/approve",
    "/api/v1/timesheets/{timesheet_id}/reject",
    "/api/v1/timesheets/bulk-approval",
    "/api/v1/timesheets/{timesheet_id}/adjustments",
    "/api/v1/adjustments/{adjustment_id}/submit",
    "/api/v1/adjustments/{adjustment_id}/approve",
    "/api/v1/adjustments/{adjustment_id}/reject",
    "/api/v1/milestones",
    "/api/v1/milestones/{milestone_id}/deliver",
    "/api/v1/milestones/{milestone_id}/accept",
    "/api/v1/milestones/{milestone_id}/send-back",
    "/api/v1/expenses",
    "/api/v1/expenses/{expense_id}/submit",
    "/api/v1/expenses/{expense_id}/approve",
    "/api/v1/expenses/{expense_id}/reject",
    "/api/v1/engagements/{engagement_id}/amendments",
    "/api/v1/amendments/{amendment_id}/decision",
    "/api/v1/billing-periods/{period}/close",
    "/api/v1/invoices/{invoice_id}/issue",
    "/api/v1/invoices/{invoice_id}/approve-issue",
    "/api/v1/invoices/{invoice_id}/reject-issue",
    "/api/v1/invoices/{invoice_id}/payments",
    "/api/v1/invoices/{invoice_id}/credit-notes",
}


def _spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def _parameters(spec, operation) -> list[dict]:
    out = []
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        out.append(parameter)
    return out


def _header_names(spec, operation) -> set[str]:
    return {p["name"] for p in _parameters(spec, operation) if p.get("in") == "header"}


def test_every_money_post_declares_the_idempotency_key(client):
    spec = _spec(client)
    missing = sorted(
        path
        for path in MONEY_POSTS
        if "post" not in spec["paths"].get(path, {})
        or KEY not in _header_names(spec, spec["paths"][path]["post"])
    )
    assert missing == []
    for path in MONEY_POSTS:
        operation = spec["paths"][path]["post"]
        assert {"400", "409"} <= set(operation["responses"]), path


# Where money is created or moved; a POST under these paths takes the key unless it is
# listed below with the reason it does not.
MONEY_PATHS = (
    "/timesheets",
    "/adjustments",
    "/milestones",
    "/expenses",
    "/amendments",
    "/invoices",
    "/credit-notes",
    "/payments",
    "/billing-periods",
)
NOT_MONEY = {
    "/api/v1/timesheets/bulk-approval/preview": "changes nothing",
    "/api/v1/expenses/{expense_id}/receipt": "a file upload (multipart), not an amount",
    "/api/v1/milestones/{milestone_id}/deliverable": "a file upload (multipart), not an amount",
}


def test_a_new_money_post_cannot_forget_the_key(client):
    spec = _spec(client)
    missing = sorted(
        path
        for path, item in spec["paths"].items()
        if "post" in item
        and any(part in path for part in MONEY_PATHS)
        and path not in NOT_MONEY
        and KEY not in _header_names(spec, item["post"])
    )
    assert missing == []


def test_the_key_is_documented_as_optional_printable_ascii(client):
    spec = _spec(client)
    operation = spec["paths"]["/api/v1/timesheets"]["post"]
    (parameter,) = [p for p in _parameters(spec, operation) if p["name"] == KEY]
    assert parameter["in"] == "header" and not parameter.get("required", False)
    assert parameter["schema"]["maxLength"] == 255
    assert "24 hours" in parameter["description"]


def test_reads_and_non_money_writes_do_not_take_a_key(client):
    spec = _spec(client)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "patch", "delete") or (
                method == "post" and path not in MONEY_POSTS
            ):
                assert KEY not in _header_names(spec, operation), (method, path)
