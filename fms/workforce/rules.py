"""Workforce rules with no I/O: states, kinds, approval chains, FTE."""

from __future__ import annotations

from decimal import Decimal

ENGAGEMENT_KINDS = {
    "hourly": "Time & materials, hourly",
    "daily": "Time & materials, daily",
    "fixed": "Fixed fee with milestones",
    "trial": "Trial (boot camp)",
}
# Expected time per week: from 1 minute to 80 hours.
MAX_WEEKLY_MINUTES = 80 * 60
RATE_UNITS = {"hourly": "per hour", "daily": "per day", "fixed": "fixed fee", "trial": "per hour"}

REQUISITION_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"submitted", "cancelled"},
    "submitted": {"approved", "rejected", "cancelled"},
    "rejected": {"draft", "cancelled"},
    "approved": set(),
    "cancelled": set(),
}

ENGAGEMENT_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"pending_approval", "cancelled"},
    "pending_approval": {"approved", "rejected", "cancelled"},
    "rejected": {"draft", "cancelled"},
    "approved": {"onboarding", "cancelled"},
    "onboarding": {"active", "cancelled"},
    "active": {"ended"},
    "ended": set(),
    "cancelled": set(),
}
# states in which an engagement has been (or is) worked, and so counts in headcount
COUNTED_STATES = ("active", "ended")
# states that block the freelancer's availability in talent search
BOOKED_STATES = ("approved", "onboarding", "active")

AMENDMENT_KINDS = {
    "rate_change": "Rate change",
    "extension": "Extension",
    "budget_increase": "Budget increase",
    "manager_transfer": "Manager transfer",
}

# an amendment is decided once: by its last approval or its first rejection
AMENDMENT_TRANSITIONS: dict[str, set[str]] = {
    "pending": {"approved", "rejected"},
    "approved": set(),
    "rejected": set(),
}

DEFAULT_APPROVAL_CHAIN = [
    # position, role, minimum budget in the base currency (labels come from step_label)
    (1, "procurement", Decimal(0)),
    (2, "finance", Decimal(50000)),
    (3, "procurement", Decimal(200000)),
]
_ROLE_NAMES = {"procurement": "Procurement", "finance": "Finance", "org_admin": "Org admin"}
DEFAULT_ONBOARDING = [
    (1, "Profile and tax details complete", "answer"),
    (2, "NDA signed", "sign"),
    (3, "Contract signed", "sign"),
    (4, "Compliance review", "review"),
]
# onboarding steps the freelancer completes; the others are staff reviews
FREELANCER_STEP_KINDS = ("answer", "sign", "upload")


def step_label(role: str, min_budget: Decimal, currency: str) -> str:
    """What an approval step is called, from its rule: 'Procurement review' for a step that
    always applies, 'Finance approval from 50,000.00 EUR' for one with a threshold."""
    from fms.money import minor_units, round_half_up

    name = _ROLE_NAMES.get(role, role.replace("_", " ").capitalize())
    if not min_budget:
        return f"{name} review"
    amount = round_half_up(Decimal(min_budget), currency)
    return f"{name} approval from {amount:,.{minor_units(currency)}f} {currency}"


def chain_for(rules, budget_base: Decimal) -> list:
    """The approval steps that apply to a budget: every rule whose threshold it reaches."""
    return sorted((r for r in rules if budget_base >= r.min_budget), key=lambda r: r.position)


def fte(weekly_minutes: int, standard_week_minutes: int) -> Decimal:
    """A person's full-time equivalent: their weekly minutes over the standard week, max 1."""
    if standard_week_minutes <= 0:
        raise ValueError("the standard week must be positive")
    return min(Decimal(weekly_minutes) / Decimal(standard_week_minutes), Decimal(1))


STANDARD_DAY_MINUTES = 8 * 60


def expected_cost(kind, rate_max, weekly_minutes, start, end) -> Decimal | None:
    """The most a requisition's terms could cost: top rate × weekly hours × weeks between
    start and end (both days included); daily rates count 8-hour days. None when it does
    not apply (a fixed fee) or the terms are incomplete."""
    if kind == "fixed" or None in (rate_max, weekly_minutes, start, end) or end < start:
        return None
    weeks = Decimal((end - start).days + 1) / 7
    per_week = Decimal(weekly_minutes) / (STANDARD_DAY_MINUTES if kind == "daily" else 60)
    return (Decimal(rate_max) * per_week * weeks).quantize(Decimal("0.01"))


def budget_notice(kind, budget, rate_max, weekly_minutes, start, end) -> str | None:
    """A warning (not an error) when the budget is below what the terms could cost."""
    most = expected_cost(kind, rate_max, weekly_minutes, start, end)
    if most is None or budget is None or Decimal(budget) >= most:
        return None
    return (
        f"The budget ({Decimal(budget):,.2f}) is below the top rate × weekly hours × weeks "
        f"({most:,.2f}): approvers will see it may not last. It was saved as entered."
    )


NUMBER_PREFIXES = {"requisition": "REQ", "engagement": "ENG"}


def display_number(kind: str, record_id: int) -> str:
    """The readable number of a requisition or engagement ("REQ-0042"), as pages show it
    and global search matches it."""
    return f"{NUMBER_PREFIXES[kind]}-{record_id:04d}"
