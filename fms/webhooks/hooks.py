"""What webhooks registers at app start: it listens to the areas' record events (their
hooks; no area imports webhooks) and gives the audit log its words and links."""

from __future__ import annotations

from flask import url_for

from fms.audit import hooks as audit_hooks

ACTION_WORDS = {
    "webhook_endpoint.created": "Webhook endpoint added",
    "webhook_endpoint.updated": "Webhook endpoint changed",
    "webhook_endpoint.deleted": "Webhook endpoint removed",
    "webhook_endpoint.secret_rotated": "Webhook signing secret rotated",
    "webhook_delivery.resent": "Webhook delivery sent again",
}
ENTITY_WORDS = {"webhook_endpoint": "Webhook endpoint", "webhook_delivery": "Webhook delivery"}


def register(app) -> None:
    """Called once from create_app."""
    from fms.compliance import hooks as compliance_hooks
    from fms.invoicing import hooks as invoicing_hooks
    from fms.timesheets import hooks as timesheets_hooks
    from fms.webhooks import emission
    from fms.workforce import hooks as workforce_hooks

    for area in (workforce_hooks, timesheets_hooks, compliance_hooks, invoicing_hooks):
        area.record_event.connect(emission.collect)
    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    audit_hooks.register_entity_link(
        "webhook_endpoint", lambda i: url_for("webhooks.endpoint", endpoint_id=i)
    )
