"""SCIM 2.0 provisioning (RFC 7643/7644): the rules for Users and Groups of one organization.

A SCIM User is a membership in the organization that owns the bearer token; its `id` is
the membership id — or "inv-<n>" for a person whose address is outside the organization's
verified domains: they are invited (mailed), and become a member only when they accept.
Deactivating (active=false, or DELETE) applies to that membership only and ends the
person's sessions there at once. A SCIM Group gives its members the roles the
token's connection maps its name to, when that connection's IdP manages roles (a token
tied to no connection leaves roles to the members page).
Memberships change only through `fms.identity.memberships`.

Services flush and never commit; fms/identity/scim_api.py parses and answers.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import DomainError, InvalidInput
from fms.identity import memberships
from fms.identity.actor import Actor
from fms.identity.models import Membership, User
from fms.identity.permissions import require
from fms.identity.services import normalise_email
from fms.identity.sso import invitations, provisioning
from fms.identity.sso.models import Invitation, ScimGroup, ScimToken, SsoConnection
from fms.tenancy import ALL_TENANTS, get_in_org
from fms.timekeeping import utcnow

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
TOKEN_PREFIX = "fms_scim_"  # noqa: S105 - a visible prefix, not a secret
PENDING_PREFIX = "inv-"


class ScimError(DomainError):
    """An error answered in SCIM's own format (RFC 7644 §3.12)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status = status
        self.scim_type = scim_type


# --- tokens --------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, *, actor: Actor, name: str, connection_id: int | None = None
) -> tuple[ScimToken, str]:
    """A new provisioning token; only its hash is stored, the token is shown once. Tied to
    a staff connection, it follows that connection's role settings."""
    require(actor, "sso.manage")
    name = (name or "").strip() or "SCIM"
    if connection_id is not None:
        connection = session.scalar(
            select(SsoConnection).where(
                SsoConnection.id == connection_id, SsoConnection.audience == "staff"
            )
        )
        if connection is None:
            raise InvalidInput(
                "Choose one of this organization's staff connections.",
                errors={"connection_id": ["Not a staff connection here."]},
            )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ScimToken(
        org_id=actor.org_id,
        name=name[:200],
        token_hash=_hash(token),
        prefix=token[: len(TOKEN_PREFIX) + 3],
        created_by_user_id=actor.user_id,
        connection_id=connection_id,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor,
        "scim_token.created",
        record,
        after={"name": record.name, "connection_id": connection_id},
    )
    return record, token


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> ScimToken:
    """Revoked tokens stop working at once."""
    require(actor, "sso.manage")
    record = get_in_org(session, ScimToken, token_id, what="token")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        audit.record(session, actor, "scim_token.revoked", record, before={"name": record.name})
    return record


def list_tokens(session: Session, *, actor: Actor) -> list[ScimToken]:
    require(actor, "sso.manage")
    return list(session.scalars(select(ScimToken).order_by(ScimToken.created_at.desc())))


def authenticate(session: Session, *, bearer: str | None, ip: str | None) -> Actor:
    """The organization of a live bearer token, as the Actor of this SCIM request."""
    if not bearer or not bearer.startswith(TOKEN_PREFIX) or len(bearer) > 200:
        raise ScimError(401, "A valid bearer token is required.")
    record = session.scalar(
        select(ScimToken)
        .where(ScimToken.token_hash == _hash(bearer))
        .execution_options(**{ALL_TENANTS: True})
    )
    if record is None or record.revoked_at is not None:
        raise ScimError(401, "A valid bearer token is required.")
    now = utcnow()
    if record.last_used_at is None or (now - record.last_used_at).total_seconds() > 60:
        record.last_used_at = now
    # the token is the authority: it provisions people (the "scim" row of the permissions)
    return Actor(
        user_id=None,
        org_id=record.org_id,
        roles=frozenset({"scim"}),
        ip=ip,
        channel="scim",
        token_id=record.id,
    )


# --- representation ------------------------------------------------------------------------


