"""API schemas of identity: `XIn` for request bodies, `XOut` for responses."""

from marshmallow import Schema, fields, validate

from fms.api.common import LookupQuery, page_schema
from fms.identity.permissions import ROLES

_role = fields.String(validate=validate.OneOf(sorted(ROLES)))


class OrganizationOut(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    base_currency = fields.String()
    timezone = fields.String()
    standard_week_minutes = fields.Integer()
    locale = fields.String(metadata={"description": "How numbers, dates and money are shown."})
    created_at = fields.DateTime()


class OrganizationPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    base_currency = fields.String(validate=validate.Length(equal=3))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    locale = fields.String(
        validate=validate.Length(min=1, max=20),
        metadata={"description": "One of the offered locales (en, en_GB, de, fr, nl, ...)."},
    )


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()


class MembershipOut(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    user = fields.Nested(UserOut)
    roles = fields.List(fields.String())
    is_active = fields.Boolean()
    break_glass = fields.Boolean()
    created_at = fields.DateTime()
    last_sign_in_at = fields.DateTime(
        allow_none=True, metadata={"description": "The last sign-in into this organization."}
    )


class MembershipIn(Schema):
    """Invite a person: they become a member when they accept."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "Optional greeting name; they confirm their own name."},
    )
    roles = fields.List(_role, required=True, validate=validate.Length(min=1))


class MemberInvitationOut(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String(
        allow_none=True,
        metadata={"description": "The greeting name the inviter typed (the invitations list)."},
    )
    roles = fields.List(fields.String())
    status = fields.String(metadata={"description": "open, accepted, revoked or expired"})
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    link = fields.String(
        metadata={"description": "The invitation link; only in the answer that creates it."}
    )


class MembershipPatchIn(Schema):
    roles = fields.List(_role, validate=validate.Length(min=1))
    is_active = fields.Boolean()


class MeOut(Schema):
    user = fields.Nested(UserOut)
    organization = fields.Nested(OrganizationOut)
    roles = fields.List(fields.String())
    permissions = fields.List(fields.String())
    organizations = fields.List(fields.Nested(OrganizationOut))
    csrf_token = fields.String(metadata={"description": "Send as X-CSRFToken on writes."})
    locale = fields.String(
        allow_none=True,
        metadata={"description": "The person's own locale; null follows the organization's."},
    )


class MePatchIn(Schema):
    locale = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(max=20),
        metadata={"description": "One of the offered locales, or null to follow the organization."},
    )


MembershipPage = page_schema(MembershipOut, "MembershipPage")
InvitationPage = page_schema(MemberInvitationOut, "MemberInvitationPage")


class PeopleLookupQuery(LookupQuery):
    role = fields.List(
        fields.String(validate=validate.OneOf(sorted(ROLES))),
        load_default=list,
        metadata={"description": "Only people holding one of these roles (repeat the parameter)."},
    )
