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
    "structure.read",
    "freelancers.read",
    "jobs.read",
    "suppliers.read",
    "requisitions.read",
    "engagements.read",
    "headcount.read",
    "exchange_rates.read",
    "people.lookup",  # pick colleagues in forms (hiring manager, stand-in): name and email
}

PERMISSIONS: dict[str, frozenset[str]] = {
    "org_admin": frozenset(
        _STAFF_READ
        | {
            "organization.manage",
            "members.read",
            "members.manage",
            "outbox.read",
            "structure.manage",
            "audit.read",
            "sso.manage",
            "invitations.manage",
            "approval_rules.manage",
            "skills.manage",
            "onboarding_template.manage",
            "engagements.manage",
            "requisitions.create",
            "delegations.manage",
            "compliance.manage",
            "signatures.read",
            # integrations: service accounts, their roles and their API tokens
            "integrations.manage",
            "webhooks.manage",
        }
    ),
    "procurement": frozenset(
        _STAFF_READ
        | {
            "freelancers.financial.read",
            "suppliers.tax_id.read",
            "signatures.read",
            "freelancers.manage",
            "invitations.manage",
            "suppliers.manage",
            "skills.manage",
            "requisitions.create",
            "engagements.manage",
            "onboarding.complete",
            "delegations.manage",
        }
    ),
    "hiring_manager": frozenset(
        _STAFF_READ | {"requisitions.create", "engagements.end", "reviews.write", "delegations.own"}
    ),
    # compliance.manage: policies, templates, settings, classification decisions, overrides
    "compliance": frozenset(
        _STAFF_READ | {"audit.read", "onboarding.complete", "compliance.manage", "signatures.read"}
    ),
    "finance": frozenset(
        _STAFF_READ
        | {
            "exchange_rates.manage",
            "freelancers.financial.read",
            "suppliers.tax_id.read",
        }
    ),
    "freelancer": frozenset(
        {"organization.read", "jobs.read", "own_profile.read", "own_engagements.read"}
    ),
    # not a role people hold: what a SCIM provisioning token may do (invite and manage people)
    "scim": frozenset({"members.read", "members.manage", "invitations.manage"}),
}

# Fields that carry a permission of their own (DESIGN.md: bank and tax details for finance,
# procurement and the freelancer themselves). Pages, API schemas and audit entries ask
# `may_see_field`; the freelancer's own profile is shown to them by `own_profile.read`.
FIELD_PERMISSIONS: dict[str, str] = {
    "freelancer.iban": "freelancers.financial.read",
    "freelancer.tax_id": "freelancers.financial.read",
    # a staffing agency's tax id is for those who register suppliers and pay their invoices
    "supplier.tax_id": "suppliers.tax_id.read",
}
# Values audit entries never hold: that they changed is recorded, not what they are.
REDACTED_IN_AUDIT = frozenset({"iban", "tax_id", "password", "password_hash"})


def may_see_field(actor, field: str) -> bool:
    """Whether the actor may read a field that carries its own permission."""
    permission = FIELD_PERMISSIONS.get(field)
    return permission is None or (actor is not None and has_permission(actor.roles, permission))


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


# Invoicing (issue 12): finance and org admins read invoices, close periods, issue, credit
# and record payments (`invoicing.manage`), and approve another's issue when the
# organization requires four eyes (`invoicing.approve_issue`).
_INVOICING = frozenset({"invoicing.read", "invoicing.manage", "invoicing.approve_issue"})
for _role in ("finance", "org_admin"):
    PERMISSIONS[_role] = PERMISSIONS[_role] | _INVOICING
# Reports (issue 14): spend, budgets and rate benchmarks for finance, org admins and
# procurement (who negotiates rates and suppliers); hiring managers and freelancers do not.
for _role in ("finance", "org_admin", "procurement"):
    PERMISSIONS[_role] = PERMISSIONS[_role] | {"reports.spend"}
