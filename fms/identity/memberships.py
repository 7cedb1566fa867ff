"""Memberships: the one place that creates, changes and ends a person's roles in an
organization, whatever asked for it (members page, API, SSO sign-in, SCIM, invitations).

The rules, held here and nowhere else:
- A membership exists only with the person's consent: an accepted invitation, or a
  sign-in through the organization's own identity provider for a domain it verified
  (`fms.identity.sso`). Organizations invite; they never attach an existing account.
- An organization always keeps one active org admin. The check runs with the
  organization's row locked (PostgreSQL: SELECT ... FOR UPDATE; SQLite takes its single
  write lock at the first write), so two concurrent demotions of the last two admins
  leave one. Lock order, as everywhere: the audit chain head first (`fms.audit`), then
  the organization row.
- A lost race on the unique (organization, person) pair answers 409, never 500.

Services flush and never commit.
"""

from __future__ import annotations

from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from fms.audit import services as audit
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.permissions import ROLES, require
from fms.tenancy import ALL_TENANTS, get_in_org
from fms.timekeeping import utcnow

_ALL = {ALL_TENANTS: True}


class LastAdmin(RuleViolation):
    """The change would leave the organization without an active org admin."""

    title = "The organization needs an org admin"


class AlreadyMember(RuleViolation):
    """The person is already a member here (possibly added a moment ago by someone else)."""

    title = "Already a member"

    def __init__(self, detail: str, *, membership_id: int | None = None):
        super().__init__(detail)
        self.membership_id = membership_id


def check_roles(roles) -> list[str]:
    """Known roles, sorted and without repeats; at least one."""
    roles = sorted(set(roles or []))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(
            f"Unknown role: {', '.join(unknown)}.", errors={"roles": ["Unknown role."]}
        )
    if not roles:
        raise InvalidInput("Choose at least one role.", errors={"roles": ["Choose a role."]})
    return roles


def _lock_organization(session: Session, org_id: int) -> None:
    """Serialise membership changes of one organization (see the module's lock order)."""
    session.execute(
        select(Organization.id).where(Organization.id == org_id).with_for_update()
    ).first()


def _other_active_admins(session: Session, *, org_id: int, excluding: int) -> int:
    # roles is a JSON list: its text form holds "org_admin" in quotes on both databases
    return session.scalar(
        select(func.count(Membership.id))
        .where(
            Membership.org_id == org_id,
            Membership.id != excluding,
            Membership.is_active.is_(True),
            cast(Membership.roles, String).like('%"org_admin"%'),
        )
        .execution_options(**_ALL)
    )


def _keep_an_admin(session: Session, membership: Membership, *, losing_admin: bool) -> None:
    """The one last-admin rule: refuse a change that leaves no active org admin."""
    if not losing_admin:
        return
    _lock_organization(session, membership.org_id)
    if _other_active_admins(session, org_id=membership.org_id, excluding=membership.id) == 0:
        raise LastAdmin(
            "The organization needs at least one active org admin: make someone else an "
            "org admin first."
        )


def _fresh(session: Session, membership: Membership) -> Membership:
    """Re-read the row after a lock, so the decision uses committed values."""
    session.refresh(membership)
    return membership


def create_membership(
    session: Session,
    *,
    actor: Actor,
    org_id: int,
    user_id: int,
    roles,
    via: str,
    scim: dict | None = None,
) -> Membership:
    """Give a person roles in an organization, once; a concurrent duplicate answers 409."""
    roles = check_roles(roles)
    membership = Membership(org_id=org_id, user_id=user_id, roles=roles, is_active=True)
    if scim:
        membership.scim_user_name = scim.get("user_name")
        membership.scim_external_id = scim.get("external_id")
        membership.scim_data = scim.get("data")
    try:
        with session.begin_nested():
            session.add(membership)
            session.flush()
    except IntegrityError:
        existing = session.scalar(
            select(Membership.id)
            .where(Membership.org_id == org_id, Membership.user_id == user_id)
            .execution_options(**_ALL)
        )
        if existing is None:
            raise
        raise AlreadyMember(
            "This person is already a member of the organization.", membership_id=existing
        ) from None
    audit.record(
        session,
        actor,
        "membership.created",
        membership,
        after={"user_id": user_id, "roles": roles, "via": via},
    )
    return membership


