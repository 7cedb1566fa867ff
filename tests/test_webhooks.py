"""Webhooks against real HTTP receivers on loopback: signed deliveries the README's recipe
verifies, retries with back-off (time travels, nobody waits a day), failure after the
schedule with nothing lost, resend, refused private addresses, and events raised by the
real services in the business transaction (and not by a rolled-back one).

Expectations come from the specification (the README, the issue), never from the code
under test: signatures are checked with the README's own recipe, executed from README.md.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from fms.errors import InvalidInput
from fms.extensions import db
from fms.timesheets import services as ts
from fms.webhooks import services as webhooks
from fms.webhooks.models import WebhookDelivery, WebhookEndpoint
from fms.webhooks.sender import deliver_due
from fms.workforce import engagements as workforce
from tests.factories_identity_sso import free_port
from tests.factories_timesheets import MONDAY, add_submitted_sheets

README = Path(__file__).resolve().parent.parent / "README.md"
ALL_EVENTS = [
    "requisition.approved",
    "engagement.activated",
    "engagement.ended",
    "timesheet.submitted",
    "timesheet.approved",
    "timesheet.rejected",
    "compliance.document_expiring",
]


def readme_recipe():
    """`verify_webhook` exactly as the README's Webhooks section prints it."""
    text = README.read_text()
    marker = text.index("<!-- webhook-verification-recipe -->")
    code = re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace["verify_webhook"]


class Receiver:
    """An HTTP server on 127.0.0.1 that answers POSTs with the statuses of `script` in turn
    (the last one repeats), or never answers while `hang` is set; it records every request
    (headers with lower-case names, raw body)."""

    def __init__(self, script=(200,), hang: bool = False):
        self.script = list(script)
        self.hang = hang
        self.seen: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.script.pop(0) if len(receiver.script) > 1 else None
                    status = status or receiver.script[0]
                    hang = receiver.hang
                if hang:
                    receiver.stop.wait(30)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/fms"

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers(app, monkeypatch):
    """Start receivers on loopback (allowed for these tests, as FMS_SSO_ALLOWED_HOSTS
    allows a demo IdP); short timeouts, so a receiver that never answers costs little."""
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setitem(app.config, "FMS_WEBHOOK_CONNECT_TIMEOUT", 1)
    monkeypatch.setitem(app.config, "FMS_WEBHOOK_READ_TIMEOUT", 0.3)
    started: list[Receiver] = []

    def start(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


@pytest.fixture
def admin(world, make_member, actor_of):
    return actor_of(make_member(world.org, roles=("org_admin",)))


def _endpoint(session, admin, url, events=("timesheet.submitted",)):
    endpoint, secret = webhooks.create_endpoint(
        session, actor=admin, url=url, events=list(events), description="ERP"
    )
    session.commit()
    return endpoint, secret


def _deliveries(session, endpoint_id=None):
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    session.expire_all()
    return session.scalars(query.execution_options(all_tenants=True)).all()


def _submitted_sheet(session, world):
    sheet = world.fill(minutes=(480, 450))
    world.submit(sheet)
    session.commit()
    return sheet


# --- signatures ------------------------------------------------------------------------------


def test_a_delivery_is_signed_so_the_readme_recipe_verifies_it(session, world, admin, receivers):
    verify = readme_recipe()
    receiver = receivers()
    endpoint, secret = _endpoint(session, admin, receiver.url)
    assert secret.startswith("whsec_")

    sheet = _submitted_sheet(session, world)

    assert len(receiver.seen) == 1  # sent right after the commit (no Redis: inline)
    headers, body = receiver.seen[0]
    assert verify(secret, headers, body)
    payload = json.loads(body)
    assert payload["id"] == headers["webhook-id"]
    assert payload["type"] == "timesheet.submitted"
    assert datetime.fromisoformat(payload["time"].replace("Z", "+00:00")).tzinfo is not None
    # the record as GET /api/v1/timesheets/{id} shows it (the list's fields)
    assert payload["data"]["id"] == sheet.id
    assert payload["data"]["state"] == "submitted"
    assert payload["data"]["minutes"] == 930
    assert payload["data"]["week_start"] == MONDAY.isoformat()
    assert headers["content-type"] == "application/json"
    # another secret, a changed body, a changed id or an old timestamp do not verify
    other, _ = webhooks.create_endpoint(
        session, actor=admin, url=receiver.url, events=["timesheet.approved"]
    )
    other_secret = webhooks.rotate_secret(session, actor=admin, endpoint_id=other.id)[1]
    assert not verify(other_secret, headers, body)
    assert not verify(secret, headers, body.replace(b"submitted", b"approved"))
    assert not verify(secret, headers | {"webhook-id": "msg_other"}, body)
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=10)):
        assert not verify(secret, headers, body)
    delivery = _deliveries(session, endpoint.id)[0]
    assert delivery.state == "delivered" and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.last_response_ms is not None


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(
    session, world, admin, receivers
):
    verify = readme_recipe()
    receiver = receivers()
    endpoint, old = _endpoint(session, admin, receiver.url, events=ALL_EVENTS)
    _, new = webhooks.rotate_secret(session, actor=admin, endpoint_id=endpoint.id)
    session.commit()
    assert new != old

    sheet = _submitted_sheet(session, world)
    headers, body = receiver.seen[-1]
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(new, headers, body) and verify(old, headers, body)

    with time_machine.travel(datetime.now(UTC) + timedelta(hours=25)):
        ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
        session.commit()
        headers, body = receiver.seen[-1]
        assert json.loads(body)["type"] == "timesheet.approved"
        assert len(headers["webhook-signature"].split()) == 1
        assert verify(new, headers, body) and not verify(old, headers, body)


