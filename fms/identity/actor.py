"""Who is acting: built once per request, job or CLI command and passed to services."""

from __future__ import annotations

from dataclasses import dataclass, field

from fms.identity.permissions import has_permission


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    org_id: int | None
    roles: frozenset[str] = field(default_factory=frozenset)
    ip: str | None = None
    request_id: str | None = None
    # "web", "api", "cli", "job", "scim"
    channel: str = "web"
    # the token acting, if any: a SCIM token (channel "scim") or an API token ("api")
    token_id: int | None = None
    # an API token's scopes ("timesheets:read", ...; write includes read); None: no token
    scopes: frozenset[str] | None = None
    # an API token's principal in words, for the audit log ('Integration "ERP" (token …)')
    token_label: str | None = None

    def can(self, permission: str) -> bool:
        return has_permission(self.roles, permission)

    @property
    def is_staff(self) -> bool:
        return bool(self.roles - {"freelancer"})


def system_actor(org_id: int | None, *, channel: str = "cli", request_id: str | None = None):
    """The actor for CLI commands run by an operator: every role, no user."""
    from fms.identity.permissions import ROLES

    return Actor(
        user_id=None,
        org_id=org_id,
        roles=frozenset(ROLES) - {"freelancer"},
        channel=channel,
        request_id=request_id,
    )
