"""Compliance routes of /api/v1: policies, documents, signatures, classification, tenure.

The routes parse, call the compliance services (which check permission, ownership and
state) and answer; the lists are fms/compliance/api_lists.py's specs. Another
organization's id, or an object the actor may not see, answers 404 before the body is
looked at.
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fms import storage
from fms.api import etag
from fms.api.common import API_PREFIX, page_body
from fms.compliance import (
    classification,
    documents,
    offboarding,
    queries,
    rules,
    schemas,
    services,
    signing,
    tenure,
)
from fms.compliance.api_lists import DOCUMENTS, ENGAGEMENTS, POLICY_ITEMS
from fms.compliance.models import (
    Classification,
    ComplianceDocument,
    EngagementCompliance,
    PolicyItem,
    Signature,
    SigningTemplate,
    TenureOverride,
    TenureRule,
)
from fms.errors import InvalidInput, NotAllowed, NotFound
from fms.extensions import db
from fms.identity.web_session import current_actor, org_today
from fms.lists import api_page, api_schema
from fms.tenancy import get_in_org
from fms.workforce.models import Engagement, Freelancer

blp = Blueprint(
    "compliance_api", __name__, url_prefix=API_PREFIX, description="Compliance and onboarding"
)
DOCUMENT_QUERY = api_schema(DOCUMENTS, "ComplianceDocumentQuery")
POLICY_QUERY = api_schema(POLICY_ITEMS, "PolicyItemQuery")
ENGAGEMENT_QUERY = api_schema(ENGAGEMENTS, "EngagementComplianceQuery")
# a refused rule or a lost race (already reviewed, already signed): problem+json 409
conflict = blp.alt_response(409, response="CONFLICT")
DOCUMENT_TYPES = storage.openapi_content(documents.ALLOWED_FILE_KINDS)
PDF_TYPE = storage.openapi_content(["pdf"])


# --- visibility: 404 first -----------------------------------------------------------------


def _officer(actor) -> None:
    services.require_officer(actor)


def _engagement(actor, engagement_id):
    """The engagement and its freelancer, for the freelancer and compliance officers."""
    return services.engagement_for(db.session, actor, engagement_id, officers_too=True)


def _freelancer_only(actor, engagement_id) -> None:
    """Signing is the freelancer's own act: staff who may see the engagement get 403."""
    try:
        services.engagement_for(db.session, actor, engagement_id, officers_too=False)
    except NotFound:
        if actor.can("engagements.read"):
            raise NotAllowed("Only the engagement's freelancer signs.") from None
        raise


def _signature(actor, signature_id) -> Signature:
    signing.signature_pdf(db.session, actor=actor, signature_id=signature_id)  # 404 otherwise
    return get_in_org(db.session, Signature, signature_id, what="signature")


def _classification(actor, classification_id) -> Classification:
    row = get_in_org(db.session, Classification, classification_id, what="classification")
    _engagement(actor, row.engagement_id)
    return row


@blp.before_request
def _objects_first():
    """Another organization's object (or one the actor may not see) is a 404 before the
    request body is even looked at."""
    args = request.view_args or {}
    if not args:
        return
    actor = current_actor()
    if "engagement_id" in args:
        engagement = get_in_org(db.session, Engagement, args["engagement_id"], what="engagement")
        if not actor.can("engagements.read"):
            services.engagement_for(db.session, actor, engagement.id, officers_too=False)
    if "document_id" in args:
        documents.get_document(db.session, actor=actor, document_id=args["document_id"])
    if "signature_id" in args:
        _signature(actor, args["signature_id"])
    if "classification_id" in args:
        row = get_in_org(
            db.session, Classification, args["classification_id"], what="classification"
        )
        if not actor.can("engagements.read"):
            services.engagement_for(db.session, actor, row.engagement_id, officers_too=False)
    for key, model, what in (
        ("policy_item_id", PolicyItem, "policy item"),
        ("template_id", SigningTemplate, "template"),
        ("tenure_rule_id", TenureRule, "tenure rule"),
    ):
        if key in args:
            get_in_org(db.session, model, args[key], what=what)


