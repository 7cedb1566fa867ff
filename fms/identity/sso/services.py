"""Single sign-on: the rules for connections, domains, the SSO policy and SSO sign-ins.

Services flush and never commit. Sign-in failures raise `SsoSignInFailed`, which carries the
organization (known from the connection) so the caller can write the audit entry after
rolling back everything else.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.encryption import encrypt
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.permissions import ROLES, require
from fms.identity.services import normalise_email
from fms.identity.sso import SsoSignInFailed, invitations, oidc, provisioning, saml
from fms.identity.sso.models import (
    AUDIENCES,
    CLIENT_AUTH_METHODS,
    DEFAULT_ALGORITHMS,
    ROLES_MANAGED_BY,
    ExternalIdentity,
    SamlAssertionSeen,
    SsoConnection,
    SsoDomain,
    SsoLoginRequest,
)
from fms.outbound import check_outbound_url
from fms.tenancy import ALL_TENANTS, get_in_org, scope_session
from fms.timekeeping import utcnow

LOGIN_REQUEST_TTL = timedelta(minutes=10)
# groups too: without them a group-to-role mapping maps nothing
DEFAULT_SCOPES = "openid email profile groups"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ALL = {ALL_TENANTS: True}

log = logging.getLogger(__name__)


@dataclass
class SignedIn:
    """Who an identity provider signed in, in which organization, and where to go next."""

    user: User
    org_id: int
    connection: SsoConnection
    next_url: str | None = None
    id_token: str | None = None  # kept for RP-initiated logout


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- connections ---------------------------------------------------------------------------


def _role_fields(data: dict, errors: dict) -> dict:
    """Who decides roles (the IdP's groups, or FMS's members page), and whether a sign-in
    whose groups map to no role is refused: settings of both protocols."""
    out: dict = {}
    if data.get("roles_managed_by") is not None:
        if data["roles_managed_by"] not in ROLES_MANAGED_BY:
            errors["roles_managed_by"] = ["The identity provider (idp) or FMS (fms)."]
        out["roles_managed_by"] = data["roles_managed_by"]
    if data.get("refuse_unmapped") is not None:
        out["refuse_unmapped"] = bool(data["refuse_unmapped"])
    if data.get("group_roles") is not None:
        try:
            out["group_roles"] = check_group_roles(data["group_roles"])
        except InvalidInput as exc:
            errors.update(exc.errors)
    if data.get("default_roles") is not None:
        try:
            out["default_roles"] = _role_codes(data["default_roles"], field="default_roles")
        except InvalidInput as exc:
            errors.update(exc.errors)
        if not out.get("default_roles") and "default_roles" not in errors:
            errors["default_roles"] = ["Choose at least one role."]
    return out


def _role_codes(roles, *, field: str) -> list[str]:
    """Roles by their code (`hiring_manager`) or as the UI shows them (`Hiring manager`)."""
    by_label = {label.lower(): code for code, label in ROLES.items()}
    codes = set()
    for role in roles or []:
        text = str(role).strip()
        code = text if text in ROLES else by_label.get(text.lower())
        if code is None:
            raise InvalidInput(
                f"Unknown role: {text}.",
                errors={field: [f"{text or '(empty)'}: use " + ", ".join(ROLES.values())]},
            )
        codes.add(code)
    return sorted(codes)


def _saml_fields(data: dict, *, creating: bool) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict = _role_fields(data, errors)
    if "name" in data or creating:
        name = (data.get("name") or "").strip()
        if not name or len(name) > 200:
            errors["name"] = ["Give the connection a name people will recognise."]
        out["name"] = name
    if "audience" in data or creating:
        audience = data.get("audience") or "staff"
        if audience not in AUDIENCES:
            errors["audience"] = ["Staff or freelancers."]
        out["audience"] = audience
    xml = (data.get("idp_metadata_xml") or "").strip()
    url = (data.get("idp_metadata_url") or "").strip()
    if url and not xml:
        try:
            xml = _fetch_metadata(url)
            out["idp_metadata_url"] = url
        except InvalidInput as exc:
            errors["idp_metadata_url"] = list(exc.errors.get("idp_metadata_url", [exc.detail]))
    if xml:
        try:
            out["idp_entity_id"] = saml.parse_idp_metadata(xml)
            out["idp_metadata_xml"] = xml
        except saml.SamlError as exc:
            errors["idp_metadata_xml"] = [exc.message]
    elif creating and "idp_metadata_url" not in errors:
        errors["idp_metadata_xml"] = ["Upload the IdP's metadata, or give its metadata URL."]
    for flag in ("is_active", "jit_provisioning", "allow_idp_initiated"):
        if flag in data and data[flag] is not None:
            out[flag] = bool(data[flag])
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    return out


def _fetch_metadata(url: str) -> str:
    import requests

    from fms import outbound

    try:
        response = outbound.fetch(url, field="idp_metadata_url")
        response.raise_for_status()
    except requests.RequestException as exc:
        log.warning("SAML metadata fetch from %r failed: %s", url, type(exc).__name__)
        raise InvalidInput(
            "The metadata could not be fetched.",
            errors={"idp_metadata_url": ["The metadata could not be fetched."]},
        ) from None
    return response.text


def _connection_fields(
    data: dict, *, creating: bool, protocol: str = "oidc", current_issuer: str | None = None
) -> dict:
    if protocol == "saml":
        return _saml_fields(data, creating=creating)
    errors: dict[str, list[str]] = {}
    out: dict = _role_fields(data, errors)
    if "name" in data or creating:
        name = (data.get("name") or "").strip()
        if not name or len(name) > 200:
            errors["name"] = ["Give the connection a name people will recognise."]
        out["name"] = name
    if "audience" in data or creating:
        audience = data.get("audience") or "staff"
        if audience not in AUDIENCES:
            errors["audience"] = ["Staff or freelancers."]
        out["audience"] = audience
    if "issuer" in data or creating:
        issuer = (data.get("issuer") or "").strip()
        try:
            out["issuer"] = check_outbound_url(issuer, field="issuer")
            if creating or out["issuer"] != current_issuer:
                # a wrong issuer is an error now, not at the first person's sign-in
                oidc.discovery_document(out["issuer"])
        except InvalidInput as exc:
            errors.update(exc.errors)
        except oidc.OidcError as exc:
            errors["issuer"] = [_discovery_message(exc)]
    if "client_id" in data or creating:
        client_id = (data.get("client_id") or "").strip()
        if not client_id or len(client_id) > 255:
            errors["client_id"] = ["Required: the client (application) id from your IdP."]
        out["client_id"] = client_id
    if data.get("client_secret"):
        out["client_secret_encrypted"] = encrypt(data["client_secret"])
    elif creating:
        errors["client_secret"] = ["Required: the client secret from your IdP."]
    if data.get("token_endpoint_auth_method") is not None or creating:
        method = data.get("token_endpoint_auth_method") or "client_secret_basic"
        if method not in CLIENT_AUTH_METHODS:
            errors["token_endpoint_auth_method"] = ["client_secret_basic or client_secret_post."]
        out["token_endpoint_auth_method"] = method
    if "scopes" in data or creating:
        scopes = " ".join((data.get("scopes") or DEFAULT_SCOPES).split())
        if "openid" not in scopes.split():
            errors["scopes"] = ["Must include openid."]
        out["scopes"] = scopes
    for claim in ("claim_email", "claim_name", "claim_groups"):
        if claim in data:
            value = (data.get(claim) or "").strip()
            if not value or len(value) > 100:
                errors[claim] = ["Name the claim."]
            out[claim] = value
    if "algorithms" in data or creating:
        algorithms = list(data.get("algorithms") or DEFAULT_ALGORITHMS)
        refused = [a for a in algorithms if a not in oidc.SUPPORTED_ALGORITHMS]
        if refused or not algorithms:
            errors["algorithms"] = [
                "Allowed: " + ", ".join(oidc.SUPPORTED_ALGORITHMS) + " (never none or HMAC)."
            ]
        out["algorithms"] = algorithms
    for flag in ("is_active", "jit_provisioning"):
        if flag in data and data[flag] is not None:
            out[flag] = bool(data[flag])
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    return out


def _discovery_message(exc: oidc.OidcError) -> str:
    if exc.reason == "issuer_mismatch":
        return (
            "The discovery document at this address names another issuer: enter the issuer "
            "exactly as the IdP states it (mind the trailing slash)."
        )
    if exc.reason == "idp_unreachable":
        return "No discovery document could be read at <issuer>/.well-known/openid-configuration."
    return exc.message


def _public_view(connection: SsoConnection) -> dict:
    view = {
        "name": connection.name,
        "protocol": connection.protocol,
        "audience": connection.audience,
        "is_active": connection.is_active,
        "jit_provisioning": connection.jit_provisioning,
        "roles_managed_by": connection.roles_managed_by,
        "refuse_unmapped": connection.refuse_unmapped,
        "group_roles": dict(connection.group_roles or {}),
        "default_roles": list(connection.default_roles or []),
    }
    if connection.protocol == "saml":
        view.update(
            idp_entity_id=connection.idp_entity_id,
            idp_metadata_url=connection.idp_metadata_url,
            allow_idp_initiated=connection.allow_idp_initiated,
        )
    else:
        view.update(
            issuer=connection.issuer,
            client_id=connection.client_id,
            scopes=connection.scopes,
            algorithms=list(connection.algorithms or []),
            token_endpoint_auth_method=connection.token_endpoint_auth_method,
        )
    return view


def create_connection(
    session: Session, *, actor: Actor, protocol: str = "oidc", **data
) -> SsoConnection:
    """Org admins connect an OpenID Connect (client secret stored encrypted) or SAML 2.0
    (IdP metadata uploaded or fetched) identity provider."""
    require(actor, "sso.manage")
    if protocol not in ("oidc", "saml"):
        raise InvalidInput("OpenID Connect or SAML 2.0.", errors={"protocol": ["Unknown."]})
    fields = _connection_fields(data, creating=True, protocol=protocol)
    connection = SsoConnection(org_id=actor.org_id, protocol=protocol, **fields)
    session.add(connection)
    session.flush()
    audit.record(
        session, actor, "sso_connection.created", connection, after=_public_view(connection)
    )
    return connection


def update_connection(
    session: Session, *, actor: Actor, connection_id: int, **data
) -> SsoConnection:
    """Change a connection; an empty secret keeps the stored one (it is never shown)."""
    require(actor, "sso.manage")
    connection = get_connection(session, actor=actor, connection_id=connection_id)
    before = _public_view(connection)
    secret_changed = bool(data.get("client_secret"))
    fields = _connection_fields(
        data, creating=False, protocol=connection.protocol, current_issuer=connection.issuer
    )
    for key, value in fields.items():
        setattr(connection, key, value)
    after = _public_view(connection)
    if after != before or secret_changed:
        if secret_changed:
            after["client_secret"] = "changed"  # noqa: S105 - a marker, not the secret
        audit.record(
            session, actor, "sso_connection.updated", connection, before=before, after=after
        )
        oidc.clear_cache()
    return connection


def delete_connection(session: Session, *, actor: Actor, connection_id: int) -> None:
    """Remove a connection; people linked through it keep their accounts."""
    require(actor, "sso.manage")
    connection = get_connection(session, actor=actor, connection_id=connection_id)
    session.execute(
        update(SsoLoginRequest)
        .where(SsoLoginRequest.connection_id == connection.id)
        .values(consumed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    identities = session.scalars(
        select(ExternalIdentity).where(ExternalIdentity.connection_id == connection.id)
    ).all()
    if identities:
        raise RuleViolation(
            "People sign in through this connection; deactivate it instead of deleting it."
        )
    session.execute(
        SsoLoginRequest.__table__.delete().where(
            SsoLoginRequest.__table__.c.connection_id == connection.id
        )
    )
    audit.record(
        session, actor, "sso_connection.deleted", connection, before=_public_view(connection)
    )
    session.delete(connection)
    session.flush()


def list_connections(session: Session, *, actor: Actor) -> list[SsoConnection]:
    require(actor, "sso.manage")
    return list(session.scalars(select(SsoConnection).order_by(SsoConnection.name)))


def get_connection(session: Session, *, actor: Actor, connection_id: int) -> SsoConnection:
    require(actor, "sso.manage")
    return get_in_org(session, SsoConnection, connection_id, what="connection")


def test_connection(session: Session, *, actor: Actor, connection_id: int) -> dict:
    """Fetch what the connection depends on now (OIDC discovery and keys, SAML metadata) and
    say what was found; changes nothing."""
    connection = get_connection(session, actor=actor, connection_id=connection_id)
    if connection.protocol == "saml":
        return saml.probe(connection)
    return oidc.probe(connection)


def group_mapping_warnings(connection: SsoConnection) -> list[str]:
    """Why the connection's group-to-role mapping may map nothing."""
    if not connection.group_roles or connection.roles_managed_by == "fms":
        return []
    if connection.audience != "staff":
        return []
    warnings = []
    if connection.protocol == "oidc" and not (connection.claim_groups or "").strip():
        warnings.append(
            f"{connection.name}: no groups claim is set, so the group-to-role mapping maps "
            "nothing and everyone gets the default roles."
        )
    if connection.protocol == "oidc" and "groups" not in (connection.scopes or "").split():
        warnings.append(
            f"{connection.name}: the scopes do not ask for groups, so your IdP may send none "
            "and the group-to-role mapping gives everyone the default roles. Add the groups "
            "scope, or let FMS manage roles for this connection."
        )
    return warnings


