"""Compliance rules with no I/O: policy resolution, classification scoring, tenure maths,
name matching and the safe placeholder substitution of signing templates."""

from __future__ import annotations

import calendar
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

# --- policies ------------------------------------------------------------------------------

# document kind -> (label, onboarding step kind). "tax_form" is what a policy asks for; it
# resolves to the form the freelancer's country needs (rules.tax_form_for).
DOCUMENT_KINDS = {
    "nda": ("Non-disclosure agreement", "sign"),
    "contract": ("Contract / statement of work", "sign"),
    "tax_form": ("Tax form", "upload"),
    "w9": ("Tax form W-9 (US person)", "upload"),
    "w8ben": ("Tax form W-8BEN (not a US person)", "upload"),
    "insurance": ("Certificate of insurance", "upload"),
    "right_to_work": ("Right to work", "upload"),
    "background_check": ("Background check", "upload"),
    "classification": ("Worker classification questionnaire", "answer"),
}
POLICY_KINDS = (
    "nda",
    "contract",
    "tax_form",
    "insurance",
    "right_to_work",
    "background_check",
    "classification",
)
SIGN_KINDS = ("nda", "contract")
UPLOAD_KINDS = ("w9", "w8ben", "insurance", "right_to_work", "background_check")
# The manual steps of Workforce's default onboarding checklist that a policy's own step
# stands for: when the policy asks for the NDA, "NDA signed" is not ticked by hand beside it
# (the checklist provider names them; workforce removes them while they are open).
REPLACED_MANUAL_STEPS = {"nda": ("NDA signed",), "contract": ("Contract signed",)}
# "exempt" lets a more specific item drop what a general one requires
REQUIREMENTS = ("required", "optional", "exempt")
VALIDITIES = ("none", "months", "typed")
REVIEWER_ROLES = ("compliance", "procurement", "org_admin")
MAX_VALIDITY_MONTHS = 120


def tax_form_for(country: str) -> str:
    """US persons give a W-9; everyone else a W-8BEN."""
    return "w9" if country.upper() == "US" else "w8ben"


@dataclass(frozen=True)
class PolicyRow:
    """One policy item, as rules see it (no database)."""

    id: int
    document_kind: str
    country: str
    engagement_kind: str
    requirement: str
    validity: str
    validity_months: int | None
    reviewer_role: str


@dataclass(frozen=True)
class ResolvedItem:
    """What an engagement needs of one kind: resolved for a country and engagement kind."""

    kind: str
    label: str
    step_kind: str
    required: bool
    validity: str
    validity_months: int | None
    reviewer_role: str
    policy_item_id: int

    @property
    def key(self) -> str:
        return f"compliance:{self.kind}"


def specificity(row: PolicyRow) -> int:
    return (2 if row.country else 0) + (1 if row.engagement_kind else 0)


def resolve(rows: list[PolicyRow], *, country: str, engagement_kind: str) -> list[ResolvedItem]:
    """The items for a freelancer's country and an engagement kind.

    An item applies when its country is empty or the freelancer's, and its engagement kind is
    empty or the engagement's. Of the items of one document kind, the most specific applies
    (country and kind, then country, then kind, then neither); "exempt" drops the kind.
    """
    country = country.upper()
    best: dict[str, PolicyRow] = {}
    for row in rows:
        if row.country not in ("", country) or row.engagement_kind not in ("", engagement_kind):
            continue
        current = best.get(row.document_kind)
        if current is None or specificity(row) > specificity(current):
            best[row.document_kind] = row
    items = []
    for policy_kind in POLICY_KINDS:
        row = best.get(policy_kind)
        if row is None or row.requirement == "exempt":
            continue
        kind = tax_form_for(country) if policy_kind == "tax_form" else policy_kind
        label, step_kind = DOCUMENT_KINDS[kind]
        items.append(
            ResolvedItem(
                kind=kind,
                label=label,
                step_kind=step_kind,
                required=row.requirement == "required",
                validity=row.validity,
                validity_months=row.validity_months,
                reviewer_role=row.reviewer_role,
                policy_item_id=row.id,
            )
        )
    return items


def reviewer_role(rows: list[PolicyRow], *, country: str, kind: str) -> str:
    """The role that reviews a document kind for a freelancer's country: the most specific
    policy item's (a W-9 or W-8BEN follows the tax form item); compliance when none names
    one."""
    policy_kind = "tax_form" if kind in ("w9", "w8ben") else kind
    candidates = [
        row
        for row in rows
        if row.document_kind == policy_kind and row.country in ("", country.upper())
    ]
    return max(candidates, key=specificity).reviewer_role if candidates else "compliance"


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_after_approval(item_validity: str, months: int | None, approved_on: date):
    """A document valid for N months from approval expires on the day before the same day
    N months later; other validities have no computed expiry."""
    if item_validity == "months" and months:
        return add_months(approved_on, months) - timedelta(days=1)
    return None


# --- offboarding ---------------------------------------------------------------------------

# who ticks an offboarding item: the engagement's hiring manager (or their stand-in that day),
# the freelancer themselves, or a compliance officer
OFFBOARDING_PARTIES = {
    "hiring_manager": "Hiring manager",
    "freelancer": "Freelancer",
    "compliance": "Compliance officer",
}
# what the organization does with a departing freelancer's compliance documents
RETENTION_CHOICES = {
    "keep": "Documents kept, as the retention setting says",
    "delete": "Documents deleted, as the retention setting says",
}
# the policy an organization has until it sets its own: (key, title, party)
DEFAULT_OFFBOARDING = (
    ("equipment", "Equipment returned", "freelancer"),
    ("final_timesheet", "Final timesheet submitted", "freelancer"),
    ("handover", "Knowledge handed over", "freelancer"),
    ("access", "Access removed (accounts, badges, repositories)", "hiring_manager"),
    ("handover_received", "Handover received", "hiring_manager"),
    ("documents", "Documents kept or deleted", "compliance"),
)
OFFBOARDING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,29}$")


