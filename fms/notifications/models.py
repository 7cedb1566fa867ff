"""The outbox (every message FMS sends is first a row, written in the business
transaction) and the in-app inbox (one row per person and event, with their choice of mail
per kind)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
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


CHANNELS = {"mail": "Inbox and mail", "inbox": "Inbox only"}


class Notification(TenantMixin, db.Model):
    """One event for one person in one organization, delivered once: the same
    `dedupe_key` for the same person is a no-op (the unique constraint decides races)."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id", "dedupe_key"),
        # the bell's unread count and the inbox page: one person's rows in one organization
        Index("ix_notification_inbox", "user_id", "org_id", "read_at"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    # a registered kind ("requisition.waiting"): fms.notifications.kinds
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # a path inside FMS ("/requisitions/12"), never an outside address
    url: Mapped[str | None] = mapped_column(String(500))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationPreference(TenantMixin, db.Model):
    """A person's choice for one kind in one organization: "mail" (inbox and mail) or
    "inbox" (inbox only). No row: the kind's default."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("org_id", "user_id", "kind"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
