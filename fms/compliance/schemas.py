"""API schemas of compliance: `XIn` for request bodies and arguments, `XOut` for answers.

Kinds, requirements and roles are the closed lists of `fms.compliance.rules`; text is
bounded as the services bound it; unknown fields are refused (marshmallow's RAISE)."""

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from fms.api.common import ID_RANGE, Date, Integer, page_schema
from fms.compliance import rules
from fms.compliance.classification import MAX_RATIONALE
from fms.compliance.documents import MAX_REASON
from fms.compliance.services import NON_COMPLIANCE_MODES
from fms.compliance.signing import MAX_TEMPLATE_CHARS
from fms.compliance.tenure import MAX_TENURE_MONTHS
from fms.workforce.rules import ENGAGEMENT_KINDS

_COUNTRY = {"description": "A two-letter country code (ISO 3166-1); empty: every country."}
_SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="A SHA-256 in lowercase hex.")


# --- settings and policy items -------------------------------------------------------------


class SettingsIn(Schema):
    non_compliance_mode = fields.String(
        required=True,
        validate=validate.OneOf(NON_COMPLIANCE_MODES),
        metadata={"description": "warn: shown and notified; block: no timesheets submitted."},
    )
    reassess_within_days = Integer(
        load_default=30,
        validate=validate.Range(min=1, max=366),
        metadata={"description": "How fresh a classification must be for an amendment."},
    )


class SettingsOut(Schema):
    non_compliance_mode = fields.String()
    reassess_within_days = fields.Integer()


class PolicyItemIn(Schema):
    document_kind = fields.String(required=True, validate=validate.OneOf(rules.POLICY_KINDS))
    country = fields.String(
        load_default="", validate=validate.Regexp(r"^([A-Za-z]{2})?$"), metadata=_COUNTRY
    )
    engagement_kind = fields.String(
        load_default="",
        validate=validate.OneOf(["", *ENGAGEMENT_KINDS]),
        metadata={"description": "An engagement kind; empty: every kind."},
    )
    requirement = fields.String(
        load_default="required", validate=validate.OneOf(rules.REQUIREMENTS)
    )
    validity = fields.String(
        load_default="none",
        validate=validate.OneOf(rules.VALIDITIES),
        metadata={
            "description": "none; months (validity_months after approval); typed (the "
            "reviewer types the expiry date from the document)."
        },
    )
    validity_months = Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=rules.MAX_VALIDITY_MONTHS),
    )
    reviewer_role = fields.String(
        load_default="compliance", validate=validate.OneOf(rules.REVIEWER_ROLES)
    )


class PolicyItemPatchIn(Schema):
    requirement = fields.String(validate=validate.OneOf(rules.REQUIREMENTS))
    validity = fields.String(validate=validate.OneOf(rules.VALIDITIES))
    validity_months = Integer(
        allow_none=True, validate=validate.Range(min=1, max=rules.MAX_VALIDITY_MONTHS)
    )
    reviewer_role = fields.String(validate=validate.OneOf(rules.REVIEWER_ROLES))


class PolicyItemOut(Schema):
    id = fields.Integer()
    document_kind = fields.String()
    label = fields.String()
    country = fields.String()
    engagement_kind = fields.String()
    requirement = fields.String()
    validity = fields.String()
    validity_months = fields.Integer(allow_none=True)
    reviewer_role = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


PolicyItemPage = page_schema(PolicyItemOut, "PolicyItemPage")


# --- signing templates ---------------------------------------------------------------------


class TemplateIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(rules.SIGN_KINDS))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_TEMPLATE_CHARS),
        metadata={
            "description": "Plain text with {{ placeholder }}s: " + ", ".join(rules.PLACEHOLDERS)
        },
    )


class TemplateVersionOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    version = fields.Integer()
    title = fields.String()
    created_by_user_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class TemplateOut(TemplateVersionOut):
    body = fields.String()
    versions = fields.List(
        fields.Nested(TemplateVersionOut), metadata={"description": "Of its kind, newest first."}
    )


# --- documents -----------------------------------------------------------------------------


class DocumentUploadIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(rules.UPLOAD_KINDS))
    freelancer_id = Integer(
        load_default=None,
        validate=ID_RANGE,
        metadata={"description": "A compliance officer uploading for a freelancer; else yours."},
    )


