"""API schemas of tokens and integrations: `XIn` for request bodies, `XOut` for answers."""

from marshmallow import Schema, fields, validate

from fms.api.common import Integer
from fms.identity.permissions import ROLES
from fms.identity.tokens.services import ALL_SCOPES, MAX_EXPIRY_DAYS

_scope = fields.String(validate=validate.OneOf(ALL_SCOPES))
_role = fields.String(validate=validate.OneOf(sorted(ROLES)))


class TokenIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    scopes = fields.List(
        _scope,
        required=True,
        validate=validate.Length(min=1, max=len(ALL_SCOPES)),
        metadata={"description": "area:read or area:write (write includes read)."},
    )
    expires_in_days = Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_EXPIRY_DAYS),
        metadata={"description": "Null: never expires (revoke it when it is no longer used)."},
    )


class TokenOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "integration or personal"})
    name = fields.String()
    prefix = fields.String(metadata={"description": "What the token starts with."})
    scopes = fields.List(fields.String())
    status = fields.String(metadata={"description": "active, expired or revoked"})
    service_account_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    last_used_ip = fields.String(allow_none=True)


class TokenCreatedOut(TokenOut):
    token = fields.String(
        metadata={"description": "The secret, shown this once: FMS keeps only its hash."}
    )


class CurrentTokenOut(TokenOut):
    org_id = fields.Integer()
    roles = fields.List(fields.String(), metadata={"description": "The principal's roles now."})


class ServiceAccountIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=500)
    )
    roles = fields.List(_role, required=True, validate=validate.Length(min=1))


class ServiceAccountPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=500))
    roles = fields.List(_role, validate=validate.Length(min=1))
    is_active = fields.Boolean(metadata={"description": "False: its tokens are refused."})


class ServiceAccountOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    is_active = fields.Boolean()
    created_at = fields.DateTime()
