"""Organizations, members, roles and sign-in sessions: the rules.

Services flush and never commit; the view, API route, job or CLI command commits once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from fms import formatting, money
from fms.audit import services as audit
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity import memberships
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.permissions import require
from fms.tenancy import ALL_TENANTS, scope_session
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


def check_timezone(value, *, field: str = "timezone") -> str:
    """An IANA timezone name (Europe/Berlin). Anything else — Mars/Olympus_Mons, a path —
    is refused: working days, the sweeps and every page of the organization read it."""
    from zoneinfo import available_timezones

    name = (value or "").strip() if isinstance(value, str) else ""
    if name not in _timezones(available_timezones):
        raise InvalidInput(
            "Choose a timezone from the list (IANA names such as Europe/Berlin).",
            errors={field: ["Not a known timezone."]},
        )
    return name


_TIMEZONES: frozenset[str] | None = None


def _timezones(available) -> frozenset[str]:
    global _TIMEZONES  # noqa: PLW0603 - read once: the IANA list does not change while running
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available())
    return _TIMEZONES


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("Enter a valid email address.", errors={"email": ["Not an email."]})
    return email


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
    timezone = check_timezone(timezone)
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
    user = create_local_member(
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
    session: Session,
    *,
    actor: Actor,
    name: str,
    base_currency: str,
    timezone: str,
    locale: str | None = None,
) -> Organization:
    """Org admins rename the organization and set its base currency, timezone and locale."""
    require(actor, "organization.manage")
    org = session.get(Organization, actor.org_id)
    errors = {}
    if not (name or "").strip():
        errors["name"] = ["Required."]
    try:
        base_currency = money.check_currency(base_currency)
    except money.CurrencyError as exc:
        errors["base_currency"] = [str(exc)]
    try:
        timezone = check_timezone(timezone)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if locale is None:
        locale = org.locale
    else:
        try:
            locale = formatting.check_locale(locale)
        except formatting.LocaleError as exc:
            errors["locale"] = [str(exc)]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    fields_ = ("name", "base_currency", "timezone", "locale")
    before = {f: getattr(org, f) for f in fields_}
    org.name, org.base_currency, org.timezone = name.strip(), base_currency, timezone
    org.locale = locale
    after = {f: getattr(org, f) for f in fields_}
    audit.record(session, actor, "organization.updated", org, before=before, after=after)
    return org


def today_of(session: Session, org_id: int):
    """Today in the organization's timezone (working days are organization dates)."""
    from fms.timekeeping import today_in

    return today_in(session.get(Organization, org_id).timezone)


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


# --- the first admin of a new organization ---------------------------------------------


def create_local_member(session, *, org, email, name, password, roles, actor) -> User:
    """The installation operator's path (a new organization's first admin, the demo data):
    never reachable by an organization's admins, who invite instead.

    An existing account is reused by email only because the operator, not another
    organization, asks; its password is never changed.
    """
    email = normalise_email(email)
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
    memberships.create_membership(
        session, actor=actor, org_id=org.id, user_id=user.id, roles=roles, via="new_organization"
    )
    return user


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


def sign_in_stamp(user: User) -> str:
    """A fingerprint of where the account's sign-ins stand: a half-finished sign-in (held
    for its TOTP code or choice of organization) carries it and is refused once the
    password changed or any sign-in completed since — so a copied cookie cannot finish it
    later, and it finishes at most once."""
    basis = f"{user.id}|{user.password_hash}|{user.last_sign_in_at}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StartedSession:
    token: str
    record: SignInSession


# How a session was signed in. A password session that also passed a TOTP code is
# "password_totp"; single sign-on sessions name their protocol.
SSO_METHODS = ("oidc", "saml")


class ChooseOrganization(Exception):
    """A password sign-in with several organizations and no last-used one: ask."""

    def __init__(self, organizations: list[Organization]):
        super().__init__("Choose the organization to work in.")
        self.organizations = organizations


def _may_work_in(
    *, sso_required: bool, break_glass: bool, method: str, sso_org_id: int | None, org_id: int
) -> bool:
    """The SSO policy of one organization for one session.

    Where SSO is required, only a session signed in through that organization's own
    identity provider may work there, or a break-glass admin's password session that
    passed a TOTP code. A session from another organization's IdP does not count.
    """
    if not sso_required:
        return True
    if method in SSO_METHODS:
        return sso_org_id == org_id
    return break_glass and method == "password_totp"


