"""What tokens register with audit at app start: their actions in words and their pages."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from fms.audit import hooks as audit_hooks

ACTION_WORDS = {
    "service_account.created": "Integration added",
    "service_account.updated": "Integration changed",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
}
ENTITY_WORDS = {"service_account": "Integration", "api_token": "API token"}


def _integration_pages_of_tokens(token_ids: list[int]) -> dict[int, str]:
    """An integration's token lives on its integration's page; personal tokens have none
    an admin may open."""
    from fms.extensions import db
    from fms.identity.tokens.models import ApiToken

    rows = db.session.execute(
        select(ApiToken.id, ApiToken.service_account_id).where(
            ApiToken.id.in_(token_ids), ApiToken.service_account_id.is_not(None)
        )
    )
    return {tid: url_for("tokens.integration", service_account_id=sid) for tid, sid in rows}


def register(app) -> None:
    """Called once from create_app."""
    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    audit_hooks.register_entity_link(
        "service_account", lambda i: url_for("tokens.integration", service_account_id=i)
    )
    audit_hooks.register_entity_links("api_token", _integration_pages_of_tokens)