class DocumentFileIn(Schema):
    file = Upload(
        required=True,
        metadata={"description": "PDF, PNG or JPEG, decided by the content; size limited."},
    )


class DocumentOut(Schema):
    id = fields.Integer()
    freelancer_id = fields.Integer()
    freelancer = fields.String()
    kind = fields.String()
    label = fields.String()
    version = fields.Integer()
    state = fields.String()
    expires_on = fields.Date(allow_none=True)
    file_name = fields.String()
    media_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_by_user_id = fields.Integer(allow_none=True)
    uploaded_at = fields.DateTime()
    reviewed_by_user_id = fields.Integer(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    review_reason = fields.String(allow_none=True)


DocumentPage = page_schema(DocumentOut, "ComplianceDocumentPage")


class ApproveIn(Schema):
    expires_on = Date(
        load_default=None,
        allow_none=True,
        metadata={"description": "When the policy says the reviewer types the expiry."},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=MAX_REASON))


class DocumentRejectIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=MAX_REASON))


class DocumentQueueRowOut(Schema):
    document_id = fields.Integer()
    kind = fields.String()
    label = fields.String()
    version = fields.Integer()
    freelancer_id = fields.Integer()
    freelancer = fields.String()
    uploaded_at = fields.DateTime()


# --- signing -------------------------------------------------------------------------------


class SigningQuery(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(rules.SIGN_KINDS))


class RenderedOut(Schema):
    kind = fields.String()
    template_id = fields.Integer()
    template_version = fields.Integer()
    title = fields.String()
    text = fields.String(metadata={"description": "Exactly what is signed."})
    text_sha256 = fields.String(metadata={"description": "Send it back when signing."})


class SignIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(rules.SIGN_KINDS))
    typed_name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Your full legal name, as on your profile."},
    )
    text_sha256 = fields.String(
        required=True,
        validate=_SHA256,
        metadata={"description": "The text_sha256 of the text you read."},
    )
    template_id = Integer(load_default=None, validate=ID_RANGE)


class SignatureOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    freelancer_id = fields.Integer()
    template_id = fields.Integer()
    kind = fields.String()
    template_version = fields.Integer()
    text_sha256 = fields.String()
    typed_name = fields.String()
    signer_user_id = fields.Integer(allow_none=True)
    signed_at = fields.DateTime()
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)


class SignatureDetailOut(SignatureOut):
    signed_text = fields.String()


# --- classification ------------------------------------------------------------------------


class QuestionOut(Schema):
    id = fields.String()
    factor = fields.String()
    text = fields.String()
    source = fields.String()


class QuestionnaireOut(Schema):
    jurisdiction = fields.String()
    label = fields.String()
    rule = fields.String(metadata={"description": "weighted, or any_prong_fails (ABC test)."})
    sources = fields.List(fields.String())
    questions = fields.List(fields.Nested(QuestionOut))


class QuestionnairesOut(Schema):
    engagement_id = fields.Integer()
    country = fields.String()
    questionnaires = fields.List(
        fields.Nested(QuestionnaireOut),
        metadata={"description": "Those that fit the freelancer's country, generic last."},
    )


class AssessIn(Schema):
    jurisdiction = fields.String(required=True, validate=validate.Length(min=1, max=20))
    answers = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=50)),
        values=fields.String(validate=validate.OneOf(["yes", "no"])),
        required=True,
        validate=validate.Length(max=100),
        metadata={"description": 'Every question\'s id: "yes" or "no".'},
    )


class DriverOut(Schema):
    question = fields.String()
    factor = fields.String()
    text = fields.String()
    answer = fields.String()
    points = fields.Integer()


class ClassificationOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    jurisdiction = fields.String()
    model_version = fields.Integer()
    answers = fields.Dict(keys=fields.String(), values=fields.String())
    score = fields.Integer()
    risk = fields.String(metadata={"description": "low, medium or high."})
    drivers = fields.List(
        fields.Nested(DriverOut), metadata={"description": "The answers that drove it."}
    )
    state = fields.String(
        metadata={"description": "assessed, decision_needed (high), accepted or refused."}
    )
    assessed_by_user_id = fields.Integer(allow_none=True)
    assessed_at = fields.DateTime()
    decided_by_user_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    rationale = fields.String(allow_none=True)


