"""Just-in-time provisioning: who an identity provider's answer is in FMS, and their roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.identity.services import normalise_email, organizations_of
from fms.identity.sso import SsoSignInFailed, invitations
from fms.identity.sso.models import ExternalIdentity, SsoConnection, SsoDomain
from fms.tenancy import ALL_TENANTS, scope_session
from fms.timekeeping import utcnow

_ALL = {ALL_TENANTS: True}


def roles_for_groups(org: Organization, groups: list[str]) -> list[str]:
    """The roles an organization's group mapping gives these groups (none when unmapped)."""
    mapping = org.sso_group_roles or {}
    roles: set[str] = set()
    for group in groups:
        roles.update(mapping.get(group, []))
    return sorted(roles)


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
    domain this organization verified; its membership gets the roles its groups map to.
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
    mapped = roles_for_groups(org, groups)
    if identity is not None:
        user = session.get(User, identity.user_id)
        membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
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
        try:
            user = invitations.existing_account_to_link(session, email=email, org_id=org_id)
        except invitations.AccountElsewhere:
            fail(
                f"{email} already has an FMS account that another organization's sign-in "
                "governs. Ask your FMS administrator.",
                "account_elsewhere",
            )
        membership = None
        if user is not None:
            membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
        if membership is None and not connection.jit_provisioning:
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
    if not user.is_active or (membership is not None and not membership.is_active):
        fail("Your FMS account is deactivated. Ask your FMS administrator.", "user_deactivated")
    if membership is None:
        roles = mapped or list(org.sso_default_roles or ["hiring_manager"])
        membership = Membership(org_id=org_id, user_id=user.id, roles=roles, is_active=True)
        session.add(membership)
        session.flush()
        audit.record(
            session,
            actor,
            "membership.created",
            membership,
            after={"user_id": user.id, "roles": roles, "via": "sso"},
        )
    elif mapped and sorted(membership.roles or []) != mapped and connection.audience == "staff":
        _sync_roles(session, actor=actor, membership=membership, roles=mapped)
    identity.last_sign_in_at = utcnow()
    if email and identity.email != email:
        identity.email = email
    session.flush()
    if membership.org_id not in [o.id for o in organizations_of(session, user.id)]:
        fail("Your FMS account is deactivated. Ask your FMS administrator.", "user_deactivated")
    return user


def _sync_roles(session: Session, *, actor: Actor, membership: Membership, roles: list[str]):
    """The IdP's groups decide roles, except that the last org admin keeps being one."""
    before = sorted(membership.roles or [])
    if "org_admin" in before and "org_admin" not in roles:
        others = session.scalars(
            select(Membership).where(Membership.is_active.is_(True), Membership.id != membership.id)
        )
        if not any("org_admin" in (m.roles or []) for m in others):
            return
    membership.roles = roles
    audit.record(
        session,
        actor,
        "membership.roles_changed",
        membership,
        before={"roles": before},
        after={"roles": roles, "via": "sso"},
    )