def _sso_org_id(session: Session, sso_connection_id: int | None) -> int | None:
    if sso_connection_id is None:
        return None
    from fms.identity.sso.models import SsoConnection

    return session.scalar(
        select(SsoConnection.org_id)
        .where(SsoConnection.id == sso_connection_id)
        .execution_options(**{ALL_TENANTS: True})
    )


def organizations_open_to(
    session: Session, *, user_id: int, method: str, sso_connection_id: int | None = None
) -> list[Organization]:
    """Organizations where the person is an active member and this kind of sign-in may
    work (the SSO policy), by name."""
    rows = session.execute(
        select(Organization, Membership.break_glass, Membership.roles)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id, Membership.is_active.is_(True))
        .order_by(Organization.name, Organization.id)
        .execution_options(**{ALL_TENANTS: True})
    ).all()
    sso_org_id = _sso_org_id(session, sso_connection_id)
    return [
        org
        for org, glass, roles in rows
        if _may_work_in(
            sso_required=org.sso_required,
            break_glass=glass and "org_admin" in (roles or []),
            method=method,
            sso_org_id=sso_org_id,
            org_id=org.id,
        )
    ]


def _mark_landed(session: Session, *, user: User, org_id: int, now) -> None:
    """Remember where the person works now: the next password sign-in lands here."""
    user.last_org_id = org_id
    session.execute(
        update(Membership)
        .where(Membership.user_id == user.id, Membership.org_id == org_id)
        .values(last_sign_in_at=now)
        .execution_options(synchronize_session=False, **{ALL_TENANTS: True})
    )


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
    """A new server-side session with a fresh random token (the id rotates at every sign-in).

    It starts in the organization asked for, else the one the person last worked in,
    else their only one; with several and no last one, the person chooses
    (`ChooseOrganization`) — never an organization picked by sort order.
    """
    orgs = organizations_open_to(
        session, user_id=user.id, method=method, sso_connection_id=sso_connection_id
    )
    if not orgs:
        raise InvalidCredentials("This account has no active membership.")
    by_id = {o.id: o for o in orgs}
    if org_id is not None:
        current = by_id.get(org_id)
        if current is None:
            raise InvalidCredentials("Your account is not active in this organization.")
    else:
        current = by_id.get(user.last_org_id)
        if current is None and len(orgs) > 1:
            raise ChooseOrganization(orgs)
        current = current or orgs[0]
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
    _mark_landed(session, user=user, org_id=current.id, now=now)
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
    """The Actor of a session in its current organization; None if the membership is gone
    or the organization's SSO policy no longer lets this session work there."""
    row = session.execute(
        select(Membership.roles, Membership.break_glass, Organization.sso_required)
        .join(Organization, Organization.id == Membership.org_id)
        .where(
            Membership.user_id == record.user_id,
            Membership.org_id == record.current_org_id,
            Membership.is_active.is_(True),
        )
        .execution_options(**{ALL_TENANTS: True})
    ).first()
    if row is None:
        return None
    roles, glass, sso_required = row
    if sso_required and not _may_work_in(
        sso_required=True,
        break_glass=glass and "org_admin" in (roles or []),
        method=record.method,
        sso_org_id=_sso_org_id(session, record.sso_connection_id),
        org_id=record.current_org_id,
    ):
        return None
    return Actor(
        user_id=record.user_id,
        org_id=record.current_org_id,
        roles=frozenset(roles or []),
        ip=ip,
        request_id=request_id,
        channel=channel,
    )


class SignInRequired(RuleViolation):
    """The organization requires signing in through its own identity provider."""

    status = 403
    title = "Single sign-on required"


def switch_organization(
    session: Session, *, record: SignInSession, org_id: int, actor: Actor
) -> Organization:
    """Move the session to another organization where the user is an active member and
    whose SSO policy this session satisfies."""
    org = get_organization(session, actor=actor, org_id=org_id)  # NotFound otherwise
    open_ids = {
        o.id
        for o in organizations_open_to(
            session,
            user_id=record.user_id,
            method=record.method,
            sso_connection_id=record.sso_connection_id,
        )
    }
    if org.id not in open_ids:
        raise SignInRequired(
            f"{org.name} requires single sign-on: sign in through its identity provider."
        )
    record.current_org_id = org.id
    user = session.get(User, record.user_id)
    _mark_landed(session, user=user, org_id=org.id, now=utcnow())
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
        record.id_token = None  # kept only as long as the session, for the logout hint
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
        stmt.values(ended_at=utcnow(), end_reason=reason, id_token=None).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount
