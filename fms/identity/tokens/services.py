"""API tokens: the rules. Services flush and never commit.

- Two kinds. An integration token belongs to a service account of the organization (a
  named integration with roles, managed by org admins), so it keeps working when the admin
  who made it leaves. A personal token is a person's own and acts as them, within their
  membership of the organization it was made in.
- A token carries scopes, read or write per area (AREAS); write includes read. A request
  needs the scope of its route (fms.api.auth) AND the permission its service checks, from
  the principal's roles as they are at that moment: a token never exceeds its principal.
- The secret is shown once. Only its SHA-256 is stored (the secret has 256 bits of
  randomness, so a plain hash is enough), found by the token's public id and compared in
  constant time.
- A token stops at once when revoked or expired; a personal token when its person is
  deactivated or their membership ends (also through SCIM): deactivating a member revokes
  their personal tokens there, so a reactivation does not revive them; an integration token
  when its service account is deactivated.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import DomainError, InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.memberships import check_roles
from fms.identity.models import Membership, User
from fms.identity.permissions import require
from fms.identity.tokens.models import PREFIXES, ApiToken, ServiceAccount
from fms.tenancy import ALL_TENANTS, get_in_org
from fms.timekeeping import utcnow

AREAS = {
    "workforce": "Workforce",
    "timesheets": "Timesheets",
    "compliance": "Compliance",
    "invoicing": "Invoicing",
    "reports": "Reports",
    "admin": "Administration",
}
ACCESS = ("read", "write")
ALL_SCOPES = tuple(f"{area}:{access}" for area in AREAS for access in ACCESS)
MAX_EXPIRY_DAYS = 3650
# last use (time and address) is written at most this often per token
TOUCH_EVERY = timedelta(seconds=60)
_TOKEN = re.compile(r"^(fms_(?:it|pt)_)([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_KINDS = {prefix: kind for kind, prefix in PREFIXES.items()}
_ALL = {ALL_TENANTS: True}


class InvalidToken(DomainError):
    """The bearer token is unknown, malformed, revoked, expired, or its principal is gone."""

    status = 401
    title = "Unauthorized"


# --- scopes ----------------------------------------------------------------------------------


def check_scopes(scopes, *, field: str = "scopes") -> list[str]:
    """Known scopes, sorted, without repeats; at least one."""
    chosen = sorted(set(scopes or []))
    unknown = [s for s in chosen if s not in ALL_SCOPES]
    if unknown:
        raise InvalidInput(
            f"Unknown scope: {', '.join(map(str, unknown))}.",
            errors={field: [f"Choose from {', '.join(ALL_SCOPES)}."]},
        )
    if not chosen:
        raise InvalidInput("Choose at least one scope.", errors={field: ["Choose a scope."]})
    return chosen


def effective_scopes(scopes) -> frozenset[str]:
    """What a token's scopes allow: each scope, and read where it may write."""
    granted = set(scopes or [])
    for scope in list(granted):
        area, _, access = scope.partition(":")
        if access == "write":
            granted.add(f"{area}:read")
    return frozenset(granted)


def allows(actor: Actor, area: str, access: str) -> bool:
    """Whether the actor's token (if any) covers `area:access`; sessions are not scoped."""
    return actor.scopes is None or f"{area}:{access}" in actor.scopes


def _within_caller(session: Session, actor: Actor, scopes: list[str], expires_at):
    """A token that makes a token passes on no more than it holds: scopes and lifetime."""
    if actor.scopes is None:
        return expires_at
    beyond = [s for s in scopes if s not in actor.scopes]
    if beyond:
        raise NotAllowed(
            f"A token cannot create a token with scopes it does not hold: {', '.join(beyond)}."
        )
    if actor.token_id is not None:
        own = session.get(ApiToken, actor.token_id)
        limit = own.expires_at if own is not None else None
        if limit is not None and (expires_at is None or expires_at > limit):
            return limit
    return expires_at


# --- service accounts ----------------------------------------------------------------------


