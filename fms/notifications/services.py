"""Queueing mail: a row in the caller's transaction, delivered after it commits.

`queue_mail` only writes (flush, never commit). Once the caller's transaction commits, an
rq job drains the outbox when FMS_REDIS_URL is set; in the embedded default nothing runs
at that point and `flask fms outbox send` (cron, every minute) drains it. A request never
waits on SMTP, and a rolled-back transaction sends nothing.
"""

from __future__ import annotations

import logging
from email.headerregistry import Address
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from fms.errors import InvalidInput
from fms.notifications.models import OutboxMessage
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