# --- retries, failure, resend --------------------------------------------------------------


def _drain_when_due(session, delivery_id):
    """Travel to the delivery's next attempt and drain; the delivery afterwards."""
    row = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    with time_machine.travel(row.next_attempt_at + timedelta(seconds=1), tick=True):
        deliver_due(db.session)
    session.expire_all()
    return session.get(WebhookDelivery, delivery_id, populate_existing=True)


def test_a_receiver_that_fails_twice_then_succeeds_gets_it_once_delivered(
    session, world, admin, receivers
):
    receiver = receivers(script=[500, 503, 204])
    endpoint, _ = _endpoint(session, admin, receiver.url)
    _submitted_sheet(session, world)
    [delivery] = _deliveries(session, endpoint.id)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    first_pause = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=30) <= first_pause <= timedelta(minutes=5)

    # not before its time
    deliver_due(db.session)
    assert len(receiver.seen) == 1

    delivery = _drain_when_due(session, delivery.id)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 2, 503)
    assert "503" in delivery.last_error
    second_pause = delivery.next_attempt_at - delivery.last_attempt_at
    assert second_pause > first_pause  # the pauses grow

    delivery = _drain_when_due(session, delivery.id)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 204)
    assert delivery.last_error is None
    # three tries of one delivery, one id: the receiver can tell the repeats apart
    assert len({h["webhook-id"] for h, _ in receiver.seen}) == 1
    assert len({body for _, body in receiver.seen}) == 1
    with time_machine.travel(datetime.now(UTC) + timedelta(days=2)):
        deliver_due(db.session)
    assert len(receiver.seen) == 3


