"""Invitations: how a person joins an organization — with their consent, never attached.

Org admins add staff and procurement invites freelancers the same way: an invitation to
an email address, mailed through the outbox (the inviter can also copy the link). The
link is signed, single-use and expires (7 days by default). Its owner accepts it by
signing in as the account of that address (password or their usual IdP), by creating the
account with a password of their own when there is none, or through one of the identity
providers the organization allows. Until then the organization sees only the email it
typed. An invitation for one email cannot be redeemed with a different verified email
unless the inviter allowed it.

Workforce invites to an engagement with `subject_type="engagement", subject_id=...` and
listens to `invitation_redeemed` (a blinker signal: identity does not import workforce).
"""

from __future__ import annotations

from datetime import timedelta

from blinker import Namespace
from flask import render_template
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import AlreadyExists, InvalidInput, RuleViolation
from fms.identity import links, memberships
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.identity.permissions import ROLES, require
from fms.identity.services import normalise_email
from fms.identity.sso import SsoSignInFailed
from fms.identity.sso.models import ExternalIdentity, Invitation, SsoConnection, SsoDomain
from fms.records import add_unique
from fms.tenancy import ALL_TENANTS, get_in_org, scope_session
from fms.timekeeping import utcnow

DEFAULT_VALIDITY = timedelta(days=7)
_signals = Namespace()
# sent after an invitation was redeemed, in the redeeming transaction:
# sender=Invitation, user_id=..., membership_id=...
invitation_redeemed = _signals.signal("invitation-redeemed")
# sent when accepting an invitation made a new membership (sender=Invitation,
# membership_id=...): SCIM puts a pending user into the groups it was given
invitation_accepted = _signals.signal("invitation-accepted")


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


def create_invitation(
    session: Session,
    *,
    actor: Actor,
    email: str,
    roles: list[str] | None = None,
    name: str | None = None,
    allow_other_email: bool = False,
    valid_for: timedelta = DEFAULT_VALIDITY,
    subject_type: str | None = None,
    subject_id: int | None = None,
    scim: dict | None = None,
) -> tuple[Invitation, str]:
    """Invite someone by email and mail them the link; returns the invitation and its
    link token (shown once to the inviter too).

    Staff roles are given by org admins (members.manage); procurement invites freelancers.
    A person already a member here, or with an open invitation here, is not invited again.
    """
    roles = sorted(set(roles or ["freelancer"]))
    require(actor, "members.manage" if set(roles) - {"freelancer"} else "invitations.manage")
    email = normalise_email(email)
    if any(role not in ROLES for role in roles) or not roles:
        raise InvalidInput("Unknown role.", errors={"roles": ["Unknown role."]})
    name = (name or "").strip()[:200] or None
    if not timedelta(minutes=5) <= valid_for <= timedelta(days=30):
        raise InvalidInput("Links last between 5 minutes and 30 days.")
    member = session.scalar(
        select(Membership.id).join(User, User.id == Membership.user_id).where(User.email == email)
    )
    if member is not None:
        raise memberships.AlreadyMember(
            f"{email} is already a member of this organization.", membership_id=member
        )
    pending = session.scalar(
        select(Invitation.id).where(
            Invitation.email == email,
            Invitation.redeemed_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
            Invitation.subject_type.is_(subject_type)
            if subject_type is None
            else Invitation.subject_type == subject_type,
            Invitation.subject_id.is_(subject_id)
            if subject_id is None
            else Invitation.subject_id == subject_id,
        )
    )
    if pending is not None:
        raise RuleViolation(
            f"{email} already has an open invitation here: withdraw it to send a new one."
        )
    secret, secret_hash = links.new_secret()
    invitation = Invitation(
        org_id=actor.org_id,
        email=email,
        name=name,
        secret_hash=secret_hash,
        roles=roles,
        allow_other_email=allow_other_email,
        subject_type=subject_type,
        subject_id=subject_id,
        invited_by_user_id=actor.user_id,
        expires_at=utcnow() + valid_for,
    )
    if scim:
        invitation.scim_user_name = scim.get("user_name")
        invitation.scim_external_id = scim.get("external_id")
        invitation.scim_data = scim.get("data")
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
    token = links.token_for("invitation", invitation.id, secret)
    _mail_invitation(session, invitation=invitation, token=token, actor=actor)
    return invitation, token


