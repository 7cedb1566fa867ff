"""Webhook endpoints through the pages and the API: org admins only, another organization's
endpoint is a 404, bad input is an inline error (or a 422 problem) that changes nothing, the
secret is shown once, every change is audited, and the routes are in the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.identity.models import Organization, User
from fms.webhooks import services as webhooks
from fms.webhooks.models import WebhookDelivery, WebhookEndpoint

EVENTS = ["timesheet.submitted", "timesheet.approved"]


@pytest.fixture
def loopback(app, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setitem(app.config, "FMS_WEBHOOK_INLINE_LIMIT", 0)


@pytest.fixture
def admin(make_org, make_member):
    org = make_org()
    return make_member(org, roles=("org_admin",))


@pytest.fixture
def admin_client(client, session, admin, sign_in):
    sign_in(client, session.get(User, admin.user_id), session.get(Organization, admin.org_id))
    return client


def _delivery(session, endpoint, **values) -> WebhookDelivery:
    """A delivery row as the emission writes it (the pages' and API's subject here)."""
    row = WebhookDelivery(
        org_id=endpoint.org_id,
        endpoint_id=endpoint.id,
        event_type="timesheet.approved",
        body="{}",
        retry_until=endpoint.created_at,
        **values,
    )
    session.add(row)
    session.flush()
    return row


def _audit(session, action):
    return session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).execution_options(all_tenants=True)
    ).all()


def test_the_api_registers_changes_rotates_and_removes_an_endpoint(admin_client, session, loopback):
    created = admin_client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/in", "events": EVENTS, "description": "ERP"},
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["events"] == EVENTS
    endpoint_id = body["id"]
    # the secret is in that answer only, and not stored in the clear
    shown = admin_client.get(f"/api/v1/webhooks/{endpoint_id}").get_json()
    assert "secret" not in shown
    row = session.get(WebhookEndpoint, endpoint_id)
    assert body["secret"] not in row.secret_encrypted
    listed = admin_client.get("/api/v1/webhooks").get_json()
    assert [e["id"] for e in listed["items"]] == [endpoint_id] and "secret" not in listed["items"][
        0
    ]

    changed = admin_client.patch(
        f"/api/v1/webhooks/{endpoint_id}",
        json={"is_active": False, "events": ["timesheet.approved"]},
    )
    assert changed.status_code == 200
    assert changed.get_json()["is_active"] is False

    rotated = admin_client.post(f"/api/v1/webhooks/{endpoint_id}/secret-rotation")
    assert rotated.status_code == 200
    assert rotated.get_json()["secret"].startswith("whsec_")
    assert rotated.get_json()["secret"] != body["secret"]
    assert rotated.get_json()["previous_secret_expires_at"]

    assert admin_client.delete(f"/api/v1/webhooks/{endpoint_id}").status_code == 204
    assert admin_client.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 404
    for action in ("created", "updated", "secret_rotated", "deleted"):
        [entry] = _audit(session, f"webhook_endpoint.{action}")
        assert entry.entity_id == endpoint_id
        assert body["secret"] not in str(entry.after) + str(entry.before)
        assert rotated.get_json()["secret"] not in str(entry.after)


def test_bad_input_is_a_problem_that_changes_nothing(admin_client, session, loopback, monkeypatch):
    cases = [
        ({"url": "https://10.0.0.1/in", "events": EVENTS}, "/url"),
        ({"url": "not a url", "events": EVENTS}, "/url"),
        ({"url": "http://127.0.0.1:9/in", "events": []}, "/events"),
        ({"url": "http://127.0.0.1:9/in", "events": ["invoice.imagined"]}, "/events/0"),
        ({"events": EVENTS}, "/url"),
    ]
    for body, pointer in cases:
        answer = admin_client.post("/api/v1/webhooks", json=body)
        assert answer.status_code == 422, (body, answer.get_json())
        assert answer.content_type == "application/problem+json"
        pointers = [e.get("pointer") for e in answer.get_json().get("errors", [])]
        assert pointer in pointers, (body, answer.get_json())
    assert session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_another_organizations_endpoint_is_a_404_everywhere(
    admin_client, session, make_org, make_member, actor_of, loopback
):
    other = make_org()
    stranger = actor_of(make_member(other, roles=("org_admin",)))
    from tests.factories import as_org

    with as_org(session, other.id):
        theirs, _ = webhooks.create_endpoint(
            session, actor=stranger, url="http://127.0.0.1:9/theirs", events=EVENTS
        )
        delivery_id = _delivery(session, theirs, message_id="msg_theirs").id
    session.commit()
    base = f"/api/v1/webhooks/{theirs.id}"
    for method, url in [
        ("get", base),
        ("patch", base),
        ("delete", base),
        ("post", f"{base}/secret-rotation"),
        ("get", f"{base}/deliveries"),
        ("get", f"{base}/deliveries/{delivery_id}"),
        ("post", f"{base}/deliveries/{delivery_id}/resend"),
    ]:
        kwargs = {"json": {"is_active": False}} if method == "patch" else {}
        answer = getattr(admin_client, method)(url, **kwargs)
        assert answer.status_code == 404, (method, url, answer.status_code)
    for url in (
        f"/admin/webhooks/{theirs.id}",
        f"/admin/webhooks/{theirs.id}/edit",
    ):
        assert admin_client.get(url).status_code == 404, url
    for url in (
        f"/admin/webhooks/{theirs.id}/rotate",
        f"/admin/webhooks/{theirs.id}/delete",
        f"/admin/webhooks/{theirs.id}/deliveries/{delivery_id}/resend",
    ):
        assert admin_client.post(url).status_code == 404, url
    session.expire_all()
    still = session.scalars(select(WebhookEndpoint).execution_options(all_tenants=True)).one()
    assert still.is_active and still.previous_secret_encrypted is None


def test_only_org_admins_manage_webhooks(client, session, make_org, make_member, sign_in):
    org = make_org()
    manager = make_member(org, roles=("hiring_manager", "procurement", "finance"))
    sign_in(client, session.get(User, manager.user_id), org)
    assert client.get("/api/v1/webhooks").status_code == 403
    assert (
        client.post(
            "/api/v1/webhooks", json={"url": "https://example.com/x", "events": EVENTS}
        ).status_code
        == 403
    )
    assert client.get("/admin/webhooks").status_code == 403
    assert "/admin/webhooks" not in client.get("/").get_data(as_text=True)


def test_the_pages_add_an_endpoint_show_the_secret_once_and_list_deliveries(
    admin_client, session, admin, loopback
):
    empty = admin_client.get("/admin/webhooks")
    assert empty.status_code == 200
    assert "No webhook endpoints yet" in empty.get_data(as_text=True)

    refused = admin_client.post_form(
        "/admin/webhooks/new", {"url": "https://192.168.1.5/in", "events": EVENTS}
    )
    assert refused.status_code == 422
    assert "Private and local addresses are refused." in refused.get_data(as_text=True)
    missing = admin_client.post_form("/admin/webhooks/new", {"url": "http://127.0.0.1:9/in"})
    assert missing.status_code == 422 and "Choose one or more." in missing.get_data(as_text=True)

    added = admin_client.post_form(
        "/admin/webhooks/new",
        {"url": "http://127.0.0.1:9/in", "events": EVENTS, "is_active": "y"},
        follow_redirects=True,
    )
    assert added.status_code == 200
    page = added.get_data(as_text=True)
    assert 'id="webhook-secret"' in page and "whsec_" in page
    endpoint = session.scalars(select(WebhookEndpoint)).one()
    again = admin_client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "whsec_" not in again and "No deliveries yet" in again

    _delivery(
        session,
        endpoint,
        message_id="msg_0001",
        state="failed",
        attempts=14,
        last_status_code=503,
        last_response_ms=87,
        last_error="The receiver answered 503.",
    )
    session.commit()
    log = admin_client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    for text in ("msg_0001", "503", "87 ms", "The receiver answered 503.", "Resend", ">14<"):
        assert text in log, text
    listed = admin_client.get("/admin/webhooks").get_data(as_text=True)
    assert "http://127.0.0.1:9/in" in listed

    delivery = session.scalars(select(WebhookDelivery)).one()
    resent = admin_client.post(
        f"/admin/webhooks/{endpoint.id}/deliveries/{delivery.id}/resend", follow_redirects=True
    )
    assert resent.status_code == 200
    session.expire_all()
    assert session.get(WebhookDelivery, delivery.id).state == "pending"
    assert _audit(session, "webhook_delivery.resent")

    edited = admin_client.post_form(
        f"/admin/webhooks/{endpoint.id}/edit",
        {"url": "http://127.0.0.1:9/other", "events": ["timesheet.approved"]},
    )
    assert edited.status_code == 302
    session.expire_all()
    row = session.get(WebhookEndpoint, endpoint.id)
    assert (row.url, row.events, row.is_active) == (
        "http://127.0.0.1:9/other",
        ["timesheet.approved"],
        False,  # the box was left unticked
    )
    rotated = admin_client.post(f"/admin/webhooks/{endpoint.id}/rotate", follow_redirects=True)
    assert 'id="webhook-secret"' in rotated.get_data(as_text=True)
    gone = admin_client.post(f"/admin/webhooks/{endpoint.id}/delete", follow_redirects=True)
    assert "No webhook endpoints yet" in gone.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_the_openapi_document_covers_webhooks(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/webhooks",
        "/api/v1/webhooks/events",
        "/api/v1/webhooks/{endpoint_id}",
        "/api/v1/webhooks/{endpoint_id}/secret-rotation",
        "/api/v1/webhooks/{endpoint_id}/deliveries",
        "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}",
        "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend",
    ):
        assert path in spec["paths"], path
    events = client.get("/api/v1/webhooks/events")
    assert events.status_code == 401  # like every route: signed in first
