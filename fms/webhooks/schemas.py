"""API schemas of webhooks: `XIn` for request bodies and arguments, `XOut` for answers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fms.api.common import PageArgs, page_schema
from fms.webhooks.events import EVENTS
from fms.webhooks.models import DELIVERY_STATES
from fms.webhooks.services import MAX_DESCRIPTION, MAX_URL

_EVENTS = {"description": "Event types, from `GET /api/v1/webhooks/events`."}


class EndpointIn(Schema):
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_URL),
        metadata={"description": "The receiver's address: https, on a public host."},
    )
    description = fields.String(load_default="", validate=validate.Length(max=MAX_DESCRIPTION))
    events = fields.List(
        fields.String(validate=validate.OneOf(list(EVENTS))),
        required=True,
        validate=validate.Length(min=1, max=len(EVENTS)),
        metadata=_EVENTS,
    )
    is_active = fields.Boolean(load_default=True)


class EndpointPatchIn(Schema):
    url = fields.String(validate=validate.Length(min=1, max=MAX_URL))
    description = fields.String(validate=validate.Length(max=MAX_DESCRIPTION))
    events = fields.List(
        fields.String(validate=validate.OneOf(list(EVENTS))),
        validate=validate.Length(min=1, max=len(EVENTS)),
        metadata=_EVENTS,
    )
    is_active = fields.Boolean()


class EndpointOut(Schema):
    id = fields.Integer()
    url = fields.String()
    description = fields.String()
    events = fields.List(fields.String())
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    secret_rotated_at = fields.DateTime(allow_none=True)
    previous_secret_expires_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "Until then the previous secret also signs (a second v1)."},
    )


class EndpointCreatedOut(EndpointOut):
    secret = fields.String(
        metadata={"description": "The signing secret (whsec_...): shown this once, never again."}
    )


class SecretOut(Schema):
    secret = fields.String(metadata={"description": "The new signing secret, shown once."})
    previous_secret_expires_at = fields.DateTime(
        metadata={"description": "The previous secret signs beside the new one until then."}
    )


class EventTypeOut(Schema):
    type = fields.String()
    label = fields.String()


class DeliveryQuery(PageArgs):
    state = fields.String(load_default=None, validate=validate.OneOf(list(DELIVERY_STATES)))


class DeliveryOut(Schema):
    id = fields.Integer()
    message_id = fields.String(
        metadata={"description": "The `webhook-id` header and the body's `id`, on every attempt."}
    )
    event_type = fields.String()
    state = fields.String(metadata={"description": "pending, delivered or failed."})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    retry_until = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_response_ms = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    failed_at = fields.DateTime(allow_none=True)


class DeliveryDetailOut(DeliveryOut):
    body = fields.String(metadata={"description": "The JSON body exactly as signed and sent."})


EndpointPage = page_schema(EndpointOut, "WebhookEndpointPage")
DeliveryPage = page_schema(DeliveryOut, "WebhookDeliveryPage")
