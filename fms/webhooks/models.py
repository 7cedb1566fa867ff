"""Webhook endpoints (where to post which events, with their signing secrets) and
deliveries (one event for one endpoint: a row written in the business transaction, the
durable outbox the sender drains)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow

DELIVERY_STATES = {"pending": "Waiting", "delivered": "Delivered", "failed": "Failed"}


class WebhookEndpoint(TenantMixin, db.Model):
    """A URL of the organization's that hears the events it chose.

    Secrets are Fernet tokens (fms.encryption). After a rotation the previous secret still
    signs, beside the new one, until `previous_secret_expires_at`."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[Id] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    # event types (fms.webhooks.events), in the registry's order
    events: Mapped[list] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(TenantMixin, db.Model):
    """One event for one endpoint, delivered at least once.

    `message_id` is the `webhook-id` header and the body's `id`: the same on every attempt
    and every resend, so a receiver drops what it has seen. `body` is kept exactly as
    signed and sent. Pending until a 2xx answer; failed once `retry_until` has passed."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # one delivery per endpoint and dedupe key (a daily sweep run twice sends once)
        UniqueConstraint("endpoint_id", "dedupe_key"),
        # the drain: due rows, oldest first
        Index("ix_webhook_delivery_state_next_attempt_at", "state", "next_attempt_at"),
        # an endpoint's log, newest first
        Index("ix_webhook_delivery_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_response_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
