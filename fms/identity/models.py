"""Organizations, users, memberships and server-side sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class Organization(db.Model):
    """A tenant: one client company using FMS."""

    __tablename__ = "organization"

    id: Mapped[Id] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    base_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    # the organization's standard working week, for FTE figures
    standard_week_minutes: Mapped[int] = mapped_column(Integer, default=40 * 60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # single sign-on policy: when required, local passwords work for break-glass admins only
    sso_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # how numbers, dates and money are shown (a Babel locale from fms.formatting)
    locale: Mapped[str] = mapped_column(String(20), default="en", server_default="en")


class User(db.Model):
    """A person who can sign in; belongs to organizations through memberships."""

    __tablename__ = "user_account"

    id: Mapped[Id] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # password sign-ins land in the organization the person last worked in
    last_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL")
    )
    # TOTP (RFC 6238) second factor for local passwords; the secret is encrypted at rest
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the last accepted TOTP time step: a code is accepted once
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # the person's own choice of locale; None follows each organization's
    locale: Mapped[str | None] = mapped_column(String(20))

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", lazy="raise", viewonly=True
    )

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class Membership(TenantMixin, db.Model):
    """A user's roles in one organization; deactivating it locks the user out of that org."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # may still sign in with a password when the organization requires SSO
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the identity provider's id of this person, set by SCIM provisioning
    scim_external_id: Mapped[str | None] = mapped_column(String(255))
    # SCIM userName (often the email, not always) and the attributes FMS keeps verbatim
    scim_user_name: Mapped[str | None] = mapped_column(String(255), index=True)
    scim_data: Mapped[dict | None] = mapped_column(JSON)
    # the last sign-in into this organization (what the organization may know; the
    # account's own last sign-in may be in another organization)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="memberships", lazy="raise")
    organization: Mapped[Organization] = relationship(lazy="raise")


class SignInSession(db.Model):
    """A server-side session: the browser cookie carries only its random token.

    Kept on the server so that logout, deactivation and role changes take effect on the
    next request, even for a copied cookie.
    """

    __tablename__ = "sign_in_session"

    id: Mapped[Id] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The organization the user is working in; switched explicitly, checked every request.
    current_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    method: Mapped[str] = mapped_column(String(20), default="password")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    # the connection of an SSO session and its ID token (a hint for RP-initiated logout);
    # kept here rather than in the cookie, which it would push past browsers' 4 KB
    sso_connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_connection.id", ondelete="SET NULL")
    )
    id_token: Mapped[str | None] = mapped_column(Text)


class PasswordLink(db.Model):
    """A mailed, single-use, expiring link that lets a person set their own password: a
    reset (`user_id`), or the first password of an account an invitation creates (`email`,
    `name`, `invitation_id`; the account exists only once its mailbox's owner chose it)."""

    __tablename__ = "password_link"

    id: Mapped[Id] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(200))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitation.id"))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requested_ip: Mapped[str | None] = mapped_column(String(45))


from fms.identity.sso.models import (  # noqa: E402, F401  - SSO tables, known to the metadata
    ExternalIdentity,
    Invitation,
    SamlAssertionSeen,
    ScimGroup,
    ScimToken,
    SsoConnection,
    SsoDomain,
    SsoLoginRequest,
)
from fms.identity.tokens.models import ApiToken, ServiceAccount  # noqa: E402, F401  - API tokens