# --- domains -------------------------------------------------------------------------------


def add_domain(session: Session, *, actor: Actor, domain: str) -> SsoDomain:
    """Claim an email domain; it routes sign-ins only once verified."""
    require(actor, "sso.manage")
    domain = (domain or "").strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise InvalidInput(
            "Enter a domain such as example.com.", errors={"domain": ["Not a domain."]}
        )
    if session.scalar(select(SsoDomain.id).where(SsoDomain.domain == domain)):
        raise InvalidInput(
            f"{domain} is already listed.", errors={"domain": ["Already listed here."]}
        )
    claim = SsoDomain(org_id=actor.org_id, domain=domain)
    session.add(claim)
    session.flush()
    audit.record(session, actor, "sso_domain.added", claim, after={"domain": domain})
    return claim


def txt_records(domain: str) -> list[str]:
    """The domain's DNS TXT records (empty when there are none or DNS does not answer)."""
    import dns.exception
    import dns.resolver

    try:
        answers = dns.resolver.resolve(domain, "TXT", lifetime=5)
    except dns.exception.DNSException:
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answers]


def verify_domain(session: Session, *, actor: Actor, domain_id: int) -> SsoDomain:
    """Verify a claimed domain by its DNS TXT token; one organization alone can own it.

    With FMS_DOMAIN_VERIFICATION=dns (the default) the token must be published in the
    domain's TXT records; `manual` (trying FMS out offline, tests) trusts the admin.
    """
    from flask import current_app

    require(actor, "sso.manage")
    claim = get_in_org(session, SsoDomain, domain_id, what="domain")
    if claim.verified_at is not None:
        return claim
    by_dns = current_app.config.get("FMS_DOMAIN_VERIFICATION", "dns") != "manual"
    if by_dns and claim.verification_token not in txt_records(claim.domain):
        raise RuleViolation(
            f"The TXT record {claim.verification_token} was not found at {claim.domain} "
            "yet. Publish it (DNS changes can take a while) and try again."
        )
    owner = session.scalar(
        select(SsoDomain.org_id)
        .where(SsoDomain.verified_domain == claim.domain)
        .execution_options(**_ALL)
    )
    if owner is not None:
        raise RuleViolation(f"{claim.domain} is verified by another organization.")
    claim.verified_domain, claim.verified_at = claim.domain, utcnow()
    session.flush()
    audit.record(session, actor, "sso_domain.verified", claim, after={"domain": claim.domain})
    return claim


def remove_domain(session: Session, *, actor: Actor, domain_id: int) -> None:
    require(actor, "sso.manage")
    claim = get_in_org(session, SsoDomain, domain_id, what="domain")
    audit.record(session, actor, "sso_domain.removed", claim, before={"domain": claim.domain})
    session.delete(claim)
    session.flush()


def get_domain(session: Session, *, actor: Actor, domain_id: int) -> SsoDomain:
    require(actor, "sso.manage")
    return get_in_org(session, SsoDomain, domain_id, what="domain")


def set_domain_connection(
    session: Session, *, actor: Actor, domain_id: int, connection_id: int | None
) -> SsoDomain:
    """Choose the staff connection people of a domain are sent to (None: the oldest active
    staff connection). Another organization's connection is not found; a freelancer
    connection is refused."""
    require(actor, "sso.manage")
    claim = get_in_org(session, SsoDomain, domain_id, what="domain")
    if connection_id is not None:
        connection = get_in_org(session, SsoConnection, connection_id, what="connection")
        if connection.audience != "staff":
            raise InvalidInput(
                "Only a staff connection can sign in a domain's people.",
                errors={"connection_id": ["Choose a staff connection."]},
            )
    if claim.connection_id == connection_id:
        return claim
    before = {"domain": claim.domain, "connection_id": claim.connection_id}
    claim.connection_id = connection_id
    session.flush()
    audit.record(
        session,
        actor,
        "sso_domain.connection_chosen",
        claim,
        before=before,
        after={"domain": claim.domain, "connection_id": connection_id},
    )
    return claim


def list_domains(session: Session, *, actor: Actor) -> list[SsoDomain]:
    require(actor, "sso.manage")
    return list(session.scalars(select(SsoDomain).order_by(SsoDomain.domain)))


# --- policy --------------------------------------------------------------------------------


def check_group_roles(mapping) -> dict[str, list[str]]:
    """A group-to-role mapping: group names (as the IdP sends them) to known roles."""
    if not isinstance(mapping, dict):
        raise InvalidInput("Map group names to roles.", errors={"group_roles": ["Not a mapping."]})
    clean: dict[str, list[str]] = {}
    for group, roles in mapping.items():
        group = str(group).strip()
        if not group or not isinstance(roles, list | tuple) or not roles:
            raise InvalidInput(
                f"Group {group!r}: name a group and at least one role.",
                errors={"group_roles": [f"{group or '(empty)'}: name at least one role."]},
            )
        clean[group] = _role_codes(roles, field="group_roles")
    return clean


def update_policy(session: Session, *, actor: Actor, sso_required: bool) -> Organization:
    """Set "SSO required". Requiring it ends the sessions its policy no longer admits (only
    this organization's own IdP, or a break-glass admin's password-and-code session)."""
    require(actor, "sso.manage")
    org = session.get(Organization, actor.org_id)
    before = {"sso_required": org.sso_required}
    turning_on = sso_required and not org.sso_required
    if turning_on and not (_has_break_glass_admin(session) and _has_active_connection(session)):
        raise RuleViolation(
            "Before requiring SSO, add an active staff connection and mark at least "
            "one org admin as break-glass, so nobody is locked out."
        )
    org.sso_required = bool(sso_required)
    after = {"sso_required": org.sso_required}
    if after != before:
        audit.record(session, actor, "sso_policy.updated", org, before=before, after=after)
        if turning_on:
            _end_password_sessions(session, org_id=org.id)
    session.flush()
    return org