def test_a_receiver_that_never_answers_fails_after_a_day_and_resend_delivers_it(
    app, session, world, admin, receivers, client, sign_in
):
    receiver = receivers(hang=True)
    endpoint, secret = _endpoint(session, admin, receiver.url)
    _submitted_sheet(session, world)
    [delivery] = _deliveries(session, endpoint.id)
    created = delivery.created_at
    assert delivery.state == "pending"
    assert "No answer" in delivery.last_error

    for _ in range(60):  # the schedule has far fewer attempts than this
        delivery = _drain_when_due(session, delivery.id)
        if delivery.state != "pending":
            break
    assert delivery.state == "failed"
    # about a day of retries, not much more and not much less
    assert timedelta(hours=23) <= delivery.failed_at - created <= timedelta(hours=26)
    assert 8 <= delivery.attempts <= 40
    assert len(receiver.seen) == delivery.attempts
    assert "No answer" in delivery.last_error
    # nothing lost: the body is kept as it was signed
    assert json.loads(delivery.body)["id"] == delivery.message_id

    # the receiver is fixed; an admin resends through the API: same id, delivered
    tries, message_id = delivery.attempts, delivery.message_id
    receiver.hang = False
    from fms.identity.models import User

    with time_machine.travel(delivery.failed_at + timedelta(hours=1)):
        sign_in(client, session.get(User, admin.user_id), world.org)
        answer = client.post(f"/api/v1/webhooks/{endpoint.id}/deliveries/{delivery.id}/resend")
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["state"] == "delivered"
        headers, body = receiver.seen[-1]
        assert headers["webhook-id"] == message_id
        assert readme_recipe()(secret, headers, body)
    assert answer.get_json()["attempts"] == tries + 1


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/hooks",
        "https://127.0.0.1:8443/hooks",
        "https://[::1]/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.0.10/hooks",
        "ftp://example.com/hooks",
        "https://user:pw@example.com/hooks",
        "https://[::1/hooks",
        "https://" + "a" * 300 + ".example/hooks",
    ],
)
def test_private_addresses_and_other_schemes_are_refused(app, session, admin, monkeypatch, url):
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "")
    with pytest.raises(InvalidInput) as refused:
        webhooks.create_endpoint(session, actor=admin, url=url, events=["timesheet.approved"])
    assert "url" in refused.value.errors


def test_a_name_that_resolves_to_a_private_address_is_refused(app, session, admin, monkeypatch):
    import socket

    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "")
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))],
    )
    with pytest.raises(InvalidInput):
        webhooks.create_endpoint(
            session, actor=admin, url="https://erp.example.com/in", events=["timesheet.approved"]
        )


def test_outside_development_plain_http_is_refused_even_for_allowed_hosts(
    app, session, admin, monkeypatch
):
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setitem(app.config, "FMS_ENV", "production")
    with pytest.raises(InvalidInput) as refused:
        webhooks.create_endpoint(
            session, actor=admin, url="http://127.0.0.1:9/x", events=["timesheet.approved"]
        )
    assert "https" in refused.value.detail


def test_an_address_that_turned_private_is_not_contacted_at_delivery(
    app, session, world, admin, receivers, monkeypatch
):
    receiver = receivers()
    endpoint, _ = _endpoint(session, admin, receiver.url)
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "")  # the setting changed since
    _submitted_sheet(session, world)  # http to 127.0.0.1: neither allowed nor https
    [delivery] = _deliveries(session, endpoint.id)
    assert receiver.seen == []
    assert delivery.state == "pending"
    assert delivery.last_error.startswith("Webhook addresses must use https")


# --- events from the real services, in the business transaction ---------------------------


@pytest.fixture
def quiet(app, monkeypatch):
    """Deliveries are written but not sent (no inline drain): the rows are the subject."""
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setitem(app.config, "FMS_WEBHOOK_INLINE_LIMIT", 0)


