"""Draining the webhook deliveries: at least once, the same `webhook-id` on every attempt.

`deliver_due` is a drain loop like the mail outbox's (fms.notifications.sender), not a
business service: it owns its transactions. One delivery at a time it
1. claims the oldest due row (pending, next_attempt_at <= now; FOR UPDATE SKIP LOCKED on
   PostgreSQL) with a conditional UPDATE that pushes next_attempt_at past a lease and
   counts the attempt, reads what the attempt needs, and commits: no transaction stays open
   while FMS waits on the receiver (on SQLite that would hold the one writer lock);
2. posts the body through fms.outbound (the private-address rule, the address pinned
   between check and connect, no redirects, short timeouts), signed for this attempt;
3. records the outcome: delivered on a 2xx answer; otherwise the next attempt after an
   exponential back-off (fms.webhooks.rules), or failed once `retry_until` has passed. The
   status code, response time and error of the last attempt stay on the row.

A crash between 1 and 3 loses nothing: the row is due again after its lease.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fms import outbound
from fms.encryption import decrypt
from fms.errors import InvalidInput
from fms.tenancy import ALL_TENANTS
from fms.timekeeping import utcnow
from fms.webhooks import rules, signing
from fms.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

USER_AGENT = "FMS-Webhooks/1"
MAX_ANSWER_BYTES = 64 * 1024  # FMS reads the status; a receiver's body is not kept
_ALL = {ALL_TENANTS: True}


@dataclass
class DeliveryCounts:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, state: str) -> None:
        """Count one attempt's outcome: the delivery's new state."""
        name = {"delivered": "delivered", "pending": "retrying"}.get(state, "failed")
        setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "retrying": self.retrying, "failed": self.failed}

    def __str__(self) -> str:
        return f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} failed"


@dataclass(frozen=True)
class Claimed:
    """What one attempt needs, read while the row was claimed."""

    id: int
    endpoint_id: int
    message_id: str
    body: str
    url: str
    secrets: list[str] = field(repr=False)
    attempts: int
    retry_until: datetime


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    response_ms: int
    error: str | None = None


def timeouts(config) -> tuple[float, float]:
    """(connect, read) seconds: short, so a slow receiver does not hold the drain."""
    return (
        float(config.get("FMS_WEBHOOK_CONNECT_TIMEOUT") or 3),
        float(config.get("FMS_WEBHOOK_READ_TIMEOUT") or 5),
    )


def lease(config) -> timedelta:
    """How long a claimed row stays out of other drains' reach."""
    connect, read = timeouts(config)
    return max(timedelta(minutes=2), timedelta(seconds=4 * (connect + read)))


def deliver_due(
    session: Session, *, limit: int = 100, message_ids: list[str] | None = None
) -> DeliveryCounts:
    """Attempt up to `limit` due deliveries (only `message_ids`, when given).

    A receiver that gave no answer at all (unreachable, refused, timed out) is not tried
    again in this drain: its other deliveries stay due for the next one, so one dead
    receiver costs one timeout per drain, not one per delivery."""
    counts = DeliveryCounts()
    config = current_app.config
    silent: set[int] = set()
    for _ in range(limit):
        claimed = _claim_next(session, lease=lease(config), message_ids=message_ids, skip=silent)
        if claimed is None:
            break
        outcome = post(claimed, timeout=timeouts(config))
        counts.add(_record(session, claimed, outcome))
        session.commit()
        if outcome.status_code is None:
            silent.add(claimed.endpoint_id)
    return counts


def drain_inline(app, *, message_ids: list[str]) -> None:
    """The embedded default: deliver what a transaction just wrote, right after its commit,
    in a fresh app context; a failure is logged, never raised into the request."""
    from fms.extensions import db

    try:
        with app.app_context():
            try:
                deliver_due(db.session, limit=len(message_ids), message_ids=message_ids)
            finally:
                db.session.remove()
    except Exception:
        log.exception("inline webhook delivery failed; `flask fms webhooks deliver` retries")


