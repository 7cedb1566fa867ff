"""Reads for the webhook pages and API: the organization's endpoints and a delivery log."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.webhooks.models import DELIVERY_STATES, WebhookDelivery, WebhookEndpoint


def list_endpoints(session: Session, *, actor: Actor, page: int = 1, per_page: int = 50):
    """(endpoints, total) of the organization, oldest first."""
    require(actor, "webhooks.manage")
    total = session.scalar(select(func.count()).select_from(WebhookEndpoint))
    rows = session.scalars(
        select(WebhookEndpoint)
        .order_by(WebhookEndpoint.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


def failing_counts(session: Session, endpoint_ids) -> dict[int, dict[str, int]]:
    """{endpoint id: {state: deliveries}} for the list page, in one statement."""
    counts: dict[int, dict[str, int]] = {i: {} for i in endpoint_ids}
    for endpoint_id, state, number in session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.state, func.count())
        .where(WebhookDelivery.endpoint_id.in_(list(endpoint_ids)))
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.state)
    ):
        counts[endpoint_id][state] = number
    return counts


def deliveries(
    session: Session, *, endpoint_id: int, state: str | None = None, page: int = 1, per_page=50
):
    """(deliveries, total) of one endpoint, newest first; `state` one of DELIVERY_STATES."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if state in DELIVERY_STATES:
        query = query.where(WebhookDelivery.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(WebhookDelivery.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return rows, total