def test_events_fire_from_real_service_calls(session, world, admin, quiet):
    endpoint, _ = _endpoint(session, admin, "http://127.0.0.1:9/in", events=ALL_EVENTS)
    first = _submitted_sheet(session, world)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=first.id)
    session.commit()
    second = world.fill(week_start=MONDAY + timedelta(weeks=1))
    world.submit(second)
    ts.reject_timesheet(session, actor=world.manager, timesheet_id=second.id, comment="Tuesday?")
    session.commit()
    onboarding = world.make_engagement(
        world.org, freelancer=world.freelancer, state="onboarding", manager_id=world.manager.user_id
    )
    workforce.activate(session, actor=world.procurement, engagement_id=onboarding.id)
    session.commit()
    ended = world.make_engagement(
        world.org,
        freelancer=world.freelancer,
        end=date(2026, 2, 1),
        manager_id=world.manager.user_id,
    )
    workforce.end_due_engagements(session, actor=admin, today=date(2026, 2, 2))
    session.commit()

    seen = [(d.event_type, json.loads(d.body)["data"]) for d in _deliveries(session, endpoint.id)]
    assert [(t, d["id"]) for t, d in seen] == [
        ("timesheet.submitted", first.id),
        ("timesheet.approved", first.id),
        ("timesheet.submitted", second.id),
        ("timesheet.rejected", second.id),
        ("engagement.activated", onboarding.id),
        ("engagement.ended", ended.id),
    ]
    # each as the record stood when its transaction committed
    assert seen[1][1]["state"] == "approved"
    assert seen[3][1]["state"] == "rejected" and seen[3][1]["decision_comment"] == "Tuesday?"
    assert seen[4][1]["state"] == "active" and seen[4][1]["terms"]
    assert seen[5][1]["state"] == "ended"


def test_only_the_chosen_events_and_active_endpoints_get_deliveries(session, world, admin, quiet):
    chosen, _ = _endpoint(session, admin, "http://127.0.0.1:9/a", events=["timesheet.approved"])
    paused, _ = _endpoint(session, admin, "http://127.0.0.1:9/b", events=["timesheet.submitted"])
    webhooks.update_endpoint(session, actor=admin, endpoint_id=paused.id, is_active=False)
    session.commit()
    _submitted_sheet(session, world)
    assert _deliveries(session) == []


def test_a_rolled_back_transaction_sends_nothing(session, world, admin, receivers):
    receiver = receivers()
    _endpoint(session, admin, receiver.url, events=ALL_EVENTS)
    sheet = world.fill()
    world.submit(sheet)
    session.rollback()
    assert _deliveries(session) == [] and receiver.seen == []

    # a savepoint rolled back takes its events with it; the rest of the transaction sends
    sheet = world.fill()
    with pytest.raises(RuntimeError), session.begin_nested():
        world.submit(sheet)
        raise RuntimeError("changed my mind")
    session.commit()
    assert _deliveries(session) == [] and receiver.seen == []

    # an error in the service (nothing to submit) changes nothing and sends nothing
    empty = world.fill(week_start=MONDAY + timedelta(weeks=3), minutes=())
    with pytest.raises(Exception):  # noqa: B017 - whichever refusal, nothing is sent
        world.submit(empty)
    session.rollback()
    assert _deliveries(session) == [] and receiver.seen == []


def test_bulk_approval_writes_its_deliveries_in_one_insert(
    session, world, admin, quiet, query_counter
):
    endpoint, _ = _endpoint(session, admin, "http://127.0.0.1:9/in", events=["timesheet.approved"])
    counts = {}
    for size in (10, 500):
        fresh = world.make_engagement(
            world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
        )
        ids = [s.id for s in add_submitted_sheets(session, world, size, engagement=fresh)]
        session.commit()
        with query_counter() as statements:
            result = ts.bulk_approve(session, actor=world.manager, timesheet_ids=ids)
            session.commit()
        assert len(result.approved) == size
        inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO WEBHOOK")]
        assert len(inserts) == 1
        counts[size] = len(statements)
    assert counts[10] == counts[500]  # set-based: the same statements for 10 or 500
    rows = _deliveries(session, endpoint.id)
    assert len(rows) == 510
    assert len({json.loads(r.body)["data"]["id"] for r in rows}) == 510