def etag(body: dict) -> str:
    """A weak ETag over the resource without its meta (RFC 7644 §3.14)."""
    data = {k: v for k, v in body.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f'W/"{digest[:32]}"'


def scim_id(record) -> str:
    """The id the IdP knows: a membership's own, or "inv-<n>" for one that began pending."""
    if isinstance(record, Invitation):
        return f"{PENDING_PREFIX}{record.id}"
    return (record.scim_data or {}).get("scim_id") or str(record.id)


def user_body(record, user: User | None, base: str) -> dict:
    """The SCIM view of a member, or of a person invited and not yet accepted. For people
    SCIM provisioned, exactly the attributes the IdP last sent (so a removed attribute
    stays removed); others are described from FMS."""
    ident = scim_id(record)
    data = record.scim_data
    pending = isinstance(record, Invitation)
    body = {
        "schemas": [USER_SCHEMA],
        "id": ident,
        "userName": record.scim_user_name or (record.email if pending else user.email),
    }
    if data is None:
        body.update(
            name={"formatted": user.name},
            displayName=user.name,
            emails=[{"value": user.email, "type": "work", "primary": True}],
            active=bool(record.is_active),
        )
    else:
        for key in ("name", "displayName", "emails"):
            if data.get(key) is not None:
                body[key] = data[key]
        if data.get("active") is not None:
            # a pending person is as active as the IdP says; they join on acceptance
            body["active"] = bool(data["active"]) if pending else bool(record.is_active)
    if record.scim_external_id:
        body["externalId"] = record.scim_external_id
    # what this organization may know: its own membership's times, never the account's
    # sign-ins into other organizations
    modified = record.created_at if pending else (record.last_sign_in_at or record.created_at)
    body["meta"] = {
        "resourceType": "User",
        "created": record.created_at.isoformat(),
        "lastModified": modified.isoformat(),
        "location": f"{base}/Users/{ident}",
    }
    body["meta"]["version"] = etag(body)
    return body


def group_body(group: ScimGroup, members: list, base: str) -> dict:
    body = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.id),
        "displayName": group.display_name,
        "members": [
            {"value": scim_id(m), "$ref": f"{base}/Users/{scim_id(m)}", "type": "User"}
            for m, _ in members
        ],
    }
    if group.external_id:
        body["externalId"] = group.external_id
    body["meta"] = {
        "resourceType": "Group",
        "created": group.created_at.isoformat(),
        "lastModified": group.updated_at.isoformat(),
        "location": f"{base}/Groups/{group.id}",
    }
    body["meta"]["version"] = etag(body)
    return body


# --- filters -------------------------------------------------------------------------------

