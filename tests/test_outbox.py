"""The outbox: rows in the business transaction, delivered over real SMTP at least once.

A real SMTP server (aiosmtpd) listens on a loopback port each test picks; nothing about
SMTP is mocked. Time moves by passing `now` to `send_due`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from fms.errors import InvalidInput
from fms.extensions import db
from fms.identity.models import Organization, User
from fms.notifications.models import OutboxMessage
from fms.notifications.sender import backoff, send_due
from fms.notifications.services import queue_mail
from fms.timekeeping import utcnow
from tests.factories_notifications import outbox_message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An SMTP handler: answers 451 to the first `refuse` DATA commands (or `always` to
    every one); records the Message-ID of every DATA it saw, and what it accepted."""

    def __init__(self, *, refuse: int = 0, always: str | None = None, delay: float = 0):
        self.refuse = refuse
        self.always = always
        self.delay = delay
        self.seen: list[str] = []  # Message-IDs of every DATA, refused or not
        self.accepted: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        mail = message_from_bytes(envelope.content, policy=policy.default)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.seen.append(mail["Message-ID"])
            if self.always:
                return self.always
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 Mailbox busy, try again later"
            self.accepted.append((envelope.mail_from, envelope.rcpt_tos, mail))
        return "250 2.0.0 OK"


@pytest.fixture
def smtp_server(app, monkeypatch):
    """Start a real SMTP server on a free loopback port; point FMS at it."""
    started = []

    def start(handler: Mailbox) -> Mailbox:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test")
        controller.start()
        started.append(controller)
        point_at(port)
        return handler

    def point_at(port: int) -> None:
        monkeypatch.setitem(app.config, "FMS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setitem(app.config, "FMS_SMTP_PORT", port)
        monkeypatch.setitem(app.config, "FMS_SMTP_SECURITY", "none")
        monkeypatch.setitem(app.config, "FMS_SMTP_TIMEOUT", 5)
        monkeypatch.setitem(app.config, "FMS_MAIL_FROM", "FMS <no-reply@fms.example.com>")
        monkeypatch.setitem(app.config, "FMS_BASE_URL", "https://fms.example.com")

    start.point_at = point_at
    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def org(session, make_org):
    org = make_org()
    session.commit()
    return org


def _row(session, message_id: int) -> OutboxMessage:
    session.expire_all()
    return session.get(OutboxMessage, message_id)


# --- queueing ------------------------------------------------------------------------------


def test_queue_mail_writes_in_the_callers_transaction_and_a_rollback_sends_nothing(
    app, session, org, monkeypatch
):
    monkeypatch.setitem(app.config, "FMS_BASE_URL", "https://fms.example.com:8443/app")
    message = queue_mail(
        session,
        org_id=org.id,
        kind="invitation",
        to="ada@example.com",
        subject="Your invitation",
        body_text="Hello",
    )
    assert message.id is not None and message.state == "pending" and message.attempts == 0
    assert message.message_id.startswith("<") and message.message_id.endswith("@fms.example.com>")
    session.rollback()
    assert session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("to", "ada@example.com\r\nBcc: everyone@example.com"),
        ("to", "ada@example.com\nBcc: everyone@example.com"),
        ("subject", "Hello\r\nBcc: everyone@example.com"),
        ("subject", "Hello\nX-Injected: 1"),
        ("to", "ada@example.com, eve@example.com"),
        ("to", "Ada <ada@example.com>"),
        ("to", "not-an-address"),
    ],
)
def test_header_injection_and_address_lists_are_refused(session, org, field, value):
    values = {"to": "ada@example.com", "subject": "Hello", field: value}
    with pytest.raises(InvalidInput):
        queue_mail(session, org_id=org.id, kind="invitation", body_text="Hi", **values)
    assert session.scalars(select(OutboxMessage)).all() == []


# --- sending -------------------------------------------------------------------------------


def test_a_message_is_delivered_once_with_its_message_id(session, org, smtp_server):
    box = smtp_server(Mailbox())
    message = queue_mail(
        session,
        org_id=org.id,
        kind="invitation",
        to="ada@example.com",
        subject="Welcome to Northbridge — Grüße",
        body_text="Accept: https://fms.example.com/i/abc\n",
        body_html="<p>Accept: <a href='https://fms.example.com/i/abc'>here</a></p>",
    )
    message_id, mid = message.id, message.message_id
    session.commit()

    counts = send_due(session)
    assert (counts.sent, counts.retrying, counts.failed) == (1, 0, 0)
    assert send_due(session).sent == 0  # nothing left: never twice
    assert len(box.accepted) == 1
    mail_from, rcpt_tos, mail = box.accepted[0]
    assert mail_from == "no-reply@fms.example.com" and rcpt_tos == ["ada@example.com"]
    assert mail["Message-ID"] == mid and mail["Subject"] == "Welcome to Northbridge — Grüße"
    assert mail.is_multipart()  # text and HTML alternatives
    row = _row(session, message_id)
    assert row.state == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.last_error is None


