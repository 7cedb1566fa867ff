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
}

PERMISSIONS: dict[str, frozenset[str]] = {
    "org_admin": frozenset(
        _STAFF_READ
        | {
            "organization.manage",
            "members.manage",
            "structure.manage",
            "audit.read",
        }
    ),
    "procurement": frozenset(_STAFF_READ | {"freelancers.manage"}),
    "hiring_manager": frozenset(_STAFF_READ),
    "compliance": frozenset(_STAFF_READ | {"audit.read"}),
    "finance": frozenset(_STAFF_READ),
    "freelancer": frozenset({"organization.read", "jobs.read", "own_profile.read"}),
}


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