def _has_break_glass_admin(session: Session) -> bool:
    members = session.scalars(
        select(Membership).where(Membership.is_active.is_(True), Membership.break_glass.is_(True))
    )
    return any("org_admin" in (m.roles or []) for m in members)


def _has_active_connection(session: Session) -> bool:
    return (
        session.scalar(
            select(SsoConnection.id).where(
                SsoConnection.is_active.is_(True), SsoConnection.audience == "staff"
            )
        )
        is not None
    )


def _end_password_sessions(session: Session, *, org_id: int) -> None:
    """End the live sessions in the organization that its SSO policy no longer admits
    (the same rule `actor_for` applies on every request; this makes it immediate)."""
    from fms.identity.services import actor_for

    live = session.scalars(
        select(SignInSession).where(
            SignInSession.current_org_id == org_id, SignInSession.ended_at.is_(None)
        )
    ).all()
    for record in live:
        if actor_for(session, record, ip=None, request_id=None, channel="web") is None:
            record.ended_at, record.end_reason = utcnow(), "sso_required"


# --- home-realm discovery ------------------------------------------------------------------


def connection_for_email(session: Session, *, email: str) -> SsoConnection | None:
    """The staff connection of the organization that verified the email's domain, if any."""
    try:
        domain = normalise_email(email).rsplit("@", 1)[1]
    except InvalidInput:
        return None
    claim = session.scalar(
        select(SsoDomain).where(SsoDomain.verified_domain == domain).execution_options(**_ALL)
    )
    if claim is None:
        return None
    org_id = claim.org_id
    if claim.connection_id is not None:
        # the admin's choice, and no other: a switched-off choice sends nobody elsewhere
        return session.scalar(
            select(SsoConnection)
            .where(
                SsoConnection.id == claim.connection_id,
                SsoConnection.org_id == org_id,
                SsoConnection.audience == "staff",
                SsoConnection.is_active.is_(True),
            )
            .execution_options(**_ALL)
        )
    # none chosen: the oldest active staff connection
    return session.scalars(
        select(SsoConnection)
        .where(
            SsoConnection.org_id == org_id,
            SsoConnection.is_active.is_(True),
            SsoConnection.audience == "staff",
        )
        .order_by(SsoConnection.id)
        .execution_options(**_ALL)
    ).first()


def mail_freelancer_sign_in_link(session: Session, *, email: str, start_url) -> None:
    """A returning freelancer (no company domain routes them) gets their sign-in link by
    mail: the sign-in page answers the same for every address, so it reveals neither that
    an account exists nor which organization it works with. `start_url(connection)` gives
    the link."""
    from flask import render_template

    from fms.notifications.services import queue_mail

    try:
        email = normalise_email(email)
    except InvalidInput:
        return
    connections = session.scalars(
        select(SsoConnection)
        .join(ExternalIdentity, ExternalIdentity.connection_id == SsoConnection.id)
        .join(User, User.id == ExternalIdentity.user_id)
        .where(
            User.email == email,
            User.is_active.is_(True),
            SsoConnection.is_active.is_(True),
            SsoConnection.audience == "freelancers",
        )
        .order_by(ExternalIdentity.last_sign_in_at.desc())
        .execution_options(**_ALL)
    ).all()
    if not connections:
        return
    links = [(c.name, start_url(c)) for c in dict.fromkeys(connections)]
    queue_mail(
        session,
        org_id=None,  # the mail names the organizations: no organization's outbox shows it
        kind="sign_in_link",
        to=email,
        subject="Your FMS sign-in",
        body_text=render_template("mail/sign_in_link.txt", links=links),
    )


