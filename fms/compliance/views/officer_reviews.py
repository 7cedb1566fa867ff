"""The reviewers' queue: documents waiting for the actor's review (oldest first), high-risk
classifications waiting for a compliance officer's decision, and engagements that would run
past the tenure limit without an override.

A document is reviewed by the role its policy item names (compliance, procurement or org
admin), so this page asks for that role through the queue itself; decisions and overrides
are compliance.manage's.
"""

from __future__ import annotations

from flask import render_template, url_for
from flask_login import login_required
from sqlalchemy import select

from fms.compliance import documents, queries, rules
from fms.compliance.classification import decide, questionnaire
from fms.compliance.forms import DecisionForm, ReviewForm
from fms.compliance.models import Classification, ComplianceDocument
from fms.compliance.services import documents_by_kind, org_today, policy_rows
from fms.compliance.views import bp
from fms.compliance.views.officer import officer, tenure_rows
from fms.errors import NotAllowed, NotFound
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.web_session import current_actor
from fms.tenancy import get_in_org
from fms.workforce.models import Engagement, Freelancer

REVIEWER_ROLES = set(rules.REVIEWER_ROLES)


def reviewer():
    """Someone who may hold a reviewing role (compliance, procurement, org admin)."""
    actor = current_actor()
    if not (REVIEWER_ROLES & set(actor.roles)):
        raise NotAllowed("Reviews are for compliance officers, procurement and org admins.")
    return actor


@bp.get("/reviews")
@login_required
def reviews():
    actor = reviewer()
    session = db.session
    queue = queries.review_queue(session, actor=actor)
    queue_total = (
        queries.review_queue_size(session, actor=actor)
        if len(queue) >= queries.QUEUE_PAGE
        else len(queue)
    )
    decisions = queries.decisions_waiting(session, actor=actor)
    engagements = {}
    if decisions:
        ids = {c.engagement_id for c in decisions}
        for engagement, freelancer in session.execute(
            select(Engagement, Freelancer)
            .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
            .where(Engagement.id.in_(ids))
        ):
            engagements[engagement.id] = (engagement, freelancer)
    overrides = []
    if actor.can("compliance.manage"):
        overrides = [
            r for r in tenure_rows(session, org_today(session, actor.org_id)) if r.runs_past
        ]
    return render_template(
        "compliance/officer/reviews.html",
        queue=queue,
        queue_total=queue_total,
        decisions=decisions,
        engagements=engagements,
        overrides=overrides,
        may_decide=actor.can("compliance.manage"),
    )


def _document_page(actor, document_id: int, *, form=None):
    session = db.session
    document = get_in_org(session, ComplianceDocument, document_id, what="document")
    if not documents.may_download(session, actor=actor, document=document):
        raise NotFound("No such document.")
    freelancer = session.scalar(select(Freelancer).where(Freelancer.id == document.freelancer_id))
    role = rules.reviewer_role(policy_rows(session), country=freelancer.country, kind=document.kind)
    # the validity rule the service applies on approval (whether the reviewer types a date)
    item = documents._item_rules(session, freelancer, document.kind)
    from fms.storage import get_file

    stored = get_file(session, document.file_id)
    return render_template(
        "compliance/officer/document.html",
        document=document,
        freelancer=freelancer,
        stored=stored,
        versions=documents_by_kind(session, freelancer.id).get(document.kind, []),
        engagements=session.scalars(
            select(Engagement)
            .where(
                Engagement.freelancer_id == freelancer.id,
                Engagement.state.in_(("approved", "onboarding", "active")),
            )
            .order_by(Engagement.start_date)
        ).all(),
        role=role,
        item=item,
        may_review=(
            document.state == "pending_review"
            and role in actor.roles
            and document.uploaded_by_user_id != actor.user_id
        ),
        own_upload=document.uploaded_by_user_id == actor.user_id,
        form=form or ReviewForm(),
    ), status_of(form) if form else 200


@bp.get("/reviews/documents/<int:document_id>")
@login_required
def review_document(document_id: int):
    return _document_page(reviewer(), document_id)


@bp.post("/reviews/documents/<int:document_id>")
@login_required
def decide_document(document_id: int):
    actor = reviewer()
    form = ReviewForm()
    approve = form.decision.data == "approve"
    done = submitted(
        form,
        lambda: documents.review_document(
            db.session,
            actor=actor,
            document_id=document_id,
            approve=approve,
            reason=form.reason.data or "",
            expires_on=form.expires_on.data.isoformat() if form.expires_on.data else None,
        ),
        success=lambda d: (
            f"{rules.DOCUMENT_KINDS[d.kind][0]} version {d.version} approved"
            + (f", valid until {d.expires_on.isoformat()}." if d.expires_on else ".")
            if approve
            else f"{rules.DOCUMENT_KINDS[d.kind][0]} version {d.version} rejected; the "
            "freelancer is asked for a new version."
        ),
        then=url_for(".reviews"),
    )
    return done or _document_page(actor, document_id, form=form)


def _classification_page(actor, classification_id: int, *, form=None):
    session = db.session
    row = get_in_org(session, Classification, classification_id, what="classification")
    engagement = session.get(Engagement, row.engagement_id)
    freelancer = (
        session.get(Freelancer, engagement.freelancer_id) if engagement.freelancer_id else None
    )
    try:
        model = questionnaire(row.jurisdiction)
    except NotFound:
        model = {"label": row.jurisdiction, "questions": []}
    driven = {d["question"] for d in row.drivers or []}
    return render_template(
        "compliance/officer/classification.html",
        row=row,
        engagement=engagement,
        freelancer=freelancer,
        model=model,
        driven=driven,
        form=form or DecisionForm(),
    ), status_of(form) if form else 200


@bp.get("/reviews/classifications/<int:classification_id>")
@login_required
def classification(classification_id: int):
    return _classification_page(officer(), classification_id)


@bp.post("/reviews/classifications/<int:classification_id>")
@login_required
def decide_classification(classification_id: int):
    actor = officer()
    form = DecisionForm()
    accept = form.decision.data == "accept"
    done = submitted(
        form,
        lambda: decide(
            db.session,
            actor=actor,
            classification_id=classification_id,
            accept=accept,
            rationale=form.rationale.data or "",
        ),
        success=(
            "Accepted: the engagement may go ahead as a contractor engagement."
            if accept
            else "Refused: the engagement will not become active on this classification."
        ),
        then=url_for(".reviews"),
    )
    return done or _classification_page(actor, classification_id, form=form)
