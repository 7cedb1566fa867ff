"""Webhook endpoints: register, change, remove, rotate the secret; resend a delivery.

Org admins only (`webhooks.manage`). A URL goes through the outbound-request rules
(fms.outbound: no private, loopback or link-local address unless FMS_SSO_ALLOWED_HOSTS
names the host), and outside development and test it must be https. The secret is
generated here, returned once, and stored encrypted. Every change is audited (the secret
never is: the entry says it was set or rotated).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.config import is_relaxed
from fms.encryption import encrypt
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.input import nfc
from fms.outbound import check_outbound_url
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.webhooks import rules, signing
from fms.webhooks.emission import queue_drain, retry_window
from fms.webhooks.events import EVENTS
from fms.webhooks.models import WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS = 25
MAX_URL = 2000
MAX_DESCRIPTION = 500
DEFAULT_OVERLAP_HOURS = 24
PERMISSION = "webhooks.manage"
NOT_A_URL = "Enter a full https:// address."


def get_endpoint(session: Session, *, actor: Actor, endpoint_id) -> WebhookEndpoint:
    """An endpoint of the actor's organization (NotFound otherwise) that they may manage."""
    endpoint = get_in_org(session, WebhookEndpoint, endpoint_id, what="webhook endpoint")
    require(actor, PERMISSION)
    return endpoint


def get_delivery(session: Session, *, actor: Actor, endpoint_id, delivery_id) -> WebhookDelivery:
    """A delivery of one of the organization's endpoints, or NotFound."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    delivery = get_in_org(session, WebhookDelivery, delivery_id, what="delivery")
    if delivery.endpoint_id != endpoint.id:
        raise NotFound("No such delivery.")
    return delivery


def check_url(url) -> str:
    """A receiver's URL: http(s) to a public address (fms.outbound's rules), https outside
    development and test, at most 2000 characters."""
    text = nfc(str(url or "")).strip()
    if not text:
        raise InvalidInput("Enter the receiver's https:// address.", errors={"url": ["Required."]})
    if len(text) > MAX_URL:
        raise InvalidInput(
            f"At most {MAX_URL} characters.", errors={"url": [f"At most {MAX_URL} characters."]}
        )
    try:
        parts = urlsplit(text)
    except ValueError:  # "http://[::1" and other unbalanced brackets
        raise InvalidInput(
            "Enter a full https:// address.", errors={"url": ["Not a URL."]}
        ) from None
    if parts.username or parts.password:
        raise InvalidInput(
            "Leave credentials out of the address; verify the signature instead.",
            errors={"url": ["No user name or password in the address."]},
        )
    if parts.scheme != "https" and not is_relaxed(current_app.config):
        raise InvalidInput("Webhook addresses must use https.", errors={"url": ["Use https://."]})
    try:
        return check_outbound_url(text, field="url")
    except InvalidInput as exc:  # the helper speaks of identity providers: say webhook
        raise InvalidInput(rules.in_webhook_words(exc.detail), errors=exc.errors) from None


def _events_in(events) -> list[str]:
    if isinstance(events, str):
        events = [events]
    chosen = {str(e).strip() for e in (events or [])}
    unknown = sorted(chosen - set(EVENTS))
    if unknown:
        raise InvalidInput(
            f"Unknown event: {', '.join(unknown)}.",
            errors={"events": [f"Choose from: {', '.join(EVENTS)}."]},
        )
    if not chosen:
        raise InvalidInput("Choose at least one event.", errors={"events": ["Choose one or more."]})
    return [name for name in EVENTS if name in chosen]  # the registry's order


def _description_in(text) -> str:
    text = nfc(str(text or "")).strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"At most {MAX_DESCRIPTION} characters.",
            errors={"description": [f"At most {MAX_DESCRIPTION} characters."]},
        )
    return text


def _snapshot(endpoint: WebhookEndpoint) -> dict:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "is_active": endpoint.is_active,
    }


def create_endpoint(
    session: Session, *, actor: Actor, url, events, description="", is_active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; its signing secret is returned here, and never again."""
    require(actor, PERMISSION)
    values = {
        "url": check_url(url),
        "events": _events_in(events),
        "description": _description_in(description),
        "is_active": bool(is_active),
    }
    count = session.scalar(select(func.count()).select_from(WebhookEndpoint))
    if count >= MAX_ENDPOINTS:
        raise RuleViolation(f"An organization has at most {MAX_ENDPOINTS} webhook endpoints.")
    secret = signing.new_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        org_id=actor.org_id,
        secret_encrypted=encrypt(secret),
        created_by_user_id=actor.user_id,
        created_at=now,
        updated_at=now,
        **values,
    )
    session.add(endpoint)
    session.flush()
    audit.record(
        session, actor, "webhook_endpoint.created", endpoint, after=values | {"secret": secret}
    )
    return endpoint, secret


