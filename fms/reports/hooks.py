"""Reports' words for the audit log (its monthly spend-pack subscriptions and mails)."""

from __future__ import annotations

ACTION_WORDS = {
    "reports.spend_pack_subscribed": "Subscribed to the monthly spend pack",
    "reports.spend_pack_unsubscribed": "Monthly spend pack stopped",
    "reports.spend_pack_sent": "Monthly spend pack sent",
}
ENTITY_WORDS = {
    "spend_pack_subscription": "Spend pack subscription",
    "spend_pack_delivery": "Spend pack",
}


def register(app) -> None:
    """Called once from create_app: the audit log's words and links for reports."""
    from flask import url_for

    from fms.audit import hooks as audit_hooks

    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    audit_hooks.register_entity_link(
        "spend_pack_delivery", lambda i: url_for("report_exports.pack", pack_id=i)
    )
    audit_hooks.register_entity_link(
        "spend_pack_subscription", lambda _i: url_for("report_exports.subscriptions_page")
    )
