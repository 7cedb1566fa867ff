"""Single sign-on routes of /api/v1: connections, domains and the SSO policy (org admins)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from fms.api import etag
from fms.api.common import API_PREFIX, ID_RANGE, Integer
from fms.extensions import db
from fms.identity.models import Organization
from fms.identity.sso import oidc
from fms.identity.sso import services as sso
from fms.identity.sso.models import AUDIENCES, CLIENT_AUTH_METHODS, ROLES_MANAGED_BY
from fms.identity.sso.scim import services as scim
from fms.identity.web_session import current_actor

blp = Blueprint(
    "sso_api", __name__, url_prefix=API_PREFIX, description="Single sign-on (org admins)"
)

_algorithm = fields.String(validate=validate.OneOf(oidc.SUPPORTED_ALGORITHMS))
_AUTH_METHOD_DOC = {
    "description": "How FMS authenticates at the token endpoint (OIDC): "
    + "; ".join(f"{k}: {v}" for k, v in CLIENT_AUTH_METHODS.items())
}
_ROLES_DOC = {
    "description": "Who decides roles: idp (groups mapped at every sign-in and SCIM change) "
    "or fms (the members page; sign-ins leave roles alone)."
}
_REFUSE_DOC = {
    "description": "Refuse a sign-in whose groups map to no role, instead of giving the "
    "default roles (when roles_managed_by is idp)."
}


def _auth_method(**kwargs):
    return fields.String(
        validate=validate.OneOf(sorted(CLIENT_AUTH_METHODS)), metadata=_AUTH_METHOD_DOC, **kwargs
    )


_GROUP_ROLES_DOC = {
    "description": "IdP group name -> FMS roles (codes such as hiring_manager, or the names "
    'the UI shows, such as "Hiring manager").'
}


def _group_roles(**kwargs):
    return fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=255)),
        values=fields.List(fields.String(validate=validate.Length(max=100))),
        metadata=_GROUP_ROLES_DOC,
        **kwargs,
    )


def _default_roles(**kwargs):
    return fields.List(
        fields.String(validate=validate.Length(max=100)),
        validate=validate.Length(min=1, max=10),
        metadata={"description": "Roles of people whose groups map to none."},
        **kwargs,
    )


def _roles_managed_by(**kwargs):
    return fields.String(
        validate=validate.OneOf(sorted(ROLES_MANAGED_BY)), metadata=_ROLES_DOC, **kwargs
    )


class ConnectionOut(Schema):
    id = fields.Integer()
    name = fields.String()
    protocol = fields.String()
    audience = fields.String()
    issuer = fields.String(allow_none=True, metadata={"description": "OIDC only; null for SAML."})
    client_id = fields.String(
        allow_none=True, metadata={"description": "OIDC only; null for SAML."}
    )
    has_client_secret = fields.Function(
        lambda c: bool(c.client_secret_encrypted), metadata={"type": "boolean"}
    )
    scopes = fields.String()
    claim_email = fields.String()
    claim_name = fields.String()
    claim_groups = fields.String()
    algorithms = fields.List(fields.String())
    token_endpoint_auth_method = fields.String(metadata=_AUTH_METHOD_DOC)
    roles_managed_by = fields.String(metadata=_ROLES_DOC)
    group_roles = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), metadata=_GROUP_ROLES_DOC
    )
    default_roles = fields.List(fields.String())
    refuse_unmapped = fields.Boolean(metadata=_REFUSE_DOC)
    idp_entity_id = fields.String(allow_none=True)
    idp_metadata_url = fields.String(allow_none=True)
    allow_idp_initiated = fields.Boolean()
    is_active = fields.Boolean()
    jit_provisioning = fields.Boolean()
    sign_in_path = fields.Function(
        lambda c: f"/sso/{c.protocol}/{c.public_key}/start", metadata={"type": "string"}
    )
    saml_metadata_path = fields.Function(
        lambda c: f"/sso/saml/{c.public_key}/metadata" if c.protocol == "saml" else None,
        allow_none=True,
        metadata={"type": ["string", "null"], "description": "SAML only; null for OIDC."},
    )
    created_at = fields.DateTime()


class ConnectionIn(Schema):
    protocol = fields.String(load_default="oidc", validate=validate.OneOf(["oidc", "saml"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    audience = fields.String(load_default="staff", validate=validate.OneOf(sorted(AUDIENCES)))
    issuer = fields.String(
        validate=validate.Length(min=1, max=500), metadata={"description": "OIDC only."}
    )
    client_id = fields.String(
        validate=validate.Length(min=1, max=255), metadata={"description": "OIDC only."}
    )
    idp_metadata_url = fields.String(
        validate=validate.Length(max=500), metadata={"description": "SAML: fetched on save."}
    )
    idp_metadata_xml = fields.String(metadata={"description": "SAML: the IdP metadata."})
    allow_idp_initiated = fields.Boolean(load_default=False)
    client_secret = fields.String(
        load_only=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "Stored encrypted; never returned."},
    )
    scopes = fields.String()
    claim_email = fields.String()
    claim_name = fields.String()
    claim_groups = fields.String()
    algorithms = fields.List(_algorithm)
    token_endpoint_auth_method = _auth_method(load_default="client_secret_basic")
    roles_managed_by = _roles_managed_by(load_default="idp")
    group_roles = _group_roles(load_default=dict)
    default_roles = _default_roles(load_default=lambda: ["hiring_manager"])
    refuse_unmapped = fields.Boolean(load_default=False, metadata=_REFUSE_DOC)
    is_active = fields.Boolean(load_default=True)
    jit_provisioning = fields.Boolean(load_default=True)


class ConnectionPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    audience = fields.String(validate=validate.OneOf(sorted(AUDIENCES)))
    issuer = fields.String(validate=validate.Length(min=1, max=500))
    client_id = fields.String(validate=validate.Length(min=1, max=255))
    client_secret = fields.String(load_only=True, validate=validate.Length(min=1, max=1000))
    scopes = fields.String()
    claim_email = fields.String()
    claim_name = fields.String()
    claim_groups = fields.String()
    algorithms = fields.List(_algorithm)
    token_endpoint_auth_method = _auth_method()
    roles_managed_by = _roles_managed_by()
    group_roles = _group_roles()
    default_roles = _default_roles()
    refuse_unmapped = fields.Boolean(metadata=_REFUSE_DOC)
    idp_metadata_url = fields.String(validate=validate.Length(max=500))
    idp_metadata_xml = fields.String()
    allow_idp_initiated = fields.Boolean()
    is_active = fields.Boolean()
    jit_provisioning = fields.Boolean()


class DomainOut(Schema):
    id = fields.Integer()
    domain = fields.String()
    verification_token = fields.String(
        metadata={"description": "Publish as a DNS TXT record at the domain, then verify."}
    )
    verified = fields.Function(lambda d: d.verified_at is not None)
    verified_at = fields.DateTime(allow_none=True)
    connection_id = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The staff connection people of this domain sign in with; "
            "null: the oldest active staff connection."
        },
    )


class DomainIn(Schema):
    domain = fields.String(required=True, validate=validate.Length(min=3, max=253))


class DomainPatchIn(Schema):
    connection_id = Integer(
        allow_none=True,
        strict=True,
        validate=ID_RANGE,
        metadata={"description": "A staff connection of this organization, or null."},
    )


class FindingOut(Schema):
    level = fields.String(metadata={"description": "ok, warning or error"})
    text = fields.String()


class ConnectionTestOut(Schema):
    ok = fields.Boolean(metadata={"description": "No finding is an error."})
    findings = fields.List(fields.Nested(FindingOut))
    details = fields.Dict(
        metadata={
            "description": "What was read: endpoints, keys, auth methods, scopes; "
            "for SAML the entity ID, certificates and bindings."
        }
    )


class PolicyOut(Schema):
    sso_required = fields.Boolean()


class PolicyIn(Schema):
    sso_required = fields.Boolean(required=True)


@blp.route("/sso/connections")
class Connections(MethodView):
    @blp.response(200, ConnectionOut(many=True))
    def get(self):
        """Identity-provider connections of the current organization."""
        return sso.list_connections(db.session, actor=current_actor())

    @blp.arguments(ConnectionIn)
    @blp.response(201, ConnectionOut)
    def post(self, data: dict):
        """Connect an OpenID Connect identity provider."""
        connection = sso.create_connection(db.session, actor=current_actor(), **data)
        db.session.commit()
        return connection


@blp.route("/sso/connections/<int:connection_id>")
class ConnectionById(MethodView):
    @etag.documented
    @blp.response(200, ConnectionOut)
    def get(self, connection_id: int):
        connection = sso.get_connection(
            db.session, actor=current_actor(), connection_id=connection_id
        )
        return etag.tagged(connection, ConnectionOut)

    @etag.documented
    @blp.arguments(ConnectionPatchIn)
    @blp.response(200, ConnectionOut)
    def patch(self, data: dict, connection_id: int):
        """Change a connection; the secret only when given. With `If-Match` (the
        connection's ETag) only if nobody changed it meanwhile."""
        actor = current_actor()
        connection = sso.get_connection(db.session, actor=actor, connection_id=connection_id)
        etag.check_if_match(lambda: connection, ConnectionOut, lock=connection)
        connection = sso.update_connection(
            db.session, actor=actor, connection_id=connection_id, **data
        )
        db.session.commit()
        return etag.tagged(connection, ConnectionOut)

    @blp.response(204)
    def delete(self, connection_id: int):
        """Delete a connection nobody has signed in through yet."""
        sso.delete_connection(db.session, actor=current_actor(), connection_id=connection_id)
        db.session.commit()


@blp.route("/sso/connections/<int:connection_id>/test")
class ConnectionTest(MethodView):
    @blp.response(200, ConnectionTestOut)
    def post(self, connection_id: int):
        """Fetch the IdP's discovery document and keys (OIDC) or metadata (SAML) now and
        report what was found; changes nothing."""
        return sso.test_connection(db.session, actor=current_actor(), connection_id=connection_id)


@blp.route("/sso/domains")
class Domains(MethodView):
    @blp.response(200, DomainOut(many=True))
    def get(self):
        return sso.list_domains(db.session, actor=current_actor())

    @blp.arguments(DomainIn)
    @blp.response(201, DomainOut)
    def post(self, data: dict):
        """Claim an email domain for home-realm discovery (verify it next)."""
        claim = sso.add_domain(db.session, actor=current_actor(), domain=data["domain"])
        db.session.commit()
        return claim


@blp.route("/sso/domains/<int:domain_id>")
class DomainById(MethodView):
    @blp.arguments(DomainPatchIn)
    @blp.response(200, DomainOut)
    def patch(self, data: dict, domain_id: int):
        """Choose the staff connection this domain's people sign in with (home-realm
        discovery); null goes back to the oldest active staff connection."""
        actor = current_actor()
        if "connection_id" not in data:  # nothing to change
            return sso.get_domain(db.session, actor=actor, domain_id=domain_id)
        claim = sso.set_domain_connection(
            db.session, actor=actor, domain_id=domain_id, connection_id=data["connection_id"]
        )
        db.session.commit()
        return claim

    @blp.response(204)
    def delete(self, domain_id: int):
        sso.remove_domain(db.session, actor=current_actor(), domain_id=domain_id)
        db.session.commit()


@blp.route("/sso/domains/<int:domain_id>/verify")
class DomainVerify(MethodView):
    @blp.response(200, DomainOut)
    def post(self, domain_id: int):
        """Confirm the DNS TXT record is published; one organization alone owns a domain."""
        claim = sso.verify_domain(db.session, actor=current_actor(), domain_id=domain_id)
        db.session.commit()
        return claim


@blp.route("/sso/policy")
class Policy(MethodView):
    @blp.response(200, PolicyOut)
    def get(self):
        """Whether SSO is required (group-to-role mappings belong to each connection)."""
        actor = current_actor()
        sso.list_connections(db.session, actor=actor)  # permission check
        return db.session.get(Organization, actor.org_id)

    @blp.arguments(PolicyIn)
    @blp.response(200, PolicyOut)
    def patch(self, data: dict):
        org = sso.update_policy(db.session, actor=current_actor(), **data)
        db.session.commit()
        return org


# --- SCIM provisioning tokens ------------------------------------------------------------------


class ScimTokenIn(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Which IdP uses it, e.g. “Entra ID provisioning”."},
    )
    connection_id = Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=ID_RANGE,
        metadata={
            "description": "A staff connection whose role settings apply to what this token "
            "provisions; null: none."
        },
    )


class ScimTokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "The token's first characters."})
    connection_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewScimTokenOut(ScimTokenOut):
    token = fields.String(
        metadata={"description": "The token, shown this once: FMS keeps only its hash."}
    )


@blp.route("/sso/scim-tokens")
class ScimTokens(MethodView):
    @blp.response(200, ScimTokenOut(many=True))
    def get(self):
        """The organization's SCIM provisioning tokens, newest first (never the secrets)."""
        return scim.list_tokens(db.session, actor=current_actor())

    @blp.arguments(ScimTokenIn)
    @blp.response(201, NewScimTokenOut)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, data: dict):
        """Make a provisioning token for an identity provider's SCIM client (its base URL is
        `/scim/v2`). A person only (the session or a personal token): an integration does
        not mint credentials that provision people."""
        record, token = scim.create_token(db.session, actor=current_actor(), **data)
        body = {name: getattr(record, name) for name in ScimTokenOut._declared_fields}
        body["token"] = token
        db.session.commit()
        return body


@blp.route("/sso/scim-tokens/<int:token_id>/revocation")
class ScimTokenRevocation(MethodView):
    @blp.response(200, ScimTokenOut)
    def post(self, token_id: int):
        """Revoke a provisioning token: provisioning with it stops at once (already
        revoked: unchanged)."""
        record = scim.revoke_token(db.session, actor=current_actor(), token_id=token_id)
        db.session.commit()
        return record
