"""Service accounts and API tokens (only a hash of each token's secret is stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class ServiceAccount(TenantMixin, db.Model):
    """A named integration of the organization (an ERP, an HRIS) with roles of its own:
    it belongs to the organization, so it outlives the admin who created it."""

    __tablename__ = "service_account"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class ApiToken(TenantMixin, db.Model):
    """A bearer token for /api/v1: `fms_it_<public id>_<secret>` (integration) or
    `fms_pt_<public id>_<secret>` (personal). The public id finds the row; the secret's
    SHA-256 is compared in constant time."""

    __tablename__ = "api_token"

    id: Mapped[Id] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # "integration" | "personal"
    public_id: Mapped[str] = mapped_column(String(24), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # an integration token's service account, or a personal token's person
    service_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_account.id"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_ip: Mapped[str | None] = mapped_column(String(45))

    @property
    def prefix(self) -> str:
        """What the token starts with: enough to recognise it, nothing to use it."""
        return f"{PREFIXES[self.kind]}{self.public_id}"


PREFIXES = {"integration": "fms_it_", "personal": "fms_pt_"}
