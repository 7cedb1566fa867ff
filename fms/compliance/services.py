"""Compliance policies and what they mean for one engagement: the settings, the policy
items, their resolution for a freelancer's country and an engagement kind, the checklist
steps they add, whether an engagement may become active, and its compliance status.

Documents, signatures, classifications and tenure have their own rooms (documents.py,
signing.py, classification.py, tenure.py); the daily sweep is sweep.py. Services flush,
never commit; every change writes an audit entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.compliance import rules
from fms.compliance.models import (
    Classification,
    ComplianceDocument,
    ComplianceSettings,
    EngagementCompliance,
    PolicyItem,
    Signature,
)
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.input import parse_int
from fms.records import add_unique
from fms.statemachine import transition
from fms.tenancy import get_in_org
from fms.timekeeping import today_in, utcnow
from fms.workforce.models import Engagement, Freelancer

NON_COMPLIANCE_MODES = ("warn", "block")
STATUS_TRANSITIONS: dict[str, set[str]] = {
    "compliant": {"non_compliant"},
    "non_compliant": {"compliant"},
}
# a classification that still holds the engagement back
OPEN_CLASSIFICATION_STATES = ("decision_needed", "refused")


def require_officer(actor: Actor) -> None:
    """Compliance officers (and org admins) set policies and decide."""
    if actor is None or not actor.can("compliance.manage"):
        raise NotAllowed("Only a compliance officer may do that.")


def org_today(session: Session, org_id: int) -> date:
    from fms.identity.models import Organization

    return today_in(session.get(Organization, org_id).timezone)


def engagement_for(
    session: Session, actor: Actor, engagement_id, *, officers_too: bool
) -> tuple[Engagement, Freelancer]:
    """An engagement and its freelancer, for the freelancer themselves (and compliance
    officers when `officers_too`); anyone else, or another organization's id: NotFound."""
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    freelancer = None
    if engagement.freelancer_id is not None:
        freelancer = session.scalar(
            select(Freelancer).where(Freelancer.id == engagement.freelancer_id)
        )
    own = (
        freelancer is not None and actor.user_id is not None and freelancer.user_id == actor.user_id
    )
    if freelancer is None or not (own or (officers_too and actor.can("compliance.manage"))):
        raise NotFound("No such engagement.")
    return engagement, freelancer


def managers_on(session: Session, engagement_ids, on) -> dict[int, int | None]:
    """The hiring manager of many engagements in one statement, from the terms in effect on
    a day (the earliest terms before the start), as workforce's `terms_on` says. `on` is a
    date, or a mapping of engagement id to date; `engagement_ids` a list or a select."""
    from fms.workforce.models import EngagementTerms

    managers: dict[int, int | None] = {}
    for engagement_id, effective_from, manager in session.execute(
        select(
            EngagementTerms.engagement_id,
            EngagementTerms.effective_from,
            EngagementTerms.hiring_manager_user_id,
        )
        .where(EngagementTerms.engagement_id.in_(engagement_ids))
        .order_by(EngagementTerms.engagement_id, EngagementTerms.effective_from)
    ):
        day = on[engagement_id] if isinstance(on, dict) else on
        if engagement_id not in managers or effective_from <= day:
            managers[engagement_id] = manager
    return managers


# --- settings ------------------------------------------------------------------------------


def settings(session: Session) -> ComplianceSettings:
    """The organization's settings (defaults until someone saves them)."""
    row = session.scalar(select(ComplianceSettings))
    return row or ComplianceSettings(
        non_compliance_mode="warn", reassess_within_days=30, document_retention="keep"
    )


