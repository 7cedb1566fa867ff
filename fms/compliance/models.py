"""Compliance tables: policies, documents, signing templates and signatures,
classifications, tenure rules and overrides, and each engagement's compliance status."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class ComplianceSettings(TenantMixin, db.Model):
    """Per-organization compliance rules: what a non-compliant engagement may still do."""

    __tablename__ = "compliance_settings"
    __table_args__ = (UniqueConstraint("org_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    # "warn": non-compliance is shown and notified; "block": timesheets cannot be submitted
    non_compliance_mode: Mapped[str] = mapped_column(String(10), default="warn")
    # an extension or rate change needs a classification answered within this many days
    reassess_within_days: Mapped[int] = mapped_column(Integer, default=30)
    # what happens to a departing freelancer's documents: "keep" or "delete" (the
    # offboarding checklist's documents item says so)
    document_retention: Mapped[str] = mapped_column(String(10), default="keep")


class PolicyItem(TenantMixin, db.Model):
    """One requirement of the organization's policy: a kind of document (or signature, or
    questionnaire) for freelancers of a country (all when empty) on engagements of a kind
    (all when empty). The most specific item of a document kind wins (rules.resolve)."""

    __tablename__ = "compliance_policy_item"
    __table_args__ = (UniqueConstraint("org_id", "document_kind", "country", "engagement_kind"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    document_kind: Mapped[str] = mapped_column(String(30))
    # "" means every country / every engagement kind (an empty string, not NULL, so the
    # unique constraint holds on both databases)
    country: Mapped[str] = mapped_column(String(2), default="")
    engagement_kind: Mapped[str] = mapped_column(String(20), default="")
    requirement: Mapped[str] = mapped_column(String(10), default="required")
    # "none", "months" (validity_months after approval) or "typed" (the reviewer types it)
    validity: Mapped[str] = mapped_column(String(10), default="none")
    validity_months: Mapped[int | None] = mapped_column(Integer)
    reviewer_role: Mapped[str] = mapped_column(String(30), default="compliance")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplianceDocument(TenantMixin, db.Model):
    """One version of a freelancer's document of a kind; a rejected or expired one is
    replaced by the next version, older versions are kept."""

    __tablename__ = "compliance_document"
    __table_args__ = (UniqueConstraint("freelancer_id", "kind", "version"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    freelancer_id: Mapped[int] = mapped_column(ForeignKey("freelancer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    state: Mapped[str] = mapped_column(String(20), default="pending_review", index=True)
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_reason: Mapped[str | None] = mapped_column(Text)


class SigningTemplate(TenantMixin, db.Model):
    """One version of a click-to-sign text (NDA, contract terms); never edited: a change is
    the next version."""

    __tablename__ = "signing_template"
    __table_args__ = (UniqueConstraint("org_id", "kind", "version"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Signature(TenantMixin, db.Model):
    """What a freelancer signed, as evidence: the exact text, its SHA-256, the typed name,
    when and from where. Immutable (an update is refused by `signing`)."""

    __tablename__ = "signature"
    __table_args__ = (UniqueConstraint("engagement_id", "kind"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    freelancer_id: Mapped[int] = mapped_column(ForeignKey("freelancer.id"), index=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("signing_template.id"))
    kind: Mapped[str] = mapped_column(String(20))
    template_version: Mapped[int] = mapped_column(Integer)
    signed_text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    typed_name: Mapped[str] = mapped_column(String(200))
    signer_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    pdf_file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))


class Classification(TenantMixin, db.Model):
    """One assessment of an engagement's worker-classification risk; the latest counts.
    A high risk needs a compliance officer's decision before activation."""

    __tablename__ = "classification"

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(20))
    model_version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict] = mapped_column(JSON)
    score: Mapped[int] = mapped_column(Integer)
    risk: Mapped[str] = mapped_column(String(10))
    # the answers that drove the result: [{"question", "factor", "answer", "points"}]
    drivers: Mapped[list] = mapped_column(JSON)
    # "assessed" (low/medium), "decision_needed" (high), "accepted", "refused"
    state: Mapped[str] = mapped_column(String(20), index=True)
    assessed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rationale: Mapped[str | None] = mapped_column(Text)


class TenureRule(TenantMixin, db.Model):
    """Maximum continuous tenure with the organization, for freelancers of a country (all
    when empty); a break of `break_days` or more between engagements starts the count again."""

    __tablename__ = "tenure_rule"
    __table_args__ = (UniqueConstraint("org_id", "country"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), default="")
    max_months: Mapped[int] = mapped_column(Integer)
    break_days: Mapped[int] = mapped_column(Integer, default=90)


class TenureOverride(TenantMixin, db.Model):
    """A compliance officer lets one engagement run past the tenure limit, until a date."""

    __tablename__ = "tenure_override"

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    allowed_until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EngagementCompliance(TenantMixin, db.Model):
    """An engagement's compliance status, kept by the sweep: "compliant" or
    "non_compliant" (a required document expired), with the reason."""

    __tablename__ = "engagement_compliance"
    __table_args__ = (UniqueConstraint("engagement_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"))
    state: Mapped[str] = mapped_column(String(20), default="compliant", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OffboardingPolicyItem(TenantMixin, db.Model):
    """One item of the organization's offboarding policy and the party that ticks it
    (rules.OFFBOARDING_PARTIES); without any, rules.DEFAULT_OFFBOARDING applies."""

    __tablename__ = "offboarding_policy_item"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    party: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class OffboardingStep(TenantMixin, db.Model):
    """One item of an ending engagement's offboarding checklist, copied from the policy
    when it opened; ticked once, by its party only."""

    __tablename__ = "offboarding_step"
    __table_args__ = (UniqueConstraint("engagement_id", "key"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    key: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    party: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    # what ticking the documents item did under the "delete" retention rule, for the page
    # that ticked it (not stored: the audit entry holds it)
    retention_note = None
