"""Organizations, members, roles and sign-in sessions: the rules.

Services flush and never commit; the view, API route, job or CLI command commits once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from fms import money
from fms.audit import services as audit
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.permissions import ROLES, require
from fms.tenancy import ALL_TENANTS, get_in_org, scope_session
from fms.timekeeping import utcnow

MIN_PASSWORD_LENGTH = 12
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A hash to compare against when the account does not exist, so a wrong email takes as
# long as a wrong password and does not reveal which accounts exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class InvalidCredentials(RuleViolation):
    status = 401
    title = "Sign-in failed"


# --- passwords ---------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """scrypt, through werkzeug (a slow, memory-hard KDF)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.",
            errors={"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]},
        )
    return generate_password_hash(password, method="scrypt")


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("Enter a valid email address.", errors={"email": ["Not an email."]})
    return email


def _check_roles(roles) -> list[str]:
    roles = sorted(set(roles or []))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(
            f"Unknown role: {', '.join(unknown)}.", errors={"roles": ["Unknown role."]}
        )
    if not roles:
        raise InvalidInput("Choose at least one role.", errors={"roles": ["Choose a role."]})
    return roles


# --- organizations -----------------------------------------------------------------------


def create_organization(
    session: Session,
    *,
    name: str,
    slug: str,
    admin_email: str,
    admin_name: str,
    admin_password: str | None,
    base_currency: str = "EUR",
    timezone: str = "Europe/Berlin",
    actor: Actor,
) -> tuple[Organization, User]:
    """Create a tenant with its first org admin; the slug is unique across FMS."""
    slug = (slug or "").strip().lower()
    if not _SLUG.match(slug):
        raise InvalidInput(
            "The short name may use lower-case letters, digits and dashes.",
            errors={"slug": ["Lower-case letters, digits and dashes only."]},
        )
    if session.scalar(select(Organization.id).where(Organization.slug == slug)):
        raise RuleViolation(f"An organization named {slug!r} already exists.")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("Give the organization a name.", errors={"name": ["Required."]})
    try:
        currency = money.check_currency(base_currency)
    except money.CurrencyError as exc:
        raise InvalidInput(str(exc), errors={"base_currency": [str(exc)]}) from None
    org = Organization(name=name, slug=slug, base_currency=currency, timezone=timezone)
    session.add(org)
    session.flush()
    audit.start_chain(session, org.id)
    scope_session(session, org.id)
    org_actor = Actor(
        user_id=actor.user_id,
        org_id=org.id,
        roles=actor.roles,
        ip=actor.ip,
        request_id=actor.request_id,
        channel=actor.channel,
    )
    audit.record(
        session, org_actor, "organization.created", org, after={"name": name, "slug": slug}
    )
    user = _user_with_membership(
        session,
        org=org,
        email=admin_email,
        name=admin_name,
        password=admin_password,
        roles=["org_admin"],
        actor=org_actor,
    )
    return org, user


def update_organization(
    session: Session, *, actor: Actor, name: str, base_currency: str, timezone: str
) -> Organization:
    """Org admins rename the organization and set its base currency and timezone."""
    require(actor, "organization.manage")
    org = session.get(Organization, actor.org_id)
    errors = {}
    if not (name or "").strip():
        errors["name"] = ["Required."]
    try:
        base_currency = money.check_currency(base_currency)
    except money.CurrencyError as exc:
        errors["base_currency"] = [str(exc)]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    before = {"name": org.name, "base_currency": org.base_currency, "timezone": org.timezone}
    org.name, org.base_currency, org.timezone = name.strip(), base_currency, timezone
    after = {"name": org.name, "base_currency": org.base_currency, "timezone": org.timezone}
    audit.record(session, actor, "organization.updated", org, before=before, after=after)
    return org


def organizations_of(session: Session, user_id: int) -> list[Organization]:
    """Organizations where the user has an active membership (across tenants)."""
    stmt = (
        select(Organization)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id, Membership.is_active.is_(True))
        .order_by(Organization.name)
        .execution_options(**{ALL_TENANTS: True})
    )
    return list(session.scalars(stmt))


def get_organization(session: Session, *, actor: Actor, org_id: int) -> Organization:
    """An organization the actor belongs to; any other is NotFound."""
    if actor.user_id is None:
        raise NotFound("No such organization.")
    for org in organizations_of(session, actor.user_id):
        if org.id == org_id:
            return org
    raise NotFound("No such organization.")