def connection_by_key(session: Session, *, key: str, protocol: str = "oidc") -> SsoConnection:
    connection = session.scalar(
        select(SsoConnection)
        .where(SsoConnection.public_key == (key or ""), SsoConnection.protocol == protocol)
        .execution_options(**_ALL)
    )
    if connection is None or not connection.is_active:
        raise NotFound("This sign-in option does not exist or was switched off.")
    return connection


# --- OpenID Connect sign-in ----------------------------------------------------------------


def begin_oidc(
    session: Session,
    *,
    connection: SsoConnection,
    browser_binding: str,
    redirect_uri: str,
    next_url: str | None,
    invitation_id: int | None = None,
) -> str:
    """Keep a new login request on the server and return the IdP's authorization URL."""
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    try:
        url = oidc.authorization_url(
            connection,
            redirect_uri=redirect_uri,
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )
    except (oidc.OidcError, InvalidInput) as exc:
        message = exc.message if isinstance(exc, oidc.OidcError) else exc.detail
        reason = exc.reason if isinstance(exc, oidc.OidcError) else "idp_url_refused"
        raise SsoSignInFailed(
            message, reason=reason, org_id=connection.org_id, connection_id=connection.id
        ) from None
    request = SsoLoginRequest(
        org_id=connection.org_id,
        state_hash=_hash(state),
        connection_id=connection.id,
        browser_hash=_hash(browser_binding),
        nonce=nonce,
        code_verifier=verifier,
        next_url=next_url,
        invitation_id=invitation_id,
    )
    scope_session(session, connection.org_id)
    session.add(request)
    session.flush()
    scope_session(session, None)
    return url


def _take_login_request(
    session: Session, *, state: str, browser_binding: str | None
) -> tuple[SsoLoginRequest, SsoConnection]:
    """The pending request this answer belongs to, consumed now (single use)."""
    request = session.scalar(
        select(SsoLoginRequest)
        .where(SsoLoginRequest.state_hash == _hash(state or ""))
        .execution_options(**_ALL)
    )
    if request is None:
        # a forged or mangled state: the organization is the one this browser was signing in
        # to (its pending request), so the attempt lands in that organization's audit log
        pending = None
        if browser_binding:
            pending = session.scalars(
                select(SsoLoginRequest)
                .where(SsoLoginRequest.browser_hash == _hash(browser_binding))
                .order_by(SsoLoginRequest.id.desc())
                .limit(1)
                .execution_options(**_ALL)
            ).first()
        raise SsoSignInFailed(
            "This sign-in link is not one FMS started. Start again from the sign-in page.",
            reason="unknown_state",
            org_id=pending.org_id if pending else None,
            connection_id=pending.connection_id if pending else None,
        )
    connection = session.scalar(
        select(SsoConnection)
        .where(SsoConnection.id == request.connection_id)
        .execution_options(**_ALL)
    )

    def fail(message, reason):
        raise SsoSignInFailed(
            message, reason=reason, org_id=request.org_id, connection_id=request.connection_id
        )

    if request.consumed_at is not None:
        fail("This sign-in was already used. Start again from the sign-in page.", "replayed_state")
    consumed = session.execute(
        update(SsoLoginRequest)
        .where(SsoLoginRequest.id == request.id, SsoLoginRequest.consumed_at.is_(None))
        .values(consumed_at=utcnow())
        .execution_options(synchronize_session=False, **_ALL)
    ).rowcount
    if consumed != 1:
        fail("This sign-in was already used. Start again from the sign-in page.", "replayed_state")
    if not browser_binding or _hash(browser_binding) != request.browser_hash:
        fail(
            "This sign-in was started in another browser. Start again from the sign-in page.",
            "state_other_browser",
        )
    if utcnow() - request.created_at > LOGIN_REQUEST_TTL:
        fail("The sign-in took too long. Start again from the sign-in page.", "state_expired")
    if connection is None or not connection.is_active:
        fail("This sign-in option was switched off.", "connection_inactive")
    return request, connection


