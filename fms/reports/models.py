"""Reports' tables: who gets the monthly spend pack, and which packs were sent."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
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


class SpendRollupCell(TenantMixin, db.Model):
    """One line of approved spend: a month x engagement x the terms' dimensions x kind x
    rate x exchange rate, kept so a dashboard sums months without scanning every day entry:
    the exact sums (minutes; the exact numerator of adjustments, milestones and expenses)
    and the amount they make, rounded once as the invoice line is. Rebuilt from the raw
    rows, per engagement, in the transaction that changes them (`fms.reports.rollup`);
    read only for organizations in SpendRollupState."""

    __tablename__ = "spend_rollup"
    __table_args__ = (
        Index("ix_spend_rollup_org_day", "org_id", "day"),
        Index("ix_spend_rollup_org_engagement", "org_id", "engagement_id"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # the month's first day
    # no foreign keys: a cell is replaced after the rows it came from changed
    engagement_id: Mapped[int] = mapped_column(BigInteger)
    cost_centre_id: Mapped[int] = mapped_column(BigInteger)
    department_id: Mapped[int] = mapped_column(BigInteger)
    location_id: Mapped[int] = mapped_column(BigInteger)
    hiring_manager_user_id: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(20))
    daily: Mapped[bool] = mapped_column(Boolean)
    line_rate: Mapped[int] = mapped_column(BigInteger)
    ot_rate: Mapped[int | None] = mapped_column(BigInteger)
    per: Mapped[int] = mapped_column(Integer)
    fx: Mapped[int | None] = mapped_column(BigInteger)
    regular: Mapped[int] = mapped_column(BigInteger)
    overtime: Mapped[int] = mapped_column(BigInteger)
    half_days: Mapped[int] = mapped_column(BigInteger)
    numerator: Mapped[int] = mapped_column(BigInteger)
    minutes: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units of `currency`, rounded once
    # the amount in minor units of the organization's base currency (None: no exchange rate)
    base_amount: Mapped[int | None] = mapped_column(BigInteger)


class SpendRollupState(db.Model):
    """An organization whose roll-up was built from its raw rows (`flask fms reports
    rebuild-rollup`) and is kept since: reports read its cells for whole months."""

    __tablename__ = "spend_rollup_state"

    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
