"""SCIM 2.0 provisioning (RFC 7643/7644): the rules for Users and Groups of one organization.

A SCIM User is a membership in the organization that owns the bearer token; its `id` is
the membership id. Deactivating (active=false, or DELETE) applies to that membership only
and ends the person's sessions there at once. A SCIM Group gives its members the roles
the organization maps its name to (Single sign-on settings).

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
from fms.errors import DomainError
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.identity.permissions import require
from fms.identity.services import end_sessions, normalise_email
from fms.identity.sso.models import ScimGroup, ScimToken
from fms.tenancy import ALL_TENANTS, get_in_org
from fms.timekeeping import utcnow

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
TOKEN_PREFIX = "fms_scim_"  # noqa: S105 - a visible prefix, not a secret


class ScimError(DomainError):
    """An error answered in SCIM's own format (RFC 7644 §3.12)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status = status
        self.scim_type = scim_type


# --- tokens --------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, actor: Actor, name: str) -> tuple[ScimToken, str]:
    """A new provisioning token; only its hash is stored, the token is shown once."""
    require(actor, "sso.manage")
    name = (name or "").strip() or "SCIM"
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ScimToken(
        org_id=actor.org_id,
        name=name[:200],
        token_hash=_hash(token),
        prefix=token[: len(TOKEN_PREFIX) + 3],
        created_by_user_id=actor.user_id,
    )
    session.add(record)
    session.flush()
    audit.record(session, actor, "scim_token.created", record, after={"name": record.name})
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
    return Actor(user_id=None, org_id=record.org_id, roles=frozenset(), ip=ip, channel="scim")


# --- representation ------------------------------------------------------------------------


