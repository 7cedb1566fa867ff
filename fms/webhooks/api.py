"""Webhook routes of /api/v1: endpoints, their secrets, their delivery log and resends.

Org admins only. Another organization's endpoint or delivery answers 404. A signing
secret is in the answer that creates it (POST, or the rotation) and nowhere else.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from fms.api import etag
from fms.api.common import API_PREFIX, PageArgs, page_body
from fms.extensions import db
from fms.identity.permissions import require
from fms.identity.web_session import current_actor
from fms.webhooks import queries, schemas, services
from fms.webhooks.events import EVENTS

blp = Blueprint(
    "webhooks_api",
    __name__,
    url_prefix=API_PREFIX,
    description="Signed webhooks: endpoints, secrets and deliveries",
)
conflict = blp.alt_response(409, response="CONFLICT")


@blp.route("/webhooks/events")
class WebhookEvents(MethodView):
    @blp.response(200, schemas.EventTypeOut(many=True))
    def get(self):
        """The event types an endpoint may choose. Each delivery's body is
        `{id, type, time, data}`, `data` being the record as this API shows it."""
        require(current_actor(), services.PERMISSION)
        return [{"type": e.name, "label": e.label} for e in EVENTS.values()]


@blp.route("/webhooks")
class WebhookEndpoints(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.EndpointPage)
    def get(self, args):
        """The organization's webhook endpoints (never their secrets)."""
        rows, total = queries.list_endpoints(
            db.session, actor=current_actor(), page=args["page"], per_page=args["per_page"]
        )
        return page_body(rows, total, args)

    @blp.arguments(schemas.EndpointIn)
    @blp.response(201, schemas.EndpointCreatedOut)
    @conflict
    def post(self, data):
        """Register an endpoint. The answer carries its signing secret, this once.

        The URL must be https (outside development) to a public address; private,
        loopback and link-local addresses are refused (422)."""
        endpoint, secret = services.create_endpoint(db.session, actor=current_actor(), **data)
        db.session.commit()
        shown = {name: getattr(endpoint, name) for name in schemas.EndpointOut().fields}
        return shown | {"secret": secret}


@blp.route("/webhooks/<int:endpoint_id>")
class WebhookEndpointById(MethodView):
    @etag.documented
    @blp.response(200, schemas.EndpointOut)
    def get(self, endpoint_id: int):
        endpoint = services.get_endpoint(db.session, actor=current_actor(), endpoint_id=endpoint_id)
        return etag.tagged(endpoint, schemas.EndpointOut)

    @etag.documented
    @blp.arguments(schemas.EndpointPatchIn)
    @blp.response(200, schemas.EndpointOut)
    def patch(self, data, endpoint_id: int):
        """Change the URL, description, events or active flag; what is left out stays.
        With `If-Match` (the endpoint's ETag) only if nobody changed it meanwhile."""
        actor = current_actor()
        endpoint = services.get_endpoint(db.session, actor=actor, endpoint_id=endpoint_id)
        etag.check_if_match(lambda: endpoint, schemas.EndpointOut, lock=endpoint)
        endpoint = services.update_endpoint(
            db.session, actor=actor, endpoint_id=endpoint_id, **data
        )
        db.session.commit()
        return etag.tagged(endpoint, schemas.EndpointOut)

    @blp.response(204)
    def delete(self, endpoint_id: int):
        """Remove the endpoint and its delivery log; undelivered events are not sent."""
        services.delete_endpoint(db.session, actor=current_actor(), endpoint_id=endpoint_id)
        db.session.commit()


@blp.route("/webhooks/<int:endpoint_id>/secret-rotation")
class WebhookSecretRotation(MethodView):
    @blp.response(200, schemas.SecretOut)
    @conflict
    def post(self, endpoint_id: int):
        """A new signing secret, shown this once. Until `previous_secret_expires_at` both
        secrets sign every delivery (two `v1,` signatures in `webhook-signature`)."""
        endpoint, secret = services.rotate_secret(
            db.session, actor=current_actor(), endpoint_id=endpoint_id
        )
        db.session.commit()
        return {"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at}


@blp.route("/webhooks/<int:endpoint_id>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.arguments(schemas.DeliveryQuery, location="query")
    @blp.response(200, schemas.DeliveryPage)
    def get(self, args, endpoint_id: int):
        """The endpoint's delivery log, newest first: state, attempts, the last attempt's
        status code, response time and error."""
        services.get_endpoint(db.session, actor=current_actor(), endpoint_id=endpoint_id)
        rows, total = queries.deliveries(
            db.session,
            endpoint_id=endpoint_id,
            state=args["state"],
            page=args["page"],
            per_page=args["per_page"],
        )
        return page_body(rows, total, args)


@blp.route("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>")
class WebhookDeliveryById(MethodView):
    @blp.response(200, schemas.DeliveryDetailOut)
    def get(self, endpoint_id: int, delivery_id: int):
        """One delivery, with the body as it was signed and sent."""
        return services.get_delivery(
            db.session, actor=current_actor(), endpoint_id=endpoint_id, delivery_id=delivery_id
        )


@blp.route("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
class WebhookDeliveryResend(MethodView):
    @blp.response(200, schemas.DeliveryDetailOut)
    def post(self, endpoint_id: int, delivery_id: int):
        """Send the delivery again with the same id (due now, a fresh day of retries)."""
        actor = current_actor()
        services.resend_delivery(
            db.session, actor=actor, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
        db.session.commit()
        return services.get_delivery(
            db.session, actor=actor, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
