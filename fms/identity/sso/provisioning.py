"""Just-in-time provisioning: who an identity provider's answer is in FMS, and their roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.errors import InvalidInput
from fms.identity import memberships
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.identity.services import normalise_email
from fms.identity.sso import SsoSignInFailed, invitations
from fms.identity.sso.models import ExternalIdentity, Invitation, SsoConnection, SsoDomain
from fms.tenancy import ALL_TENANTS, scope_session
from fms.timekeeping import utcnow

_ALL = {ALL_TENANTS: True}


def roles_for_groups(connection: SsoConnection, groups: list[str]) -> list[str]:
    """The roles a connection's group mapping gives these groups (none when unmapped)."""
    mapping = connection.group_roles or {}
    roles: set[str] = set()
    for group in groups:
        roles.update(mapping.get(group, []))
    return sorted(roles)


def default_roles(connection: SsoConnection | None) -> list[str]:
    return sorted((connection.default_roles if connection else None) or ["hiring_manager"])


class NoMappedGroup(Exception):
    """The person's groups map to no role and the connection refuses such people."""


def roles_from_idp(connection: SsoConnection, groups: list[str]) -> list[str]:
    """The roles the IdP's groups give, recomputed from scratch: the mapped roles, else the
    connection's default roles (or a refusal, when the connection asks for one)."""
    mapped = roles_for_groups(connection, groups)
    if mapped:
        return mapped
    if connection.refuse_unmapped:
        raise NoMappedGroup()
    return default_roles(connection)


def idp_manages_roles(connection: SsoConnection | None) -> bool:
    """Whether the IdP's groups decide roles: for staff connections set to "identity
    provider" (not "FMS", for IdPs without groups) that map at least one group — with no
    mapping there is nothing to compute roles from."""
    return (
        connection is not None
        and bool(connection.group_roles)
        and connection.audience == "staff"
        and (connection.roles_managed_by or "idp") == "idp"
    )


def idp_manages_any_roles(session: Session, *, org_id: int) -> bool:
    """Whether an active staff connection of the organization sets roles from groups (the
    members page then says that a change there lasts until the next sign-in)."""
    connections = session.scalars(
        select(SsoConnection).where(
            SsoConnection.org_id == org_id, SsoConnection.is_active.is_(True)
        )
    )
    return any(idp_manages_roles(c) for c in connections)


def _open_invitation_for(session: Session, email: str) -> Invitation | None:
    return session.scalar(
        select(Invitation)
        .where(
            Invitation.email == email,
            Invitation.redeemed_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .order_by(Invitation.created_at.desc())
        .limit(1)
    )


def _account_for_domain_owner(session: Session, *, email: str) -> User | None:
    """The account of an address in a domain this organization verified.

    The verified domain's organization is the authority for its addresses, so its IdP
    may sign in an existing account of that address — whatever other organizations the
    person also belongs to (they joined those by accepting their invitations).
    """
    return session.scalar(select(User).where(User.email == email))


def provision(
    session: Session,
    *,
    connection: SsoConnection,
    issuer: str,
    subject: str,
    email: str | None,
    name: str | None,
    groups: list[str],
    ip: str | None,
) -> User:
    """Find or create the FMS user of an external identity (keyed by issuer and subject).

    A new identity is linked to an existing account, or creates one, only for an email in a
    domain this organization verified. When the connection's IdP manages roles, every
    sign-in recomputes them from the mapped groups (the default roles when none map).
    """
    org_id = connection.org_id
    scope_session(session, org_id)
    actor = Actor(user_id=None, org_id=org_id, ip=ip, channel="web")
    org = session.get(Organization, org_id)

    def fail(message, reason):
        raise SsoSignInFailed(message, reason=reason, org_id=org_id, connection_id=connection.id)

    identity = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
        )
    )
    invitation = None
    if identity is not None:
        user = session.get(User, identity.user_id)
    else:
        if connection.audience != "staff":
            fail(
                "Open your invitation link to sign in with this provider for the first time.",
                "no_invitation",
            )
        try:
            email = normalise_email(email or "")
        except InvalidInput:
            fail("Your identity provider did not send an email address.", "no_email")
        domain = email.rsplit("@", 1)[1]
        owner = session.scalar(
            select(SsoDomain.org_id)
            .where(SsoDomain.verified_domain == domain)
            .execution_options(**_ALL)
        )
        if owner != org_id:
            reason = "domain_other_org" if owner is not None else "domain_not_verified"
            fail(
                f"{domain} does not belong to {org.name}; this identity provider cannot sign "
                "in people with that address.",
                reason,
            )
        user = _account_for_domain_owner(session, email=email)
        invitation = _open_invitation_for(session, email)
        has_membership = user is not None and session.scalar(
            select(Membership.id).where(Membership.user_id == user.id)
        )
        if not has_membership and invitation is None and not connection.jit_provisioning:
            fail(
                "You do not have an FMS account here yet. Ask your FMS administrator.",
                "not_provisioned",
            )
        user, identity = invitations.link_identity(
            session,
            actor=actor,
            org_id=org_id,
            connection=connection,
            issuer=issuer,
            subject=subject,
            email=email,
            name=name,
            user=user,
            via="sso",
        )
    if not user.is_active:
        fail("Your FMS account is deactivated. Ask your FMS administrator.", "user_deactivated")
    membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
    if membership is not None and not membership.is_active:
        fail("Your FMS account is deactivated. Ask your FMS administrator.", "user_deactivated")
    manages = idp_manages_roles(connection)
    try:
        idp_roles = roles_from_idp(connection, groups) if manages else None
    except NoMappedGroup:
        fail(
            "Your groups at the identity provider give you no role in FMS. Ask your FMS "
            "administrator to add you to a group that does.",
            "no_mapped_group",
        )
    actor = Actor(user_id=user.id, org_id=org_id, ip=ip, channel="web")
    try:
        if membership is None:
            if invitation is not None:
                # consent: the invited person signed in through the organization's own IdP
                membership = invitations.accept(
                    session, invitation=invitation, user=user, ip=ip, via="sso"
                )
                if idp_roles is not None:
                    memberships.change_roles(
                        session, actor=actor, membership=membership, roles=idp_roles, via="sso"
                    )
            else:
                membership = memberships.create_membership(
                    session,
                    actor=actor,
                    org_id=org_id,
                    user_id=user.id,
                    roles=idp_roles or default_roles(connection),
                    via="sso",
                )
        elif idp_roles is not None:
            memberships.change_roles(
                session, actor=actor, membership=membership, roles=idp_roles, via="sso"
            )
    except memberships.LastAdmin:
        fail(
            "Your identity provider no longer makes you an org admin, and you are this "
            "organization's last one. Ask your IdP administrator, or make someone else an "
            "org admin first.",
            "last_admin",
        )
    except memberships.AlreadyMember:
        fail("You were signed in a moment ago: try again.", "concurrent_sign_in")
    identity.last_sign_in_at = utcnow()
    if email and identity.email != email:
        identity.email = email
    session.flush()
    return user
