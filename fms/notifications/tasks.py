"""rq job: drain the outbox once a transaction that queued mail has committed."""

from __future__ import annotations

import logging

from flask import current_app

from fms.extensions import db

log = logging.getLogger(__name__)


def drain_outbox() -> dict:
    """Send what is due now. Retries are not rq's: a row due again waits for the next
    drain (`flask fms outbox send` from cron, or the next mail's job)."""
    from fms.notifications.sender import send_due

    with current_app.app_context():
        counts = send_due(db.session)
        db.session.remove()
    log.info("outbox drain: %s", counts)
    return counts.as_dict()