@dataclass(frozen=True)
class OffboardingItem:
    key: str
    title: str
    party: str
    position: int


def offboarding_items(rows: list[tuple[str, str, str]], *, retention: str) -> list[OffboardingItem]:
    """The checklist an ending engagement gets: the organization's items in order, or the
    default policy when it has none. The "documents" item says what the retention setting
    says: kept, or deleted."""
    items = []
    for position, (key, title, party) in enumerate(rows or DEFAULT_OFFBOARDING, start=1):
        if key == "documents":
            title = RETENTION_CHOICES.get(retention, RETENTION_CHOICES["keep"])
        items.append(OffboardingItem(key, title, party, position))
    return items


# --- warnings ------------------------------------------------------------------------------

DOCUMENT_WARNING_DAYS = (30, 14, 7)
TENURE_WARNING_DAYS = (90, 60, 30)


def warning_due(days_left: int, thresholds: tuple[int, ...]) -> int | None:
    """The tightest threshold reached (days_left at or below it), or None: a sweep that
    missed days sends one warning, not every threshold passed."""
    reached = [t for t in thresholds if 0 <= days_left <= t]
    return min(reached) if reached else None


# --- tenure --------------------------------------------------------------------------------


def continuous_start(spans: list[tuple[date, date]], on: date, break_days: int) -> date | None:
    """The first day of the continuous run of engagements that includes (or ends before)
    `on`: engagements separated by fewer than `break_days` days without work count as one
    run; a break of `break_days` or more starts the count again."""
    run_start = run_end = None
    for start, end in sorted(spans):
        if start > on:
            break
        if run_end is None or (start - run_end).days - 1 >= break_days:
            run_start, run_end = start, end
        else:
            run_end = max(run_end, end)
    return run_start


def tenure_limit(run_start: date, max_months: int) -> date:
    """The last day a freelancer may work within a continuous run of `max_months`."""
    return add_months(run_start, max_months) - timedelta(days=1)


# --- signing -------------------------------------------------------------------------------

PLACEHOLDERS = {
    "organization_name": "the organization's name",
    "freelancer_name": "the freelancer's legal name",
    "freelancer_email": "the freelancer's email address",
    "engagement_title": "the engagement's title",
    "start_date": "the engagement's first day",
    "end_date": "the engagement's last day",
    "rate": "the rate at the start, with its currency",
    "signing_date": "the day of signing",
}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def unknown_placeholders(body: str) -> list[str]:
    """Placeholders of a template text that FMS cannot fill."""
    return sorted({m.group(1) for m in _PLACEHOLDER.finditer(body)} - set(PLACEHOLDERS))


def fill(body: str, values: dict[str, str]) -> str:
    """The text with each `{{ name }}` replaced by its value, as plain text.

    One pass of a regular expression, not a template engine: a value or a template written
    by a person is never evaluated, and a value that looks like a placeholder stays as it is.
    """
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), body)


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def names_match(typed: str, legal_name: str) -> bool:
    """The typed name is the legal name, ignoring case and spacing."""
    return bool(_name_key(typed)) and _name_key(typed) == _name_key(legal_name)


# --- classification ------------------------------------------------------------------------

FACTORS_FILE = Path(__file__).with_name("classification_factors.toml")
RISKS = ("low", "medium", "high")


@cache
def factors() -> dict:
    """The questionnaires and scoring model (classification_factors.toml)."""
    with FACTORS_FILE.open("rb") as f:
        return tomllib.load(f)


def jurisdictions_for(country: str) -> list[str]:
    """The questionnaires that fit a country; the generic one when none is specific."""
    found = [
        key
        for key, j in factors()["jurisdictions"].items()
        if country.upper() in j.get("countries", [])
    ]
    return found or ["generic"]


@dataclass(frozen=True)
class Score:
    score: int
    risk: str
    # the answers that pointed towards employment, heaviest first
    drivers: list[dict]


def score(jurisdiction: str, answers: dict[str, str]) -> Score:
    """Score a complete questionnaire (every question answered "yes" or "no").

    Each answer the employee way adds the question's weight and is a driver. Weighted
    questionnaires are high from `high_at` points and medium from `medium_at`; the ABC test
    (`any_prong_fails`) is high when any prong is answered the employee way, low otherwise.
    Raises ValueError naming a missing or unreadable answer.
    """
    model = factors()["jurisdictions"][jurisdiction]
    total, drivers = 0, []
    for question in model["questions"]:
        answer = answers.get(question["id"])
        if answer not in ("yes", "no"):
            raise ValueError(question["id"])
        if answer == question["employee_if"]:
            total += question["weight"]
            drivers.append(
                {
                    "question": question["id"],
                    "factor": question["factor"],
                    "text": question["text"],
                    "answer": answer,
                    "points": question["weight"],
                }
            )
    drivers.sort(key=lambda d: -d["points"])
    if model["rule"] == "any_prong_fails":
        risk = "high" if drivers else "low"
    elif total >= model["high_at"]:
        risk = "high"
    elif total >= model["medium_at"]:
        risk = "medium"
    else:
        risk = "low"
    return Score(total, risk, drivers)
