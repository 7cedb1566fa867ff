"""What workforce registers with lower areas at app start: audit words, links, children."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from fms.audit import hooks as audit_hooks
from fms.workforce import rules

ACTION_WORDS = {
    # requisitions (fms/workforce/requisitions.py; transitions write "<table>.<state>")
    "requisition.created": "Requisition created",
    "requisition.updated": "Requisition changed",
    "requisition.draft": "Requisition reopened as a draft",
    "requisition.submitted": "Requisition submitted for approval",
    "requisition.approved": "Requisition approved",
    "requisition.rejected": "Requisition rejected",
    "requisition.cancelled": "Requisition cancelled",
    "approval_step.approved": "Approval step approved",
    "approval_step.rejected": "Approval step rejected",
    "approval_rules.replaced": "Approval chain changed",
    # engagements (fms/workforce/engagements.py)
    "engagement.created": "Engagement drafted",
    "engagement.draft": "Engagement back to draft",
    "engagement.pending_approval": "Engagement submitted for approval",
    "engagement.approved": "Engagement approved",
    "engagement.rejected": "Engagement rejected",
    "engagement.onboarding": "Onboarding started",
    "engagement.onboarding_blocked": "Activation blocked by a compliance check",
    "engagement.active": "Engagement activated",
    "engagement.ended": "Engagement ended",
    "engagement.cancelled": "Engagement cancelled",
    "engagement.notice_given": "Notice given",
    "engagement.freelancer_invited": "Freelancer invited",
    "onboarding_step.completed": "Onboarding step done",
    "onboarding_template_step.created": "Onboarding checklist step added",
    "amendment.requested": "Amendment proposed",
    "amendment.approved": "Amendment approved",
    "amendment.rejected": "Amendment rejected",
    "performance_review.written": "Review written",
    "delegation.created": "Stand-in named",
    "delegation.revoked": "Stand-in ended",
    # freelancers, suppliers, skills, settings
    "freelancer.created": "Freelancer recorded",
    "freelancer.updated": "Freelancer profile changed",
    "freelancer_skill.set": "Freelancer skill set",
    "supplier.created": "Supplier added",
    "supplier_contact.created": "Supplier contact added",
    "skill.created": "Skill added",
    "exchange_rate.created": "Exchange rate added",
    "workforce_settings.updated": "Workforce settings changed",
}
for _kind, _word in (
    ("department", "Department"),
    ("cost_centre", "Cost centre"),
    ("location", "Location"),
):
    ACTION_WORDS[f"{_kind}.created"] = f"{_word} created"
    ACTION_WORDS[f"{_kind}.updated"] = f"{_word} changed"
    ACTION_WORDS[f"{_kind}.archived"] = f"{_word} archived"
    ACTION_WORDS[f"{_kind}.restored"] = f"{_word} restored"

ENTITY_WORDS = {
    "requisition": "Requisition",
    "approval_step": "Approval step",
    "approval_rule": "Approval rule",
    "engagement": "Engagement",
    "engagement_terms": "Engagement terms",
    "onboarding_step": "Onboarding step",
    "onboarding_template_step": "Checklist template step",
    "amendment": "Amendment",
    "performance_review": "Review",
    "delegation": "Delegation",
    "freelancer": "Freelancer",
    "freelancer_skill": "Freelancer skill",
    "supplier": "Supplier",
    "supplier_contact": "Supplier contact",
    "cost_centre": "Cost centre",
    "workforce_settings": "Workforce settings",
    "exchange_rate": "Exchange rate",
}


def engagement_children(session, engagement_id: int) -> list[tuple[str, int]]:
    """An engagement's own records: checklist steps, amendments, terms, its review."""
    from fms.workforce.models import (
        Amendment,
        EngagementTerms,
        OnboardingStep,
        PerformanceReview,
    )

    out: list[tuple[str, int]] = []
    for model, kind in (
        (OnboardingStep, "onboarding_step"),
        (Amendment, "amendment"),
        (EngagementTerms, "engagement_terms"),
        (PerformanceReview, "performance_review"),
    ):
        ids = session.scalars(select(model.id).where(model.engagement_id == engagement_id))
        out.extend((kind, i) for i in ids)
    return out


def amendment_children(session, amendment_id: int) -> list[tuple[str, int]]:
    """An amendment's approval steps."""
    from fms.workforce.models import ApprovalStep

    ids = session.scalars(select(ApprovalStep.id).where(ApprovalStep.amendment_id == amendment_id))
    return [("approval_step", i) for i in ids]


def requisition_children(session, requisition_id: int) -> list[tuple[str, int]]:
    """A requisition's approval steps."""
    from fms.workforce.models import ApprovalStep

    ids = session.scalars(
        select(ApprovalStep.id).where(ApprovalStep.requisition_id == requisition_id)
    )
    return [("approval_step", i) for i in ids]


def _engagement_of(model_name: str):
    def link(record_id: int) -> str | None:
        from fms.extensions import db
        from fms.workforce import models

        model = getattr(models, model_name)
        engagement_id = db.session.scalar(select(model.engagement_id).where(model.id == record_id))
        if engagement_id is None:
            return None
        return url_for("workforce.engagements.show", engagement_id=engagement_id)

    return link


def register(app) -> None:
    """Called once from create_app."""
    app.jinja_env.globals["record_number"] = rules.display_number
    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    links = {
        "engagement": lambda i: url_for("workforce.engagements.show", engagement_id=i),
        "requisition": lambda i: url_for("workforce.requisitions.show", requisition_id=i),
        "freelancer": lambda i: url_for("workforce.freelancer", freelancer_id=i),
        "supplier": lambda i: url_for("workforce.catalog.supplier", supplier_id=i),
        "onboarding_step": _engagement_of("OnboardingStep"),
        "amendment": _engagement_of("Amendment"),
        "engagement_terms": _engagement_of("EngagementTerms"),
        "performance_review": _engagement_of("PerformanceReview"),
        "delegation": lambda i: url_for("workforce.delegations.index"),
    }
    for kind in ("department", "cost_centre", "location"):
        links[kind] = lambda i: url_for("workforce.structure")
    for entity_type, link in links.items():
        audit_hooks.register_entity_link(entity_type, link)
    audit_hooks.register_children("engagement", engagement_children)
    audit_hooks.register_children("amendment", amendment_children)
    audit_hooks.register_children("requisition", requisition_children)