def _due(now: datetime, message_ids, skip):
    query = select(WebhookDelivery.id).where(
        WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now
    )
    if skip:
        query = query.where(WebhookDelivery.endpoint_id.not_in(sorted(skip)))
    if message_ids is not None:
        query = query.where(WebhookDelivery.message_id.in_(message_ids))
    return query.order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(1)


def _claim_next(session: Session, *, lease: timedelta, message_ids=None, skip=()) -> Claimed | None:
    """The oldest due delivery, claimed for this drain (committed), or None."""
    for _ in range(20):  # another drain may win a row between our read and our update
        now = utcnow()
        pick = _due(now, message_ids, skip)
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        delivery_id = session.scalar(pick.execution_options(**_ALL))
        if delivery_id is None:
            session.rollback()
            return None
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + lease, attempts=WebhookDelivery.attempts + 1)
            .execution_options(synchronize_session=False, **_ALL)
        ).rowcount
        if claimed != 1:
            session.commit()
            continue
        row = session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id == delivery_id)
            .execution_options(populate_existing=True, **_ALL)
        ).one()
        delivery, endpoint = row
        found = Claimed(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            message_id=delivery.message_id,
            body=delivery.body,
            url=endpoint.url,
            secrets=signing_secrets(endpoint, now),
            attempts=delivery.attempts,
            retry_until=delivery.retry_until,
        )
        session.commit()
        return found
    return None


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, then the previous one while its overlap lasts (those no key of
    FMS_ENCRYPTION_KEYS opens are left out)."""
    found = [decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        found.append(decrypt(endpoint.previous_secret_encrypted))
    return [s for s in found if s]


def post(claimed: Claimed, *, timeout: tuple[float, float]) -> Outcome:
    """One signed attempt; the answer's status, or what went wrong, and how long it took."""
    body = claimed.body.encode()
    if not claimed.secrets:
        return Outcome(None, 0, "The signing secret cannot be read: rotate it.")
    headers = signing.headers(
        claimed.secrets, message_id=claimed.message_id, timestamp=int(time.time()), body=body
    )
    headers |= {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    started = time.perf_counter()
    status, error = None, None
    try:
        response = outbound.fetch(
            claimed.url,
            field="url",
            method="POST",
            headers=headers,
            data=body,
            timeout=timeout,
            max_bytes=MAX_ANSWER_BYTES,
        )
        status = response.status_code
    except InvalidInput as exc:  # the address is refused now (DNS changed, setting changed)
        error = rules.in_webhook_words(exc.detail)
    except (outbound.RedirectRefused, outbound.ResponseTooLarge) as exc:
        status = exc.response.status_code if exc.response is not None else None
        error = None if rules.delivered(status) else str(exc)
    except requests.Timeout:
        error = f"No answer within {timeout[0]:g} s to connect or {timeout[1]:g} s to reply."
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    elapsed = int((time.perf_counter() - started) * 1000)
    if error is None and not rules.delivered(status):
        error = f"The receiver answered {status}."
    return Outcome(status, elapsed, error)


def _record(session: Session, claimed: Claimed, outcome: Outcome) -> str:
    """Write what happened to a claimed delivery; returns its new state."""
    now = utcnow()
    values = {
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_response_ms": outcome.response_ms,
        "last_error": outcome.error[:2000] if outcome.error else None,
    }
    if rules.delivered(outcome.status_code):
        values |= {"state": "delivered", "delivered_at": now}
    else:
        following = rules.next_attempt(
            attempts=claimed.attempts, now=now, retry_until=claimed.retry_until
        )
        if following is None:
            values |= {"state": "failed", "failed_at": now}
        else:
            values["next_attempt_at"] = following
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.id,
            WebhookDelivery.state == "pending",
            WebhookDelivery.attempts == claimed.attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False, **_ALL)
    )
    state = values.get("state", "pending")
    log.info(
        "webhook delivery %r attempt %r: %s (%s, %s ms)",
        claimed.id,
        claimed.attempts,
        state,
        outcome.status_code,
        outcome.response_ms,
    )
    return state


def body_of(delivery: WebhookDelivery) -> dict:
    return json.loads(delivery.body)
