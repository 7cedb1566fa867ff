"""The compliance officer's forms: policy items, settings, signing templates, tenure rules,
reviews, classification decisions and tenure overrides. The services hold the rules; the
forms only take the input (dates and numbers through fms.forms' strict fields)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fms.compliance import rules
from fms.forms import DateField, IntegerField, OneTimeForm

REQUIREMENT_LABELS = {
    "required": "Required",
    "optional": "Optional",
    "exempt": "Exempt (drops a broader rule)",
}
VALIDITY_LABELS = {
    "none": "Does not expire",
    "months": "Expires N months after approval",
    "typed": "Expires on a date the reviewer types from the document",
}
REVIEWER_LABELS = {
    "compliance": "Compliance officer",
    "procurement": "Procurement",
    "org_admin": "Org admin",
}


def _engagement_kinds():
    from fms.workforce.rules import ENGAGEMENT_KINDS

    return [("", "Every kind"), *ENGAGEMENT_KINDS.items()]


class PolicyItemForm(OneTimeForm):
    """What a policy item asks for whom. On the change page the key (kind, country,
    engagement kind) is fixed and the form is built with one_time=False."""

    document_kind = SelectField(
        "Document",
        choices=[(k, rules.DOCUMENT_KINDS[k][0]) for k in rules.POLICY_KINDS],
        validators=[DataRequired("Choose a kind of document.")],
    )
    country = StringField(
        "Country",
        validators=[Optional(), Length(max=2, message="A two-letter country code.")],
        description="Two letters (ISO 3166-1, such as DE or US); empty for every country.",
    )
    engagement_kind = SelectField("Engagement kind", choices=[], validate_choice=False)
    requirement = SelectField("Requirement", choices=list(REQUIREMENT_LABELS.items()))
    validity = SelectField("Validity", choices=list(VALIDITY_LABELS.items()))
    validity_months = IntegerField(
        "Months valid", validators=[Optional()], description="Only for “months after approval”."
    )
    reviewer_role = SelectField("Reviewed by", choices=list(REVIEWER_LABELS.items()))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.engagement_kind.choices = _engagement_kinds()


class SettingsForm(FlaskForm):
    non_compliance_mode = RadioField(
        "When an engagement is not compliant",
        choices=[
            ("warn", "Warn: show it and notify the freelancer and the hiring manager"),
            ("block", "Block: also refuse its timesheets until a current document is approved"),
        ],
        validators=[DataRequired("Choose warn or block.")],
    )
    reassess_within_days = IntegerField(
        "Classification freshness (days)",
        validators=[DataRequired("A whole number of days from 1 to 366.")],
        description="An extension, rate change or budget increase needs a classification "
        "answered within this many days.",
    )


class TemplateForm(OneTimeForm):
    kind = SelectField(
        "Document",
        choices=[("nda", "Non-disclosure agreement"), ("contract", "Contract / statement of work")],
    )
    title = StringField(
        "Title",
        validators=[DataRequired("A title."), Length(max=200, message="At most 200 characters.")],
    )
    body = TextAreaField(
        "Text",
        validators=[DataRequired("The text to sign.")],
        description="Plain text; a blank line starts a new paragraph. Placeholders such as "
        "{{ freelancer_name }} are filled from the engagement when the freelancer signs.",
    )


class TenureRuleForm(OneTimeForm):
    country = StringField(
        "Country",
        validators=[Optional(), Length(max=2, message="A two-letter country code.")],
        description="Two letters (ISO 3166-1); empty for every country.",
    )
    max_months = IntegerField(
        "Maximum continuous tenure (months)", validators=[DataRequired("From 1 to 120 months.")]
    )
    break_days = IntegerField(
        "Break that resets it (days)",
        default=90,
        validators=[DataRequired("From 1 to 3660 days.")],
        description="Days without any engagement after which the count starts again.",
    )


class ReviewForm(FlaskForm):
    decision = RadioField(
        "Decision",
        choices=[("approve", "Approve"), ("reject", "Reject")],
        validators=[DataRequired("Approve or reject.")],
    )
    expires_on = DateField("Expires on (from the document)", validators=[Optional()])
    reason = TextAreaField(
        "Reason",
        validators=[Length(max=2000, message="At most 2000 characters.")],
        description="Required to reject: the freelancer reads it and uploads a new version.",
    )


class DecisionForm(FlaskForm):
    decision = RadioField(
        "Decision",
        choices=[
            ("accept", "Accept: go ahead as a contractor engagement"),
            ("refuse", "Refuse: the engagement does not become active"),
        ],
        validators=[DataRequired("Accept or refuse.")],
    )
    rationale = TextAreaField(
        "Rationale",
        validators=[Length(max=4000, message="At most 4000 characters.")],
        description="Required. Kept with the decision and in the audit log.",
    )


class OverrideForm(OneTimeForm):
    allowed_until = DateField("Allowed until", validators=[DataRequired("A date.")])
    reason = TextAreaField(
        "Reason",
        validators=[Length(max=2000, message="At most 2000 characters.")],
        description="Required. Why this engagement may run past the tenure limit.",
    )
