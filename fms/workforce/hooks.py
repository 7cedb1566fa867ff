"""What workforce registers with lower areas at app start: audit words, links, children."""

from __future__ import annotations

from blinker import Namespace
from flask import url_for
from sqlalchemy import select

from fms.audit import hooks as audit_hooks
from fms.workforce import rules

# Record events (DESIGN.md, "Hooks between areas"): what just happened to requisitions
# and engagements, heard by higher areas inside the same transaction; sent as
# `record_event.send("engagement.activated", session=session, ids=[...])`;
# webhooks connects at app start.
record_event = Namespace().signal("workforce.record-event")

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
    "saved_view.created": "List view saved",
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


def engagement_children(session, engagement_ids: list[int]) -> list[tuple[str, int]]:
    """Engagements' own records: checklist steps, amendments, terms, their reviews."""
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
        ids = session.scalars(select(model.id).where(model.engagement_id.in_(engagement_ids)))
        out.extend((kind, i) for i in ids)
    return out


def approval_steps_of(column_name: str):
    """Children of requisitions or amendments: their approval steps."""

    def children(session, owner_ids: list[int]) -> list[tuple[str, int]]:
        from fms.workforce.models import ApprovalStep

        column = getattr(ApprovalStep, column_name)
        ids = session.scalars(select(ApprovalStep.id).where(column.in_(owner_ids)))
        return [("approval_step", i) for i in ids]

    return children


def _on_engagement_page(model_name: str):
    """Links of records shown on their engagement's page (checklist steps, amendments...)."""

    def links(ids: list[int]) -> dict[int, str]:
        from fms.extensions import db
        from fms.workforce import models

        model = getattr(models, model_name)
        rows = db.session.execute(select(model.id, model.engagement_id).where(model.id.in_(ids)))
        return {
            record_id: url_for("workforce.engagements.show", engagement_id=engagement_id)
            for record_id, engagement_id in rows
        }

    return links


def _approval_step_pages(ids: list[int]) -> dict[int, str]:
    """An approval step lives on its requisition's page, or its amendment's engagement's."""
    from fms.extensions import db
    from fms.workforce.models import Amendment, ApprovalStep

    rows = db.session.execute(
        select(ApprovalStep.id, ApprovalStep.requisition_id, Amendment.engagement_id)
        .outerjoin(Amendment, Amendment.id == ApprovalStep.amendment_id)
        .where(ApprovalStep.id.in_(ids))
    )
    out = {}
    for step_id, requisition_id, engagement_id in rows:
        if requisition_id is not None:
            out[step_id] = url_for("workforce.requisitions.show", requisition_id=requisition_id)
        elif engagement_id is not None:
            out[step_id] = url_for("workforce.engagements.show", engagement_id=engagement_id)
    return out


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
        "delegation": lambda i: url_for("workforce.delegations.index"),
    }
    for kind in ("department", "cost_centre", "location"):
        links[kind] = lambda i: url_for("workforce.structure")
    for entity_type, link in links.items():
        audit_hooks.register_entity_link(entity_type, link)
    for entity_type, model_name in (
        ("onboarding_step", "OnboardingStep"),
        ("amendment", "Amendment"),
        ("engagement_terms", "EngagementTerms"),
        ("performance_review", "PerformanceReview"),
    ):
        audit_hooks.register_entity_links(entity_type, _on_engagement_page(model_name))
    audit_hooks.register_entity_links("approval_step", _approval_step_pages)
    audit_hooks.register_children("engagement", engagement_children)
    audit_hooks.register_children("amendment", approval_steps_of("amendment_id"))
    audit_hooks.register_children("requisition", approval_steps_of("requisition_id"))