def test_a_keyed_event_is_sent_once_per_endpoint(session, world, admin, quiet):
    from fms.compliance import hooks as compliance_hooks

    endpoint, _ = _endpoint(
        session, admin, "http://127.0.0.1:9/in", events=["compliance.document_expiring"]
    )
    document_id = _document(session, world)
    for _ in range(2):  # the daily sweep, run twice on one day
        compliance_hooks.record_event.send(
            "compliance.document_expiring", session=session, ids=[document_id], key="30"
        )
        session.commit()
    [delivery] = _deliveries(session, endpoint.id)
    assert json.loads(delivery.body)["data"]["id"] == document_id


def _document(session, world) -> int:
    from fms.compliance.models import ComplianceDocument
    from fms.storage import StoredFile

    stored = StoredFile(
        org_id=world.org.id,
        storage_key="k" * 32,
        original_name="w9.pdf",
        media_type="application/pdf",
        size=3,
        sha256="0" * 64,
    )
    session.add(stored)
    session.flush()
    document = ComplianceDocument(
        org_id=world.org.id,
        freelancer_id=world.freelancer.id,
        kind="w9",
        version=1,
        state="approved",
        file_id=stored.id,
        expires_on=date(2026, 4, 1),
    )
    session.add(document)
    session.flush()
    return document.id


def test_the_cli_drains_what_is_due(app, session, world, admin, receivers, monkeypatch):
    receiver = receivers()
    monkeypatch.setitem(app.config, "FMS_WEBHOOK_INLINE_LIMIT", 0)
    _endpoint(session, admin, receiver.url)
    _submitted_sheet(session, world)
    assert receiver.seen == []
    result = app.test_cli_runner().invoke(args=["fms", "webhooks", "deliver"])
    assert result.exit_code == 0, result.output
    assert "1 delivered" in result.output
    assert len(receiver.seen) == 1


def test_time_machine_moves_the_clock_the_sender_signs_with():
    # the retry tests rely on it: the signed timestamp follows the travelled clock
    with time_machine.travel(datetime(2027, 1, 1, tzinfo=UTC), tick=False):
        assert int(time.time()) == int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())


@pytest.mark.postgres
def test_two_concurrent_drains_send_each_delivery_once(app, committed, receivers):
    from fms.identity.models import Organization
    from fms.tenancy import scope_session

    receiver = receivers()
    org = Organization(name="Hooks", slug="hooks")
    committed.add(org)
    committed.commit()
    scope_session(committed, org.id)
    endpoint, _ = webhooks.create_endpoint(
        committed,
        actor=_org_admin_actor(org.id),
        url=receiver.url,
        events=["timesheet.approved"],
    )
    committed.flush()
    now = datetime.now(UTC)
    committed.add_all(
        WebhookDelivery(
            org_id=org.id,
            endpoint_id=endpoint.id,
            message_id=f"msg_{n:032x}",
            event_type="timesheet.approved",
            body=json.dumps({"id": f"msg_{n:032x}"}),
            next_attempt_at=now,
            retry_until=now + timedelta(days=1),
        )
        for n in range(30)
    )
    committed.commit()
    scope_session(committed, None)

    barrier = threading.Barrier(2)
    results, errors = [], []

    def drain():
        try:
            with app.app_context():
                barrier.wait()
                results.append(deliver_due(db.session))
                db.session.remove()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sum(r.delivered for r in results) == 30
    ids = [headers["webhook-id"] for headers, _ in receiver.seen]
    assert len(ids) == 30 and len(set(ids)) == 30
    rows = _deliveries(committed)
    assert {r.state for r in rows} == {"delivered"} and {r.attempts for r in rows} == {1}


def _org_admin_actor(org_id):
    from fms.identity.actor import Actor

    return Actor(user_id=None, org_id=org_id, roles=frozenset({"org_admin"}))


