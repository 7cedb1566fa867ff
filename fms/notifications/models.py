"""The outbox: every message FMS sends is first a row, written in the business transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.timekeeping import UTCDateTime, utcnow

STATES = {"pending": "Waiting", "sent": "Sent", "failed": "Failed"}


class OutboxMessage(db.Model):
    """One message to deliver at least once: pending until sent, failed after a day.

    Not a tenant model: a password-reset mail belongs to a person, not to an
    organization. `org_id` says whose outbox page shows it (None: nobody's).
    """

    __tablename__ = "outbox_message"

    id: Mapped[Id] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20), default="mail")
    # what the message is about, in our words ("invitation", "password_reset")
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # stable across retries, so a receiving server can drop a duplicate delivery
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
