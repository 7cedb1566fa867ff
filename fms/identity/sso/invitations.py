"""Invitations: how an external person (a freelancer) first gets into an organization.

The link is signed (FMS_SECRET_KEY), single-use and expires (7 days by default). Opening
it offers the identity providers the organization allows for freelancers; the identity
the person signs in with is linked to their account. An invitation for one email cannot
be redeemed with a different verified email unless the inviter allowed it.

Workforce invites to an engagement with `subject_type="engagement", subject_id=...` and
listens to `invitation_redeemed` (a blinker signal: identity does not import workforce).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from blinker import Namespace
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput, RuleViolation
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.identity.permissions import ROLES, require
from fms.identity.services import normalise_email
from fms.identity.sso import SsoSignInFailed
from fms.identity.sso.models import ExternalIdentity, Invitation, SsoConnection
from fms.tenancy import ALL_TENANTS, get_in_org, scope_session
from fms.timekeeping import utcnow

DEFAULT_VALIDITY = timedelta(days=7)
_signals = Namespace()
# sent after an invitation was redeemed, in the redeeming transaction:
# sender=Invitation, user_id=..., membership_id=...
invitation_redeemed = _signals.signal("invitation-redeemed")


class InvitationRefused(RuleViolation):
    """The link cannot be used; `reason` goes to the audit log."""

    status = 403
    title = "Invitation cannot be used"

    def __init__(self, detail: str, *, reason: str, org_id: int | None, invitation_id=None):
        super().__init__(detail)
        self.reason = reason
        self.org_id = org_id
        self.invitation_id = invitation_id


class AccountElsewhere(Exception):
    """The email belongs to an account that another organization's sign-in governs."""


def existing_account_to_link(session: Session, *, email: str, org_id: int) -> User | None:
    """The account this organization's IdP may take over by email, or None for a new one.

    Accounts are shared by all organizations, and an IdP only asserts an email address. An
    identity provider may therefore claim an existing account by email only when that
    account belongs to no other organization and no identity provider is linked to it yet;
    otherwise one organization's IdP could sign in as another organization's people.
    """
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        return None
    elsewhere = session.scalar(
        select(Membership.id)
        .where(Membership.user_id == user.id, Membership.org_id != org_id)
        .limit(1)
        .execution_options(**{ALL_TENANTS: True})
    )
    linked = session.scalar(
        select(ExternalIdentity.id)
        .where(ExternalIdentity.user_id == user.id)
        .limit(1)
        .execution_options(**{ALL_TENANTS: True})
    )
    if elsewhere is not None or linked is not None:
        raise AccountElsewhere(email)
    return user


def link_identity(
    session: Session,
    *,
    actor: Actor,
    org_id: int,
    connection: SsoConnection,
    issuer: str,
    subject: str,
    email: str,
    name: str | None,
    user: User | None,
    via: str,
) -> tuple[User, ExternalIdentity]:
    """Create the account if there is none, and the external identity keyed by (issuer, sub)."""
    if user is None:
        user = User(email=email, name=(name or email.split("@")[0]).strip()[:200])
        session.add(user)
        session.flush()
        audit.record(session, actor, "user.created", user, after={"email": email, "via": via})
    identity = ExternalIdentity(
        org_id=org_id,
        connection_id=connection.id,
        user_id=user.id,
        issuer=issuer,
        subject=subject,
        email=email,
    )
    session.add(identity)
    session.flush()
    audit.record(
        session,
        actor,
        "external_identity.linked",
        identity,
        after={"issuer": issuer, "subject": subject, "user_id": user.id},
    )
    return user, identity


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="fms-invitation")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_invitation(
    session: Session,
    *,
    actor: Actor,
    email: str,
    roles: list[str] | None = None,
    allow_other_email: bool = False,
    valid_for: timedelta = DEFAULT_VALIDITY,
    subject_type: str | None = None,
    subject_id: int | None = None,
) -> tuple[Invitation, str]:
    """Invite someone by email; returns the invitation and its link token (shown once)."""
    require(actor, "invitations.manage")
    email = normalise_email(email)
    roles = sorted(set(roles or ["freelancer"]))
    if any(role not in ROLES for role in roles):
        raise InvalidInput("Unknown role.", errors={"roles": ["Unknown role."]})
    if not timedelta(minutes=5) <= valid_for <= timedelta(days=30):
        raise InvalidInput("Links last between 5 minutes and 30 days.")
    secret = secrets.token_urlsafe(32)
    invitation = Invitation(
        org_id=actor.org_id,
        email=email,
        secret_hash=_hash(secret),
        roles=roles,
        allow_other_email=allow_other_email,
        subject_type=subject_type,
        subject_id=subject_id,
        invited_by_user_id=actor.user_id,
        expires_at=utcnow() + valid_for,
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        actor,
        "invitation.created",
        invitation,
        after={
            "email": email,
            "roles": roles,
            "allow_other_email": allow_other_email,
            "expires_at": invitation.expires_at,
            "subject_type": subject_type,
            "subject_id": subject_id,
        },
    )
    token = _serializer().dumps({"i": invitation.id, "s": secret})
    return invitation, token


def revoke_invitation(session: Session, *, actor: Actor, invitation_id: int) -> Invitation:
    """An unused invitation stops working."""
    require(actor, "invitations.manage")
    invitation = get_in_org(session, Invitation, invitation_id, what="invitation")
    if invitation.redeemed_at is not None:
        raise RuleViolation("This invitation was already used.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit.record(session, actor, "invitation.revoked", invitation)
    return invitation


def list_invitations(session: Session, *, actor: Actor) -> list[Invitation]:
    require(actor, "invitations.manage")
    return list(session.scalars(select(Invitation).order_by(Invitation.created_at.desc())))


def status(invitation: Invitation) -> str:
    if invitation.redeemed_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= utcnow():
        return "expired"
    return "open"


def open_invitation(session: Session, *, token: str) -> Invitation:
    """The invitation of a link, if it is genuine, unused, unrevoked and not expired."""
    try:
        data = _serializer().loads(token or "")
        invitation_id, secret = int(data["i"]), str(data["s"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise InvitationRefused(
            "This invitation link is not valid. Ask for a new one.",
            reason="bad_link",
            org_id=None,
        ) from None
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .execution_options(**{ALL_TENANTS: True})
    )
    if invitation is None or not secrets.compare_digest(invitation.secret_hash, _hash(secret)):
        raise InvitationRefused(
            "This invitation link is not valid. Ask for a new one.",
            reason="bad_link",
            org_id=invitation.org_id if invitation else None,
            invitation_id=invitation_id,
        )
    _check_usable(invitation)
    return invitation


def _check_usable(invitation: Invitation) -> None:
    state = status(invitation)
    messages = {
        "accepted": ("This invitation was already used. Sign in instead.", "invitation_reused"),
        "revoked": ("This invitation was withdrawn. Ask for a new one.", "invitation_revoked"),
        "expired": ("This invitation has expired. Ask for a new one.", "invitation_expired"),
    }
    if state in messages:
        message, reason = messages[state]
        raise InvitationRefused(
            message, reason=reason, org_id=invitation.org_id, invitation_id=invitation.id
        )


def connections_for(session: Session, invitation: Invitation) -> list[SsoConnection]:
    """The identity providers the organization allows for freelancers."""
    return list(
        session.scalars(
            select(SsoConnection)
            .where(
                SsoConnection.org_id == invitation.org_id,
                SsoConnection.audience == "freelancers",
                SsoConnection.is_active.is_(True),
            )
            .order_by(SsoConnection.name)
            .execution_options(**{ALL_TENANTS: True})
        )
    )


def redeem(
    session: Session,
    *,
    invitation_id: int,
    connection: SsoConnection,
    issuer: str,
    subject: str,
    email: str | None,
    email_verified: bool,
    name: str | None,
    ip: str | None,
) -> User:
    """Use the invitation once: link the external identity to the person's account and
    give them the invited roles here."""
    org_id = connection.org_id
    scope_session(session, org_id)
    invitation = get_in_org(session, Invitation, invitation_id, what="invitation")
    actor = Actor(user_id=None, org_id=org_id, ip=ip, channel="web")

    def fail(message, reason):
        raise SsoSignInFailed(message, reason=reason, org_id=org_id, connection_id=connection.id)

    try:
        _check_usable(invitation)
    except InvitationRefused as exc:
        fail(exc.detail, exc.reason)
    try:
        email = normalise_email(email or "")
    except InvalidInput:
        fail("Your identity provider did not send an email address.", "no_email")
    if not email_verified:
        fail("Your identity provider has not verified your email address.", "email_unverified")
    if email != invitation.email and not invitation.allow_other_email:
        fail(
            f"This invitation is for another email address than {email}. "
            "Sign in with the account it was sent to, or ask for a new invitation.",
            "invitation_email_mismatch",
        )
    used = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.redeemed_at.is_(None))
        .values(redeemed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        fail("This invitation was already used. Sign in instead.", "invitation_reused")
    identity = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
        )
    )
    if identity is not None:
        user = session.get(User, identity.user_id)
    else:
        try:
            user = existing_account_to_link(session, email=email, org_id=org_id)
        except AccountElsewhere:
            fail(
                f"{email} already has an FMS account that signs in another way. Sign in as "
                "you usually do, or ask for an invitation to another email address.",
                "account_elsewhere",
            )
        user, identity = link_identity(
            session,
            actor=actor,
            org_id=org_id,
            connection=connection,
            issuer=issuer,
            subject=subject,
            email=email,
            name=name,
            user=user,
            via="invitation",
        )
    if not user.is_active:
        fail("Your FMS account is deactivated. Ask your contact.", "user_deactivated")
    membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
    if membership is None:
        membership = Membership(
            org_id=org_id, user_id=user.id, roles=list(invitation.roles), is_active=True
        )
        session.add(membership)
        session.flush()
        audit.record(
            session,
            actor,
            "membership.created",
            membership,
            after={"user_id": user.id, "roles": membership.roles, "via": "invitation"},
        )
    elif not membership.is_active:
        fail("Your FMS account is deactivated here. Ask your contact.", "user_deactivated")
    identity.last_sign_in_at = utcnow()
    invitation.redeemed_by_user_id = user.id
    session.flush()
    audit.record(
        session,
        Actor(user_id=user.id, org_id=org_id, ip=ip, channel="web"),
        "invitation.redeemed",
        invitation,
        after={"user_id": user.id, "email": email, "connection_id": connection.id},
    )
    invitation_redeemed.send(invitation, user_id=user.id, membership_id=membership.id)
    return user


def record_refusal(
    session: Session, *, refusal: InvitationRefused, ip: str | None, request_id: str | None
) -> None:
    """Audit a refused invitation link in its organization."""
    if refusal.org_id is None:
        return
    audit.record(
        session,
        Actor(user_id=None, org_id=refusal.org_id, ip=ip, request_id=request_id),
        "invitation.refused",
        entity_type="invitation",
        entity_id=refusal.invitation_id,
        after={"reason": refusal.reason},
        org_id=refusal.org_id,
    )


def organization_name(session: Session, invitation: Invitation) -> str:
    org = session.get(Organization, invitation.org_id)
    return org.name if org else ""