def complete_oidc(
    session: Session,
    *,
    state: str,
    code: str | None,
    error: str | None,
    iss: str | None,
    browser_binding: str | None,
    redirect_uri: str,
    ip: str | None,
) -> SignedIn:
    """Check the IdP's answer end to end and return who signed in, in which organization."""
    request, connection = _take_login_request(session, state=state, browser_binding=browser_binding)

    def fail(message, reason):
        raise SsoSignInFailed(
            message, reason=reason, org_id=connection.org_id, connection_id=connection.id
        )

    if iss is not None and iss != connection.issuer:  # RFC 9207: answer from another IdP
        fail("The answer came from another identity provider.", "issuer_mismatch")
    if error or not code:
        fail("The identity provider did not sign you in.", f"idp_error:{(error or 'no_code')[:40]}")
    try:
        tokens = oidc.exchange_code(
            connection, redirect_uri=redirect_uri, code=code, code_verifier=request.code_verifier
        )
        claims = oidc.validate_id_token(connection, tokens.get("id_token"), nonce=request.nonce)
        info = oidc.fetch_userinfo(connection, tokens.get("access_token"), subject=claims["sub"])
    except oidc.OidcError as exc:
        fail(exc.message, exc.reason)
    except InvalidInput as exc:
        fail(exc.detail, "idp_url_refused")
    profile = {**claims, **info}
    # a missing email_verified is not a yes: the IdP did not vouch for the address
    if not _email_verified_in(profile):
        fail("Your identity provider has not verified your email address.", "email_unverified")
    if request.invitation_id is not None:
        user = invitations.redeem(
            session,
            invitation_id=request.invitation_id,
            connection=connection,
            issuer=connection.issuer,
            subject=str(claims["sub"]),
            email=profile.get(connection.claim_email),
            email_verified=_email_verified_in(profile),
            name=profile.get(connection.claim_name),
            ip=ip,
        )
        return SignedIn(
            user=user,
            org_id=connection.org_id,
            connection=connection,
            next_url=request.next_url,
            id_token=tokens.get("id_token"),
        )
    groups = profile.get(connection.claim_groups) or []
    if isinstance(groups, str):
        groups = [groups]
    user = provisioning.provision(
        session,
        connection=connection,
        issuer=connection.issuer,
        subject=str(claims["sub"]),
        email=profile.get(connection.claim_email),
        name=profile.get(connection.claim_name),
        groups=[str(g) for g in groups],
        ip=ip,
    )
    return SignedIn(
        user=user,
        org_id=connection.org_id,
        connection=connection,
        next_url=request.next_url,
        id_token=tokens.get("id_token"),
    )


# --- SAML 2.0 sign-in ----------------------------------------------------------------------


def begin_saml(
    session: Session,
    *,
    connection: SsoConnection,
    base_url: str,
    next_url: str | None,
    invitation_id: int | None = None,
) -> str:
    """Keep the AuthnRequest's ID on the server (the IdP's POST back carries no cookie of
    ours) and return the IdP's URL."""
    try:
        request_id, url = saml.begin(connection, base_url, relay_state=secrets.token_urlsafe(16))
    except saml.SamlError as exc:
        raise SsoSignInFailed(
            exc.message, reason=exc.reason, org_id=connection.org_id, connection_id=connection.id
        ) from None
    scope_session(session, connection.org_id)
    session.add(
        SsoLoginRequest(
            org_id=connection.org_id,
            state_hash=_hash("saml:" + request_id),
            connection_id=connection.id,
            browser_hash="-",
            nonce="-",
            code_verifier="-",
            next_url=next_url,
            invitation_id=invitation_id,
        )
    )
    session.flush()
    scope_session(session, None)
    return url