def test_a_temporary_refusal_is_retried_after_the_backoff_then_delivered_once(
    session, org, smtp_server
):
    box = smtp_server(Mailbox(refuse=2))
    message = outbox_message(session, org.id)
    message_id, mid = message.id, message.message_id
    session.commit()
    t0 = utcnow()

    assert send_due(session, now=t0).retrying == 1
    row = _row(session, message_id)
    assert row.state == "pending" and row.attempts == 1 and "451" in row.last_error
    assert row.next_attempt_at == t0 + timedelta(minutes=1)

    # not due yet: the back-off holds, nothing is tried
    assert send_due(session, now=t0 + timedelta(seconds=59)).retrying == 0
    assert len(box.seen) == 1

    assert send_due(session, now=t0 + timedelta(minutes=1)).retrying == 1
    row = _row(session, message_id)
    assert row.attempts == 2 and row.next_attempt_at == t0 + timedelta(minutes=3)

    assert send_due(session, now=t0 + timedelta(minutes=3)).sent == 1
    row = _row(session, message_id)
    assert row.state == "sent" and row.attempts == 3 and row.last_error is None
    assert box.seen == [mid, mid, mid]  # one Message-ID on every attempt
    assert len(box.accepted) == 1
    assert send_due(session, now=t0 + timedelta(hours=2)).sent == 0


@pytest.mark.parametrize("server", ["always_451", "closed_port"])
def test_a_server_that_never_accepts_fails_the_message_after_a_day_and_keeps_it(
    session, org, smtp_server, server
):
    if server == "always_451":
        box = smtp_server(Mailbox(always="451 4.7.1 Greylisted, come back later"))
    else:
        box = None
        smtp_server.point_at(free_port())  # nothing listens there
    message = outbox_message(session, org.id)
    message_id = message.id
    created = message.created_at
    session.commit()

    now = created
    gaps = []
    for _ in range(100):
        counts = send_due(session, now=now)
        assert counts.sent == 0
        row = _row(session, message_id)
        if row.state != "pending":
            break
        gaps.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    row = _row(session, message_id)
    assert row.state == "failed", row.last_error
    assert gaps[:8] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    assert row.failed_at - created >= timedelta(days=1)
    assert row.failed_at - created < timedelta(days=1, hours=1)
    assert row.attempts == len(gaps) + 1
    assert "gave up after a day" in row.last_error
    expected = "451 4.7.1 Greylisted" if box else "cannot reach the SMTP server"
    assert expected in row.last_error
    if box:
        assert len(set(box.seen)) == 1 and len(box.seen) == row.attempts
    # kept, and never tried again
    assert send_due(session, now=now + timedelta(days=3)).failed == 0
    assert _row(session, message_id).attempts == row.attempts


def test_a_permanent_refusal_fails_at_once_with_the_servers_answer(session, org, smtp_server):
    smtp_server(Mailbox(always="550 5.1.1 No such user here"))
    message_id = outbox_message(session, org.id).id
    session.commit()
    assert send_due(session).failed == 1
    row = _row(session, message_id)
    assert row.state == "failed" and row.attempts == 1 and row.failed_at is not None
    assert row.last_error == "550 5.1.1 No such user here"


def test_without_smtp_settings_messages_wait_readable(app, session, org, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_SMTP_HOST", "")
    message_id = outbox_message(session, org.id).id
    session.commit()
    counts = send_due(session)
    assert counts.unsendable == 1 and counts.sent == 0
    assert "no SMTP server is configured" in str(counts)
    row = _row(session, message_id)
    assert row.state == "pending" and row.attempts == 0


def test_backoff_doubles_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 7, 8, 30)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 60, 60, 60)
    ]