# --- bodies --------------------------------------------------------------------------------


def _fields(row, model) -> dict:
    return {c.key: getattr(row, c.key) for c in model.__table__.columns}


def _label(kind: str) -> str:
    return rules.DOCUMENT_KINDS.get(kind, (kind,))[0]


def _policy_body(row: PolicyItem) -> dict:
    return _fields(row, PolicyItem) | {"label": _label(row.document_kind)}


def _document_bodies(rows) -> list[dict]:
    """Documents with their freelancer's name and file facts: one statement for any number."""
    if not rows:
        return []
    ids = [d.id for d in rows]
    facts = {
        r.id: r
        for r in db.session.execute(
            select(
                ComplianceDocument.id,
                Freelancer.display_name.label("freelancer"),
                storage.StoredFile.original_name.label("file_name"),
                storage.StoredFile.media_type,
                storage.StoredFile.size,
                storage.StoredFile.sha256,
            )
            .join(Freelancer, Freelancer.id == ComplianceDocument.freelancer_id)
            .join(storage.StoredFile, storage.StoredFile.id == ComplianceDocument.file_id)
            .where(ComplianceDocument.id.in_(ids))
        )
    }
    return [_document_body(d, facts[d.id]) for d in rows]


def _document_body(document: ComplianceDocument, facts) -> dict:
    body = _fields(document, ComplianceDocument)
    body |= {
        "label": _label(document.kind),
        "freelancer": facts.freelancer,
        "file_name": facts.file_name,
        "media_type": facts.media_type,
        "size": facts.size,
        "sha256": facts.sha256,
    }
    return body


def _template_body(template: SigningTemplate) -> dict:
    versions = db.session.scalars(
        select(SigningTemplate)
        .where(SigningTemplate.kind == template.kind)
        .order_by(SigningTemplate.version.desc())
    ).all()
    return _fields(template, SigningTemplate) | {"versions": versions}


def _questionnaire_body(jurisdiction: str) -> dict:
    model = classification.questionnaire(jurisdiction)
    return {
        "jurisdiction": jurisdiction,
        "label": model["label"],
        "rule": model["rule"],
        "sources": model.get("sources", []),
        "questions": [
            {"id": q["id"], "factor": q["factor"], "text": q["text"], "source": q.get("source", "")}
            for q in model["questions"]
        ],
    }


def _compliance_body(engagement: Engagement, freelancer: Freelancer) -> dict:
    session = db.session
    today = org_today()
    status = session.scalar(
        select(EngagementCompliance).where(EngagementCompliance.engagement_id == engagement.id)
    )
    items = services.item_statuses(session, engagement, today=today)
    docs = session.scalars(
        select(ComplianceDocument)
        .where(ComplianceDocument.freelancer_id == freelancer.id)
        .order_by(ComplianceDocument.kind, ComplianceDocument.version.desc())
    ).all()
    signatures = session.scalars(
        select(Signature).where(Signature.engagement_id == engagement.id).order_by(Signature.id)
    ).all()
    run = tenure.tenure_of(session, engagement)
    return {
        "engagement_id": engagement.id,
        "freelancer_id": freelancer.id,
        "status": status.state if status else "compliant",
        "reason": status.reason if status else None,
        "items": [
            {
                "kind": s.item.kind,
                "label": s.item.label,
                "step_kind": s.item.step_kind,
                "required": s.item.required,
                "validity": s.item.validity,
                "reviewer_role": s.item.reviewer_role,
                "status": s.status,
                "detail": s.detail,
            }
            for s in items
        ],
        "activation_problems": services.activation_problems(session, engagement),
        "documents": _document_bodies(docs),
        "signatures": signatures,
        "classification": services.latest_classification(session, engagement.id),
        "tenure": None
        if run is None
        else {
            "run_start": run.run_start,
            "limit": run.limit,
            "max_months": run.max_months,
            "override_until": tenure.override_until(session, engagement.id),
            "overrides": session.scalars(
                select(TenureOverride)
                .where(TenureOverride.engagement_id == engagement.id)
                .order_by(TenureOverride.id)
            ).all(),
        },
    }


