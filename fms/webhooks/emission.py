"""From the areas' record events to delivery rows, in the business transaction.

Workforce, timesheets and compliance announce what happened to their records through
their hooks (`record_event.send("timesheet.approved", session=..., ids=[...])`); they do
not know webhooks. `collect` (connected at app start) only notes the event on the
session, without SQL. When that session commits, `write_deliveries` runs first, inside the
same transaction: one SELECT of the organizations' active endpoints and, when some chose
the events, the records' API bodies (a fixed number of statements per kind of record) and
one batch INSERT of the deliveries. So a rolled-back change sends nothing, a committed one
is never lost, and approving 500 timesheets costs the same few statements as approving one.

After the commit the deliveries are drained: an rq job when FMS_REDIS_URL is set,
otherwise inline at that point (at most FMS_WEBHOOK_INLINE_LIMIT of them: the rest wait
for `flask fms webhooks deliver`, which cron runs every minute).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session, scoped_session

from fms.database import savepoint_released
from fms.tenancy import ALL_TENANTS, scope_session, session_org_id
from fms.timekeeping import utcnow
from fms.webhooks import rules
from fms.webhooks.events import EVENTS
from fms.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

_PENDING = "fms_webhook_events"
_WRITTEN = "fms_webhook_deliveries"
DRAIN_JOB = "fms.webhooks.tasks.deliver"


@dataclass(frozen=True)
class Emitted:
    """One record event noted on a session, with the transaction it happened in."""

    transaction: object
    org_id: int
    type: str
    ids: tuple[int, ...]
    key: str | None
    at: datetime


def collect(event_type: str, *, session: Session, ids, key: str | None = None, **_) -> None:
    """An area's record event (a blinker receiver): noted, written at the commit.

    `key` makes the event once per endpoint (a daily sweep that runs twice sends once)."""
    if event_type not in EVENTS:
        raise ValueError(f"unregistered webhook event {event_type!r}")
    ids = tuple(int(i) for i in ids)
    org_id = session_org_id(session)
    if org_id is None:
        log.warning("%s of %r outside an organization's session: not sent", event_type, ids)
        return
    if not ids:
        return
    if isinstance(session, scoped_session):
        session = session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append(
        Emitted(transaction, org_id, event_type, ids, key, utcnow())
    )


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        write_deliveries(session, pending)


@event.listens_for(Session, "after_soft_rollback")
def _forget_savepoint(session: Session, previous_transaction) -> None:
    """A savepoint rolled back takes its events (and those of savepoints inside it) along."""
    pending = session.info.get(_PENDING)
    if pending and previous_transaction.parent is not None:
        session.info[_PENDING] = [
            e for e in pending if not _inside(e.transaction, previous_transaction)
        ]


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    """A transaction that ended without committing (rolled back, or closed) sends nothing;
    a committed one has written its events already (before_commit) and drained them."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WRITTEN, None)


def _inside(transaction, outer) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def write_deliveries(session: Session, pending: list[Emitted]) -> int:
    """The delivery rows of these events for every active endpoint that chose them."""
    orgs = {e.org_id for e in pending}
    chosen: dict[tuple[int, str], list[int]] = {}
    for endpoint_id, org_id, events in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.org_id, WebhookEndpoint.events)
        .where(WebhookEndpoint.org_id.in_(orgs), WebhookEndpoint.is_active.is_(True))
        .order_by(WebhookEndpoint.id)
        .execution_options(**{ALL_TENANTS: True})
    ):
        for name in events or []:
            chosen.setdefault((org_id, name), []).append(endpoint_id)
    wanted = [e for e in pending if (e.org_id, e.type) in chosen]
    if not wanted:
        return 0
    data = _bodies(session, wanted)
    window = retry_window()
    rows = []
    for emitted in wanted:
        builder = EVENTS[emitted.type].build
        for record_id in emitted.ids:
            record = data.get((emitted.org_id, builder), {}).get(record_id)
            if record is None:
                continue
            for endpoint_id in chosen[(emitted.org_id, emitted.type)]:
                rows.append(_row(emitted, endpoint_id, record_id, record, window))
    if not rows:
        return 0
    insert = _insert_for(session)
    session.execute(
        insert(WebhookDelivery)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "dedupe_key"])
        .execution_options(insertmanyvalues_page_size=5000),
        rows,
    )
    queue_drain(session, [r["message_id"] for r in rows])
    log.info("%d webhook deliveries queued", len(rows))
    return len(rows)


def _bodies(session: Session, wanted: list[Emitted]) -> dict:
    """{(org_id, builder): {id: data}}: each kind of record built once per organization."""
    asked: dict[tuple[int, object], set[int]] = {}
    for emitted in wanted:
        asked.setdefault((emitted.org_id, EVENTS[emitted.type].build), set()).update(emitted.ids)
    previous = session_org_id(session)
    out = {}
    try:
        for (org_id, build), ids in asked.items():
            scope_session(session, org_id)  # the API bodies read within that organization
            out[(org_id, build)] = build(session, org_id, sorted(ids))
    finally:
        scope_session(session, previous)
    return out


def _row(emitted: Emitted, endpoint_id: int, record_id: int, record: dict, window) -> dict:
    message_id = f"msg_{uuid.uuid4().hex}"
    envelope = {
        "id": message_id,
        "type": emitted.type,
        "time": emitted.at.isoformat().replace("+00:00", "Z"),
        "data": record,
    }
    return {
        "org_id": emitted.org_id,
        "endpoint_id": endpoint_id,
        "message_id": message_id,
        "event_type": emitted.type,
        "body": json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
        "dedupe_key": (
            None if emitted.key is None else f"{emitted.type}:{record_id}:{emitted.key}"[:200]
        ),
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": emitted.at,
        "retry_until": emitted.at + window,
        "created_at": emitted.at,
    }


def queue_drain(session: Session, message_ids: list[str]) -> None:
    """Deliver these once the session's transaction has committed (see the module)."""
    session.info.setdefault(_WRITTEN, []).extend(message_ids)


def retry_window() -> timedelta:
    hours = current_app.config.get("FMS_WEBHOOK_RETRY_HOURS")
    return timedelta(hours=float(hours)) if hours else rules.RETRY_FOR


def _insert_for(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


# --- after the commit: drain ------------------------------------------------------------------


@event.listens_for(Session, "after_commit")
def _drain_after_commit(session: Session) -> None:
    if savepoint_released(session):
        return
    written = session.info.pop(_WRITTEN, None)
    if not written:
        return
    app = current_app._get_current_object()
    if app.config.get("FMS_REDIS_URL"):
        try:
            from fms.jobs import queue_for

            queue_for(app).enqueue(DRAIN_JOB, job_timeout=900, result_ttl=3600, failure_ttl=86400)
        except Exception:  # Redis is down: the rows are safe, the cron drain sends them
            log.exception("could not enqueue the webhook drain; `flask fms webhooks deliver` will")
        return
    limit = int(app.config.get("FMS_WEBHOOK_INLINE_LIMIT") or 0)
    if limit <= 0:
        return
    from fms.webhooks.sender import drain_inline

    drain_inline(app, message_ids=written[:limit])
