"""The one role/permission table of FMS. Services check permissions here, nowhere else."""

from __future__ import annotations

from fms.errors import NotAllowed

ROLES = {
    "org_admin": "Org admin",
    "procurement": "Procurement",
    "hiring_manager": "Hiring manager",
    "compliance": "Compliance officer",
    "finance": "Finance",
    "freelancer": "Freelancer",
}
STAFF_ROLES = ("org_admin", "procurement", "hiring_manager", "compliance", "finance")

_STAFF_READ = {
    "organization.read",
    "members.read",
    "structure.read",
    "freelancers.read",
    "jobs.read",
    "suppliers.read",
    "requisitions.read",
    "engagements.read",
    "headcount.read",
    "exchange_rates.read",
}

PERMISSIONS: dict[str, frozenset[str]] = {
    "org_admin": frozenset(
        _STAFF_READ
        | {
            "organization.manage",
            "members.manage",
            "structure.manage",
            "audit.read",
            "sso.manage",
            "invitations.manage",
            "approval_rules.manage",
            "skills.manage",
            "onboarding_template.manage",
            "engagements.manage",
            "requisitions.create",
        }
    ),
    "procurement": frozenset(
        _STAFF_READ
        | {
            "freelancers.manage",
            "invitations.manage",
            "suppliers.manage",
            "skills.manage",
            "requisitions.create",
            "engagements.manage",
            "onboarding.complete",
        }
    ),
    "hiring_manager": frozenset(
        _STAFF_READ | {"requisitions.create", "engagements.end", "reviews.write"}
    ),
    "compliance": frozenset(_STAFF_READ | {"audit.read", "onboarding.complete"}),
    "finance": frozenset(_STAFF_READ | {"exchange_rates.manage"}),
    "freelancer": frozenset(
        {"organization.read", "jobs.read", "own_profile.read", "own_engagements.read"}
    ),
}

# Roles that may decide a requisition's approval step of that role.
APPROVER_ROLES = ("procurement", "finance", "org_admin")


def permissions_for(roles) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def has_permission(roles, permission: str) -> bool:
    return permission in permissions_for(roles)


def require(actor, permission: str) -> None:
    """Raise NotAllowed unless the actor's roles in the current organization grant it."""
    if actor is None or not has_permission(actor.roles, permission):
        raise NotAllowed("You do not have permission to do that.")