# --- members -----------------------------------------------------------------------------


def _user_with_membership(session, *, org, email, name, password, roles, actor) -> User:
    email = normalise_email(email)
    roles = _check_roles(roles)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("Enter the person's name.", errors={"name": ["Required."]})
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name=name)
        if password:
            user.password_hash = hash_password(password)
        session.add(user)
        session.flush()
        audit.record(session, actor, "user.created", user, after={"email": email, "name": name})
    existing = session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.org_id == org.id)
    )
    if existing is not None:
        raise RuleViolation(f"{email} is already a member of this organization.")
    membership = Membership(org_id=org.id, user_id=user.id, roles=roles, is_active=True)
    session.add(membership)
    session.flush()
    audit.record(
        session,
        actor,
        "membership.created",
        membership,
        after={"user_id": user.id, "roles": roles},
    )
    return user


def add_member(
    session: Session,
    *,
    actor: Actor,
    email: str,
    name: str,
    roles,
    password: str | None = None,
) -> Membership:
    """Org admins add a person with roles; an existing FMS user is reused by email."""
    require(actor, "members.manage")
    org = session.get(Organization, actor.org_id)
    user = _user_with_membership(
        session, org=org, email=email, name=name, password=password, roles=roles, actor=actor
    )
    return session.scalar(
        select(Membership).where(Membership.user_id == user.id).options(joinedload(Membership.user))
    )


