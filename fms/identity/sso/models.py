"""Single sign-on tables: connections to identity providers, verified email domains,
linked external identities, pending sign-in requests, and SCIM provisioning tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow

PROTOCOLS = {"oidc": "OpenID Connect", "saml": "SAML 2.0"}
AUDIENCES = {"staff": "Staff", "freelancers": "Freelancers (external)"}
DEFAULT_ALGORITHMS = ["RS256", "PS256", "ES256"]
# how FMS authenticates itself at an OIDC token endpoint (RFC 6749 2.3.1 / OIDC Core 9)
CLIENT_AUTH_METHODS = {
    "client_secret_basic": "HTTP Basic (client_secret_basic)",
    "client_secret_post": "In the request body (client_secret_post)",
}
# who decides a person's roles: the IdP's groups on every sign-in and SCIM change, or
# FMS's members page (for IdPs without a groups claim, such as Google Workspace)
ROLES_MANAGED_BY = {"idp": "The identity provider (groups)", "fms": "FMS (members page)"}


def _public_key() -> str:
    return secrets.token_urlsafe(12)


class SsoConnection(TenantMixin, db.Model):
    """One identity provider an organization lets its staff (or freelancers) sign in with."""

    __tablename__ = "sso_connection"

    id: Mapped[Id] = mapped_column(primary_key=True)
    # appears in public URLs instead of the id (the sign-in start is anonymous)
    public_key: Mapped[str] = mapped_column(String(32), unique=True, default=_public_key)
    protocol: Mapped[str] = mapped_column(String(10), default="oidc")
    name: Mapped[str] = mapped_column(String(200))
    audience: Mapped[str] = mapped_column(String(20), default="staff")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    jit_provisioning: Mapped[bool] = mapped_column(Boolean, default=True)
    # OpenID Connect
    issuer: Mapped[str | None] = mapped_column(String(500))
    client_id: Mapped[str | None] = mapped_column(String(255))
    # Fernet token of the client secret (key derived from FMS_SECRET_KEY); never shown again
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(500), default="openid email profile groups")
    claim_email: Mapped[str] = mapped_column(String(100), default="email")
    claim_name: Mapped[str] = mapped_column(String(100), default="name")
    claim_groups: Mapped[str] = mapped_column(String(100), default="groups")
    algorithms: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(DEFAULT_ALGORITHMS))
    # SAML 2.0: the IdP's metadata (uploaded, or fetched from its URL when saved)
    idp_entity_id: Mapped[str | None] = mapped_column(String(500))
    idp_metadata_url: Mapped[str | None] = mapped_column(String(500))
    idp_metadata_xml: Mapped[str | None] = mapped_column(Text)
    # unsolicited (IdP-initiated) responses are refused unless the organization allows them
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(30), default="client_secret_basic", server_default="client_secret_basic"
    )
    roles_managed_by: Mapped[str] = mapped_column(String(10), default="idp", server_default="idp")
    # the IdP's group names -> FMS roles, for this connection's sign-ins and SCIM tokens
    group_roles: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    # roles of a person whose groups map to none (and of new members when FMS manages roles)
    default_roles: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["hiring_manager"], server_default='["hiring_manager"]'
    )
    # refuse a sign-in whose groups map to no role (instead of giving the default roles)
    refuse_unmapped: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SsoDomain(TenantMixin, db.Model):
    """An email domain an organization claims; home-realm discovery uses verified ones only.

    `verified_domain` is set only once verified and is unique across FMS: many
    organizations may claim a domain, one alone can own it.
    """

    __tablename__ = "sso_domain"
    __table_args__ = (UniqueConstraint("org_id", "domain"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253))
    verification_token: Mapped[str] = mapped_column(
        String(64), default=lambda: "fms-verification=" + secrets.token_hex(16)
    )
    verified_domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the staff connection people of this domain are sent to (home-realm discovery)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_connection.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExternalIdentity(TenantMixin, db.Model):
    """A user's account at an identity provider, keyed by (issuer, subject), never by email."""

    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("org_id", "issuer", "subject"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("sso_connection.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SsoLoginRequest(TenantMixin, db.Model):
    """A sign-in sent to an identity provider, kept on the server until its answer comes back.

    `state` (hashed) finds it; `browser_hash` binds it to the browser that started it; it
    is consumed once, so a replayed answer finds it used.
    """

    __tablename__ = "sso_login_request"

    id: Mapped[Id] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("sso_connection.id"), index=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str | None] = mapped_column(String(500))
    # set when the sign-in redeems an invitation
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitation.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScimToken(TenantMixin, db.Model):
    """A bearer token an identity provider uses to provision this organization (hashed)."""

    __tablename__ = "scim_token"

    id: Mapped[Id] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the first characters, so admins can tell tokens apart
    prefix: Mapped[str] = mapped_column(String(12))
    # the connection whose role settings apply to what this token provisions
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_connection.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScimGroup(TenantMixin, db.Model):
    """A group pushed by the identity provider; its members get the roles it maps to."""

    __tablename__ = "scim_group"
    __table_args__ = (UniqueConstraint("org_id", "display_name"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    member_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SamlAssertionSeen(TenantMixin, db.Model):
    """Assertion IDs already used, kept until they expire: a replayed assertion is refused."""

    __tablename__ = "saml_assertion_seen"
    __table_args__ = (UniqueConstraint("connection_id", "assertion_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("sso_connection.id"), index=True)
    assertion_id: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Invitation(TenantMixin, db.Model):
    """A signed, single-use, expiring link that lets an external person sign in with an
    identity provider the organization allows for freelancers, and links that identity.

    The link carries the id and a random secret (only its hash is stored), signed with
    FMS_SECRET_KEY. `subject_type`/`subject_id` say what it invites to (an engagement,
    once Workforce uses it); without them it invites to the organization.
    """

    __tablename__ = "invitation"

    id: Mapped[Id] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    # the name the inviter typed, offered to a new account (the org sees nothing else)
    name: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["freelancer"])
    # the inviter may let a different verified email redeem it (e.g. a personal address)
    allow_other_email: Mapped[bool] = mapped_column(Boolean, default=False)
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[Id | None] = mapped_column()
    invited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redeemed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # a SCIM User provisioned for an address outside the organization's verified domains
    # waits here, as an invitation, until its owner accepts (its SCIM id is "inv-<id>")
    scim_user_name: Mapped[str | None] = mapped_column(String(255))
    scim_external_id: Mapped[str | None] = mapped_column(String(255))
    scim_data: Mapped[dict | None] = mapped_column(JSON)
