"""rq job: drain the webhook deliveries once a transaction that wrote some has committed."""

from __future__ import annotations

import logging

from flask import current_app

from fms.extensions import db

log = logging.getLogger(__name__)


def deliver() -> dict:
    """Attempt what is due now. Retries are not rq's: a row due again waits for the next
    drain (`flask fms webhooks deliver` from cron, or the next commit's job)."""
    from fms.webhooks.sender import deliver_due

    with current_app.app_context():
        counts = deliver_due(db.session)
        db.session.remove()
    log.info("webhook drain: %s", counts)
    return counts.as_dict()