def _name(value, *, field: str = "name", limit: int = 200) -> str:
    name = (value or "").strip() if isinstance(value, str) else ""
    if not name or len(name) > limit:
        raise InvalidInput(
            f"Give it a name (at most {limit} characters).", errors={field: ["Required."]}
        )
    return name


def list_service_accounts(session: Session, *, actor: Actor) -> list[ServiceAccount]:
    require(actor, "integrations.manage")
    return list(
        session.scalars(select(ServiceAccount).order_by(ServiceAccount.name, ServiceAccount.id))
    )


def get_service_account(session: Session, *, actor: Actor, service_account_id) -> ServiceAccount:
    require(actor, "integrations.manage")
    return get_in_org(session, ServiceAccount, service_account_id, what="integration")


def create_service_account(
    session: Session, *, actor: Actor, name: str, roles, description: str | None = None
) -> ServiceAccount:
    """Org admins add an integration with roles; its name is unique in the organization."""
    require(actor, "integrations.manage")
    name = _name(name)
    roles = check_roles(roles)
    _no_more_than_caller(actor, roles)
    account = ServiceAccount(
        org_id=actor.org_id,
        name=name,
        description=(description or "").strip()[:500] or None,
        roles=roles,
        is_active=True,
        created_by_user_id=actor.user_id,
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(ServiceAccount.id).where(ServiceAccount.name == name))
        if existing is None:
            raise
        from fms.errors import AlreadyExists

        raise AlreadyExists(
            "An integration with this name exists.",
            existing_id=existing,
            errors={"name": ["Already in use."]},
        ) from None
    audit.record(
        session, actor, "service_account.created", account, after={"name": name, "roles": roles}
    )
    return account


def _no_more_than_caller(actor: Actor, roles: list[str]) -> None:
    """A token (of an integration) cannot give an integration roles it does not hold."""
    if actor.scopes is not None and not set(roles) <= set(actor.roles):
        raise NotAllowed("A token cannot give roles it does not hold itself.")


def update_service_account(
    session: Session,
    *,
    actor: Actor,
    service_account_id,
    name: str | None = None,
    description: str | None = None,
    roles=None,
    is_active: bool | None = None,
) -> ServiceAccount:
    """Rename an integration, set its roles, or (de)activate it: a deactivated integration's
    tokens are refused at once, and work again when it is reactivated (unless revoked)."""
    account = get_service_account(session, actor=actor, service_account_id=service_account_id)
    if actor.token_id is not None and _acting_through(session, actor, account.id):
        raise RuleViolation("An integration's token cannot change its own integration.")
    fields_ = ("name", "description", "roles", "is_active")
    before = {f: getattr(account, f) for f in fields_}
    if name is not None:
        account.name = _name(name)
    if description is not None:
        account.description = description.strip()[:500] or None
    if roles is not None:
        account.roles = check_roles(roles)
        _no_more_than_caller(actor, account.roles)
    if is_active is not None:
        account.is_active = bool(is_active)
    after = {f: getattr(account, f) for f in fields_}
    if after == before:
        return account
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise RuleViolation(
            "An integration with this name exists.", errors={"name": ["Already in use."]}
        ) from None
    audit.record(session, actor, "service_account.updated", account, before=before, after=after)
    return account


def _acting_through(session: Session, actor: Actor, service_account_id: int) -> bool:
    own = session.get(ApiToken, actor.token_id)
    return own is not None and own.service_account_id == service_account_id


# --- tokens ----------------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _expiry(expires_in_days):
    if expires_in_days in (None, "", 0):
        return None
    try:
        days = int(expires_in_days)
    except (TypeError, ValueError):
        days = -1
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(
            f"Expiry is between 1 and {MAX_EXPIRY_DAYS} days, or none.",
            errors={"expires_in_days": [f"Between 1 and {MAX_EXPIRY_DAYS}."]},
        )
    return utcnow() + timedelta(days=days)