def readdress(session: Session, *, actor: Actor, invitation: Invitation, email: str) -> str:
    """Send an open invitation to another address: a new secret (the old link stops
    working) mailed to the new address. Returns the new link token."""
    secret, secret_hash = links.new_secret()
    invitation.email = normalise_email(email)
    invitation.secret_hash = secret_hash
    session.flush()
    token = links.token_for("invitation", invitation.id, secret)
    _mail_invitation(session, invitation=invitation, token=token, actor=actor)
    return token


def invitation_url(token: str) -> str:
    return links.absolute_url(f"/invitations/{token}")


def _mail_invitation(session: Session, *, invitation: Invitation, token: str, actor: Actor):
    from fms.notifications.services import queue_mail

    org = session.get(Organization, invitation.org_id)
    inviter = session.get(User, actor.user_id) if actor.user_id else None
    context = {
        "organization": org.name,
        "inviter": inviter.name if inviter else None,
        "link": invitation_url(token),
        "expires_at": invitation.expires_at,
        "staff": "freelancer" not in invitation.roles,
    }
    queue_mail(
        session,
        org_id=invitation.org_id,
        kind="invitation",
        to=invitation.email,
        subject=f"{org.name} invites you to FMS",
        body_text=render_template("mail/invitation.txt", **context),
    )


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


def open_staff_invitations(session: Session, *, actor: Actor) -> list[Invitation]:
    """Invitations to staff roles not yet accepted (the members page lists them)."""
    require(actor, "members.read")
    rows = session.scalars(
        select(Invitation)
        .where(
            Invitation.redeemed_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .order_by(Invitation.created_at.desc())
    )
    return [i for i in rows if set(i.roles or []) - {"freelancer"}]


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
    read = links.read_token("invitation", token)
    if read is None:
        raise InvitationRefused(
            "This invitation link is not valid. Ask for a new one.",
            reason="bad_link",
            org_id=None,
        )
    invitation_id, secret = read
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .execution_options(**{ALL_TENANTS: True})
    )
    if invitation is None or not links.matches(invitation.secret_hash, secret):
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
                f"{email} already has an FMS account. Sign in to FMS as you usually do, "
                "then open this invitation link again to accept it.",
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
    identity.last_sign_in_at = utcnow()
    try:
        accept(session, invitation=invitation, user=user, ip=ip, via="sso")
    except InvitationRefused as exc:
        fail(exc.detail, exc.reason)
    return user


def accept(session: Session, *, invitation: Invitation, user: User, ip: str | None, via: str):
    """Use the invitation once, for this account: the membership it offers begins.

    Every way of accepting ends here (signed in, new password, identity provider).
    """
    org_id = invitation.org_id
    scope_session(session, org_id)
    actor = Actor(user_id=user.id, org_id=org_id, ip=ip, channel="web")
    used = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.redeemed_at.is_(None))
        .values(redeemed_at=utcnow(), redeemed_by_user_id=user.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        raise InvitationRefused(
            "This invitation was already used. Sign in instead.",
            reason="invitation_reused",
            org_id=org_id,
            invitation_id=invitation.id,
        )
    membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
    if membership is None:
        scim = None
        if invitation.scim_user_name:
            scim = {
                "user_name": invitation.scim_user_name,
                "external_id": invitation.scim_external_id,
                "data": {**(invitation.scim_data or {}), "scim_id": f"inv-{invitation.id}"},
            }
        membership = memberships.create_membership(
            session,
            actor=actor,
            org_id=org_id,
            user_id=user.id,
            roles=list(invitation.roles),
            via=f"invitation:{via}",
            scim=scim,
        )
        invitation_accepted.send(invitation, membership_id=membership.id)
    elif not membership.is_active:
        raise InvitationRefused(
            "Your FMS account is deactivated here. Ask your contact.",
            reason="user_deactivated",
            org_id=org_id,
            invitation_id=invitation.id,
        )
    session.flush()
    audit.record(
        session,
        actor,
        "invitation.redeemed",
        invitation,
        after={"user_id": user.id, "via": via},
    )
    invitation_redeemed.send(invitation, user_id=user.id, membership_id=membership.id)
    return membership


class AccountExists(RuleViolation):
    """The invited address already has an account: its owner signs in to accept."""

    title = "Sign in to accept"


def _invitation_for_acceptance(session: Session, token: str) -> Invitation:
    invitation = open_invitation(session, token=token)
    scope_session(session, invitation.org_id)
    return invitation


def accept_signed_in(session: Session, *, token: str, user: User, ip: str | None):
    """The signed-in owner of the invited address accepts (consent by signing in as it)."""
    invitation = _invitation_for_acceptance(session, token)
    if user.email != invitation.email and not invitation.allow_other_email:
        raise InvitationRefused(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}. "
            "Sign out and sign in as the invited account.",
            reason="invitation_email_mismatch",
            org_id=invitation.org_id,
            invitation_id=invitation.id,
        )
    return accept(session, invitation=invitation, user=user, ip=ip, via="signed_in")


