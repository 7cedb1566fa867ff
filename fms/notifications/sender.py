"""Draining the outbox over SMTP: at least once, the same Message-ID on every attempt.

`send_due` is a drain loop like `fms.jobs.run_job`, not a business service: it owns its
transactions and commits once per step, so a crash loses no more than the one message in
flight (which is sent again after its lease: at least once, never silently dropped).

One message at a time it
1. claims the oldest due row (state pending, next_attempt_at <= now): the row is picked
   with FOR UPDATE SKIP LOCKED on PostgreSQL, then moved out of reach by a conditional
   UPDATE that pushes next_attempt_at past a lease and counts the attempt; committed;
2. hands it to the SMTP server, outside any transaction;
3. records the outcome: sent; or, on a temporary failure (4xx, a connection or
   authentication problem), the next attempt after an exponential back-off (1, 2, 4 ...
   minutes, at most an hour); a permanent refusal (5xx), or a temporary one once the
   message is a day old, ends in state failed with the server's answer kept on the row.

rq's retries are not used (the job runner records failures instead of raising them, and
the worker runs without a scheduler): retries are simply rows due again, which the next
drain (`flask fms outbox send`, from cron) picks up.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fms.notifications.models import OutboxMessage
from fms.notifications.services import mail_domain
from fms.timekeeping import utcnow

log = logging.getLogger(__name__)

MAX_AGE = timedelta(days=1)
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """After the n-th failed attempt: 1, 2, 4, 8 ... minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none | starttls | tls
    username: str
    password: str = field(repr=False)
    timeout: int
    mail_from: str
    helo_name: str

    @property
    def lease(self) -> timedelta:
        """How long a claimed row stays out of other senders' reach."""
        return max(timedelta(minutes=10), timedelta(seconds=4 * self.timeout))


def smtp_settings(config) -> SmtpSettings | None:
    """The SMTP settings, or None when no server is configured (mail waits in the outbox)."""
    host = (config.get("FMS_SMTP_HOST") or "").strip()
    if not host:
        return None
    domain = mail_domain(config)
    return SmtpSettings(
        host=host,
        port=int(config.get("FMS_SMTP_PORT") or 587),
        security=config.get("FMS_SMTP_SECURITY") or "starttls",
        username=config.get("FMS_SMTP_USERNAME") or "",
        password=config.get("FMS_SMTP_PASSWORD") or "",
        timeout=int(config.get("FMS_SMTP_TIMEOUT") or 30),
        mail_from=config.get("FMS_MAIL_FROM") or f"FMS <no-reply@{domain}>",
        helo_name=domain,
    )


@dataclass
class SendCounts:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    # due messages left waiting because no SMTP server is configured
    unsendable: int = 0

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "unsendable": self.unsendable,
        }

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed"
        if self.unsendable:
            text += (
                f"; {self.unsendable} waiting: no SMTP server is configured (FMS_SMTP_HOST), "
                "read them on the outbox page"
            )
        return text


@dataclass(frozen=True)
class Outcome:
    sent: bool
    permanent: bool = False
    error: str | None = None


SENT = Outcome(sent=True)


def send_due(session: Session, *, now: datetime | None = None, limit: int = 100) -> SendCounts:
    """Send up to `limit` due outbox messages; commits after each step (see the module)."""
    now = now or utcnow()
    counts = SendCounts()
    settings = smtp_settings(current_app.config)
    if settings is None:
        counts.unsendable = (
            session.scalar(select(func.count()).select_from(_due(now).subquery())) or 0
        )
        session.rollback()
        return counts
    with SmtpLink(settings) as link:
        for _ in range(limit):
            message = _claim_next(session, now=now, lease=settings.lease)
            if message is None:
                break
            outcome = link.deliver(build_email(message, settings))
            state = _record(session, message, outcome, now=now)
            session.commit()
            if state == "sent":
                counts.sent += 1
            elif state == "pending":
                counts.retrying += 1
            else:
                counts.failed += 1
    return counts


def _due(now: datetime):
    return select(OutboxMessage.id).where(
        OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now
    )


def _claim_next(session: Session, *, now: datetime, lease: timedelta) -> OutboxMessage | None:
    """The oldest due message, claimed for this sender (committed), or None."""
    for _ in range(20):  # another sender may win a row between our read and our update
        pick = _due(now).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        message_id = session.scalar(pick)
        if message_id is None:
            session.rollback()
            return None
        claimed = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.state == "pending",
                OutboxMessage.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + lease, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        if claimed == 1:
            return session.get(OutboxMessage, message_id, populate_existing=True)
    return None


def _record(session: Session, message: OutboxMessage, outcome: Outcome, *, now: datetime) -> str:
    """Write what happened to a claimed message; returns its new state."""
    if outcome.sent:
        values = {"state": "sent", "sent_at": now, "last_error": None}
    elif outcome.permanent or now - message.created_at >= MAX_AGE:
        reason = outcome.error if outcome.permanent else f"gave up after a day: {outcome.error}"
        values = {"state": "failed", "failed_at": now, "last_error": _clip(reason)}
    else:
        values = {
            "next_attempt_at": now + backoff(message.attempts),
            "last_error": _clip(outcome.error),
        }
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.state == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    state = values.get("state", "pending")
    log.info(
        "outbox message %r attempt %r: %s%s",
        message.id,
        message.attempts,
        state,
        f" ({outcome.error})" if outcome.error else "",
    )
    return state


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:2000]


def build_email(message: OutboxMessage, settings: SmtpSettings) -> EmailMessage:
    """The message as sent: the same headers, Message-ID included, on every attempt."""
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(message.created_at)
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


class SmtpLink:
    """One SMTP connection for a drain, opened on first use and reopened once if dropped.

    When the server cannot be reached at all, the remaining messages of this drain are
    not tried against it again: each records the same temporary error and backs off.
    """

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self.down: str | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(
                s.host,
                s.port,
                local_hostname=s.helo_name,
                timeout=s.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, local_hostname=s.helo_name, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def deliver(self, email: EmailMessage) -> Outcome:
        if self.down:
            return Outcome(sent=False, error=self.down)
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
                self.down = f"cannot reach the SMTP server {self.settings.host}:"
                self.down += f"{self.settings.port}: {_describe(exc)}"
                return Outcome(sent=False, error=self.down)
        envelope_from = _envelope_address(self.settings.mail_from)
        try:
            self.smtp.send_message(email, from_addr=envelope_from, to_addrs=[email["To"]])
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()))
            return _refused(code, answer)
        except smtplib.SMTPResponseException as exc:  # sender or data refused, with a code
            return _refused(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:  # dropped connection: maybe delivered
            self.close()
            return Outcome(sent=False, error=_describe(exc))
        return SENT


def _refused(code: int, answer) -> Outcome:
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
    error = f"{code} {text}".strip()
    return Outcome(sent=False, permanent=500 <= code < 600, error=error)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _refused(exc.smtp_code, exc.smtp_error).error
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _envelope_address(mail_from: str) -> str:
    from email.utils import parseaddr

    return parseaddr(mail_from)[1] or mail_from
