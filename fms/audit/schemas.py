"""API schemas of the audit log."""

from marshmallow import Schema, fields, validate

from fms.api.common import ID_RANGE, Date, Integer, page_schema


class AuditEntryOut(Schema):
    id = fields.Integer()
    seq = fields.Integer()
    created_at = fields.DateTime()
    actor_user_id = fields.Integer(allow_none=True)
    channel = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.Integer(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    ip = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    # the API token the change was made through, and who that was in words
    actor_token_id = fields.Integer(allow_none=True)
    actor_label = fields.String(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


class AuditQuery(Schema):
    page = Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = Integer(load_default=50, validate=validate.Range(min=1, max=200))
    action = fields.String(validate=validate.Length(max=80))
    entity_type = fields.String(validate=validate.Length(max=60))
    entity_id = Integer(validate=ID_RANGE)
    actor_user_id = Integer(validate=ID_RANGE)
    date_from = Date()
    date_to = Date()


AuditEntryPage = page_schema(AuditEntryOut, "AuditEntryPage")