# --- settings and policy items -------------------------------------------------------------


@blp.route("/compliance/settings")
class Settings(MethodView):
    @blp.response(200, schemas.SettingsOut)
    def get(self):
        """The organization's compliance settings (compliance officers, org admins)."""
        _officer(current_actor())
        return services.settings(db.session)

    @blp.arguments(schemas.SettingsIn)
    @blp.response(200, schemas.SettingsOut)
    @conflict
    def put(self, data):
        """Warn or block non-compliant engagements; how fresh a classification must be.

        Under "block" a non-compliant engagement cannot submit timesheets."""
        row = services.update_settings(db.session, actor=current_actor(), **data)
        db.session.commit()
        return row


@blp.route("/compliance/policy-items")
class PolicyItems(MethodView):
    @blp.arguments(POLICY_QUERY, location="query")
    @blp.response(200, schemas.PolicyItemPage)
    def get(self, args):
        """The organization's policy items (compliance officers, org admins).

        Removed items show with `active=0`."""
        actor = current_actor()
        _officer(actor)
        page = api_page(db.session, POLICY_ITEMS, args, actor=actor, context={})
        return page_body([_policy_body(r.PolicyItem) for r in page.rows], page.total, args)

    @blp.arguments(schemas.PolicyItemIn)
    @blp.response(201, schemas.PolicyItemOut)
    @conflict
    def post(self, data):
        """Require (or make optional, or exempt) a kind of document.

        For freelancers of a country (every country when empty) on engagements of a kind
        (every kind when empty). One item per kind, country and engagement kind: posting
        the same again changes it (and brings a removed one back)."""
        row = services.set_policy_item(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _policy_body(row)


@blp.route("/compliance/policy-items/<int:policy_item_id>")
class PolicyItemById(MethodView):
    @etag.documented
    @blp.response(200, schemas.PolicyItemOut)
    def get(self, policy_item_id: int):
        """One policy item (compliance officers, org admins), with its ETag."""
        _officer(current_actor())
        row = get_in_org(db.session, PolicyItem, policy_item_id, what="policy item")
        return etag.tagged(_policy_body(row), schemas.PolicyItemOut)

    @etag.documented
    @blp.arguments(schemas.PolicyItemPatchIn)
    @blp.response(200, schemas.PolicyItemOut)
    @conflict
    def patch(self, data, policy_item_id: int):
        """Change an item's requirement, validity or reviewer (its kind, country and
        engagement kind are what it is: remove it and add another instead). With
        `If-Match` (the item's ETag) only if nobody changed it meanwhile."""
        actor = current_actor()
        _officer(actor)
        row = get_in_org(db.session, PolicyItem, policy_item_id)
        etag.check_if_match(lambda: _policy_body(row), schemas.PolicyItemOut, lock=row)
        values = {
            key: data.get(key, getattr(row, key))
            for key in ("requirement", "validity", "validity_months", "reviewer_role")
        }
        row = services.set_policy_item(
            db.session,
            actor=actor,
            document_kind=row.document_kind,
            country=row.country,
            engagement_kind=row.engagement_kind,
            **values,
        )
        db.session.commit()
        return etag.tagged(_policy_body(row), schemas.PolicyItemOut)

    @blp.response(204)
    @conflict
    def delete(self, policy_item_id: int):
        """Remove a policy item: engagements no longer need it (past records stay)."""
        services.remove_policy_item(
            db.session, actor=current_actor(), policy_item_id=policy_item_id
        )
        db.session.commit()


# --- signing templates ---------------------------------------------------------------------


@blp.route("/compliance/signing-templates")
class Templates(MethodView):
    @blp.response(200, schemas.TemplateVersionOut(many=True))
    def get(self):
        """Every version of the texts to sign, by kind, newest first."""
        _officer(current_actor())
        return db.session.scalars(
            select(SigningTemplate).order_by(SigningTemplate.kind, SigningTemplate.version.desc())
        ).all()

    @blp.arguments(schemas.TemplateIn)
    @blp.response(201, schemas.TemplateOut)
    @conflict
    def post(self, data):
        """Publish the next version of the NDA or contract terms.

        Only known placeholders; earlier versions and what was signed under them stay."""
        template = signing.publish_template(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _template_body(template)


@blp.route("/compliance/signing-templates/<int:template_id>")
class TemplateById(MethodView):
    @blp.response(200, schemas.TemplateOut)
    def get(self, template_id: int):
        """One version of a text to sign, with every version of its kind."""
        _officer(current_actor())
        return _template_body(get_in_org(db.session, SigningTemplate, template_id))


# --- an engagement's compliance ------------------------------------------------------------


@blp.route("/engagements/<int:engagement_id>/compliance")
class EngagementCompliance_(MethodView):
    @blp.response(200, schemas.EngagementComplianceOut)
    def get(self, engagement_id: int):
        """An engagement's compliance: checklist items and their status, documents,
        signatures, the latest classification and tenure (the freelancer, compliance)."""
        engagement, freelancer = _engagement(current_actor(), engagement_id)
        return _compliance_body(engagement, freelancer)


@blp.route("/compliance/engagements")
class ComplianceEngagements(MethodView):
    @blp.arguments(ENGAGEMENT_QUERY, location="query")
    @blp.response(200, schemas.ComplianceRowPage)
    def get(self, args):
        """Engagements by compliance status (active ones unless `state` says otherwise).

        non_compliant, awaiting_review, expiring (a document within 30 days) or
        compliant; compliance officers and org admins."""
        actor = current_actor()
        _officer(actor)
        page = api_page(db.session, ENGAGEMENTS, args, actor=actor, context={"today": org_today()})
        return page_body([r._asdict() for r in page.rows], page.total, args)


@blp.route("/compliance/dashboard")
class Dashboard(MethodView):
    @blp.response(200, schemas.DashboardOut)
    def get(self):
        """The compliance dashboard's figures: status counts and risk distribution."""
        actor = current_actor()
        _officer(actor)
        return {
            "status_counts": queries.status_counts(db.session, today=org_today()),
            "risk_distribution": queries.risk_distribution(db.session),
            "review_queue": len(queries.review_queue(db.session, actor=actor)),
            "decisions_waiting": len(queries.decisions_waiting(db.session, actor=actor)),
        }


# --- documents -----------------------------------------------------------------------------


@blp.route("/compliance/documents")
class Documents(MethodView):
    @blp.arguments(DOCUMENT_QUERY, location="query")
    @blp.response(200, schemas.DocumentPage)
    def get(self, args):
        """Documents you may see: a freelancer their own, compliance all."""
        actor = current_actor()
        page = api_page(db.session, DOCUMENTS, args, actor=actor, context={})
        bodies = [_document_body(r.ComplianceDocument, r) for r in page.rows]
        return page_body(bodies, page.total, args)

    @blp.arguments(schemas.DocumentUploadIn, location="form")
    @blp.arguments(schemas.DocumentFileIn, location="files")
    @blp.response(201, schemas.DocumentOut)
    @conflict
    def post(self, form, files):
        """Upload a document (multipart/form-data: `file`, `kind`).

        Yours, or a freelancer's (`freelancer_id`) for compliance. PDF, PNG or JPEG by its
        content, never by its name or declared type; size limited; a refusal stores
        nothing (422). A new version only after a rejection or near expiry (409)."""
        actor = current_actor()
        freelancer_id = form["freelancer_id"]
        if freelancer_id is None:
            own = (
                db.session.scalar(select(Freelancer.id).where(Freelancer.user_id == actor.user_id))
                if actor.user_id is not None
                else None
            )
            if own is None:
                raise InvalidInput(
                    "Say whose document it is.", errors={"freelancer_id": ["Required."]}
                )
            freelancer_id = own
        upload = files["file"]
        document = documents.upload_document(
            db.session,
            actor=actor,
            freelancer_id=freelancer_id,
            kind=form["kind"],
            filename=upload.filename,
            declared_type=upload.mimetype,
            stream=upload.stream,
        )
        db.session.commit()
        return _document_bodies([document])[0]


@blp.route("/compliance/review-queue")
class ReviewQueue(MethodView):
    @blp.response(200, schemas.DocumentQueueRowOut(many=True))
    def get(self):
        """Documents waiting for your review (the role the policy names), oldest first."""
        rows = queries.review_queue(db.session, actor=current_actor())
        return [
            {
                "document_id": r.document_id,
                "kind": r.kind,
                "label": r.label,
                "version": r.version,
                "freelancer_id": r.freelancer_id,
                "freelancer": r.freelancer_name,
                "uploaded_at": r.uploaded_at,
            }
            for r in rows
        ]


@blp.route("/compliance/documents/<int:document_id>")
class DocumentById(MethodView):
    @blp.response(200, schemas.DocumentOut)
    def get(self, document_id: int):
        """A document: the freelancer's own, its reviewers', compliance's."""
        document = documents.get_document(
            db.session, actor=current_actor(), document_id=document_id
        )
        return _document_bodies([document])[0]


@blp.route("/compliance/documents/<int:document_id>/file")
class DocumentFile(MethodView):
    @blp.doc(responses={"200": {"description": "The document's bytes.", "content": DOCUMENT_TYPES}})
    def get(self, document_id: int):
        """Download a document: its freelancer, its reviewers and compliance; 404 otherwise."""
        stored = documents.download_file(db.session, actor=current_actor(), document_id=document_id)
        return storage.send_stored(stored)


@blp.route("/compliance/documents/<int:document_id>/approve")
class DocumentApprove(MethodView):
    @blp.arguments(schemas.ApproveIn)
    @blp.response(200, schemas.DocumentOut)
    @conflict
    def post(self, data, document_id: int):
        """The reviewer approves a document waiting for review (never their own upload).

        Its expiry: N months from today when the policy says so, or `expires_on` typed
        from the document when it says "typed"."""
        document = documents.review_document(
            db.session,
            actor=current_actor(),
            document_id=document_id,
            approve=True,
            reason=data["reason"],
            expires_on=data["expires_on"].isoformat() if data["expires_on"] else None,
        )
        db.session.commit()
        return _document_bodies([document])[0]


@blp.route("/compliance/documents/<int:document_id>/reject")
class DocumentReject(MethodView):
    @blp.arguments(schemas.DocumentRejectIn)
    @blp.response(200, schemas.DocumentOut)
    @conflict
    def post(self, data, document_id: int):
        """The reviewer rejects a document with a reason; the freelancer uploads again."""
        document = documents.review_document(
            db.session,
            actor=current_actor(),
            document_id=document_id,
            approve=False,
            reason=data["reason"],
        )
        db.session.commit()
        return _document_bodies([document])[0]


# --- signing -------------------------------------------------------------------------------


@blp.route("/engagements/<int:engagement_id>/signing")
class SigningText(MethodView):
    @blp.arguments(schemas.SigningQuery, location="query")
    @blp.response(200, schemas.RenderedOut)
    @conflict
    def get(self, args, engagement_id: int):
        """The text the freelancer reads before signing, and its SHA-256 to sign with."""
        actor = current_actor()
        _freelancer_only(actor, engagement_id)
        rendered = signing.render_for_signing(
            db.session, actor=actor, engagement_id=engagement_id, kind=args["kind"]
        )
        return {
            "kind": args["kind"],
            "template_id": rendered.template.id,
            "template_version": rendered.template.version,
            "title": rendered.template.title,
            "text": rendered.text,
            "text_sha256": rendered.sha256,
        }


@blp.route("/engagements/<int:engagement_id>/signatures")
class Signatures(MethodView):
    @blp.arguments(schemas.SignIn)
    @blp.response(201, schemas.SignatureDetailOut)
    @conflict
    def post(self, data, engagement_id: int):
        """The freelancer signs by typing their full name.

        With the `text_sha256` of the text they read: a newer version or changed details
        since (409) ask them to read again; a name that is not theirs is a 422."""
        actor = current_actor()
        _freelancer_only(actor, engagement_id)
        signature = signing.sign(
            db.session,
            actor=actor,
            engagement_id=engagement_id,
            kind=data["kind"],
            typed_name=data["typed_name"],
            template_id=data["template_id"],
            seen_sha256=data["text_sha256"],
            user_agent=request.user_agent.string,
        )
        db.session.commit()
        return signature


@blp.route("/signatures/<int:signature_id>")
class SignatureById(MethodView):
    @blp.response(200, schemas.SignatureDetailOut)
    def get(self, signature_id: int):
        """A signature as evidence, with the exact text signed (signer, signatures.read)."""
        return _signature(current_actor(), signature_id)


@blp.route("/signatures/<int:signature_id>/pdf")
class SignaturePdf(MethodView):
    @blp.doc(responses={"200": {"description": "The signed PDF.", "content": PDF_TYPE}})
    def get(self, signature_id: int):
        """Download the signed PDF with its evidence page (signer, signatures.read)."""
        stored = signing.signature_pdf(db.session, actor=current_actor(), signature_id=signature_id)
        return storage.send_stored(stored)


# --- classification ------------------------------------------------------------------------


@blp.route("/engagements/<int:engagement_id>/classification/questionnaire")
class Questionnaire(MethodView):
    @blp.response(200, schemas.QuestionnairesOut)
    def get(self, engagement_id: int):
        """The questionnaires for the freelancer's country (and the generic one)."""
        engagement, freelancer = _engagement(current_actor(), engagement_id)
        found = rules.jurisdictions_for(freelancer.country)
        keys = found + ([] if "generic" in found else ["generic"])
        return {
            "engagement_id": engagement.id,
            "country": freelancer.country,
            "questionnaires": [_questionnaire_body(k) for k in keys],
        }


@blp.route("/engagements/<int:engagement_id>/classifications")
class Classifications(MethodView):
    @blp.arguments(schemas.AssessIn)
    @blp.response(201, schemas.ClassificationOut)
    @conflict
    def post(self, data, engagement_id: int):
        """Answer the questionnaire: the risk and the answers that drove it.

        High risk waits for a compliance officer's decision and holds activation back."""
        row = classification.assess(
            db.session, actor=current_actor(), engagement_id=engagement_id, **data
        )
        db.session.commit()
        return row


@blp.route("/compliance/decisions")
class Decisions(MethodView):
    @blp.response(200, schemas.ClassificationOut(many=True))
    def get(self):
        """High-risk classifications waiting for a compliance officer, oldest first."""
        actor = current_actor()
        _officer(actor)
        return queries.decisions_waiting(db.session, actor=actor)


@blp.route("/classifications/<int:classification_id>")
class ClassificationById(MethodView):
    @blp.response(200, schemas.ClassificationOut)
    def get(self, classification_id: int):
        """One assessment (the engagement's freelancer, compliance)."""
        return _classification(current_actor(), classification_id)


@blp.route("/classifications/<int:classification_id>/decision")
class ClassificationDecision(MethodView):
    @blp.arguments(schemas.ClassificationDecisionIn)
    @blp.response(200, schemas.ClassificationOut)
    @conflict
    def post(self, data, classification_id: int):
        """A compliance officer decides a high-risk classification, with a rationale."""
        row = classification.decide(
            db.session, actor=current_actor(), classification_id=classification_id, **data
        )
        db.session.commit()
        return row


# --- tenure --------------------------------------------------------------------------------


@blp.route("/compliance/tenure-rules")
class TenureRules(MethodView):
    @blp.response(200, schemas.TenureRuleOut(many=True))
    def get(self):
        """Maximum continuous tenure per country (empty: every country)."""
        _officer(current_actor())
        return db.session.scalars(select(TenureRule).order_by(TenureRule.country)).all()

    @blp.arguments(schemas.TenureRuleIn)
    @blp.response(201, schemas.TenureRuleOut)
    @conflict
    def post(self, data):
        """Set the limit for a country (posting the same country again changes it)."""
        row = tenure.set_rule(db.session, actor=current_actor(), **data)
        db.session.commit()
        return row


@blp.route("/compliance/tenure-rules/<int:tenure_rule_id>")
class TenureRuleById(MethodView):
    @etag.documented
    @blp.response(200, schemas.TenureRuleOut)
    def get(self, tenure_rule_id: int):
        """One tenure rule (compliance officers, org admins), with its ETag."""
        _officer(current_actor())
        row = get_in_org(db.session, TenureRule, tenure_rule_id, what="tenure rule")
        return etag.tagged(row, schemas.TenureRuleOut)

    @etag.documented
    @blp.arguments(schemas.TenureRulePutIn)
    @blp.response(200, schemas.TenureRuleOut)
    @conflict
    def put(self, data, tenure_rule_id: int):
        """Change a rule's limit and break. With `If-Match` (the rule's ETag) only if nobody
        changed it meanwhile."""
        actor = current_actor()
        _officer(actor)
        row = get_in_org(db.session, TenureRule, tenure_rule_id, what="tenure rule")
        etag.check_if_match(lambda: row, schemas.TenureRuleOut, lock=row)
        row = tenure.set_rule(db.session, actor=actor, country=row.country, **data)
        db.session.commit()
        return etag.tagged(row, schemas.TenureRuleOut)

    @blp.response(204)
    @conflict
    def delete(self, tenure_rule_id: int):
        """Lift a tenure limit (overrides already granted stay on record)."""
        tenure.remove_rule(db.session, actor=current_actor(), tenure_rule_id=tenure_rule_id)
        db.session.commit()


@blp.route("/engagements/<int:engagement_id>/tenure-overrides")
class TenureOverrides(MethodView):
    @blp.arguments(schemas.OverrideIn)
    @blp.response(201, schemas.OverrideOut)
    @conflict
    def post(self, data, engagement_id: int):
        """A compliance officer lets the engagement run past the tenure limit, with a reason."""
        row = tenure.grant_override(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            allowed_until=data["allowed_until"].isoformat(),
            reason=data["reason"],
        )
        db.session.commit()
        return row


# --- offboarding ---------------------------------------------------------------------------


@blp.route("/engagements/<int:engagement_id>/offboarding")
class Offboarding(MethodView):
    @blp.response(200, schemas.OffboardingStepOut(many=True))
    def get(self, engagement_id: int):
        """The ending engagement's offboarding checklist, in order (empty until notice is
        given or the last day is two weeks away): staff who read engagements and the
        freelancer."""
        return offboarding.checklist(db.session, actor=current_actor(), engagement_id=engagement_id)


@blp.route("/offboarding-steps/<int:offboarding_step_id>/complete")
class OffboardingStepDone(MethodView):
    @blp.response(200, schemas.OffboardingStepOut)
    @conflict
    def post(self, offboarding_step_id: int):
        """Tick one item: only the party it names (the freelancer, the hiring manager or
        their stand-in, compliance); once."""
        step = offboarding.complete_offboarding_step(
            db.session, actor=current_actor(), step_id=offboarding_step_id
        )
        db.session.commit()
        return step