_FILTER = re.compile(r'^\s*(\w+(?:\.\w+)?)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


def parse_filter(text: str | None, allowed: set[str]) -> tuple[str, str] | None:
    """`attribute eq "value"` for the attributes FMS filters on; others are invalidFilter."""
    if not text:
        return None
    if not isinstance(text, str) or len(text) > 1000:
        raise ScimError(400, 'The filter is a text such as: userName eq "x".', "invalidFilter")
    match = _FILTER.match(text)
    if not match or match.group(1).lower() not in {a.lower() for a in allowed}:
        raise ScimError(400, f"Unsupported filter: {text[:100]}", "invalidFilter")
    attribute = next(a for a in allowed if a.lower() == match.group(1).lower())
    return attribute, json.loads(f'"{match.group(2)}"')


# --- users ---------------------------------------------------------------------------------


def _pending(session: Session, ident: str) -> Invitation | Membership:
    try:
        invitation_id = int(ident[len(PENDING_PREFIX) :])
        invitation = get_in_org(session, Invitation, invitation_id, what="user")
    except (DomainError, ValueError):
        raise ScimError(404, f"User {ident} not found.") from None
    if invitation.scim_user_name is None or (invitation.scim_data or {}).get("deleted"):
        raise ScimError(404, f"User {ident} not found.")
    if invitation.redeemed_at is not None:  # accepted: the IdP's id now names the member
        membership = session.scalar(
            select(Membership).where(Membership.user_id == invitation.redeemed_by_user_id)
        )
        if membership is None:
            raise ScimError(404, f"User {ident} not found.")
        return membership
    return invitation


def _user_and_membership(session: Session, ident) -> tuple[Membership | Invitation, User | None]:
    """A SCIM user: a membership (by its id or the "inv-<n>" it began as), or a pending
    invitation; other organizations' ids are 404."""
    ident = str(ident)
    if ident.startswith(PENDING_PREFIX):
        record = _pending(session, ident)
    else:
        try:
            record = get_in_org(session, Membership, ident, what="user")
        except DomainError:
            raise ScimError(404, f"User {ident} not found.") from None
    if (record.scim_data or {}).get("deleted"):
        raise ScimError(404, f"User {ident} not found.")
    if isinstance(record, Invitation):
        return record, None
    return record, session.get(User, record.user_id)


def _pending_invitations(session: Session) -> list[Invitation]:
    return [
        i
        for i in session.scalars(
            select(Invitation)
            .where(
                Invitation.scim_user_name.is_not(None),
                Invitation.redeemed_at.is_(None),
            )
            .order_by(Invitation.id)
        )
        if not (i.scim_data or {}).get("deleted")
    ]


def list_users(session: Session, *, filter_text, start: int, count: int):
    attribute = parse_filter(filter_text, {"userName", "externalId", "emails.value"})
    stmt = select(Membership, User).join(User, User.id == Membership.user_id)
    pending = _pending_invitations(session)
    if attribute:
        name, value = attribute
        if name == "userName":
            stmt = stmt.where(
                func.lower(func.coalesce(Membership.scim_user_name, User.email)) == value.lower()
            )
            pending = [i for i in pending if i.scim_user_name.lower() == value.lower()]
        elif name == "externalId":
            stmt = stmt.where(Membership.scim_external_id == value)
            pending = [i for i in pending if i.scim_external_id == value]
        else:
            stmt = stmt.where(User.email == value.lower())
            pending = [i for i in pending if i.email == value.lower()]
    rows = [
        (m, u)
        for m, u in session.execute(stmt.order_by(Membership.id)).all()
        if not (m.scim_data or {}).get("deleted")
    ] + [(i, None) for i in pending]
    return len(rows), rows[start - 1 : start - 1 + count]


def get_user(session: Session, *, user_id):
    return _user_and_membership(session, user_id)


def _bool(value) -> bool:
    if isinstance(value, str):  # Entra ID sends "True"/"False"
        return value.strip().lower() == "true"
    return bool(value)


def _parse_user(payload: dict) -> dict:
    """What FMS keeps of a SCIM User: email, name, userName, externalId, active."""
    if not isinstance(payload, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    user_name = payload.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise ScimError(400, "userName is required.", "invalidValue")
    emails = payload.get("emails") or []
    if not isinstance(emails, list):
        raise ScimError(400, "emails must be a list.", "invalidSyntax")
    if any(not isinstance(e, dict) or not isinstance(e.get("value"), str | None) for e in emails):
        raise ScimError(400, "Each email is an object with a text value.", "invalidValue")
    candidates = [e.get("value") for e in emails if isinstance(e, dict) and e.get("primary")]
    candidates += [e.get("value") for e in emails if isinstance(e, dict)]
    candidates.append(user_name)
    candidates = [c for c in candidates if isinstance(c, str)]
    email = None
    for candidate in candidates:
        try:
            email = normalise_email(candidate or "")
            break
        except DomainError:
            continue
    if email is None:
        raise ScimError(
            400, "The user needs an email address (emails or userName).", "invalidValue"
        )
    name = payload.get("name") if isinstance(payload.get("name"), dict) else {}
    for part in ("formatted", "givenName", "familyName"):
        if name.get(part) is not None and not isinstance(name.get(part), str):
            raise ScimError(400, f"name.{part} is a text.", "invalidValue")
    display = payload.get("displayName")
    if display is not None and not isinstance(display, str):
        raise ScimError(400, "displayName is a text.", "invalidValue")
    _check_external_id(payload.get("externalId"))
    full = (
        display
        or name.get("formatted")
        or " ".join(p for p in (name.get("givenName"), name.get("familyName")) if p)
        or email.split("@")[0]
    )
    data = {k: payload[k] for k in ("name", "displayName", "emails") if payload.get(k) is not None}
    active = None if payload.get("active") is None else _bool(payload["active"])
    data["active"] = active
    return {
        "email": email,
        "name": str(full).strip()[:200],
        "user_name": user_name.strip()[:255],
        "external_id": payload.get("externalId"),
        # absent: unchanged (a new person starts active)
        "active": active,
        "data": data,
    }


def _check_unique(session: Session, *, user_name: str, email: str, except_record=None) -> None:
    stmt = (
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(
            (func.lower(func.coalesce(Membership.scim_user_name, User.email)) == user_name.lower())
            | (User.email == email)
        )
    )
    clashes = [m for m in session.scalars(stmt) if not (m.scim_data or {}).get("deleted")]
    clashes += [
        i
        for i in _pending_invitations(session)
        if i.scim_user_name.lower() == user_name.lower() or i.email == email
    ]
    if any(c is not except_record for c in clashes):
        raise ScimError(409, "A user with this userName or email exists.", "uniqueness")


def _connection_of(session: Session, actor: Actor) -> SsoConnection | None:
    """The connection whose role settings apply to this token's provisioning."""
    if actor.token_id is None or actor.channel != "scim":  # an API token's id is no SCIM token's
        return None
    token = session.get(ScimToken, actor.token_id)
    if token is None or token.connection_id is None:
        return None
    return session.get(SsoConnection, token.connection_id)


def _scim_fields(fields: dict) -> dict:
    return {
        "user_name": fields["user_name"],
        "external_id": fields["external_id"],
        "data": fields["data"],
    }


def create_user(session: Session, *, actor: Actor, payload: dict):
    """Provision a person. For an address in a domain this organization verified (the IdP
    is the authority there) an active member; for any other address an invitation that
    the address's owner accepts — no organization attaches someone else's account."""
    fields = _parse_user(payload)
    _check_unique(session, user_name=fields["user_name"], email=fields["email"])
    connection = _connection_of(session, actor)
    if invitations.domain_owner(session, fields["email"]) != actor.org_id:
        scim_fields = _scim_fields(fields)
        if connection is not None:  # whose groups give the roles once they accept
            scim_fields["data"] = {**scim_fields["data"], "connection_id": connection.id}
        invitation, _ = invitations.create_invitation(
            session,
            actor=actor,
            email=fields["email"],
            name=fields["name"],
            roles=provisioning.default_roles(connection),
            scim=scim_fields,
        )
        return invitation, None
    user = session.scalar(select(User).where(User.email == fields["email"]))
    if user is None:
        user = User(email=fields["email"], name=fields["name"])
        session.add(user)
        session.flush()
        audit.record(
            session, actor, "user.created", user, after={"email": user.email, "via": "scim"}
        )
    try:
        membership = memberships.create_membership(
            session,
            actor=actor,
            org_id=actor.org_id,
            user_id=user.id,
            roles=provisioning.default_roles(connection),
            via="scim",
            scim=_scim_fields(fields),
        )
    except memberships.AlreadyMember:
        raise ScimError(409, "A user with this userName or email exists.", "uniqueness") from None
    if fields["active"] is False:
        _set_active(session, actor=actor, membership=membership, active=False)
    return membership, user


def replace_user(session: Session, *, actor: Actor, user_id, payload: dict):
    """PUT: the IdP's full view of the person replaces FMS's."""
    record, user = _user_and_membership(session, user_id)
    fields = _parse_user(payload)
    _check_unique(
        session, user_name=fields["user_name"], email=fields["email"], except_record=record
    )
    _apply(session, actor=actor, record=record, user=user, fields=fields)
    return record, user


def _apply(session, *, actor, record, user, fields) -> None:
    if isinstance(record, Invitation):
        _apply_pending(session, actor=actor, invitation=record, fields=fields)
        return
    membership = record
    before = {"email": user.email, "name": user.name, "active": membership.is_active}
    # Only the organization that verified the account's domain speaks for the account
    # itself, and only while no other organization shares it; otherwise the IdP's
    # attributes stay on this membership.
    shared = session.scalar(
        select(Membership.id)
        .where(Membership.user_id == user.id, Membership.org_id != membership.org_id)
        .limit(1)
        .execution_options(**{ALL_TENANTS: True})
    )
    authority = shared is None and invitations.domain_owner(session, user.email) == actor.org_id
    if fields["email"] != user.email:
        # the new address must be this organization's too: re-addressing an account into
        # someone else's domain would hand it that address (and that domain's sign-ins)
        if not authority or invitations.domain_owner(session, fields["email"]) != actor.org_id:
            raise ScimError(
                409,
                "The email of an account changes only from one address to another in this "
                "organization's verified domains, and only while no other organization "
                "shares the account; its email stays.",
                "mutability",
            )
        taken = session.scalar(
            select(User.id).where(User.email == fields["email"], User.id != user.id)
        )
        if taken:
            raise ScimError(409, "Another account uses this email.", "uniqueness")
        user.email = fields["email"]
    if authority:
        user.name = fields["name"]
    membership.scim_data = {**fields["data"], **_kept(membership.scim_data)}
    membership.scim_user_name = fields["user_name"]
    membership.scim_external_id = fields["external_id"]
    session.flush()
    after = {"email": user.email, "name": user.name, "active": membership.is_active}
    if after != before:
        audit.record(
            session, actor, "membership.scim_updated", membership, before=before, after=after
        )
    if fields["active"] is not None and fields["active"] != membership.is_active:
        _set_active(session, actor=actor, membership=membership, active=fields["active"])


def _kept(data: dict | None) -> dict:
    """What FMS keeps in scim_data beside the IdP's attributes (the id it began with, the
    connection whose groups give the roles)."""
    return {k: v for k, v in (data or {}).items() if k in ("scim_id", "connection_id")}


def _apply_pending(session, *, actor, invitation: Invitation, fields) -> None:
    """A person not yet joined: the IdP's attributes change; a new address gets a new link
    (the old one stops working) — the invitation follows the IdP's view of the person."""
    before = {"email": invitation.email}
    invitation.scim_data = {**fields["data"], **_kept(invitation.scim_data)}
    invitation.scim_user_name = fields["user_name"]
    invitation.scim_external_id = fields["external_id"]
    if fields["email"] != invitation.email:
        if invitations.domain_owner(session, fields["email"]) == actor.org_id:
            raise ScimError(
                409,
                "The new address is in a domain this organization verified: delete this user "
                "and create it again to provision them directly.",
                "mutability",
            )
        invitations.readdress(session, actor=actor, invitation=invitation, email=fields["email"])
    session.flush()
    audit.record(
        session,
        actor,
        "invitation.scim_updated",
        invitation,
        before=before,
        after={"email": invitation.email},
    )


def _set_active(session, *, actor, membership: Membership, active: bool) -> None:
    """Deactivation applies to this organization only and ends the sessions here at once."""
    try:
        memberships.set_active(
            session, actor=actor, membership=membership, active=active, via="scim"
        )
    except memberships.LastAdmin as exc:
        raise ScimError(409, exc.detail, "mutability") from None


def _current_user_payload(record, user) -> dict:
    body = user_body(record, user, "")
    body.pop("meta")
    return body


def patch_user(session: Session, *, actor: Actor, user_id, operations: list):
    """PATCH: apply add/replace/remove operations (as Entra ID and Okta send them)."""
    record, user = _user_and_membership(session, user_id)
    payload = _current_user_payload(record, user)
    for op in _operations(operations):
        _patch_document(payload, op)
    fields = _parse_user(payload)
    _check_unique(
        session, user_name=fields["user_name"], email=fields["email"], except_record=record
    )
    _apply(session, actor=actor, record=record, user=user, fields=fields)
    return record, user


def delete_user(session: Session, *, actor: Actor, user_id) -> None:
    """DELETE: the membership is deactivated and no longer served (a pending invitation is
    withdrawn); the account and its history stay (other organizations, the audit log)."""
    record, _ = _user_and_membership(session, user_id)
    gone = -record.id if isinstance(record, Invitation) else record.id
    if isinstance(record, Invitation):
        if record.revoked_at is None:
            record.revoked_at = utcnow()
        record.scim_data = {**(record.scim_data or {}), "deleted": True}
        audit.record(session, actor, "invitation.scim_deleted", record)
    else:
        if record.is_active:
            _set_active(session, actor=actor, membership=record, active=False)
        record.scim_data = {**(record.scim_data or {}), "deleted": True}
        record.scim_user_name = None
        record.scim_external_id = None
        audit.record(session, actor, "membership.scim_deleted", record)
    for group in session.scalars(select(ScimGroup)):
        if gone in (group.member_ids or []):
            group.member_ids = [i for i in group.member_ids if i != gone]


# --- patch operations ----------------------------------------------------------------------

_VALUE_FILTER = re.compile(r'^(\w+)\[(\w+)\s+eq\s+"([^"]*)"\](?:\.(\w+))?$', re.IGNORECASE)


def _operations(operations) -> list[dict]:
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "Operations must be a non-empty list.", "invalidSyntax")
    out = []
    for op in operations:
        if not isinstance(op, dict) or str(op.get("op", "")).lower() not in (
            "add",
            "replace",
            "remove",
        ):
            raise ScimError(400, "Each operation needs op add, replace or remove.", "invalidSyntax")
        path = op.get("path")
        if path is not None and (not isinstance(path, str) or len(path) > 200):
            raise ScimError(400, "An operation's path is an attribute name.", "invalidPath")
        out.append({"op": str(op["op"]).lower(), "path": path, "value": op.get("value")})
    return out


def _key(document: dict, name: str) -> str:
    """Attribute names are case-insensitive in SCIM."""
    for key in document:
        if key.lower() == name.lower():
            return key
    return name


def _patch_document(document: dict, op: dict) -> None:
    path, value, kind = op["path"], op["value"], op["op"]
    if not path:
        if kind == "remove" or not isinstance(value, dict):
            raise ScimError(400, "An operation without a path needs an object value.", "noTarget")
        for name, item in value.items():
            _patch_document(document, {"op": kind, "path": name, "value": item})
        return
    for prefix in (USER_SCHEMA + ":", GROUP_SCHEMA + ":"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    match = _VALUE_FILTER.match(path)
    if match:  # emails[type eq "work"].value, members[value eq "12"]
        attribute, field, wanted, sub = match.groups()
        items = document.setdefault(_key(document, attribute), []) or []
        chosen = [i for i in items if isinstance(i, dict) and str(i.get(field)) == wanted]
        key = _key(document, attribute)
        if kind == "remove":
            if sub:
                for item in chosen:
                    item.pop(sub, None)
            else:
                document[key] = [i for i in items if i not in chosen]
            return
        if not chosen:
            chosen = [{field: wanted}]
            items.append(chosen[0])
        for item in chosen:
            if sub:
                item[sub] = value
            elif isinstance(value, dict):
                item.update(value)
        document[key] = items
        return
    if "." in path:
        parent, child = path.split(".", 1)
        container = document.setdefault(_key(document, parent), {}) or {}
        if kind == "remove":
            container.pop(_key(container, child), None)
        else:
            container[_key(container, child)] = value
        document[_key(document, parent)] = container
        return
    key = _key(document, path)
    if kind == "remove":
        if isinstance(value, list) and isinstance(document.get(key), list):
            drop = {str(v.get("value")) for v in value if isinstance(v, dict)}
            document[key] = [i for i in document[key] if str(i.get("value")) not in drop]
        else:
            document.pop(key, None)
    elif kind == "add" and isinstance(document.get(key), list):
        additions = value if isinstance(value, list) else [value]
        existing = {json.dumps(i, sort_keys=True) for i in document[key]}
        document[key] = document[key] + [
            a for a in additions if json.dumps(a, sort_keys=True) not in existing
        ]
    elif kind == "add" and isinstance(value, dict) and isinstance(document.get(key), dict):
        document[key] = {**document[key], **value}
    else:
        document[key] = value


# --- groups --------------------------------------------------------------------------------


def _group(session: Session, group_id) -> ScimGroup:
    try:
        return get_in_org(session, ScimGroup, group_id, what="group")
    except DomainError:
        raise ScimError(404, f"Group {group_id} not found.") from None


def group_members(session: Session, group: ScimGroup) -> list:
    """Members and pending people of a group (pending ones are stored as -invitation id)."""
    ids = list(group.member_ids or [])
    if not ids:
        return []
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.id.in_([i for i in ids if i > 0]))
        .order_by(Membership.id)
    ).all()
    pending = session.scalars(
        select(Invitation).where(Invitation.id.in_([-i for i in ids if i < 0]))
    ).all()
    return [(m, u) for m, u in rows] + [(i, None) for i in pending]