def _new_token(
    session: Session, *, actor: Actor, kind: str, name, scopes, expires_in_days, **owner
):
    name = _name(name)
    scopes = check_scopes(scopes)
    expires_at = _within_caller(session, actor, scopes, _expiry(expires_in_days))
    public_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        org_id=actor.org_id,
        kind=kind,
        public_id=public_id,
        secret_hash=_hash(secret),
        name=name,
        scopes=scopes,
        created_by_user_id=actor.user_id,
        expires_at=expires_at,
        **owner,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "api_token.created",
        token,
        after={
            "kind": kind,
            "name": name,
            "scopes": scopes,
            "prefix": token.prefix,
            "expires_at": expires_at,
            **owner,
        },
    )
    return token, f"{PREFIXES[kind]}{public_id}_{secret}"


def create_integration_token(
    session: Session, *, actor: Actor, service_account_id, name, scopes, expires_in_days=None
) -> tuple[ApiToken, str]:
    """A token for an integration; (token, the secret to show once)."""
    account = get_service_account(session, actor=actor, service_account_id=service_account_id)
    if not account.is_active:
        raise RuleViolation("Reactivate the integration before giving it a token.")
    return _new_token(
        session,
        actor=actor,
        kind="integration",
        name=name,
        scopes=scopes,
        expires_in_days=expires_in_days,
        service_account_id=account.id,
    )


def create_personal_token(
    session: Session, *, actor: Actor, name, scopes, expires_in_days=None
) -> tuple[ApiToken, str]:
    """A person's own token in the current organization; (token, the secret to show once)."""
    if actor.user_id is None:
        raise NotAllowed("Personal tokens belong to a person; an integration has none.")
    return _new_token(
        session,
        actor=actor,
        kind="personal",
        name=name,
        scopes=scopes,
        expires_in_days=expires_in_days,
        user_id=actor.user_id,
    )


def personal_tokens(session: Session, *, actor: Actor) -> list[ApiToken]:
    """The actor's own personal tokens in the current organization, newest first."""
    if actor.user_id is None:
        return []
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.kind == "personal", ApiToken.user_id == actor.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def integration_tokens(session: Session, *, actor: Actor, service_account_id) -> list[ApiToken]:
    account = get_service_account(session, actor=actor, service_account_id=service_account_id)
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.service_account_id == account.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def get_token(session: Session, *, actor: Actor, token_id) -> ApiToken:
    """A token the actor may manage: their own personal token, or (integrations.manage) an
    integration's. Anything else, other organizations' included, is NotFound."""
    token = get_in_org(session, ApiToken, token_id, what="token")
    if token.kind == "personal" and token.user_id == actor.user_id and actor.user_id:
        return token
    if token.kind == "integration" and actor.can("integrations.manage"):
        return token
    raise NotFound("No such token.")


def revoke_token(session: Session, *, actor: Actor, token_id) -> ApiToken:
    """Revoke a token: refused from the next request on. An integration token cannot revoke
    itself (an integration must not lock its organization out by accident)."""
    token = get_token(session, actor=actor, token_id=token_id)
    if token.kind == "integration" and actor.token_id == token.id:
        raise RuleViolation("An integration token cannot revoke itself: ask an org admin.")
    now = utcnow()
    changed = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(token)
    if changed:
        audit.record(
            session,
            actor,
            "api_token.revoked",
            token,
            before={"name": token.name, "prefix": token.prefix, "kind": token.kind},
        )
    return token


