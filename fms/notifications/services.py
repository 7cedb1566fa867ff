"""Queueing mail: a row in the caller's transaction, delivered after it commits.

`queue_mail` only writes (flush, never commit). Once the caller's transaction commits, an
rq job drains the outbox when FMS_REDIS_URL is set; in the embedded default nothing runs
at that point and `flask fms outbox send` (cron, every minute) drains it. A request never
waits on SMTP, and a rolled-back transaction sends nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms.database import savepoint_released
from fms.errors import InvalidInput, NotAllowed, NotFound
from fms.identity.actor import Actor
from fms.identity.models import Membership, User
from fms.notifications.kinds import get_kind
from fms.notifications.models import (
    CHANNELS,
    Notification,
    NotificationPreference,
    OutboxMessage,
)
from fms.tenancy import MAX_ID
from fms.timekeeping import utcnow

log = logging.getLogger(__name__)

_DRAIN_KEY = "fms_outbox_drain"
DRAIN_JOB = "fms.notifications.tasks.drain_outbox"


def queue_mail(
    session: Session,
    *,
    org_id: int | None,
    kind: str,
    to: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
) -> OutboxMessage:
    """Put one mail in the outbox, in the caller's transaction; it is sent after the commit.

    `org_id` says whose outbox page shows the message: None for mail that carries a
    personal credential (a password-reset link) and must not be readable by an admin.
    """
    recipient = _header_value("to", to, limit=254)
    subject = _header_value("subject", subject, limit=300)
    _check_address(recipient)
    kind = (kind or "").strip()
    if not kind or len(kind) > 40:
        raise InvalidInput("A message needs a kind of at most 40 characters.")
    now = utcnow()
    message = OutboxMessage(
        org_id=org_id,
        channel="mail",
        kind=kind,
        recipient=recipient,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        message_id=make_msgid(domain=mail_domain(current_app.config)),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    session.flush()
    session.info[_DRAIN_KEY] = True
    log.info("outbox message %r (%s) queued for org %r", message.id, kind, org_id)
    return message


def mail_domain(config) -> str:
    """The host of FMS_BASE_URL: the right-hand side of our Message-IDs."""
    return urlsplit(config.get("FMS_BASE_URL") or "").hostname or "localhost"


def _header_value(name: str, value: str, *, limit: int) -> str:
    value = (value or "").strip()
    if any(ch in value for ch in "\r\n") or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        # a line break in a header would let the text add headers (Bcc: ...) of its own
        raise InvalidInput(
            f"The {name} of a message may not contain line breaks or control characters.",
            errors={name: ["Line breaks and control characters are not allowed."]},
        )
    if not value or len(value) > limit:
        raise InvalidInput(
            f"The {name} of a message must have 1 to {limit} characters.",
            errors={name: [f"1 to {limit} characters."]},
        )
    return value


def _check_address(recipient: str) -> None:
    """One plain address (local@domain): no display names, lists or group syntax."""
    local, sep, domain = recipient.rpartition("@")
    bad = not sep or not local or not domain or any(ch in recipient for ch in ' ,;<>()"\\')
    if not bad:
        try:
            Address(addr_spec=recipient)
        except (ValueError, IndexError):
            bad = True
    if bad:
        raise InvalidInput(
            "The recipient must be one email address.",
            errors={"to": ["Not a single email address."]},
        )


@event.listens_for(Session, "after_commit")
def _drain_after_commit(session: Session) -> None:
    if savepoint_released(session):
        return
    if not session.info.pop(_DRAIN_KEY, False):
        return
    app = current_app._get_current_object()
    if not app.config.get("FMS_REDIS_URL"):
        return  # embedded default: `flask fms outbox send` drains (cron)
    try:
        from fms.jobs import queue_for

        queue_for(app).enqueue(DRAIN_JOB, job_timeout=900, result_ttl=3600, failure_ttl=86400)
    except Exception:  # Redis is down: the rows are safe, the cron drain sends them
        log.exception("could not enqueue the outbox drain; `flask fms outbox send` will")


@event.listens_for(Session, "after_soft_rollback")
def _forget_drain(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_DRAIN_KEY, None)


# --- the in-app inbox ----------------------------------------------------------------------


def notify(
    session: Session,
    *,
    org_id: int,
    user_ids,
    kind: str,
    title: str,
    body: str = "",
    url: str | None = None,
    dedupe_key: str,
) -> list[Notification]:
    """Deliver one event to each person (an active member of the organization) once per
    `dedupe_key`: to the inbox, and by mail to those whose choice for the kind is mail.

    Already delivered (now, or by a concurrent transaction that won the race) is not an
    error: that person is skipped. Returns the notifications written now.
    """
    registered = get_kind(kind)
    if registered is None:
        raise ValueError(f"unregistered notification kind {kind!r}")
    if url is not None and not url.startswith("/"):
        raise ValueError("a notification links to a path inside FMS")
    title, body = _clip(title, 300), body or ""
    wanted = sorted({int(u) for u in user_ids if u is not None})
    if not wanted:
        return []
    people = session.execute(
        select(User.id, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(
            User.id.in_(wanted),
            User.is_active.is_(True),
            Membership.org_id == org_id,
            Membership.is_active.is_(True),
        )
        .execution_options(all_tenants=True)
    ).all()
    if not people:
        return []
    ids = [person.id for person in people]
    done = _delivered(session, org_id=org_id, user_ids=ids, dedupe_key=dedupe_key)
    channels = _channels(session, org_id=org_id, user_ids=ids, kind=kind)
    delivered = []
    for person in people:
        if person.id in done:
            continue
        note = Notification(
            org_id=org_id,
            user_id=person.id,
            kind=kind,
            title=title,
            body=body,
            url=url,
            dedupe_key=dedupe_key,
        )
        try:
            with session.begin_nested():
                session.add(note)
        except IntegrityError:  # a concurrent transaction delivered it first
            log.info("notification %r for user %r already delivered", dedupe_key, person.id)
            continue
        delivered.append(note)
        if channels.get(person.id, registered.default) == "mail" and person.email:
            queue_mail(
                session,
                org_id=org_id,
                kind=_clip(f"notice:{kind}", 40),
                to=person.email,
                subject=title,
                body_text=_mail_text(body, url),
            )
    log.info("notification %r (%s) delivered to %d person(s)", dedupe_key, kind, len(delivered))
    return delivered


@dataclass(frozen=True)
class Notice:
    """One event for one person, for `notify_many`."""

    user_id: int | None
    kind: str
    title: str
    dedupe_key: str
    body: str = ""
    url: str | None = None


def notify_many(session: Session, *, org_id: int, notices) -> int:
    """Deliver many events at once, each to its person once per dedupe key, as `notify`
    does (inbox; mail by each person's choice per kind) in a fixed number of statements
    whatever their number: the people, their choices, one INSERT of the notifications
    (ON CONFLICT DO NOTHING ... RETURNING: those delivered before, or by a concurrent
    transaction, are skipped) and one executemany INSERT of the mail. How many now."""
    notices = [n for n in notices if n.user_id is not None]
    for notice in notices:
        if get_kind(notice.kind) is None:
            raise ValueError(f"unregistered notification kind {notice.kind!r}")
        if notice.url is not None and not notice.url.startswith("/"):
            raise ValueError("a notification links to a path inside FMS")
    if not notices:
        return 0
    emails = dict(
        session.execute(
            select(User.id, User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(
                User.id.in_({int(n.user_id) for n in notices}),
                User.is_active.is_(True),
                Membership.org_id == org_id,
                Membership.is_active.is_(True),
            )
            .execution_options(all_tenants=True)
        ).all()
    )
    wanted, seen = [], set()
    for notice in notices:
        key = (int(notice.user_id), notice.dedupe_key)
        if notice.user_id in emails and key not in seen:
            seen.add(key)
            wanted.append(notice)
    if not wanted:
        return 0
    channels = {
        (user_id, kind): channel
        for user_id, kind, channel in session.execute(
            select(
                NotificationPreference.user_id,
                NotificationPreference.kind,
                NotificationPreference.channel,
            ).where(
                NotificationPreference.org_id == org_id,
                NotificationPreference.user_id.in_({n.user_id for n in wanted}),
                NotificationPreference.kind.in_({n.kind for n in wanted}),
            )
        )
    }
    now = utcnow()
    rows = [
        {
            "org_id": org_id,
            "user_id": int(n.user_id),
            "kind": n.kind,
            "title": _clip(n.title, 300),
            "body": n.body or "",
            "url": n.url,
            "dedupe_key": n.dedupe_key,
            "created_at": now,
        }
        for n in wanted
    ]
    insert = _insert_for(session)
    delivered = set(
        session.execute(
            insert(Notification)
            .on_conflict_do_nothing(index_elements=["org_id", "user_id", "dedupe_key"])
            .returning(Notification.user_id, Notification.dedupe_key)
            # one statement up to the driver's parameter limit (SQLAlchemy splits there)
            .execution_options(insertmanyvalues_page_size=5000),
            rows,
        ).all()
    )
    domain = mail_domain(current_app.config)
    mails = []
    for n in wanted:
        if (int(n.user_id), n.dedupe_key) not in delivered:
            continue
        channel = channels.get((n.user_id, n.kind), get_kind(n.kind).default)
        email = emails[n.user_id]
        if channel != "mail" or not email:
            continue
        mails.append(
            {
                "org_id": org_id,
                "channel": "mail",
                "kind": _clip(f"notice:{n.kind}", 40),
                "recipient": _header_value("to", email, limit=254),
                "subject": _header_value("subject", _clip(n.title, 300), limit=300),
                "body_text": _mail_text(n.body or "", n.url),
                "body_html": None,
                "message_id": make_msgid(domain=domain),
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if mails:
        session.execute(sa_insert(OutboxMessage), mails)
        session.info[_DRAIN_KEY] = True
    log.info("%d notification(s) delivered, %d by mail", len(delivered), len(mails))
    return len(delivered)


def _insert_for(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _delivered(session: Session, *, org_id: int, user_ids, dedupe_key: str) -> set[int]:
    """Who already has this event (the unique constraint still decides a race)."""
    return set(
        session.scalars(
            select(Notification.user_id).where(
                Notification.org_id == org_id,
                Notification.user_id.in_(user_ids),
                Notification.dedupe_key == dedupe_key,
            )
        )
    )


def _clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mail_text(body: str, url: str | None) -> str:
    parts = [body.strip()] if body and body.strip() else []
    if url:
        base = (current_app.config.get("FMS_BASE_URL") or "").rstrip("/")
        parts.append(f"Open it in FMS: {base}{url}")
    parts.append(
        "You get this by mail because of your notification preferences in FMS "
        f"({(current_app.config.get('FMS_BASE_URL') or '').rstrip('/')}/inbox/preferences)."
    )
    return "\n\n".join(parts) + "\n"


def _channels(session: Session, *, org_id: int, user_ids, kind: str) -> dict[int, str]:
    return dict(
        session.execute(
            select(NotificationPreference.user_id, NotificationPreference.channel).where(
                NotificationPreference.org_id == org_id,
                NotificationPreference.user_id.in_(user_ids),
                NotificationPreference.kind == kind,
            )
        ).all()
    )


def _own(actor: Actor):
    if actor.user_id is None or actor.org_id is None:
        raise NotFound("No such notification.")
    return (Notification.org_id == actor.org_id, Notification.user_id == actor.user_id)


def get_notification(session: Session, *, actor: Actor, notification_id) -> Notification:
    """One of the actor's own notifications; anyone else's (or another organization's) is
    NotFound."""
    try:
        key = int(notification_id)
    except (TypeError, ValueError):
        raise NotFound("No such notification.") from None
    if not 0 < key <= MAX_ID:
        raise NotFound("No such notification.")
    note = session.scalar(select(Notification).where(Notification.id == key, *_own(actor)))
    if note is None:
        raise NotFound("No such notification.")
    return note


def mark_read(session: Session, *, actor: Actor, notification_id) -> Notification:
    """Mark one of the actor's notifications read (already read: unchanged)."""
    note = get_notification(session, actor=actor, notification_id=notification_id)
    session.execute(
        update(Notification)
        .where(Notification.id == note.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return note


def mark_all_read(session: Session, *, actor: Actor) -> int:
    """Mark every unread notification of the actor read; how many changed."""
    return session.execute(
        update(Notification)
        .where(*_own(actor), Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount


def settle(session: Session, *, org_id: int, dedupe_keys) -> int:
    """The events are dealt with (someone decided the step): their unread notifications,
    whoever has them, are marked read so nobody is asked for what is done. How many."""
    keys = [key for key in dedupe_keys if key]
    if not keys:
        return 0
    return session.execute(
        update(Notification)
        .where(
            Notification.org_id == org_id,
            Notification.dedupe_key.in_(keys),
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount


def set_preferences(session: Session, *, actor: Actor, choices: dict[str, str]) -> None:
    """Set the actor's channel per kind ("mail": inbox and mail; "inbox": inbox only)."""
    if actor.user_id is None or actor.org_id is None:
        raise NotAllowed("Choose an organization first.")
    errors = {}
    for kind, channel in choices.items():
        if get_kind(kind) is None:
            errors[kind] = ["Not a kind of notification."]
        elif channel not in CHANNELS:
            errors[kind] = [f"Choose one of: {', '.join(CHANNELS)}."]
    if errors:
        raise InvalidInput("Some choices are not valid.", errors=errors)
    existing = {
        pref.kind: pref
        for pref in session.scalars(
            select(NotificationPreference).where(
                NotificationPreference.org_id == actor.org_id,
                NotificationPreference.user_id == actor.user_id,
            )
        )
    }
    for kind, channel in choices.items():
        pref = existing.get(kind)
        if pref is None:
            session.add(
                NotificationPreference(
                    org_id=actor.org_id, user_id=actor.user_id, kind=kind, channel=channel
                )
            )
        elif pref.channel != channel:
            pref.channel, pref.updated_at = channel, utcnow()
    session.flush()


def path_for(endpoint: str, **values) -> str:
    """The path of a page, for a notification's link: works in requests, jobs and the CLI
    alike (no request context, no SERVER_NAME needed)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)