def list_members(session: Session, *, actor: Actor, page: int = 1, per_page: int = 50):
    require(actor, "members.read")
    total = session.scalar(select(func.count(Membership.id)))
    rows = session.scalars(
        select(Membership)
        .join(Membership.user)
        .options(joinedload(Membership.user))
        .order_by(User.name, Membership.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


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


def _admins_left(session: Session, excluding_membership_id: int) -> int:
    members = session.scalars(
        select(Membership).where(
            Membership.is_active.is_(True), Membership.id != excluding_membership_id
        )
    )
    return sum(1 for m in members if "org_admin" in (m.roles or []))


def change_roles(session: Session, *, actor: Actor, membership_id: int, roles) -> Membership:
    """Set a member's roles; the organization always keeps one active org admin."""
    require(actor, "members.manage")
    membership = get_membership(session, actor=actor, membership_id=membership_id)
    roles = _check_roles(roles)
    before = list(membership.roles or [])
    losing_admin = "org_admin" in before and "org_admin" not in roles
    if losing_admin and _admins_left(session, membership.id) == 0:
        raise RuleViolation("The organization needs at least one active org admin.")
    if before == roles:
        return membership
    membership.roles = roles
    audit.record(
        session,
        actor,
        "membership.roles_changed",
        membership,
        before={"roles": before},
        after={"roles": roles},
    )
    return membership


def set_membership_active(
    session: Session, *, actor: Actor, membership_id: int, active: bool
) -> Membership:
    """Deactivate or reactivate a member; deactivation ends their sessions here at once."""
    require(actor, "members.manage")
    membership = get_membership(session, actor=actor, membership_id=membership_id)
    if membership.is_active == active:
        return membership
    if not active:
        if membership.user_id == actor.user_id:
            raise RuleViolation("You cannot deactivate yourself.")
        if "org_admin" in (membership.roles or []) and _admins_left(session, membership.id) == 0:
            raise RuleViolation("The organization needs at least one active org admin.")
    changed = session.execute(
        update(Membership)
        .where(Membership.id == membership.id, Membership.is_active.is_(not active))
        .values(is_active=active)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed != 1:
        raise RuleViolation("This member was changed by someone else; reload and try again.")
    if not active:
        end_sessions(session, user_id=membership.user_id, org_id=actor.org_id, reason="deactivated")
    audit.record(
        session,
        actor,
        "membership.activated" if active else "membership.deactivated",
        membership,
        before={"is_active": not active},
        after={"is_active": active},
    )
    return membership


# --- sign-in sessions --------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(session: Session, *, email: str, password: str) -> User:
    """Check a local password; every failure reads the same, whatever its cause."""
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    candidate = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    password_ok = check_password_hash(candidate, password or "")
    if user is None or not user.password_hash or not password_ok or not user.is_active:
        raise InvalidCredentials("That email and password do not match an active account.")
    if not organizations_of(session, user.id):
        raise InvalidCredentials("That email and password do not match an active account.")
    return user


@dataclass(frozen=True)
class StartedSession:
    token: str
    record: SignInSession


def start_session(
    session: Session,
    *,
    user: User,
    method: str,
    ip: str | None,
    user_agent: str | None,
    org_id: int | None = None,
    sso_connection_id: int | None = None,
    id_token: str | None = None,
) -> StartedSession:
    """A new server-side session with a fresh random token (the id rotates at every sign-in)."""
    orgs = organizations_of(session, user.id)
    if not orgs:
        raise InvalidCredentials("This account has no active membership.")
    current = next((o for o in orgs if o.id == org_id), orgs[0])
    token = secrets.token_urlsafe(32)
    now = utcnow()
    record = SignInSession(
        token_hash=_token_hash(token),
        user_id=user.id,
        current_org_id=current.id,
        method=method,
        created_at=now,
        last_seen_at=now,
        ip=ip,
        user_agent=(user_agent or "")[:255],
        sso_connection_id=sso_connection_id,
        id_token=id_token,
    )
    session.add(record)
    user.last_sign_in_at = now
    session.flush()
    scope_session(session, current.id)
    actor = actor_for(session, record, ip=ip, request_id=None, channel="web")
    audit.record(session, actor, "user.signed_in", user, after={"method": method})
    return StartedSession(token, record)


def find_session(
    session: Session, *, token: str | None, idle: timedelta, absolute: timedelta
) -> SignInSession | None:
    """The live session for a cookie token: not ended, not idle too long, not too old."""
    if not token:
        return None
    record = session.scalar(
        select(SignInSession).where(SignInSession.token_hash == _token_hash(token))
    )
    if record is None or record.ended_at is not None:
        return None
    now = utcnow()
    reason = None
    if now - record.last_seen_at > idle:
        reason = "idle_timeout"
    elif now - record.created_at > absolute:
        reason = "absolute_timeout"
    user = session.get(User, record.user_id)
    if reason is None and (user is None or not user.is_active):
        reason = "user_inactive"
    if reason:
        record.ended_at, record.end_reason = now, reason
        return None
    if now - record.last_seen_at > timedelta(minutes=1):
        record.last_seen_at = now  # written at most once a minute
    return record


def actor_for(
    session: Session,
    record: SignInSession,
    *,
    ip: str | None,
    request_id: str | None,
    channel: str,
) -> Actor | None:
    """The Actor of a session in its current organization; None if the membership is gone."""
    membership = session.scalar(
        select(Membership)
        .where(
            Membership.user_id == record.user_id,
            Membership.org_id == record.current_org_id,
            Membership.is_active.is_(True),
        )
        .execution_options(**{ALL_TENANTS: True})
    )
    if membership is None:
        return None
    return Actor(
        user_id=record.user_id,
        org_id=record.current_org_id,
        roles=frozenset(membership.roles or []),
        ip=ip,
        request_id=request_id,
        channel=channel,
    )


def switch_organization(
    session: Session, *, record: SignInSession, org_id: int, actor: Actor
) -> Organization:
    """Move the session to another organization where the user is an active member."""
    org = get_organization(session, actor=actor, org_id=org_id)
    record.current_org_id = org.id
    scope_session(session, org.id)
    new_actor = actor_for(
        session, record, ip=actor.ip, request_id=actor.request_id, channel=actor.channel
    )
    audit.record(session, new_actor, "user.switched_organization", org)
    return org


def end_session(session: Session, *, record: SignInSession, actor: Actor | None) -> None:
    """Sign out: the token stops working on the server, wherever the cookie was copied."""
    if record.ended_at is None:
        record.ended_at, record.end_reason = utcnow(), "signed_out"
        if actor is not None:
            user = session.get(User, record.user_id)
            audit.record(session, actor, "user.signed_out", user)


def end_sessions(session: Session, *, user_id: int, org_id: int | None, reason: str) -> int:
    """End a user's live sessions (in one organization, or everywhere)."""
    stmt = update(SignInSession).where(
        SignInSession.user_id == user_id, SignInSession.ended_at.is_(None)
    )
    if org_id is not None:
        stmt = stmt.where(SignInSession.current_org_id == org_id)
    result = session.execute(
        stmt.values(ended_at=utcnow(), end_reason=reason).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount
