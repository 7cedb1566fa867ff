"""API schemas of workforce."""

from marshmallow import Schema, fields, validate

from fms.api.common import page_schema


class UnitOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class UnitIn(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=30))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class UnitPatchIn(Schema):
    code = fields.String(validate=validate.Length(min=1, max=30))
    name = fields.String(validate=validate.Length(min=1, max=120))
    is_active = fields.Boolean()


class LocationOut(UnitOut):
    country = fields.String()
    city = fields.String(allow_none=True)


class LocationIn(UnitIn):
    country = fields.String(required=True, validate=validate.Length(equal=2))
    city = fields.String(load_default=None, validate=validate.Length(max=120))


class LocationPatchIn(UnitPatchIn):
    country = fields.String(validate=validate.Length(equal=2))
    city = fields.String(validate=validate.Length(max=120))


class FreelancerOut(Schema):
    id = fields.Integer()
    legal_name = fields.String()
    display_name = fields.String()
    email = fields.String()
    country = fields.String()
    timezone = fields.String()
    currency = fields.String()
    headline = fields.String(allow_none=True)
    created_at = fields.DateTime()


class FreelancerQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    country = fields.String(validate=validate.Length(equal=2))
    q = fields.String(validate=validate.Length(max=100))


FreelancerPage = page_schema(FreelancerOut, "FreelancerPage")
