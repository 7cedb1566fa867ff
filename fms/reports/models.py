"""Reports' tables: who gets the monthly spend pack, and which packs were sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class SpendPackSubscription(TenantMixin, db.Model):
    """A finance user of the organization who gets the monthly spend pack by mail."""

    __tablename__ = "spend_pack_subscription"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SpendPackDelivery(TenantMixin, db.Model):
    """One month's pack sent to one subscriber: inserted in the transaction that queues the
    mail, unique per organization x month x person, so a month is never sent twice (a second
    or concurrent `send-monthly` finds the row and skips that person)."""

    __tablename__ = "spend_pack_delivery"
    __table_args__ = (UniqueConstraint("org_id", "month", "user_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # 2026-11
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
