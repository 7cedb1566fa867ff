"""Compliance lists of the API (fms.lists specs): documents, policy items, and engagements
by compliance status. Each is narrowed to what the actor may see: compliance officers and
org admins (`compliance.manage`) all of the organization's; a freelancer their own
documents; nobody else anything. (The officer pages' exports have their own specs in
fms/compliance/lists.py.)"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, case, exists, false, select

from fms.compliance import rules
from fms.compliance.models import ComplianceDocument, EngagementCompliance, PolicyItem
from fms.compliance.queries import EXPIRING_WITHIN_DAYS
from fms.forms import id_arg
from fms.lists import Column, Filter, ListSpec, active_filter, search_filter
from fms.storage import StoredFile
from fms.workforce.models import Engagement, Freelancer

DOCUMENT_STATES = ("pending_review", "approved", "rejected", "expired")
COMPLIANCE_STATUSES = ("non_compliant", "awaiting_review", "expiring", "compliant")
ENGAGEMENT_STATES = ("approved", "onboarding", "active", "ended")


def _choices(text: str, options) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(v.strip() for v in text.split(",")))
    if not values or any(v not in options for v in values):
        raise ValueError(text)
    return values


def _one_of(key: str, label: str, options, apply) -> Filter:
    return Filter(
        key,
        label,
        lambda text: _choices(text, options),
        apply,
        choices=[(v, v.replace("_", " ").capitalize()) for v in options],
        kind="select",
        message="One or more of (comma-separated): " + ", ".join(options) + ".",
    )


# --- documents -----------------------------------------------------------------------------


def _documents(session, actor, ctx):
    stmt = (
        select(
            ComplianceDocument,
            Freelancer.display_name.label("freelancer"),
            StoredFile.original_name.label("file_name"),
            StoredFile.media_type.label("media_type"),
            StoredFile.size.label("size"),
            StoredFile.sha256.label("sha256"),
        )
        .join(Freelancer, Freelancer.id == ComplianceDocument.freelancer_id)
        .join(StoredFile, StoredFile.id == ComplianceDocument.file_id)
    )
    if actor.can("compliance.manage"):
        return stmt
    if actor.user_id is None:
        return stmt.where(false())
    return stmt.where(Freelancer.user_id == actor.user_id)


DOCUMENTS = ListSpec(
    key="api_compliance_documents",
    title="Compliance documents",
    statement=_documents,
    tiebreak=ComplianceDocument.id.desc(),
    default_sort="-uploaded_at",
    columns=[
        Column("id", "ID", ComplianceDocument.id, "number", page=False),
        Column("kind", "Kind", ComplianceDocument.kind),
        Column("freelancer", "Freelancer", Freelancer.display_name),
        Column("state", "Status", ComplianceDocument.state, "state"),
        Column("expires_on", "Expires", ComplianceDocument.expires_on, "date"),
        Column("uploaded_at", "Uploaded", ComplianceDocument.uploaded_at, "date"),
    ],
    filters=[
        search_filter("Freelancer", Freelancer.display_name),
        _one_of(
            "state",
            "Status",
            DOCUMENT_STATES,
            lambda s, v, c: s.where(ComplianceDocument.state.in_(v)),
        ),
        _one_of(
            "kind",
            "Kind",
            rules.UPLOAD_KINDS,
            lambda s, v, c: s.where(ComplianceDocument.kind.in_(v)),
        ),
        Filter(
            "freelancer_id",
            "Freelancer",
            id_arg,
            lambda s, v, c: s.where(ComplianceDocument.freelancer_id == v),
            kind="number",
            message="A freelancer id.",
            api_type="integer",
        ),
    ],
)


# --- policy items --------------------------------------------------------------------------


def _policy_items(session, actor, ctx):
    stmt = select(PolicyItem)
    return stmt if actor.can("compliance.manage") else stmt.where(false())


POLICY_ITEMS = ListSpec(
    key="api_compliance_policy_items",
    title="Policy items",
    statement=_policy_items,
    tiebreak=PolicyItem.id,
    default_sort="document_kind",
    columns=[
        Column("id", "ID", PolicyItem.id, "number", page=False),
        Column("document_kind", "Kind", PolicyItem.document_kind),
        Column("country", "Country", PolicyItem.country),
        Column("engagement_kind", "Engagement kind", PolicyItem.engagement_kind),
        Column("requirement", "Requirement", PolicyItem.requirement, "state"),
        Column("created_at", "Added", PolicyItem.created_at, "date"),
    ],
    filters=[
        _one_of(
            "document_kind",
            "Kind",
            rules.POLICY_KINDS,
            lambda s, v, c: s.where(PolicyItem.document_kind.in_(v)),
        ),
        active_filter(PolicyItem.is_active, no="Removed"),
    ],
)


# --- engagements by compliance status ------------------------------------------------------


def status_expression(today):
    """An engagement's compliance status on `today`, as the dashboard counts it: the sweep's
    non-compliant first, then a document waiting for review, then one expiring within 30
    days, else compliant."""
    freelancer_docs = ComplianceDocument.freelancer_id == Engagement.freelancer_id
    waiting = exists().where(freelancer_docs, ComplianceDocument.state == "pending_review")
    expiring = exists().where(
        freelancer_docs,
        ComplianceDocument.state == "approved",
        ComplianceDocument.expires_on >= today,
        ComplianceDocument.expires_on <= today + timedelta(days=EXPIRING_WITHIN_DAYS),
    )
    return case(
        (EngagementCompliance.state == "non_compliant", "non_compliant"),
        (waiting, "awaiting_review"),
        (expiring, "expiring"),
        else_="compliant",
    )


def _engagements(session, actor, ctx):
    if not actor.can("compliance.manage"):
        return select(Engagement.id).where(false())
    return (
        select(
            Engagement.id.label("engagement_id"),
            Engagement.title,
            Engagement.state,
            Engagement.freelancer_id,
            Engagement.end_date,
            Freelancer.display_name.label("freelancer"),
            status_expression(ctx["today"]).label("compliance_status"),
            EngagementCompliance.reason,
        )
        .outerjoin(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .outerjoin(
            EngagementCompliance,
            and_(
                EngagementCompliance.engagement_id == Engagement.id,
                EngagementCompliance.org_id == Engagement.org_id,
            ),
        )
        .where(Engagement.state.in_(ctx["values"].get("state") or ("active",)))
    )


ENGAGEMENTS = ListSpec(
    key="api_compliance_engagements",
    title="Engagements by compliance status",
    statement=_engagements,
    tiebreak=Engagement.id.desc(),
    default_sort="end_date",
    columns=[
        Column("id", "ID", Engagement.id, "number", page=False),
        Column("title", "Engagement", Engagement.title),
        Column("freelancer", "Freelancer", Freelancer.display_name),
        Column("end_date", "Ends", Engagement.end_date, "date"),
    ],
    filters=[
        search_filter("Engagement or freelancer", Engagement.title, Freelancer.display_name),
        _one_of(
            "status",
            "Compliance status",
            COMPLIANCE_STATUSES,
            lambda s, v, c: s.where(status_expression(c["today"]).in_(v)),
        ),
        # applied by the statement (active engagements unless asked otherwise)
        _one_of("state", "Engagement status", ENGAGEMENT_STATES, lambda s, v, c: s),
    ],
)