def update_endpoint(session: Session, *, actor: Actor, endpoint_id, **fields) -> WebhookEndpoint:
    """Change the URL, description, events or active flag (what is not given stays)."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    changes = {}
    if "url" in fields:
        changes["url"] = check_url(fields["url"])
    if "events" in fields:
        changes["events"] = _events_in(fields["events"])
    if "description" in fields:
        changes["description"] = _description_in(fields["description"])
    if "is_active" in fields:
        changes["is_active"] = bool(fields["is_active"])
    before = _snapshot(endpoint)
    changes = {k: v for k, v in changes.items() if before[k] != v}
    if not changes:
        return endpoint
    for key, value in changes.items():
        setattr(endpoint, key, value)
    endpoint.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        "webhook_endpoint.updated",
        endpoint,
        before={k: before[k] for k in changes},
        after=changes,
    )
    return endpoint


def delete_endpoint(session: Session, *, actor: Actor, endpoint_id) -> None:
    """Remove an endpoint with its delivery log; what it had not received is not sent."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    audit.record(session, actor, "webhook_endpoint.deleted", endpoint, before=_snapshot(endpoint))
    session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .execution_options(synchronize_session=False)
    )
    session.delete(endpoint)
    session.flush()


def overlap() -> timedelta:
    hours = current_app.config.get("FMS_WEBHOOK_SECRET_OVERLAP_HOURS")
    return timedelta(hours=float(DEFAULT_OVERLAP_HOURS if hours is None else hours))


def rotate_secret(session: Session, *, actor: Actor, endpoint_id) -> tuple[WebhookEndpoint, str]:
    """A new secret, returned once; the current one keeps signing beside it for the overlap
    (FMS_WEBHOOK_SECRET_OVERLAP_HOURS, default 24), so receivers can switch without losing
    an event. A secret older than that is dropped."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    secret = signing.new_secret()
    now = utcnow()
    changed = session.execute(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint.id,
            WebhookEndpoint.secret_encrypted == endpoint.secret_encrypted,
        )
        .values(
            previous_secret_encrypted=endpoint.secret_encrypted,
            previous_secret_expires_at=now + overlap(),
            secret_encrypted=encrypt(secret),
            secret_rotated_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise RuleViolation("The secret was rotated a moment ago; reload and try again.")
    session.refresh(endpoint)
    audit.record(
        session,
        actor,
        "webhook_endpoint.secret_rotated",
        endpoint,
        after={"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at},
    )
    return endpoint, secret


def resend_delivery(session: Session, *, actor: Actor, endpoint_id, delivery_id) -> WebhookDelivery:
    """Send a delivery again, with the same id (receivers drop what they have seen): due
    now, with a fresh day of retries, whatever its state."""
    delivery = get_delivery(session, actor=actor, endpoint_id=endpoint_id, delivery_id=delivery_id)
    now = utcnow()
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id)
        .values(
            state="pending",
            next_attempt_at=now,
            retry_until=now + retry_window(),
            failed_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor,
        "webhook_delivery.resent",
        delivery,
        before={"state": delivery.state},
        after={"message_id": delivery.message_id, "endpoint_id": delivery.endpoint_id},
    )
    queue_drain(session, [delivery.message_id])
    session.refresh(delivery)
    return delivery
