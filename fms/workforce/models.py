"""Workforce tables: org structure, suppliers, freelancers, requisitions, engagements."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fms.database import Id
from fms.extensions import db
from fms.modified import touches_parent
from fms.money import MONEY_SCALE, RATE_SCALE, ScaledDecimal
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class _StructureUnit(TenantMixin):
    """Shared columns of departments, cost centres and locations."""

    id: Mapped[Id] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(120))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Department(_StructureUnit, db.Model):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("org_id", "code"),)


class CostCentre(_StructureUnit, db.Model):
    __tablename__ = "cost_centre"
    __table_args__ = (UniqueConstraint("org_id", "code"),)


class Location(_StructureUnit, db.Model):
    __tablename__ = "location"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(120))


class Freelancer(TenantMixin, db.Model):
    """An external worker's profile within one organization."""

    __tablename__ = "freelancer"
    __table_args__ = (UniqueConstraint("org_id", "email"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    headline: Mapped[str | None] = mapped_column(String(200))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id"), index=True)
    tax_id: Mapped[str | None] = mapped_column(String(40))
    iban: Mapped[str | None] = mapped_column(String(34))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    skills: Mapped[list[FreelancerSkill]] = relationship(lazy="raise", viewonly=True)


# --- settings, suppliers, skills -----------------------------------------------------------


class WorkforceSettings(TenantMixin, db.Model):
    """Per-organization workforce rules (notice period, trial engagement limits)."""

    __tablename__ = "workforce_settings"
    __table_args__ = (UniqueConstraint("org_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    notice_period_days: Mapped[int] = mapped_column(Integer, default=14)
    trial_max_days: Mapped[int] = mapped_column(Integer, default=30)
    trial_max_budget: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE), default=5000)


class Supplier(TenantMixin, db.Model):
    """A staffing agency that supplies freelancers; direct freelancers have none."""

    __tablename__ = "supplier"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    tax_id: Mapped[str | None] = mapped_column(String(40))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    contacts: Mapped[list[SupplierContact]] = relationship(
        lazy="raise", order_by="SupplierContact.name", viewonly=True
    )


class SupplierContact(TenantMixin, db.Model):
    __tablename__ = "supplier_contact"

    id: Mapped[Id] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(80))


class Skill(TenantMixin, db.Model):
    """One entry of the organization's skill taxonomy."""

    __tablename__ = "skill"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    category: Mapped[str | None] = mapped_column(String(80))


class FreelancerSkill(TenantMixin, db.Model):
    """A freelancer's skill with a level from 1 (basic) to 5 (expert)."""

    __tablename__ = "freelancer_skill"
    __table_args__ = (UniqueConstraint("freelancer_id", "skill_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    freelancer_id: Mapped[int] = mapped_column(ForeignKey("freelancer.id"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skill.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)

    skill: Mapped[Skill] = relationship(lazy="raise")


class ExchangeRate(TenantMixin, db.Model):
    """Units of the organization's base currency for one unit of `currency`, from a date."""

    __tablename__ = "exchange_rate"
    __table_args__ = (UniqueConstraint("org_id", "currency", "effective_from"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    effective_from: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- requisitions and their approval chain -------------------------------------------------


class ApprovalRule(TenantMixin, db.Model):
    """One step of the organization's approval chain, applied from a budget threshold."""

    __tablename__ = "approval_rule"

    id: Mapped[Id] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(String(120))
    # in the organization's base currency; 0 means always
    min_budget: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE), default=0)


class Requisition(TenantMixin, db.Model):
    """A hiring manager's request for a freelancer, before approval."""

    __tablename__ = "requisition"
    __table_args__ = (Index("ix_requisition_org_updated", "org_id", "updated_at"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="hourly")
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    requester_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    cost_centre_id: Mapped[int] = mapped_column(ForeignKey("cost_centre.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    weekly_minutes: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    rate_min: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    rate_max: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    budget: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE))
    # the budget in the base currency at submission, which chose the approval chain
    budget_base: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))
    justification: Mapped[str] = mapped_column(Text, default="")
    skill_ids: Mapped[list] = mapped_column(JSON, default=list)
    round: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the last change (fms.modified): `?updated_since=` of the API
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class ApprovalStep(TenantMixin, db.Model):
    """One step of a submitted requisition's (or an amendment's) chain, fixed when it was
    submitted."""

    __tablename__ = "approval_step"
    __table_args__ = (
        UniqueConstraint("requisition_id", "round", "position"),
        UniqueConstraint("amendment_id", "round", "position"),
        # a step belongs to exactly one requisition round or one amendment
        CheckConstraint("(requisition_id IS NULL) <> (amendment_id IS NULL)", name="one_owner"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    requisition_id: Mapped[int | None] = mapped_column(ForeignKey("requisition.id"), index=True)
    amendment_id: Mapped[int | None] = mapped_column(ForeignKey("amendment.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    comment: Mapped[str | None] = mapped_column(Text)


# --- engagements ------------------------------------------------------------------------


class Engagement(TenantMixin, db.Model):
    """The contract or statement of work between the organization and one freelancer.

    Terms that change over time (rate, budget, manager, cost centre ...) live in
    effective-dated `EngagementTerms` rows; `end_date` is the current planned or actual end.
    """

    __tablename__ = "engagement"
    __table_args__ = (Index("ix_engagement_org_updated", "org_id", "updated_at"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    freelancer_id: Mapped[int | None] = mapped_column(ForeignKey("freelancer.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id"), index=True)
    requisition_id: Mapped[int | None] = mapped_column(ForeignKey("requisition.id"))
    currency: Mapped[str] = mapped_column(String(3))
    po_number: Mapped[str | None] = mapped_column(String(40))
    start_date: Mapped[date] = mapped_column(Date, index=True)
    end_date: Mapped[date] = mapped_column(Date, index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    notice_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(20))
    end_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the last change to the engagement or its terms (fms.modified): `?updated_since=`
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class EngagementTerms(TenantMixin, db.Model):
    """The terms of an engagement from `effective_from` until the next row."""

    __tablename__ = "engagement_terms"
    __table_args__ = (UniqueConstraint("engagement_id", "effective_from"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(RATE_SCALE))
    overtime_rate: Mapped[Decimal | None] = mapped_column(ScaledDecimal(RATE_SCALE))
    budget_cap: Mapped[Decimal] = mapped_column(ScaledDecimal(MONEY_SCALE))
    hiring_manager_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    cost_centre_id: Mapped[int] = mapped_column(ForeignKey("cost_centre.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    weekly_minutes: Mapped[int] = mapped_column(Integer)
    amendment_id: Mapped[int | None] = mapped_column(ForeignKey("amendment.id"))


class Amendment(TenantMixin, db.Model):
    """An effective-dated change to an approved engagement, itself approved."""

    __tablename__ = "amendment"

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    effective_from: Mapped[date] = mapped_column(Date)
    new_rate: Mapped[Decimal | None] = mapped_column(ScaledDecimal(RATE_SCALE))
    new_end_date: Mapped[date | None] = mapped_column(Date)
    new_budget_cap: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))
    new_hiring_manager_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # a budget increase's new cap in the base currency when proposed, which chose its chain
    budget_base: Mapped[Decimal | None] = mapped_column(ScaledDecimal(MONEY_SCALE))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Delegation(TenantMixin, db.Model):
    """A hiring manager's stand-in: from `starts_on` to `ends_on` (inclusive) the delegate
    acts on the engagements the manager manages on those days. Not passed on further."""

    __tablename__ = "delegation"

    id: Mapped[Id] = mapped_column(primary_key=True)
    manager_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    delegate_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OnboardingTemplateStep(TenantMixin, db.Model):
    """The organization's default onboarding checklist, copied into each engagement."""

    __tablename__ = "onboarding_template_step"

    id: Mapped[Id] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="review")


class OnboardingStep(TenantMixin, db.Model):
    """One item of an engagement's onboarding checklist."""

    __tablename__ = "onboarding_step"

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # set on steps a checklist provider added (e.g. "compliance:nda"): they complete when
    # the providing area says so, never by a tick
    provider_key: Mapped[str | None] = mapped_column(String(60))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class PerformanceReview(TenantMixin, db.Model):
    """The hiring manager's short review at the end of an engagement."""

    __tablename__ = "performance_review"
    __table_args__ = (UniqueConstraint("engagement_id"),)

    id: Mapped[Id] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id"))
    freelancer_id: Mapped[int] = mapped_column(ForeignKey("freelancer.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# a new or changed terms row changes what the engagement's API shows
touches_parent(EngagementTerms, Engagement, "engagement_id")