def test_a_silent_receiver_costs_one_timeout_per_drain_not_one_per_delivery(
    app, session, world, admin, receivers, monkeypatch
):
    silent, healthy = receivers(hang=True), receivers()
    monkeypatch.setitem(app.config, "FMS_WEBHOOK_INLINE_LIMIT", 0)
    dead, _ = _endpoint(session, admin, silent.url)
    alive, _ = _endpoint(session, admin, healthy.url)
    for week in range(3):
        world.submit(world.fill(week_start=MONDAY + timedelta(weeks=week)))
    session.commit()

    counts = deliver_due(db.session)

    assert len(silent.seen) == 1  # tried once; its other deliveries wait for the next drain
    assert len(healthy.seen) == 3
    assert (counts.delivered, counts.retrying) == (3, 1)
    waiting = _deliveries(session, dead.id)
    assert sorted(d.attempts for d in waiting) == [0, 0, 1]
    assert {d.state for d in waiting} == {"pending"}


@pytest.mark.redis
def test_with_redis_a_committed_delivery_is_sent_by_an_rq_worker(
    app, committed, receivers, monkeypatch
):
    import uuid

    from fms import jobs
    from fms.identity.models import Organization
    from fms.tenancy import scope_session
    from fms.workforce import hooks as workforce_hooks
    from fms.workforce.models import Engagement, Freelancer
    from tests.conftest import REDIS_URL

    receiver = receivers()
    monkeypatch.setitem(app.config, "FMS_REDIS_URL", REDIS_URL)
    # a queue of this test's own: other work on the same Redis is left alone
    monkeypatch.setitem(app.config, "FMS_JOB_QUEUE", f"fms-test-{uuid.uuid4().hex}")
    org = Organization(name="Queued hooks", slug="queued-hooks")
    committed.add(org)
    committed.commit()
    scope_session(committed, org.id)
    webhooks.create_endpoint(
        committed,
        actor=_org_admin_actor(org.id),
        url=receiver.url,
        events=["engagement.activated"],
    )
    freelancer = Freelancer(
        org_id=org.id,
        legal_name="Ada",
        display_name="Ada",
        email="ada@example.net",
        country="DE",
        timezone="Europe/Berlin",
        currency="EUR",
    )
    committed.add(freelancer)
    committed.flush()
    engagement = Engagement(
        org_id=org.id,
        title="Data work",
        kind="hourly",
        state="active",
        freelancer_id=freelancer.id,
        currency="EUR",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
    )
    committed.add(engagement)
    committed.commit()
    queue = jobs.queue_for(app)
    assert len(queue) == 0

    workforce_hooks.record_event.send(
        "engagement.activated", session=committed, ids=[engagement.id]
    )
    committed.rollback()  # rolled back: no row, and no drain queued
    assert len(queue) == 0 and _deliveries(committed) == []

    workforce_hooks.record_event.send(
        "engagement.activated", session=committed, ids=[engagement.id]
    )
    committed.commit()
    assert receiver.seen == []  # the committing request did not wait on the receiver
    assert len(queue) == 1
    jobs.start_worker(app, burst=True)  # a real, forking rq worker
    [delivery] = _deliveries(committed)
    assert delivery.state == "delivered" and delivery.attempts == 1
    assert [h["webhook-id"] for h, _ in receiver.seen] == [delivery.message_id]
    queue.delete(delete_jobs=True)


def test_secrets_rotate_re_encrypts_endpoint_secrets_which_still_sign(
    app, session, world, admin, quiet, monkeypatch
):
    from cryptography.fernet import Fernet

    from fms.webhooks.sender import signing_secrets

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", old_key)
    endpoint, first = _endpoint(session, admin, "http://127.0.0.1:9/in")
    _, second = webhooks.rotate_secret(session, actor=admin, endpoint_id=endpoint.id)
    session.commit()

    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    result = app.test_cli_runner().invoke(args=["fms", "secrets", "rotate"])
    assert result.exit_code == 0, result.output
    monkeypatch.setitem(app.config, "FMS_ENCRYPTION_KEYS", new_key)  # the old key dropped
    session.expire_all()
    row = session.get(WebhookEndpoint, endpoint.id)
    assert signing_secrets(row, datetime.now(UTC)) == [second, first]