def change_roles(
    session: Session, *, actor: Actor, membership: Membership, roles, via: str
) -> Membership:
    """Set a member's roles; the organization always keeps one active org admin."""
    roles = check_roles(roles)
    before = sorted(membership.roles or [])
    if before == roles:
        return membership
    losing_admin = "org_admin" in before and "org_admin" not in roles
    _keep_an_admin(session, membership, losing_admin=losing_admin)
    if losing_admin:
        membership = _fresh(session, membership)
        before = sorted(membership.roles or [])
    membership.roles = roles
    changes_after = {"roles": roles, "via": via}
    if losing_admin and membership.break_glass:
        # break-glass access is an org admin's: it ends with the role
        membership.break_glass = False
        changes_after["break_glass"] = False
    session.flush()
    audit.record(
        session,
        actor,
        "membership.roles_changed",
        membership,
        before={"roles": before},
        after=changes_after,
    )
    return membership


def set_active(
    session: Session, *, actor: Actor, membership: Membership, active: bool, via: str
) -> Membership:
    """Deactivate or reactivate a member; deactivation ends their sessions here at once and
    revokes their personal API tokens here (a reactivation does not bring those back).

    The state change is a conditional update, so two requests cannot both apply it.
    """
    if membership.is_active == active:
        return membership
    if not active:
        if membership.user_id == actor.user_id and via != "scim":
            raise RuleViolation("You cannot deactivate yourself.")
        _keep_an_admin(session, membership, losing_admin="org_admin" in (membership.roles or []))
    changed = session.execute(
        update(Membership)
        .where(Membership.id == membership.id, Membership.is_active.is_(not active))
        .values(is_active=active)
        .execution_options(synchronize_session=False, **_ALL)
    ).rowcount
    session.refresh(membership)
    if changed != 1:
        return membership  # someone else applied the same change a moment ago
    if not active:
        from fms.identity.tokens.services import revoke_personal_tokens

        end_sessions_in(session, user_id=membership.user_id, org_id=membership.org_id)
        # revoked, not suspended: reactivation must not revive a token (issue 15)
        revoke_personal_tokens(
            session, actor=actor, user_id=membership.user_id, org_id=membership.org_id, via=via
        )
    audit.record(
        session,
        actor,
        "membership.activated" if active else "membership.deactivated",
        membership,
        before={"is_active": not active},
        after={"is_active": active, "via": via},
    )
    return membership


def set_break_glass(
    session: Session, *, actor: Actor, membership: Membership, break_glass: bool
) -> Membership:
    """Org admins mark who may still sign in with a password (and a TOTP code) when the
    organization requires SSO; while it does, one active break-glass admin stays."""
    if membership.break_glass == break_glass:
        return membership
    if break_glass and "org_admin" not in (membership.roles or []):
        raise RuleViolation("Only org admins can be break-glass accounts.")
    if break_glass and session.get(User, membership.user_id).totp_enabled_at is None:
        raise RuleViolation(
            "Break-glass admins sign in with a password and a code: ask them to turn on "
            "two-step verification (Account security) first."
        )
    if not break_glass:
        _lock_organization(session, membership.org_id)
        org = session.get(Organization, membership.org_id)
        session.refresh(org)
        others = session.scalar(
            select(func.count(Membership.id))
            .where(
                Membership.org_id == membership.org_id,
                Membership.id != membership.id,
                Membership.is_active.is_(True),
                Membership.break_glass.is_(True),
            )
            .execution_options(**_ALL)
        )
        if org.sso_required and not others:
            raise LastAdmin("While SSO is required, keep at least one break-glass admin.")
    membership.break_glass = break_glass
    session.flush()
    audit.record(
        session,
        actor,
        "membership.break_glass_changed",
        membership,
        before={"break_glass": not break_glass},
        after={"break_glass": break_glass},
    )
    return membership


