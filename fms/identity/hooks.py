"""What identity registers with audit at app start: its actions in words and its links."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from fms.audit import hooks as audit_hooks

ACTION_WORDS = {
    "organization.created": "Organization created",
    "organization.updated": "Organization settings changed",
    "user.created": "Account created",
    "user.password_set": "Password set",
    "user.signed_in": "Signed in",
    "user.signed_out": "Signed out",
    "user.switched_organization": "Switched organization",
    "user.totp_enabled": "Two-step sign-in turned on",
    "user.totp_disabled": "Two-step sign-in turned off",
    "membership.created": "Member added",
    "membership.activated": "Member reactivated",
    "membership.deactivated": "Member deactivated",
    "membership.roles_changed": "Roles changed",
    "membership.break_glass_changed": "Break-glass sign-in changed",
    "membership.scim_updated": "Member updated by SCIM",
    "membership.scim_deleted": "Member removed by SCIM",
    "invitation.created": "Invitation sent",
    "invitation.redeemed": "Invitation accepted",
    "invitation.refused": "Invitation refused",
    "invitation.revoked": "Invitation revoked",
    "invitation.scim_updated": "Invitation updated by SCIM",
    "invitation.scim_deleted": "Invitation removed by SCIM",
    "external_identity.linked": "External sign-in linked",
    "sso_connection.created": "SSO connection added",
    "sso_connection.updated": "SSO connection changed",
    "sso_connection.deleted": "SSO connection removed",
    "sso_domain.added": "Email domain added",
    "sso_domain.verified": "Email domain verified",
    "sso_domain.removed": "Email domain removed",
    "sso_domain.connection_chosen": "Email domain's connection chosen",
    "sso_policy.updated": "Sign-in policy changed",
    "scim_token.created": "SCIM token created",
    "scim_token.revoked": "SCIM token revoked",
    "scim_group.created": "SCIM group created",
    "scim_group.updated": "SCIM group changed",
    "scim_group.deleted": "SCIM group removed",
}
ENTITY_WORDS = {
    "organization": "Organization",
    "user_account": "Account",
    "membership": "Membership",
    "invitation": "Invitation",
    "external_identity": "External sign-in",
    "sso_connection": "SSO connection",
    "sso_domain": "Email domain",
    "scim_token": "SCIM token",
    "scim_group": "SCIM group",
}


def _member_pages_of_users(user_ids: list[int]) -> dict[int, str]:
    """People's membership pages in the current organization (an account is shared)."""
    from fms.extensions import db
    from fms.identity.models import Membership

    rows = db.session.execute(
        select(Membership.user_id, Membership.id).where(Membership.user_id.in_(user_ids))
    )
    return {uid: url_for("identity.member", membership_id=mid) for uid, mid in rows}


def register(app) -> None:
    """Called once from create_app."""
    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    audit_hooks.register_entity_link(
        "membership", lambda i: url_for("identity.member", membership_id=i)
    )
    audit_hooks.register_entity_links("user_account", _member_pages_of_users)
    audit_hooks.register_entity_link("organization", lambda i: url_for("identity.organization"))