def etag(body: dict) -> str:
    """A weak ETag over the resource without its meta (RFC 7644 §3.14)."""
    data = {k: v for k, v in body.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f'W/"{digest[:32]}"'


def user_body(membership: Membership, user: User, base: str) -> dict:
    """The SCIM view of a member. For people SCIM provisioned, exactly the attributes the
    IdP last sent (so a removed attribute stays removed); others are described from FMS."""
    data = membership.scim_data
    body = {
        "schemas": [USER_SCHEMA],
        "id": str(membership.id),
        "userName": membership.scim_user_name or user.email,
    }
    if data is None:
        body.update(
            name={"formatted": user.name},
            displayName=user.name,
            emails=[{"value": user.email, "type": "work", "primary": True}],
            active=bool(membership.is_active),
        )
    else:
        for key in ("name", "displayName", "emails"):
            if data.get(key) is not None:
                body[key] = data[key]
        if data.get("active") is not None:
            body["active"] = bool(membership.is_active)
    if membership.scim_external_id:
        body["externalId"] = membership.scim_external_id
    body["meta"] = {
        "resourceType": "User",
        "created": membership.created_at.isoformat(),
        "lastModified": (user.last_sign_in_at or membership.created_at).isoformat(),
        "location": f"{base}/Users/{membership.id}",
    }
    body["meta"]["version"] = etag(body)
    return body


def group_body(group: ScimGroup, members: list[tuple[Membership, User]], base: str) -> dict:
    body = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.id),
        "displayName": group.display_name,
        "members": [
            {
                "value": str(m.id),
                "$ref": f"{base}/Users/{m.id}",
                "type": "User",
            }
            for m, u in members
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
    match = _FILTER.match(text)
    if not match or match.group(1).lower() not in {a.lower() for a in allowed}:
        raise ScimError(400, f"Unsupported filter: {text[:100]}", "invalidFilter")
    attribute = next(a for a in allowed if a.lower() == match.group(1).lower())
    return attribute, json.loads(f'"{match.group(2)}"')


# --- users ---------------------------------------------------------------------------------


def _user_and_membership(session: Session, membership_id) -> tuple[Membership, User]:
    try:
        membership = get_in_org(session, Membership, membership_id, what="user")
    except DomainError:
        raise ScimError(404, f"User {membership_id} not found.") from None
    if (membership.scim_data or {}).get("deleted"):
        raise ScimError(404, f"User {membership_id} not found.")
    return membership, session.get(User, membership.user_id)


def list_users(session: Session, *, filter_text, start: int, count: int):
    attribute = parse_filter(filter_text, {"userName", "externalId", "emails.value"})
    stmt = select(Membership, User).join(User, User.id == Membership.user_id)
    if attribute:
        name, value = attribute
        if name == "userName":
            stmt = stmt.where(
                func.lower(func.coalesce(Membership.scim_user_name, User.email)) == value.lower()
            )
        elif name == "externalId":
            stmt = stmt.where(Membership.scim_external_id == value)
        else:
            stmt = stmt.where(User.email == value.lower())
    rows = [
        (m, u)
        for m, u in session.execute(stmt.order_by(Membership.id)).all()
        if not (m.scim_data or {}).get("deleted")
    ]
    return len(rows), rows[start - 1 : start - 1 + count]


def get_user(session: Session, *, user_id) -> tuple[Membership, User]:
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
    candidates = [e.get("value") for e in emails if isinstance(e, dict) and e.get("primary")]
    candidates += [e.get("value") for e in emails if isinstance(e, dict)]
    candidates.append(user_name)
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
    display = payload.get("displayName")
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


def _check_unique(session: Session, *, user_name: str, email: str, except_id=None) -> None:
    stmt = (
        select(Membership.id, Membership.scim_data)
        .join(User, User.id == Membership.user_id)
        .where(
            (func.lower(func.coalesce(Membership.scim_user_name, User.email)) == user_name.lower())
            | (User.email == email)
        )
    )
    for membership_id, data in session.execute(stmt).all():
        if membership_id != except_id and not (data or {}).get("deleted"):
            raise ScimError(409, "A user with this userName or email exists.", "uniqueness")


def create_user(session: Session, *, actor: Actor, payload: dict) -> tuple[Membership, User]:
    """Provision a person: an FMS account (reused by email) and a membership here, with the
    organization's default roles until their groups say otherwise."""
    fields = _parse_user(payload)
    _check_unique(session, user_name=fields["user_name"], email=fields["email"])
    org = session.get(Organization, actor.org_id)
    user = session.scalar(select(User).where(User.email == fields["email"]))
    if user is None:
        user = User(email=fields["email"], name=fields["name"])
        session.add(user)
        session.flush()
        audit.record(
            session, actor, "user.created", user, after={"email": user.email, "via": "scim"}
        )
    membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
    if membership is None:
        membership = Membership(
            org_id=actor.org_id,
            user_id=user.id,
            roles=list(org.sso_default_roles or ["hiring_manager"]),
            is_active=True,
        )
        session.add(membership)
    membership.scim_data = fields["data"]
    membership.scim_user_name = fields["user_name"]
    membership.scim_external_id = fields["external_id"]
    session.flush()
    audit.record(
        session,
        actor,
        "membership.created",
        membership,
        after={"user_id": user.id, "roles": membership.roles, "via": "scim"},
    )
    if fields["active"] is False:
        _set_active(session, actor=actor, membership=membership, active=False)
    return membership, user


def replace_user(session: Session, *, actor: Actor, user_id, payload: dict):
    """PUT: the IdP's full view of the person replaces FMS's."""
    membership, user = _user_and_membership(session, user_id)
    fields = _parse_user(payload)
    _check_unique(
        session, user_name=fields["user_name"], email=fields["email"], except_id=membership.id
    )
    _apply(session, actor=actor, membership=membership, user=user, fields=fields)
    return membership, user


def _apply(session, *, actor, membership, user, fields) -> None:
    before = {"email": user.email, "name": user.name, "active": membership.is_active}
    # An account that also belongs to other organizations is not this IdP's to rename or
    # re-address: its SCIM attributes stay on this membership only.
    shared = session.scalar(
        select(Membership.id)
        .where(Membership.user_id == user.id, Membership.org_id != membership.org_id)
        .limit(1)
        .execution_options(**{ALL_TENANTS: True})
    )
    if fields["email"] != user.email:
        if shared is not None:
            raise ScimError(
                409,
                "This account also belongs to other organizations; its email stays.",
                "mutability",
            )
        taken = session.scalar(
            select(User.id).where(User.email == fields["email"], User.id != user.id)
        )
        if taken:
            raise ScimError(409, "Another account uses this email.", "uniqueness")
        user.email = fields["email"]
    if shared is None:
        user.name = fields["name"]
    membership.scim_data = fields["data"]
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


def _set_active(session, *, actor, membership: Membership, active: bool) -> None:
    """Deactivation applies to this organization only and ends the sessions here at once."""
    membership.is_active = active
    session.flush()
    if not active:
        end_sessions(
            session, user_id=membership.user_id, org_id=membership.org_id, reason="deactivated"
        )
    audit.record(
        session,
        actor,
        "membership.activated" if active else "membership.deactivated",
        membership,
        before={"is_active": not active},
        after={"is_active": active, "via": "scim"},
    )


def _current_user_payload(membership: Membership, user: User) -> dict:
    body = user_body(membership, user, "")
    body.pop("meta")
    return body


def patch_user(session: Session, *, actor: Actor, user_id, operations: list):
    """PATCH: apply add/replace/remove operations (as Entra ID and Okta send them)."""
    membership, user = _user_and_membership(session, user_id)
    payload = _current_user_payload(membership, user)
    for op in _operations(operations):
        _patch_document(payload, op)
    fields = _parse_user(payload)
    _check_unique(
        session, user_name=fields["user_name"], email=fields["email"], except_id=membership.id
    )
    _apply(session, actor=actor, membership=membership, user=user, fields=fields)
    return membership, user


def delete_user(session: Session, *, actor: Actor, user_id) -> None:
    """DELETE: the membership is deactivated and no longer served; the account and its
    history stay (other organizations, the audit log)."""
    membership, user = _user_and_membership(session, user_id)
    if membership.is_active:
        _set_active(session, actor=actor, membership=membership, active=False)
    membership.scim_data = {**(membership.scim_data or {}), "deleted": True}
    membership.scim_user_name = None
    membership.scim_external_id = None
    for group in session.scalars(select(ScimGroup)):
        if membership.id in (group.member_ids or []):
            group.member_ids = [i for i in group.member_ids if i != membership.id]
    audit.record(session, actor, "membership.scim_deleted", membership)


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
        out.append({"op": op["op"].lower(), "path": op.get("path"), "value": op.get("value")})
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


def group_members(session: Session, group: ScimGroup) -> list[tuple[Membership, User]]:
    ids = list(group.member_ids or [])
    if not ids:
        return []
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.id.in_(ids))
        .order_by(Membership.id)
    ).all()
    return [(m, u) for m, u in rows]


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
            membership, _ = _user_and_membership(session, raw)
        except ScimError:
            raise ScimError(400, f"No user {raw!r} here.", "invalidValue") from None
        if membership.id not in ids:
            ids.append(membership.id)
    return ids