def list_groups(session: Session, *, filter_text, start: int, count: int):
    attribute = parse_filter(filter_text, {"displayName", "externalId"})
    stmt = select(ScimGroup).order_by(ScimGroup.id)
    if attribute:
        name, value = attribute
        column = ScimGroup.display_name if name == "displayName" else ScimGroup.external_id
        stmt = stmt.where(column == value)
    groups = list(session.scalars(stmt))
    return len(groups), groups[start - 1 : start - 1 + count]


def get_group(session: Session, *, group_id) -> ScimGroup:
    return _group(session, group_id)


def _member_ids(session: Session, members) -> list[int]:
    if members is None:
        return []
    if not isinstance(members, list):
        raise ScimError(400, "members must be a list.", "invalidSyntax")
    ids = []
    for member in members:
        raw = member.get("value") if isinstance(member, dict) else member
        try:
            record, _ = _user_and_membership(session, raw)
        except ScimError:
            raise ScimError(400, f"No user {raw!r} here.", "invalidValue") from None
        stored = -record.id if isinstance(record, Invitation) else record.id
        if stored not in ids:
            ids.append(stored)
    return ids


def _check_external_id(value) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > 255):
        raise ScimError(400, "externalId is a text of at most 255 characters.", "invalidValue")


def _parse_group(session: Session, payload: dict) -> dict:
    if not isinstance(payload, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    _check_external_id(payload.get("externalId"))
    name = payload.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise ScimError(400, "displayName is required.", "invalidValue")
    return {
        "display_name": name.strip()[:255],
        "external_id": payload.get("externalId"),
        "member_ids": _member_ids(session, payload.get("members")),
    }


def _check_group_name(session: Session, name: str, except_id=None) -> None:
    existing = session.scalar(select(ScimGroup.id).where(ScimGroup.display_name == name))
    if existing is not None and existing != except_id:
        raise ScimError(409, "A group with this displayName exists.", "uniqueness")


def create_group(session: Session, *, actor: Actor, payload: dict) -> ScimGroup:
    """A group from the IdP; its members get the roles its name maps to."""
    fields = _parse_group(session, payload)
    _check_group_name(session, fields["display_name"])
    group = ScimGroup(org_id=actor.org_id, **fields)
    session.add(group)
    session.flush()
    audit.record(
        session,
        actor,
        "scim_group.created",
        group,
        after={"display_name": group.display_name, "member_ids": group.member_ids},
    )
    sync_roles(session, actor=actor, membership_ids=group.member_ids)
    return group


def replace_group(session: Session, *, actor: Actor, group_id, payload: dict) -> ScimGroup:
    group = _group(session, group_id)
    fields = _parse_group(session, payload)
    _check_group_name(session, fields["display_name"], except_id=group.id)
    _apply_group(session, actor=actor, group=group, fields=fields)
    return group


def _apply_group(session, *, actor, group: ScimGroup, fields: dict) -> None:
    before = {"display_name": group.display_name, "member_ids": list(group.member_ids or [])}
    group.display_name = fields["display_name"]
    group.external_id = fields["external_id"]
    group.member_ids = fields["member_ids"]
    group.updated_at = utcnow()
    session.flush()
    after = {"display_name": group.display_name, "member_ids": group.member_ids}
    if after != before:
        audit.record(session, actor, "scim_group.updated", group, before=before, after=after)
        touched = set(before["member_ids"]) | set(after["member_ids"])
        sync_roles(session, actor=actor, membership_ids=sorted(touched))


def patch_group(session: Session, *, actor: Actor, group_id, operations: list) -> ScimGroup:
    """PATCH: members added or removed one by one (Entra ID, Okta), or renamed."""
    group = _group(session, group_id)
    document = {
        "displayName": group.display_name,
        "members": [{"value": scim_id(m)} for m, _ in group_members(session, group)],
    }
    if group.external_id:
        document["externalId"] = group.external_id
    for op in _operations(operations):
        if op["path"] and op["path"].lower() == "members" and op["op"] == "add":
            values = op["value"] if isinstance(op["value"], list) else [op["value"]]
            known = {m["value"] for m in document["members"]}
            document["members"] += [
                {"value": str(v.get("value"))}
                for v in values
                if isinstance(v, dict) and str(v.get("value")) not in known
            ]
            continue
        _patch_document(document, op)
    fields = _parse_group(session, document)
    _check_group_name(session, fields["display_name"], except_id=group.id)
    _apply_group(session, actor=actor, group=group, fields=fields)
    return group


def delete_group(session: Session, *, actor: Actor, group_id) -> None:
    group = _group(session, group_id)
    members = list(group.member_ids or [])
    audit.record(
        session, actor, "scim_group.deleted", group, before={"display_name": group.display_name}
    )
    session.delete(group)
    session.flush()
    sync_roles(session, actor=actor, membership_ids=members)


def sync_roles(
    session: Session,
    *,
    actor: Actor,
    membership_ids: list[int],
    connection: SsoConnection | None = None,
) -> None:
    """When the IdP manages roles, members get exactly the roles their SCIM groups map to,
    or the organization's default roles when none map (also after leaving the last mapped
    group). The one last-admin rule holds: a change that would remove the last active
    org admin is refused (409)."""
    members = [i for i in membership_ids if i > 0]
    if not members:
        return
    connection = connection or _connection_of(session, actor)
    if not provisioning.idp_manages_roles(connection):
        return
    groups = list(session.scalars(select(ScimGroup)))
    for membership_id in members:
        membership = session.get(Membership, membership_id)
        if membership is None or membership.org_id != actor.org_id:
            continue
        names = [g.display_name for g in groups if membership_id in (g.member_ids or [])]
        roles = provisioning.roles_for_groups(connection, names) or provisioning.default_roles(
            connection
        )
        try:
            memberships.change_roles(
                session, actor=actor, membership=membership, roles=roles, via="scim"
            )
        except memberships.LastAdmin as exc:
            raise ScimError(409, exc.detail, "mutability") from None


def _on_invitation_accepted(invitation, *, membership_id, **_):
    """A person SCIM invited accepted: the groups the IdP put them in now hold the member,
    and the roles follow them."""
    if invitation.scim_user_name is None:
        return
    from sqlalchemy.orm import object_session

    session = object_session(invitation)
    actor = Actor(user_id=None, org_id=invitation.org_id, channel="scim")
    for group in session.scalars(select(ScimGroup)):
        if -invitation.id in (group.member_ids or []):
            group.member_ids = [
                membership_id if i == -invitation.id else i for i in group.member_ids
            ]
    session.flush()
    connection_id = (invitation.scim_data or {}).get("connection_id")
    connection = session.get(SsoConnection, connection_id) if connection_id else None
    sync_roles(session, actor=actor, membership_ids=[membership_id], connection=connection)
    if (invitation.scim_data or {}).get("active") is False:
        membership = session.get(Membership, membership_id)
        _set_active(session, actor=actor, membership=membership, active=False)


invitations.invitation_accepted.connect(_on_invitation_accepted)
