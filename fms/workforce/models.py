"""Org structure (departments, cost centres, locations) and freelancer profiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class _StructureUnit(TenantMixin):
    """Shared columns of departments, cost centres and locations."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(120))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Department(_StructureUnit, db.Model):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("org_id", "code"),)


class CostCentre(_StructureUnit, db.Model):
    __tablename__ = "cost_centre"
    __table_args__ = (UniqueConstraint("org_id", "code"),)


class Location(_StructureUnit, db.Model):
    __tablename__ = "location"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(120))


class Freelancer(TenantMixin, db.Model):
    """An external worker's profile within one organization."""

    __tablename__ = "freelancer"
    __table_args__ = (UniqueConstraint("org_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    headline: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
