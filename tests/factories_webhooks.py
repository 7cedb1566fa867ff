"""Ids of real webhook rows for the tenancy route walk (tests/test_tenancy_routes.py): an
endpoint of the organization, and a failed delivery of one (so a resend is allowed)."""

from __future__ import annotations

import itertools
from datetime import timedelta

_seq = itertools.count(1)


# .invalid never resolves: a resend in the walk reaches no network
WALK_URL = "https://hooks.invalid/fms-walk"


def _endpoint(f, org):
    """One endpoint per organization (made again if a route deleted it), so a route's
    endpoint and delivery belong together."""
    from sqlalchemy import select

    from fms.encryption import encrypt
    from fms.webhooks.models import WebhookEndpoint
    from fms.webhooks.signing import new_secret
    from tests.factories import as_org

    with as_org(f.session, org.id):
        row = f.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.url == WALK_URL))
        if row is None:
            row = WebhookEndpoint(
                org_id=org.id,
                url=WALK_URL,
                events=["timesheet.approved"],
                secret_encrypted=encrypt(new_secret()),
            )
            f.session.add(row)
            f.session.flush()
    return row


def _delivery(f, org):
    from fms.timekeeping import utcnow
    from fms.webhooks.models import WebhookDelivery
    from tests.factories import as_org

    endpoint = _endpoint(f, org)
    with as_org(f.session, org.id):
        row = WebhookDelivery(
            org_id=org.id,
            endpoint_id=endpoint.id,
            message_id=f"msg_walk{next(_seq)}",
            event_type="timesheet.approved",
            body="{}",
            state="failed",
            retry_until=utcnow() + timedelta(days=1),
        )
        f.session.add(row)
        f.session.flush()
    return endpoint.id, row.id


ID_FACTORIES: dict = {
    "endpoint_id": lambda f, org: _endpoint(f, org).id,
    "delivery_id": lambda f, org: _delivery(f, org)[1],
}