def revoke_personal_tokens(
    session: Session, *, actor: Actor, user_id: int, org_id: int, via: str
) -> int:
    """A person's live personal tokens of an organization end with their membership there:
    revoked, not merely refused, so reactivating the member (on the members page or by
    SCIM) does not bring them back; they make new ones. One audit entry per token."""
    now = utcnow()
    live = session.execute(
        update(ApiToken)
        .where(
            ApiToken.kind == "personal",
            ApiToken.user_id == user_id,
            ApiToken.org_id == org_id,
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
        .values(revoked_at=now)
        .returning(ApiToken.id, ApiToken.name, ApiToken.public_id)
        .execution_options(synchronize_session=False, **_ALL)
    ).all()
    for token_id, name, public_id in sorted(live):
        audit.record(
            session,
            actor,
            "api_token.revoked",
            entity_type="api_token",
            entity_id=token_id,
            org_id=org_id,
            before={"name": name, "prefix": f"{PREFIXES['personal']}{public_id}"},
            after={"reason": "membership deactivated", "via": via},
        )
    return len(live)


def status(token: ApiToken, now=None) -> str:
    """ "active", "expired" or "revoked", for pages and the API."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


# --- authentication ----------------------------------------------------------------------


def looks_like_token(bearer: str | None) -> bool:
    return bool(bearer) and bearer.startswith(tuple(PREFIXES.values()))


def authenticate(
    session: Session, *, bearer: str | None, ip: str | None, request_id: str | None
) -> Actor:
    """The Actor of a live bearer token, in the token's organization; InvalidToken otherwise.

    Runs on an unscoped session (before the request is bound to an organization): the
    token says which organization the request works in.
    """
    match = _TOKEN.match(bearer or "") if bearer and len(bearer) < 200 else None
    if match is None:
        raise InvalidToken("The bearer token is malformed or unknown.")
    prefix, public_id, secret = match.groups()
    token = session.scalar(
        select(ApiToken).where(ApiToken.public_id == public_id).execution_options(**_ALL)
    )
    expected = token.secret_hash if token is not None else _hash("no such token")
    secret_ok = hmac.compare_digest(_hash(secret), expected)
    if token is None or not secret_ok or token.kind != _KINDS[prefix]:
        raise InvalidToken("The bearer token is malformed or unknown.")
    now = utcnow()
    state = status(token, now)
    if state != "active":
        raise InvalidToken(f"This token is {state}.")
    if token.kind == "personal":
        user_id, roles = token.user_id, _personal_roles(session, token)
        label = f'personal token "{token.name}" ({token.prefix})'
    else:
        user_id, (roles, account) = None, _integration_roles(session, token)
        label = f'Integration "{account}" (token "{token.name}", {token.prefix})'
    _touch(session, token, now=now, ip=ip)
    return Actor(
        user_id=user_id,
        org_id=token.org_id,
        roles=frozenset(roles),
        ip=ip,
        request_id=request_id,
        channel="api",
        token_id=token.id,
        scopes=effective_scopes(token.scopes),
        token_label=_bounded(label, 200),
    )


def _personal_roles(session: Session, token: ApiToken) -> list[str]:
    row = session.execute(
        select(Membership.roles)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.user_id == token.user_id,
            Membership.org_id == token.org_id,
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
        .execution_options(**_ALL)
    ).first()
    if row is None:
        raise InvalidToken("This token's owner is no longer an active member here.")
    return list(row[0] or [])


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _integration_roles(session: Session, token: ApiToken) -> tuple[list[str], str]:
    """The service account's roles and name (the audit log names it)."""
    row = session.execute(
        select(ServiceAccount.roles, ServiceAccount.name)
        .where(ServiceAccount.id == token.service_account_id, ServiceAccount.is_active.is_(True))
        .execution_options(**_ALL)
    ).first()
    if row is None:
        raise InvalidToken("This token's integration is deactivated.")
    return list(row[0] or []), row[1]


def _touch(session: Session, token: ApiToken, *, now, ip: str | None) -> None:
    """Record the last use, at most once per TOUCH_EVERY per token (one conditional UPDATE,
    so concurrent requests do not queue on the row)."""
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_EVERY),
        )
        .values(last_used_at=now, last_used_ip=(ip or None) and ip[:45])
        .execution_options(synchronize_session=False, **_ALL)
    )


def live_token_counts(session: Session, *, actor: Actor) -> dict[int, int]:
    """Per integration, how many of its tokens are neither revoked nor expired."""
    from sqlalchemy import func

    require(actor, "integrations.manage")
    now = utcnow()
    rows = session.execute(
        select(ApiToken.service_account_id, func.count(ApiToken.id))
        .where(
            ApiToken.kind == "integration",
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
        .group_by(ApiToken.service_account_id)
    )
    return dict(rows.all())