def _parse_group(session: Session, payload: dict) -> dict:
    if not isinstance(payload, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
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
        "members": [{"value": str(i)} for i in group.member_ids or []],
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


def sync_roles(session: Session, *, actor: Actor, membership_ids: list[int]) -> None:
    """Members whose SCIM groups map to roles get exactly those roles; the last active org
    admin keeps being one."""
    if not membership_ids:
        return
    org = session.get(Organization, actor.org_id)
    mapping = org.sso_group_roles or {}
    if not mapping:
        return
    groups = list(session.scalars(select(ScimGroup)))
    for membership_id in membership_ids:
        membership = session.get(Membership, membership_id)
        if membership is None or membership.org_id != actor.org_id:
            continue
        roles: set[str] = set()
        for group in groups:
            if membership_id in (group.member_ids or []):
                roles.update(mapping.get(group.display_name, []))
        if not roles:
            continue
        roles_list = sorted(roles)
        before = sorted(membership.roles or [])
        if roles_list == before:
            continue
        if "org_admin" in before and "org_admin" not in roles_list:
            others = session.scalars(
                select(Membership).where(
                    Membership.is_active.is_(True), Membership.id != membership.id
                )
            )
            if not any("org_admin" in (m.roles or []) for m in others):
                continue
        membership.roles = roles_list
        audit.record(
            session,
            actor,
            "membership.roles_changed",
            membership,
            before={"roles": before},
            after={"roles": roles_list, "via": "scim"},
        )
