"""API schemas of the inbox: `XIn` for request bodies and arguments, `XOut` for responses."""

from marshmallow import Schema, fields, validate

from fms.api.common import PageArgs, page_schema
from fms.notifications.models import CHANNELS

_channel = fields.String(
    validate=validate.OneOf(sorted(CHANNELS)),
    metadata={"description": '"mail": inbox and mail; "inbox": inbox only.'},
)


class NotificationOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    url = fields.String(allow_none=True, metadata={"description": "A path inside FMS, or null."})
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


NotificationPageOut = page_schema(NotificationOut, "NotificationPageOut")


class NotificationListIn(PageArgs):
    unread = fields.Boolean(
        load_default=None,
        metadata={"description": "true: only unread; false: only read; absent: all."},
    )


class ReadAllOut(Schema):
    marked = fields.Integer(metadata={"description": "How many were unread and are now read."})


class PreferenceOut(Schema):
    kind = fields.String()
    label = fields.String()
    description = fields.String()
    default = _channel
    channel = _channel


class PreferenceIn(Schema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=60))
    channel = fields.String(required=True, validate=validate.OneOf(sorted(CHANNELS)))


class PreferencesIn(Schema):
    preferences = fields.List(
        fields.Nested(PreferenceIn),
        required=True,
        validate=validate.Length(max=200),
        metadata={"description": "Kinds to set; kinds left out keep their current choice."},
    )