def complete_saml(
    session: Session,
    *,
    connection: SsoConnection,
    saml_response: str,
    base_url: str,
    ip: str | None,
) -> SignedIn:
    """Check a SAML response end to end and return who signed in."""

    def fail(message, reason):
        raise SsoSignInFailed(
            message, reason=reason, org_id=connection.org_id, connection_id=connection.id
        )

    try:
        checked = saml.precheck(saml_response)
    except saml.SamlError as exc:
        fail(exc.message, exc.reason)
    outstanding: dict[str, str] = {}
    next_url = invitation_id = None
    in_response_to = checked.in_response_to
    if in_response_to:
        request = session.scalar(
            select(SsoLoginRequest)
            .where(
                SsoLoginRequest.state_hash == _hash("saml:" + in_response_to),
                SsoLoginRequest.connection_id == connection.id,
            )
            .execution_options(**_ALL)
        )
        if request is None:
            fail(
                "FMS did not ask for this sign-in. Start from the sign-in page.", "unknown_request"
            )
        consumed = session.execute(
            update(SsoLoginRequest)
            .where(SsoLoginRequest.id == request.id, SsoLoginRequest.consumed_at.is_(None))
            .values(consumed_at=utcnow())
            .execution_options(synchronize_session=False, **_ALL)
        ).rowcount
        if consumed != 1:
            fail("This sign-in was already used. Start again.", "replayed_request")
        if utcnow() - request.created_at > LOGIN_REQUEST_TTL:
            fail("The sign-in took too long. Start again from the sign-in page.", "request_expired")
        outstanding = {in_response_to: request.next_url or "/"}
        next_url = request.next_url
        invitation_id = request.invitation_id
    elif not connection.allow_idp_initiated:
        fail(
            "Your organization allows sign-ins started from FMS only. Start from the sign-in page.",
            "unsolicited",
        )
    try:
        response = saml.parse(
            connection,
            base_url,
            saml_response=saml_response,
            outstanding=outstanding,
            remote_addr=ip,
            checked=checked,
        )
    except saml.SamlError as exc:
        fail(exc.message, exc.reason)
    assertion_id = response.assertion.id
    scope_session(session, connection.org_id)
    seen = session.scalar(
        select(SamlAssertionSeen.id).where(
            SamlAssertionSeen.connection_id == connection.id,
            SamlAssertionSeen.assertion_id == assertion_id,
        )
    )
    if seen is not None:
        fail("This sign-in answer was already used.", "replayed_assertion")
    session.add(
        SamlAssertionSeen(
            org_id=connection.org_id,
            connection_id=connection.id,
            assertion_id=assertion_id,
            expires_at=saml.not_on_or_after(response),
        )
    )
    session.flush()
    who = saml.identity_of(response)
    if not who["subject"]:
        fail("The identity provider did not say who you are.", "no_subject")
    if invitation_id is not None:
        user = invitations.redeem(
            session,
            invitation_id=invitation_id,
            connection=connection,
            issuer=connection.idp_entity_id,
            subject=who["subject"],
            email=who["email"],
            email_verified=True,  # asserted, signed, by the organization's chosen IdP
            name=who["name"],
            ip=ip,
        )
        return SignedIn(
            user=user, org_id=connection.org_id, connection=connection, next_url=next_url
        )
    user = provisioning.provision(
        session,
        connection=connection,
        issuer=connection.idp_entity_id,
        subject=who["subject"],
        email=who["email"],
        name=who["name"],
        groups=[str(g) for g in who["groups"]],
        ip=ip,
    )
    return SignedIn(user=user, org_id=connection.org_id, connection=connection, next_url=next_url)


def _email_verified_in(profile: dict) -> bool:
    """Whether the IdP vouches for the address: OIDC's `email_verified`, or Microsoft Entra
    ID's `xms_edov` ("email domain owner verified"; Entra sends no email_verified)."""
    return _email_verified(profile.get("email_verified")) or _email_verified(
        profile.get("xms_edov")
    )


def _email_verified(value) -> bool:
    """OIDC's email_verified: only an explicit yes counts (true, or the string "true" some
    IdPs send); missing, null, false, "false" or anything else is unverified."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def purge_stale_sign_in_state(session: Session) -> int:
    """Housekeeping (a periodic sweep): login requests past their lifetime, and assertion IDs
    that could no longer be accepted anyway."""
    seen = SamlAssertionSeen.__table__
    requests_table = SsoLoginRequest.__table__
    removed = session.execute(seen.delete().where(seen.c.expires_at < utcnow())).rowcount
    removed += session.execute(
        requests_table.delete().where(
            requests_table.c.created_at < utcnow() - LOGIN_REQUEST_TTL * 6
        )
    ).rowcount
    return removed


def record_failure(
    session: Session, *, failure: SsoSignInFailed, ip: str | None, request_id: str | None
) -> None:
    """Audit a refused SSO sign-in in the connection's organization (nobody signed in)."""
    if failure.org_id is None:
        return
    actor = Actor(user_id=None, org_id=failure.org_id, ip=ip, request_id=request_id)
    audit.record(
        session,
        actor,
        "sso.sign_in_failed",
        entity_type="sso_connection",
        entity_id=failure.connection_id,
        after={"reason": failure.reason},
        org_id=failure.org_id,
    )