def test_the_cli_drains_the_outbox(app, session, org, smtp_server):
    box = smtp_server(Mailbox())
    for _ in range(3):
        outbox_message(session, org.id)
    session.commit()
    result = app.test_cli_runner().invoke(args=["fms", "outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "3 sent, 0 to retry, 0 failed" in result.output
    assert len(box.accepted) == 3
    listed = app.test_cli_runner().invoke(args=["fms", "outbox", "list", "--state", "sent"])
    assert listed.exit_code == 0 and listed.output.count("sent") == 3


# --- concurrency and the rq path -----------------------------------------------------------


@pytest.mark.postgres
def test_two_concurrent_drains_send_each_message_once(app, committed, smtp_server):
    box = smtp_server(Mailbox(delay=0.01))
    org = Organization(name="Mailer", slug="mailer")
    committed.add(org)
    committed.commit()
    for _ in range(30):
        outbox_message(committed, org.id)
    committed.commit()

    barrier = threading.Barrier(2)
    results, errors = [], []

    def drain():
        try:
            with app.app_context():
                barrier.wait()
                results.append(send_due(db.session))
                db.session.remove()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sum(r.sent for r in results) == 30
    assert all(r.sent > 0 for r in results), "both senders should have taken a share"
    ids = [mail["Message-ID"] for _, _, mail in box.accepted]
    assert len(ids) == 30 and len(set(ids)) == 30
    committed.expire_all()
    rows = committed.scalars(select(OutboxMessage)).all()
    assert {r.state for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}


@pytest.mark.redis
def test_with_redis_a_committed_mail_is_sent_by_an_rq_worker(
    app, committed, smtp_server, monkeypatch
):
    from redis import Redis

    from fms import jobs
    from tests.conftest import REDIS_URL

    box = smtp_server(Mailbox())
    Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setitem(app.config, "FMS_REDIS_URL", REDIS_URL)
    org = Organization(name="Queued mail", slug="queued-mail")
    committed.add(org)
    committed.commit()
    outbox_message(committed, org.id)
    committed.rollback()  # rolled back: no row, and no drain queued
    assert len(jobs.queue_for(app)) == 0
    message_id = outbox_message(committed, org.id).id
    committed.commit()
    assert box.accepted == []  # the committing request did not wait on SMTP
    assert len(jobs.queue_for(app)) == 1
    jobs.start_worker(app, burst=True)  # a real, forking rq worker
    committed.expire_all()
    row = committed.get(OutboxMessage, message_id)
    assert row.state == "sent" and row.attempts == 1
    assert [mail["Message-ID"] for _, _, mail in box.accepted] == [row.message_id]


# --- the outbox page -----------------------------------------------------------------------


@pytest.fixture
def admin_client(client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client, org


def test_admins_see_only_their_organizations_messages(
    app, admin_client, session, make_org, monkeypatch
):
    monkeypatch.setitem(app.config, "FMS_SMTP_HOST", "")
    client, org = admin_client
    other = make_org()
    mine = outbox_message(
        session,
        org.id,
        subject="Invitation for Ada",
        body_text="Accept at https://fms.example.com/invitations/ada-token",
    )
    theirs = outbox_message(session, other.id, subject="Invitation for Eve")
    nobodys = outbox_message(session, None, kind="password_reset", subject="Reset your password")
    session.commit()

    page = client.get("/outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Invitation for Ada" in html and mine.recipient in html
    assert "Invitation for Eve" not in html and "Reset your password" not in html
    assert "No mail server is configured" in html

    detail = client.get(f"/outbox/{mine.id}")
    assert detail.status_code == 200
    assert "https://fms.example.com/invitations/ada-token" in detail.get_data(as_text=True)
    assert client.get(f"/outbox/{theirs.id}").status_code == 404
    assert client.get(f"/outbox/{nobodys.id}").status_code == 404


def test_the_outbox_filters_by_state_and_pages(admin_client, session):
    client, org = admin_client
    messages = [outbox_message(session, org.id, subject=f"Note {n:02}") for n in range(52)]
    failed = messages[0]
    failed.state, failed.last_error = "failed", "550 5.1.1 No such user here"
    session.commit()
    first = client.get("/outbox").get_data(as_text=True)
    assert "52 messages" in first and "Page 1 of 2" in first
    second = client.get("/outbox?page=2").get_data(as_text=True)
    assert second.count("Note ") == 2
    only_failed = client.get("/outbox?state=failed").get_data(as_text=True)
    assert "1 message" in only_failed and "Note 00" in only_failed
    assert "550 5.1.1 No such user here" in only_failed
    assert "Note 01" not in only_failed
    assert client.get("/outbox?state=nonsense&page=abc").status_code == 200


def test_members_without_outbox_read_are_refused(client, session, org, make_member, sign_in):
    message = outbox_message(session, org.id)
    finance = make_member(org, roles=("finance", "procurement", "hiring_manager"))
    session.commit()
    sign_in(client, session.get(User, finance.user_id), org)
    assert client.get("/outbox").status_code == 403
    assert client.get(f"/outbox/{message.id}").status_code == 403
    client.post("/logout")
    assert client.get("/outbox").status_code in (302, 401)
