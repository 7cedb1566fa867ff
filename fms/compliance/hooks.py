"""What compliance registers with lower areas at app start: workforce's activation guards,
checklist providers, amendment and extension guards and ending listeners (offboarding);
timesheets' submission guard; the audit log's words."""

from __future__ import annotations

from blinker import Namespace

from fms.audit import hooks as audit_hooks

# Record events (DESIGN.md, "Hooks between areas"): what just happened to compliance documents,
# heard by higher areas inside the same transaction; sent as
# `record_event.send("compliance.document_expiring", session=session, ids=[...])`;
# webhooks connects at app start.
record_event = Namespace().signal("compliance.record-event")

ACTION_WORDS = {
    "compliance_settings.updated": "Compliance settings changed",
    "compliance_policy_item.created": "Compliance policy item added",
    "compliance_policy_item.updated": "Compliance policy item changed",
    "compliance_policy_item.removed": "Compliance policy item removed",
    "compliance_document.uploaded": "Compliance document uploaded",
    "compliance_document.approved": "Compliance document approved",
    "compliance_document.rejected": "Compliance document rejected",
    "compliance_document.expired": "Compliance document expired",
    "signing_template.published": "Text to sign published",
    "signature.signed": "Document signed",
    "classification.assessed": "Worker classification assessed",
    "classification.accepted": "High-risk classification accepted",
    "classification.refused": "High-risk classification refused",
    "tenure_rule.set": "Tenure limit set",
    "tenure_rule.removed": "Tenure limit removed",
    "tenure_override.granted": "Tenure limit overridden",
    "engagement_compliance.compliant": "Engagement compliant again",
    "engagement_compliance.non_compliant": "Engagement non-compliant",
    "offboarding.opened": "Offboarding checklist opened",
    "offboarding_step.completed": "Offboarding item done",
    "offboarding_policy_item.set": "Offboarding policy item set",
}
ENTITY_WORDS = {
    "compliance_settings": "Compliance settings",
    "compliance_policy_item": "Compliance policy item",
    "compliance_document": "Compliance document",
    "signing_template": "Text to sign",
    "signature": "Signature",
    "classification": "Classification",
    "tenure_rule": "Tenure rule",
    "tenure_override": "Tenure override",
    "engagement_compliance": "Compliance status",
    "offboarding_step": "Offboarding item",
    "offboarding_policy_item": "Offboarding policy item",
}


def _offboarding_step_pages(ids: list[int]) -> dict[int, str]:
    """An offboarding item lives on its engagement's offboarding checklist."""
    from flask import url_for
    from sqlalchemy import select

    from fms.compliance.models import OffboardingStep
    from fms.extensions import db

    rows = db.session.execute(
        select(OffboardingStep.id, OffboardingStep.engagement_id).where(OffboardingStep.id.in_(ids))
    )
    return {
        step_id: url_for("compliance.offboarding_checklist", engagement_id=engagement_id)
        for step_id, engagement_id in rows
    }


def _signature_pages(ids: list[int]) -> dict[int, str]:
    """A signature shows on its engagement's compliance page."""
    from flask import url_for
    from sqlalchemy import select

    from fms.compliance.models import Signature
    from fms.extensions import db

    rows = db.session.execute(
        select(Signature.id, Signature.engagement_id).where(Signature.id.in_(ids))
    )
    return {
        signature_id: url_for("compliance.engagement", engagement_id=engagement_id)
        for signature_id, engagement_id in rows
    }


def _record_links() -> dict:
    """Compliance records with a page of their own (the audit log links them)."""
    from flask import url_for

    return {
        "compliance_document": lambda i: url_for("compliance.review_document", document_id=i),
        "classification": lambda i: url_for("compliance.classification", classification_id=i),
        "signing_template": lambda i: url_for("compliance.template", template_id=i),
        "tenure_rule": lambda i: url_for("compliance.tenure_rule", tenure_rule_id=i),
    }


def register(app) -> None:
    """Called once from create_app."""
    from fms.compliance import classification, offboarding, services, sweep, tenure  # noqa: F401
    from fms.timesheets.services import register_submission_guard
    from fms.workforce import engagements

    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    audit_hooks.register_entity_links("offboarding_step", _offboarding_step_pages)
    audit_hooks.register_entity_links("signature", _signature_pages)
    for entity_type, link in _record_links().items():
        audit_hooks.register_entity_link(entity_type, link)
    engagements.register_activation_guard(services.activation_problems)
    engagements.register_activation_guard(tenure.activation_past_limit)
    engagements.register_checklist_provider(services.provided_steps)
    engagements.register_ending_listener(offboarding.on_engagement_ending)
    engagements.register_amendment_guard(classification.reassessment_needed)
    engagements.register_extension_guard(tenure.extension_past_limit)
    register_submission_guard(services.submission_block)