class ClassificationDecisionIn(Schema):
    accept = fields.Boolean(
        required=True,
        metadata={"description": "true: go ahead as a contractor engagement; false: refuse."},
    )
    rationale = fields.String(required=True, validate=validate.Length(min=1, max=MAX_RATIONALE))


# --- tenure --------------------------------------------------------------------------------


class TenureRuleIn(Schema):
    country = fields.String(
        load_default="", validate=validate.Regexp(r"^([A-Za-z]{2})?$"), metadata=_COUNTRY
    )
    max_months = Integer(required=True, validate=validate.Range(min=1, max=MAX_TENURE_MONTHS))
    break_days = Integer(
        load_default=90,
        validate=validate.Range(min=1, max=3660),
        metadata={"description": "Days without an engagement that start the count again."},
    )


class TenureRulePutIn(Schema):
    max_months = Integer(required=True, validate=validate.Range(min=1, max=MAX_TENURE_MONTHS))
    break_days = Integer(load_default=90, validate=validate.Range(min=1, max=3660))


class TenureRuleOut(Schema):
    id = fields.Integer()
    country = fields.String()
    max_months = fields.Integer()
    break_days = fields.Integer()


class OverrideIn(Schema):
    allowed_until = Date(required=True, metadata={"description": "After the engagement's end."})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OverrideOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    allowed_until = fields.Date()
    reason = fields.String()
    created_by_user_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class OffboardingStepOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    key = fields.String()
    title = fields.String()
    party = fields.String(
        metadata={"description": "Who ticks it: hiring_manager, freelancer or compliance."}
    )
    position = fields.Integer()
    opened_at = fields.DateTime()
    done_at = fields.DateTime(allow_none=True)
    done_by_user_id = fields.Integer(allow_none=True)
    retention_note = fields.String(
        allow_none=True,
        metadata={"description": "Set when ticking the documents item erased or kept files."},
    )


class TenureOut(Schema):
    run_start = fields.Date()
    limit = fields.Date(metadata={"description": "The last day of the continuous run allowed."})
    max_months = fields.Integer()
    override_until = fields.Date(allow_none=True)
    overrides = fields.List(fields.Nested(OverrideOut))


# --- an engagement's compliance ------------------------------------------------------------


class ItemOut(Schema):
    kind = fields.String()
    label = fields.String()
    step_kind = fields.String(metadata={"description": "sign, upload or answer."})
    required = fields.Boolean()
    validity = fields.String()
    reviewer_role = fields.String()
    status = fields.String(
        metadata={
            "description": "missing, pending_review, rejected, expired, done, "
            "decision_needed or refused."
        }
    )
    detail = fields.String()


class EngagementComplianceOut(Schema):
    engagement_id = fields.Integer()
    freelancer_id = fields.Integer()
    status = fields.String(metadata={"description": "compliant or non_compliant (the sweep's)."})
    reason = fields.String(allow_none=True)
    items = fields.List(fields.Nested(ItemOut))
    activation_problems = fields.List(
        fields.String(), metadata={"description": "Why it cannot become active yet; empty: it can."}
    )
    documents = fields.List(fields.Nested(DocumentOut))
    signatures = fields.List(fields.Nested(SignatureOut))
    classification = fields.Nested(ClassificationOut, allow_none=True)
    tenure = fields.Nested(TenureOut, allow_none=True)


class ComplianceRowOut(Schema):
    engagement_id = fields.Integer()
    title = fields.String()
    state = fields.String()
    freelancer_id = fields.Integer(allow_none=True)
    freelancer = fields.String(allow_none=True)
    end_date = fields.Date()
    compliance_status = fields.String(
        metadata={"description": "non_compliant, awaiting_review, expiring or compliant."}
    )
    reason = fields.String(allow_none=True)


ComplianceRowPage = page_schema(ComplianceRowOut, "EngagementCompliancePage")


class DashboardOut(Schema):
    status_counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Active engagements: compliant, expiring, awaiting_review, "
            "non_compliant."
        },
    )
    risk_distribution = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Latest classification per engagement: low, medium, high."},
    )
    review_queue = fields.Integer(metadata={"description": "Documents waiting for your review."})
    decisions_waiting = fields.Integer(metadata={"description": "High-risk classifications."})
