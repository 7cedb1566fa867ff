"""The compliance officer's lists (fms.lists specs), read the same way by the pages, their
CSV/XLSX exports and the API: the organization's documents, and active engagements by
compliance status.

An engagement's status follows queries.status_counts, in SQL: non-compliant (the sweep
found a lapsed required document), else awaiting review (a document of the freelancer waits
for review), else expiring (an approved document expires within 30 days), else compliant.
The status depends on the organization's today, so it is built per request from `ctx`.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, exists, literal_column, select

from fms.compliance import rules
from fms.compliance.models import Classification, ComplianceDocument, EngagementCompliance
from fms.compliance.queries import EXPIRING_WITHIN_DAYS
from fms.input import parse_date
from fms.lists import Column, Filter, ListSpec, search_filter
from fms.workforce.models import Engagement, Freelancer

STATUSES = {
    "non_compliant": "Not compliant",
    "awaiting_review": "Awaiting review",
    "expiring": "Expiring",
    "compliant": "Compliant",
}
DOCUMENT_STATES = {
    "pending_review": "Awaiting review",
    "approved": "Approved",
    "rejected": "Rejected",
    "expired": "Expired",
}
RISK_LABELS = {"low": "Low", "medium": "Medium", "high": "High"}


def _choice(options: dict):
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(text)
        return text

    return parse


def status_expression(today, *, rank: bool = False):
    """An engagement's compliance status on `today`, as a SQL CASE (`rank`: its severity,
    0 for non-compliant to 3 for compliant, which the list sorts by)."""
    non_compliant = exists().where(
        EngagementCompliance.engagement_id == Engagement.id,
        EngagementCompliance.state == "non_compliant",
    )
    waiting = exists().where(
        ComplianceDocument.freelancer_id == Engagement.freelancer_id,
        ComplianceDocument.state == "pending_review",
    )
    expiring = exists().where(
        ComplianceDocument.freelancer_id == Engagement.freelancer_id,
        ComplianceDocument.state == "approved",
        ComplianceDocument.expires_on >= today,
        ComplianceDocument.expires_on <= today + timedelta(days=EXPIRING_WITHIN_DAYS),
    )
    names = list(STATUSES)
    value = (lambda name: names.index(name)) if rank else (lambda name: name)
    return case(
        (non_compliant, value("non_compliant")),
        (waiting, value("awaiting_review")),
        (expiring, value("expiring")),
        else_=value("compliant"),
    )


def latest_risk():
    """The risk of an engagement's latest classification (a correlated subquery)."""
    return (
        select(Classification.risk)
        .where(Classification.engagement_id == Engagement.id)
        .order_by(Classification.id.desc())
        .limit(1)
        .correlate(Engagement)
        .scalar_subquery()
    )


def _reason():
    return (
        select(EngagementCompliance.reason)
        .where(
            EngagementCompliance.engagement_id == Engagement.id,
            EngagementCompliance.state == "non_compliant",
        )
        .correlate(Engagement)
        .scalar_subquery()
    )


def _engagements(session, actor, ctx):
    return (
        select(
            Engagement.id.label("engagement_id"),
            Engagement.title.label("title"),
            Engagement.end_date.label("end_date"),
            Freelancer.display_name.label("freelancer"),
            Freelancer.country.label("country"),
            status_expression(ctx["today"]).label("compliance_status"),
            status_expression(ctx["today"], rank=True).label("status_rank"),
            latest_risk().label("risk"),
            _reason().label("reason"),
        )
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(Engagement.state == "active")
    )


ENGAGEMENTS_BY_STATUS = ListSpec(
    key="compliance_engagements",
    title="Engagements by compliance status",
    statement=_engagements,
    tiebreak=Engagement.id,
    default_sort="status",
    permission="compliance.manage",
    columns=[
        Column("id", "ID", Engagement.id, "number", value=lambda r: r.engagement_id, page=False),
        Column("title", "Engagement", Engagement.title, value=lambda r: r.title),
        Column("freelancer", "Freelancer", Freelancer.display_name, value=lambda r: r.freelancer),
        Column("country", "Country", Freelancer.country, value=lambda r: r.country),
        Column(
            "status",
            "Compliance status",
            literal_column("status_rank"),
            "state",
            value=lambda r: r.compliance_status,
        ),
        Column("risk", "Classification risk", literal_column("risk"), value=lambda r: r.risk),
        Column("end_date", "Ends", Engagement.end_date, "date", value=lambda r: r.end_date),
        Column("reason", "Reason", value=lambda r: r.reason, page=False),
    ],
    filters=[
        search_filter("Engagement or freelancer", Engagement.title, Freelancer.display_name),
        Filter(
            "status",
            "Status",
            _choice(STATUSES),
            lambda s, v, c: s.where(status_expression(c["today"]) == v),
            choices=list(STATUSES.items()),
            kind="select",
            message="One of: " + ", ".join(STATUSES) + ".",
        ),
    ],
)


# --- documents -----------------------------------------------------------------------------


def _documents(session, actor, ctx):
    return select(
        ComplianceDocument, Freelancer.display_name.label("freelancer"), Freelancer.country
    ).join(Freelancer, Freelancer.id == ComplianceDocument.freelancer_id)


DOCUMENTS = ListSpec(
    key="compliance_documents",
    title="Compliance documents",
    statement=_documents,
    tiebreak=ComplianceDocument.id.desc(),
    default_sort="-uploaded",
    permission="compliance.manage",
    columns=[
        Column("id", "ID", ComplianceDocument.id, "number", value=lambda r: r[0].id, page=False),
        Column("freelancer", "Freelancer", Freelancer.display_name, value=lambda r: r.freelancer),
        Column("country", "Country", Freelancer.country, value=lambda r: r.country),
        Column(
            "kind",
            "Document",
            ComplianceDocument.kind,
            value=lambda r: rules.DOCUMENT_KINDS[r[0].kind][0],
        ),
        Column(
            "version", "Version", ComplianceDocument.version, "number", value=lambda r: r[0].version
        ),
        Column("state", "Status", ComplianceDocument.state, "state", value=lambda r: r[0].state),
        Column(
            "uploaded",
            "Uploaded",
            ComplianceDocument.uploaded_at,
            "date",
            value=lambda r: r[0].uploaded_at,
        ),
        Column(
            "expires_on",
            "Expires",
            ComplianceDocument.expires_on,
            "date",
            value=lambda r: r[0].expires_on,
        ),
        Column("reason", "Review reason", value=lambda r: r[0].review_reason, page=False),
    ],
    filters=[
        search_filter("Freelancer", Freelancer.display_name),
        Filter(
            "state",
            "Status",
            _choice(DOCUMENT_STATES),
            lambda s, v, c: s.where(ComplianceDocument.state == v),
            choices=list(DOCUMENT_STATES.items()),
            kind="select",
            message="One of: " + ", ".join(DOCUMENT_STATES) + ".",
        ),
        Filter(
            "kind",
            "Document",
            _choice({k: 1 for k in rules.UPLOAD_KINDS}),
            lambda s, v, c: s.where(ComplianceDocument.kind == v),
            choices=[(k, rules.DOCUMENT_KINDS[k][0]) for k in rules.UPLOAD_KINDS],
            kind="select",
            message="One of: " + ", ".join(rules.UPLOAD_KINDS) + ".",
        ),
        Filter(
            "expires_before",
            "Expires before",
            parse_date,
            lambda s, v, c: s.where(ComplianceDocument.expires_on < v),
            kind="date",
            api_type="date",
            message="A date, such as 2026-12-31.",
        ),
    ],
)