def update_settings(
    session: Session,
    *,
    actor: Actor,
    non_compliance_mode: str,
    reassess_within_days=30,
    document_retention: str | None = None,
) -> ComplianceSettings:
    """Set what a non-compliant engagement may still do ("warn" or "block" timesheets), how
    fresh a classification must be for an amendment, and whether a departing freelancer's
    documents are kept or deleted (None leaves the retention as it is)."""
    require_officer(actor)
    errors = {}
    if non_compliance_mode not in NON_COMPLIANCE_MODES:
        errors["non_compliance_mode"] = ["Choose warn or block."]
    try:
        days = parse_int(reassess_within_days)
        if not 1 <= days <= 366:
            raise ValueError
    except ValueError:
        errors["reassess_within_days"] = ["A whole number of days from 1 to 366."]
    if document_retention is not None and document_retention not in rules.RETENTION_CHOICES:
        errors["document_retention"] = ["Keep or delete."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    row = session.scalar(select(ComplianceSettings))
    before = None
    if row is None:
        row = add_unique(
            session,
            ComplianceSettings(
                org_id=actor.org_id,
                non_compliance_mode=non_compliance_mode,
                reassess_within_days=days,
                document_retention=document_retention or "keep",
            ),
            existing=lambda: session.scalar(select(ComplianceSettings.id)),
            detail="Someone saved the settings a moment ago; reload and try again.",
        )
    else:
        before = {
            "non_compliance_mode": row.non_compliance_mode,
            "reassess_within_days": row.reassess_within_days,
            "document_retention": row.document_retention,
        }
        row.non_compliance_mode = non_compliance_mode
        row.reassess_within_days = days
        if document_retention is not None:
            row.document_retention = document_retention
        session.flush()
    audit.record(
        session,
        actor,
        "compliance_settings.updated",
        row,
        before=before,
        after={
            "non_compliance_mode": non_compliance_mode,
            "reassess_within_days": days,
            "document_retention": row.document_retention,
        },
    )
    return row


# --- policies ------------------------------------------------------------------------------


def set_policy_item(
    session: Session,
    *,
    actor: Actor,
    document_kind: str,
    country: str = "",
    engagement_kind: str = "",
    requirement: str = "required",
    validity: str = "none",
    validity_months=None,
    reviewer_role: str = "compliance",
) -> PolicyItem:
    """Require (or make optional, or exempt) a kind of document for freelancers of a
    country (every country when empty) on engagements of a kind (every kind when empty).
    One item per kind, country and engagement kind: saving again changes it."""
    from fms.workforce.rules import ENGAGEMENT_KINDS

    require_officer(actor)
    country = (country or "").strip().upper()
    engagement_kind = (engagement_kind or "").strip()
    errors: dict[str, list[str]] = {}
    if document_kind not in rules.POLICY_KINDS:
        errors["document_kind"] = ["Choose a kind of document."]
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = ["A two-letter country code (ISO 3166-1), or empty for all."]
    if engagement_kind and engagement_kind not in ENGAGEMENT_KINDS:
        errors["engagement_kind"] = ["Choose an engagement kind, or empty for all."]
    if requirement not in rules.REQUIREMENTS:
        errors["requirement"] = ["Required, optional or exempt."]
    if validity not in rules.VALIDITIES:
        errors["validity"] = ["No expiry, months after approval, or a date the reviewer types."]
    months = None
    if validity == "months":
        try:
            months = parse_int(validity_months)
            if not 1 <= months <= rules.MAX_VALIDITY_MONTHS:
                raise ValueError
        except ValueError:
            errors["validity_months"] = [f"From 1 to {rules.MAX_VALIDITY_MONTHS} months."]
    if document_kind in rules.SIGN_KINDS + ("classification",) and validity != "none":
        errors["validity"] = ["Signatures and questionnaires do not expire."]
    if reviewer_role not in rules.REVIEWER_ROLES:
        errors["reviewer_role"] = ["Choose the role that reviews it."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    values = {
        "requirement": requirement,
        "validity": validity,
        "validity_months": months,
        "reviewer_role": reviewer_role,
        "is_active": True,
    }
    row = session.scalar(
        select(PolicyItem).where(
            PolicyItem.document_kind == document_kind,
            PolicyItem.country == country,
            PolicyItem.engagement_kind == engagement_kind,
        )
    )
    key = {"document_kind": document_kind, "country": country, "engagement_kind": engagement_kind}
    if row is None:
        row = add_unique(
            session,
            PolicyItem(org_id=actor.org_id, **key, **values),
            existing=lambda: session.scalar(
                select(PolicyItem.id).where(
                    PolicyItem.document_kind == document_kind,
                    PolicyItem.country == country,
                    PolicyItem.engagement_kind == engagement_kind,
                )
            ),
            detail="Someone added this policy item a moment ago; reload and try again.",
        )
        audit.record(session, actor, "compliance_policy_item.created", row, after=key | values)
    else:
        before = {k: getattr(row, k) for k in values}
        if before == values:  # saved unchanged: nothing happened, nothing to audit
            return row
        for k, v in values.items():
            setattr(row, k, v)
        session.flush()
        audit.record(
            session, actor, "compliance_policy_item.updated", row, before=before, after=values
        )
    return row


def remove_policy_item(session: Session, *, actor: Actor, policy_item_id: int) -> PolicyItem:
    """Retire a policy item: new checklists no longer ask for it; what was provided stays.
    Saving the same kind, country and engagement kind again brings it back."""
    require_officer(actor)
    row = get_in_org(session, PolicyItem, policy_item_id, what="policy item")
    changed = session.execute(
        update(PolicyItem)
        .where(PolicyItem.id == row.id, PolicyItem.is_active.is_(True))
        .values(is_active=False)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if not changed:
        raise RuleViolation("This policy item was removed already.")
    audit.record(
        session,
        actor,
        "compliance_policy_item.removed",
        row,
        before={
            "document_kind": row.document_kind,
            "country": row.country,
            "engagement_kind": row.engagement_kind,
            "requirement": row.requirement,
        },
    )
    return row


def policy_rows(session: Session) -> list[rules.PolicyRow]:
    return [
        rules.PolicyRow(
            id=p.id,
            document_kind=p.document_kind,
            country=p.country,
            engagement_kind=p.engagement_kind,
            requirement=p.requirement,
            validity=p.validity,
            validity_months=p.validity_months,
            reviewer_role=p.reviewer_role,
        )
        for p in session.scalars(
            select(PolicyItem).where(PolicyItem.is_active.is_(True)).order_by(PolicyItem.id)
        )
    ]


def resolve_policy(
    session: Session, *, country: str, engagement_kind: str
) -> list[rules.ResolvedItem]:
    """What the organization's policy asks of a freelancer of `country` on an engagement
    of `engagement_kind` (rules.resolve: the most specific item of each kind applies)."""
    return rules.resolve(policy_rows(session), country=country, engagement_kind=engagement_kind)


def items_for(session: Session, engagement: Engagement) -> list[rules.ResolvedItem]:
    """The policy items of an engagement (none before its freelancer is known)."""
    if engagement.freelancer_id is None:
        return []
    freelancer = session.scalar(select(Freelancer).where(Freelancer.id == engagement.freelancer_id))
    return resolve_policy(session, country=freelancer.country, engagement_kind=engagement.kind)


# --- the state of an engagement's items ----------------------------------------------------


@dataclass(frozen=True)
class ItemStatus:
    item: rules.ResolvedItem
    # "missing", "pending_review", "rejected", "expired", "done", "decision_needed", "refused"
    status: str
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.status == "done"


def documents_by_kind(session: Session, freelancer_id: int) -> dict[str, list[ComplianceDocument]]:
    """The freelancer's documents per kind, newest version first."""
    out: dict[str, list[ComplianceDocument]] = {}
    for document in session.scalars(
        select(ComplianceDocument)
        .where(ComplianceDocument.freelancer_id == freelancer_id)
        .order_by(ComplianceDocument.kind, ComplianceDocument.version.desc())
    ):
        out.setdefault(document.kind, []).append(document)
    return out


def latest_classification(session: Session, engagement_id: int) -> Classification | None:
    return session.scalar(
        select(Classification)
        .where(Classification.engagement_id == engagement_id)
        .order_by(Classification.id.desc())
        .limit(1)
    )


def _current(document: ComplianceDocument, today: date) -> bool:
    return document.state == "approved" and (
        document.expires_on is None or document.expires_on >= today
    )


def _document_status(item, versions: list[ComplianceDocument], today: date) -> ItemStatus:
    """Done while some version is approved and not past its expiry (a renewal waiting for
    review, or rejected, does not undo a current one); otherwise the newest version's state."""
    if not versions:
        return ItemStatus(item, "missing")
    if any(_current(d, today) for d in versions):
        return ItemStatus(item, "done")
    newest = versions[0]
    if newest.state in ("approved", "expired"):
        return ItemStatus(item, "expired", f"expired on {newest.expires_on.isoformat()}")
    return ItemStatus(item, newest.state, newest.review_reason or "")


def item_statuses(session: Session, engagement: Engagement, *, today: date) -> list[ItemStatus]:
    """Each policy item of the engagement with its state on `today`."""
    items = items_for(session, engagement)
    if not items:
        return []
    return statuses_from(
        items,
        documents=documents_by_kind(session, engagement.freelancer_id),
        signed=set(
            session.scalars(select(Signature.kind).where(Signature.engagement_id == engagement.id))
        ),
        classification=latest_classification(session, engagement.id),
        today=today,
    )


def statuses_from(
    items: list[rules.ResolvedItem],
    *,
    documents: dict[str, list[ComplianceDocument]],
    signed: set[str],
    classification: Classification | None,
    today: date,
) -> list[ItemStatus]:
    """The items' states from what is already loaded: the freelancer's documents per kind
    (newest first), the kinds signed on the engagement, its latest classification."""
    out = []
    for item in items:
        if item.step_kind == "sign":
            out.append(ItemStatus(item, "done" if item.kind in signed else "missing"))
        elif item.kind == "classification":
            if classification is None:
                out.append(ItemStatus(item, "missing"))
            elif classification.state in OPEN_CLASSIFICATION_STATES:
                out.append(ItemStatus(item, classification.state, f"{classification.risk} risk"))
            else:
                out.append(ItemStatus(item, "done"))
        else:
            out.append(_document_status(item, documents.get(item.kind, []), today))
    return out


_STATUS_WORDS = {
    "missing": "is missing",
    "pending_review": "waits for review",
    "rejected": "was rejected",
    "expired": "has expired",
    "decision_needed": "is high risk and needs a compliance officer's decision",
    "refused": "was refused by compliance",
}


# --- hooks registered with workforce and timesheets ----------------------------------------


def activation_problems(session: Session, engagement: Engagement) -> list[str]:
    """An engagement becomes active only when every required item of its policy is done and
    reviewed, and no high-risk classification waits for (or failed) a decision."""
    today = org_today(session, engagement.org_id)
    problems = [
        f"{s.item.label} {_STATUS_WORDS[s.status]}."
        for s in item_statuses(session, engagement, today=today)
        if s.item.required and not s.done
    ]
    classification = latest_classification(session, engagement.id)
    if classification is not None and classification.state in OPEN_CLASSIFICATION_STATES:
        message = f"The worker classification {_STATUS_WORDS[classification.state]}."
        if not any(p.startswith(rules.DOCUMENT_KINDS["classification"][0]) for p in problems):
            problems.append(message)
    return problems


def checklist_steps(session: Session, engagement: Engagement) -> list[tuple[str, str, str]]:
    """Onboarding steps from the policy: one per item, required or optional."""
    return [
        (item.key, item.label + ("" if item.required else " (optional)"), item.step_kind)
        for item in items_for(session, engagement)
    ]


def provided_steps(session: Session, engagement: Engagement) -> list[tuple]:
    """The checklist provider registered with workforce: `checklist_steps`, each naming the
    manual steps of the default template it stands for (rules.REPLACED_MANUAL_STEPS), so
    "NDA signed" is not ticked by hand beside the policy's own NDA step."""
    return [
        (key, title, kind, rules.REPLACED_MANUAL_STEPS.get(key.removeprefix("compliance:"), ()))
        for key, title, kind in checklist_steps(session, engagement)
    ]


def tick_step(session: Session, *, actor: Actor, engagement_id: int, kind: str) -> None:
    """The item of this kind is done: its onboarding step (if the checklist has one) too."""
    from fms.workforce.engagements import complete_provided_step

    complete_provided_step(
        session, actor=actor, engagement_id=engagement_id, key=f"compliance:{kind}"
    )


def submission_block(session: Session, *, engagement, sheet) -> str | None:
    """Under the "block" setting a non-compliant engagement submits no timesheets."""
    if settings(session).non_compliance_mode != "block":
        return None
    row = session.scalar(
        select(EngagementCompliance).where(EngagementCompliance.engagement_id == engagement.id)
    )
    if row is None or row.state != "non_compliant":
        return None
    return (
        f"This engagement is not compliant ({row.reason}); timesheets can be submitted again "
        "once compliance has approved a current document."
    )


# --- compliance status ---------------------------------------------------------------------


def compliance_problem(session: Session, engagement: Engagement, *, today: date) -> str | None:
    """Why an active engagement is not compliant on `today`: a required document of its
    policy has lapsed — a version of it expired and no later version is approved and current
    (a replacement waiting for review does not count until a reviewer approves it). A
    requirement added after activation that was never provided is shown on the checklist,
    not treated as lapsed."""
    if engagement.freelancer_id is None:
        return None
    lapsed_kinds = set(
        session.scalars(
            select(ComplianceDocument.kind).where(
                ComplianceDocument.freelancer_id == engagement.freelancer_id,
                (ComplianceDocument.state == "expired")
                | (
                    (ComplianceDocument.state == "approved")
                    & (ComplianceDocument.expires_on < today)
                ),
            )
        )
    )
    return problem_from(item_statuses(session, engagement, today=today), lapsed_kinds)


def lapsed(document: ComplianceDocument, today: date) -> bool:
    """A version that expired (or is approved and past its expiry date)."""
    return document.state == "expired" or (
        document.state == "approved"
        and document.expires_on is not None
        and document.expires_on < today
    )


def problem_from(statuses: list[ItemStatus], lapsed_kinds: set[str]) -> str | None:
    """The non-compliance reason from the items' states and the kinds with a lapsed
    version (see `compliance_problem`)."""
    expired = [
        s.item.label
        for s in statuses
        if s.item.required and s.item.kind in lapsed_kinds and not s.done
    ]
    return f"expired: {', '.join(expired)}" if expired else None


def set_status(
    session: Session, *, actor: Actor, engagement: Engagement, problem: str | None
) -> bool:
    """Record the engagement's status: non-compliant with a reason, or compliant. True when
    it changed (audited); running it again with the same answer changes nothing."""
    row = session.scalar(
        select(EngagementCompliance).where(EngagementCompliance.engagement_id == engagement.id)
    )
    target = "non_compliant" if problem else "compliant"
    if row is None:
        if target == "compliant":
            return False
        try:
            with session.begin_nested():
                row = EngagementCompliance(
                    org_id=engagement.org_id, engagement_id=engagement.id, state="compliant"
                )
                session.add(row)
                session.flush()
        except IntegrityError:  # a concurrent sweep created it first
            row = session.scalar(
                select(EngagementCompliance).where(
                    EngagementCompliance.engagement_id == engagement.id
                )
            )
    if row.state == target:
        if problem and row.reason != problem:
            session.execute(
                update(EngagementCompliance)
                .where(EngagementCompliance.id == row.id)
                .values(reason=problem)
                .execution_options(synchronize_session="fetch")
            )
        return False
    try:
        transition(
            session,
            row,
            to=target,
            table=STATUS_TRANSITIONS,
            actor=actor,
            label="compliance status",
            values={"reason": problem, "changed_at": utcnow()},
            after={"engagement_id": engagement.id, "reason": problem},
        )
    except RuleViolation:
        return False  # a concurrent sweep recorded it first
    return True