def end_sessions_in(session: Session, *, user_id: int, org_id: int) -> int:
    """End a person's live sessions working in one organization."""
    return session.execute(
        update(SignInSession)
        .where(
            SignInSession.user_id == user_id,
            SignInSession.current_org_id == org_id,
            SignInSession.ended_at.is_(None),
        )
        .values(ended_at=utcnow(), end_reason="deactivated")
        .execution_options(synchronize_session=False)
    ).rowcount


# --- what org admins do on the members page and through the API ---------------------------


def get_membership(session: Session, *, actor: Actor, membership_id: int) -> Membership:
    require(actor, "members.read")
    membership = get_in_org(session, Membership, membership_id, what="membership")
    return session.scalar(
        select(Membership)
        .where(Membership.id == membership.id)
        .options(joinedload(Membership.user))
    )


def get_member_by_user(session: Session, *, actor: Actor, user_id: int) -> Membership:
    """The membership of a user in the actor's organization; other users are NotFound."""
    require(actor, "members.read")
    membership = session.scalar(
        select(Membership).where(Membership.user_id == user_id).options(joinedload(Membership.user))
    )
    if membership is None:
        raise NotFound("No such user.")
    return membership


def change_member_roles(
    session: Session, *, actor: Actor, membership_id: int, roles, via: str = "members_page"
) -> Membership:
    """Org admins set a member's roles (not when the member's IdP manages them)."""
    require(actor, "members.manage")
    membership = get_membership(session, actor=actor, membership_id=membership_id)
    return change_roles(session, actor=actor, membership=membership, roles=roles, via=via)


def set_member_active(
    session: Session, *, actor: Actor, membership_id: int, active: bool, via: str = "members_page"
) -> Membership:
    """Org admins deactivate or reactivate a member."""
    require(actor, "members.manage")
    membership = get_membership(session, actor=actor, membership_id=membership_id)
    return set_active(session, actor=actor, membership=membership, active=active, via=via)


def set_member_break_glass(
    session: Session, *, actor: Actor, membership_id: int, break_glass: bool
) -> Membership:
    require(actor, "members.manage")
    membership = get_membership(session, actor=actor, membership_id=membership_id)
    return set_break_glass(session, actor=actor, membership=membership, break_glass=break_glass)


def lookup_people(
    session: Session,
    *,
    actor: Actor,
    q: str = "",
    roles=(),
    page: int = 1,
    per_page: int = 20,
):
    """Active members whose name or email contains `q` (holding one of `roles`, if given):
    the people pickers of staff forms (hiring managers, stand-ins)."""
    from fms.lookups import Match, run_lookup

    require(actor, "people.lookup")
    stmt = (
        select(User.id, User.name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.is_active.is_(True), User.is_active.is_(True))
    )
    wanted = [r for r in roles or () if r in ROLES]
    if wanted:
        # roles is a JSON list: its text form holds each role in quotes on both databases
        text = cast(Membership.roles, String)
        stmt = stmt.where(or_(*(text.like(f'%"{role}"%') for role in wanted)))
    return run_lookup(
        session,
        stmt,
        columns=[User.name, User.email],
        q=q,
        order_by=[User.name, User.id],
        page=page,
        per_page=per_page,
        to_match=lambda r: Match(id=r[0], label=r[1], detail=r[2]),
    )


def describe_person(session: Session, user_id) -> object | None:
    """The picker's text for an already chosen member (a re-shown form)."""
    from fms.lookups import Match

    row = session.execute(
        select(User.id, User.name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(User.id == user_id)
    ).first()
    return Match(id=row[0], label=row[1], detail=row[2]) if row else None