def domain_owner(session: Session, email: str) -> int | None:
    """The organization that verified the email's domain, if any."""
    return session.scalar(
        select(SsoDomain.org_id)
        .where(SsoDomain.verified_domain == email.rsplit("@", 1)[1])
        .execution_options(**{ALL_TENANTS: True})
    )


NEW_ACCOUNT_LINK_VALIDITY = timedelta(days=1)


def request_new_account(session: Session, *, token: str, name: str, ip: str | None) -> Invitation:
    """The invited address has no account yet: mail its owner a link to choose their
    password. The account (and the membership) begin only when that link is used, so
    whoever else holds the invitation link — the inviter can copy it — cannot choose the
    password. The mail belongs to no organization: no outbox page shows it.

    A verified domain's accounts are created by the organization that verified it (there,
    through its identity provider)."""
    from fms.identity import accounts
    from fms.notifications.services import queue_mail

    invitation = _invitation_for_acceptance(session, token)
    email = invitation.email
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountExists(
            f"{email} already has an FMS account: sign in with it to accept the invitation."
        )
    owner = domain_owner(session, email)
    if owner is not None and owner != invitation.org_id:
        raise RuleViolation(
            f"Accounts for {email.rsplit('@', 1)[1]} come from that company's own sign-in. "
            "Sign in to FMS through it first, then open this link again."
        )
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("Enter your name.", errors={"name": ["Required."]})
    link, url = accounts.new_password_link(
        session,
        valid_for=NEW_ACCOUNT_LINK_VALIDITY,
        ip=ip,
        email=email,
        name=name,
        invitation_id=invitation.id,
    )
    org = session.get(Organization, invitation.org_id)
    queue_mail(
        session,
        org_id=None,
        kind="new_account",
        to=email,
        subject=f"Choose your FMS password to join {org.name}",
        body_text=render_template(
            "mail/new_account.txt", name=name, organization=org.name, link=url,
            expires_at=link.expires_at,
        ),
    )  # fmt: skip
    return invitation


def create_invited_account(session: Session, *, link, password_hash: str, ip: str | None) -> User:
    """Use a new-account link: the account with the chosen password, and the membership
    its invitation offers (if the invitation can still be used)."""
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.id == link.invitation_id)
        .execution_options(**{ALL_TENANTS: True})
    )
    _check_usable(invitation)
    try:  # two links for one address used at once: one account, the other told to sign in
        user = add_unique(
            session,
            User(email=link.email, name=link.name or link.email, password_hash=password_hash),
            existing=lambda: session.scalar(select(User.id).where(User.email == link.email)),
            detail="exists",
        )
    except AlreadyExists:
        raise AccountExists(
            f"{link.email} has an FMS account now: sign in with it to accept the invitation."
        ) from None
    actor = Actor(user_id=user.id, org_id=invitation.org_id, ip=ip, channel="web")
    audit.record(session, actor, "user.created", user, after={"via": "invitation"})
    accept(session, invitation=invitation, user=user, ip=ip, via="new_account")
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
