"""API schemas of workforce."""

from marshmallow import Schema, fields, missing, validate

from fms.api.common import ID_RANGE, Date, Integer, page_schema
from fms.workforce.rules import MAX_WEEKLY_MINUTES


class UnitOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class UnitIn(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=30))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class UnitPatchIn(Schema):
    code = fields.String(validate=validate.Length(min=1, max=30))
    name = fields.String(validate=validate.Length(min=1, max=120))
    is_active = fields.Boolean()


class LocationOut(UnitOut):
    country = fields.String()
    city = fields.String(allow_none=True)


class LocationIn(UnitIn):
    country = fields.String(required=True, validate=validate.Length(equal=2))
    city = fields.String(load_default=None, validate=validate.Length(max=120))


class LocationPatchIn(UnitPatchIn):
    country = fields.String(validate=validate.Length(equal=2))
    city = fields.String(validate=validate.Length(max=120))


_BANK_NOTE = (
    "Only for finance, procurement and the freelancer themselves; absent from the "
    "document for everyone else (see the `_on_file` flag)."
)


class FreelancerOut(Schema):
    id = fields.Integer()
    legal_name = fields.String()
    display_name = fields.String()
    email = fields.String()
    country = fields.String()
    timezone = fields.String()
    currency = fields.String()
    headline = fields.String(allow_none=True)
    tax_id = fields.String(allow_none=True, metadata={"description": _BANK_NOTE})
    iban = fields.String(allow_none=True, metadata={"description": _BANK_NOTE})
    tax_id_on_file = fields.Boolean(metadata={"description": "Whether a tax id is recorded."})
    iban_on_file = fields.Boolean(metadata={"description": "Whether an IBAN is recorded."})
    supplier_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class FreelancerIn(Schema):
    legal_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.String(required=True, validate=validate.Length(max=254))
    country = fields.String(required=True, validate=validate.Length(equal=2))
    timezone = fields.String(required=True, validate=validate.Length(max=64))
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    headline = fields.String(load_default=None, validate=validate.Length(max=200))
    tax_id = fields.String(load_default=None, validate=validate.Length(max=40))
    iban = fields.String(load_default=None, validate=validate.Length(max=42))
    supplier_id = Integer(load_default=None, validate=ID_RANGE)


class FreelancerPatchIn(Schema):
    legal_name = fields.String(validate=validate.Length(min=1, max=200))
    display_name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.String(validate=validate.Length(max=254))
    country = fields.String(validate=validate.Length(equal=2))
    timezone = fields.String(validate=validate.Length(max=64))
    currency = fields.String(validate=validate.Length(equal=3))
    headline = fields.String(allow_none=True, validate=validate.Length(max=200))
    tax_id = fields.String(allow_none=True, validate=validate.Length(max=40))
    iban = fields.String(allow_none=True, validate=validate.Length(max=42))
    supplier_id = Integer(allow_none=True, validate=ID_RANGE)


class OwnProfilePatchIn(FreelancerPatchIn):
    """The freelancer's own profile: everything but the supplier link (procurement's)."""

    class Meta:
        exclude = ("supplier_id",)


FreelancerPage = page_schema(FreelancerOut, "FreelancerPage")


# --- money helpers ---------------------------------------------------------------------------


def _amount_text(value, places: int | None = None) -> str:
    """Exact decimal text: money at its minor unit, rates with at least two decimals."""
    from decimal import Decimal

    if places is not None:
        return f"{value:.{places}f}"
    text = format(Decimal(value).normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def money_field(attr: str, *, rate: bool = False, currency_attr: str = "currency"):
    from fms.money import minor_units

    def dump(obj):
        if isinstance(obj, dict) and attr not in obj:
            return missing  # left out for this reader (e.g. a budget the freelancer does not see)
        read = obj.get if isinstance(obj, dict) else lambda name: getattr(obj, name, None)
        value = read(attr)
        if value is None:
            return None
        currency = read(currency_attr)
        places = None if rate else minor_units(currency)
        return {"amount": _amount_text(value, places), "currency": currency}

    return fields.Method(
        serialize="_dump_" + attr,
        metadata={"description": 'Money: {"amount": "12.34", "currency": "EUR"}'},
    ), dump


def _with_money(cls, specs):
    """Attach money fields (amount as a string, never a float) to an output schema."""
    for name, attr, rate, currency_attr in specs:
        field, dump = money_field(attr, rate=rate, currency_attr=currency_attr)
        setattr(cls, "_dump_" + attr, staticmethod(dump))
        cls._declared_fields[name] = field
    return cls


class _Decimal(fields.String):
    """A decimal amount given as a string ("95.50"), validated by the service."""


# --- requisitions ------------------------------------------------------------------------------


class _TermsIn(Schema):
    """What requisitions and engagements both state: the role, where it sits, when, how much."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True)
    department_id = Integer(required=True, validate=ID_RANGE)
    cost_centre_id = Integer(required=True, validate=ID_RANGE)
    location_id = Integer(required=True, validate=ID_RANGE)
    start_date = Date(required=True)
    end_date = Date(required=True)
    weekly_minutes = Integer(
        required=True,
        validate=validate.Range(
            min=1,
            max=MAX_WEEKLY_MINUTES,
            error="Expected time per week, between 1 minute and 80 hours.",
        ),
        metadata={"description": "Integer minutes."},
    )
    currency = fields.String(required=True, validate=validate.Length(equal=3))


class RequisitionIn(_TermsIn):
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    rate_min = _Decimal(required=True)
    rate_max = _Decimal(required=True)
    budget = _Decimal(required=True)
    justification = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    skill_ids = fields.List(Integer(validate=ID_RANGE), load_default=list)
    submit = fields.Boolean(load_default=False, metadata={"description": "Submit at once."})


class RequisitionPatchIn(RequisitionIn):
    """A draft's changes: what is left out stays."""

    class Meta:
        exclude = ("submit",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # every field optional, none with a default (a default would overwrite what is kept)
        for field in self.fields.values():
            field.required = False
            field.load_default = missing


class RequisitionApprovalsIn(Schema):
    requisition_ids = fields.List(
        Integer(validate=ID_RANGE), required=True, validate=validate.Length(min=1, max=200)
    )
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class RequisitionApprovalsOut(Schema):
    approved = fields.List(
        fields.Integer(), metadata={"description": "Each requisition whose step was approved."}
    )


class ApprovalStepOut(Schema):
    id = fields.Integer()
    round = fields.Integer()
    position = fields.Integer()
    role = fields.String()
    label = fields.String()
    state = fields.String()
    decided_by_user_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    comment = fields.String(allow_none=True)


class RequisitionOut(Schema):
    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    kind = fields.String()
    state = fields.String()
    requester_user_id = fields.Integer()
    department_id = fields.Integer()
    cost_centre_id = fields.Integer()
    location_id = fields.Integer()
    start_date = fields.Date()
    end_date = fields.Date()
    weekly_minutes = fields.Integer()
    justification = fields.String()
    skill_ids = fields.List(fields.Integer())
    round = fields.Integer()
    submitted_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(
        metadata={"description": "When the record last changed (what `updated_since` filters on)."}
    )
    decided_at = fields.DateTime(allow_none=True)
    steps = fields.List(fields.Nested(ApprovalStepOut))
    engagement_id = fields.Integer(allow_none=True)


_with_money(
    RequisitionOut,
    [
        ("rate_min", "rate_min", True, "currency"),
        ("rate_max", "rate_max", True, "currency"),
        ("budget", "budget", False, "currency"),
    ],
)


class DecisionIn(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


# --- engagements -------------------------------------------------------------------------------


_STAFF_ONLY = "Staff only: absent when the freelancer reads their own engagement."


class TermsOut(Schema):
    effective_from = fields.Date()
    hiring_manager_user_id = fields.Integer()
    department_id = fields.Integer()
    cost_centre_id = fields.Integer(metadata={"description": _STAFF_ONLY})
    location_id = fields.Integer()
    weekly_minutes = fields.Integer()
    amendment_id = fields.Integer(allow_none=True, metadata={"description": _STAFF_ONLY})


_with_money(
    TermsOut,
    [
        ("rate", "rate", True, "currency"),
        ("overtime_rate", "overtime_rate", True, "currency"),
        ("budget_cap", "budget_cap", False, "currency"),
    ],
)
TermsOut._declared_fields["budget_cap"].metadata["description"] += " " + _STAFF_ONLY


class ChecklistStepOut(Schema):
    id = fields.Integer()
    position = fields.Integer()
    title = fields.String()
    kind = fields.String(metadata={"description": "answer, sign, upload or review (staff)."})
    done_at = fields.DateTime(allow_none=True)


class EngagementOut(Schema):
    id = fields.Integer()
    title = fields.String()
    kind = fields.String()
    state = fields.String()
    freelancer_id = fields.Integer(allow_none=True)
    supplier_id = fields.Integer(allow_none=True)
    requisition_id = fields.Integer(allow_none=True, metadata={"description": _STAFF_ONLY})
    currency = fields.String()
    po_number = fields.String(allow_none=True, metadata={"description": _STAFF_ONLY})
    start_date = fields.Date()
    end_date = fields.Date()
    notice_given_at = fields.DateTime(allow_none=True)
    ended_by = fields.String(allow_none=True)
    end_reason = fields.String(
        allow_none=True,
        metadata={"description": "For the freelancer only when they gave notice themselves."},
    )
    updated_at = fields.DateTime(
        metadata={"description": "When the record last changed (what `updated_since` filters on)."}
    )
    terms = fields.List(fields.Nested(TermsOut), metadata={"description": "Oldest first."})
    checklist = fields.List(
        fields.Nested(ChecklistStepOut), metadata={"description": "Onboarding steps, in order."}
    )


class EngagementIn(_TermsIn):
    rate = _Decimal(required=True)
    overtime_rate = _Decimal(load_default=None)
    budget_cap = _Decimal(required=True)
    po_number = fields.String(load_default=None, validate=validate.Length(max=40))
    hiring_manager_user_id = Integer(required=True, validate=ID_RANGE)
    freelancer_id = Integer(load_default=None, validate=ID_RANGE)
    supplier_id = Integer(
        load_default=None,
        validate=ID_RANGE,
        metadata={"description": "Omitted: the freelancer's own supplier (or none)."},
    )
    confirm_supplier = fields.Boolean(
        load_default=False,
        metadata={"description": "Required to name a supplier other than the freelancer's."},
    )


class EngagementActionIn(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(["submit", "approve", "reject", "onboard", "activate", "cancel"]),
    )
    comment = fields.String(load_default="", validate=validate.Length(max=2000))
    freelancer_id = Integer(load_default=None, validate=ID_RANGE)
    confirm_supplier = fields.Boolean(
        load_default=False,
        metadata={"description": "onboard: keep an engagement supplier other than theirs."},
    )


class NoticeIn(Schema):
    end_date = Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ReviewIn(Schema):
    rating = Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class AmendmentIn(Schema):
    kind = fields.String(required=True)
    effective_from = Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    new_rate = _Decimal(load_default=None)
    new_end_date = Date(load_default=None)
    new_budget_cap = _Decimal(load_default=None)
    new_hiring_manager_user_id = Integer(load_default=None, validate=ID_RANGE)


class AmendmentOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    kind = fields.String()
    effective_from = fields.Date()
    new_end_date = fields.Date(allow_none=True)
    new_hiring_manager_user_id = fields.Integer(allow_none=True)
    reason = fields.String()
    state = fields.String()
    requested_by_user_id = fields.Integer(allow_none=True)
    decided_by_user_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_comment = fields.String(allow_none=True)
    steps = fields.List(
        fields.Nested(ApprovalStepOut),
        metadata={"description": "The approval chain, fixed when the change was proposed."},
    )


_with_money(
    AmendmentOut,
    [
        ("new_rate", "new_rate", True, "currency"),
        ("new_budget_cap", "new_budget_cap", False, "currency"),
        ("budget_base", "budget_base", False, "base_currency"),
    ],
)
AmendmentOut._declared_fields["budget_base"].metadata["description"] += (
    " A budget increase's new cap in the base currency, which chose its chain."
)


# --- headcount ---------------------------------------------------------------------------------


class HeadcountQuery(Schema):
    on = Date(metadata={"description": "Default: today in the organization's timezone."})
    group_by = fields.String(load_default=None)
    cost_centre_id = Integer(validate=ID_RANGE)
    department_id = Integer(validate=ID_RANGE)
    location_id = Integer(validate=ID_RANGE)
    supplier_id = Integer(validate=ID_RANGE)
    manager_user_id = Integer(validate=ID_RANGE)
    skill_id = Integer(validate=ID_RANGE)
    country = fields.String(validate=validate.Length(equal=2))
    kind = fields.String()


class FiguresOut(Schema):
    people = fields.Integer(metadata={"description": "Each person once."})
    engagements = fields.Integer()
    fte = fields.Decimal(as_string=True, places=2)


class GroupOut(FiguresOut):
    key = fields.Raw(allow_none=True)
    label = fields.String()


class HeadcountOut(Schema):
    on = fields.Date()
    group_by = fields.String(allow_none=True)
    total = fields.Nested(FiguresOut)
    groups = fields.List(fields.Nested(GroupOut))


class TrendQuery(HeadcountQuery):
    months = Integer(load_default=12, validate=validate.Range(min=1, max=60))


class TrendPointOut(FiguresOut):
    on = fields.Date()


# --- suppliers, skills, exchange rates ---------------------------------------------------------


class SupplierIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    legal_name = fields.String(load_default=None, validate=validate.Length(max=200))
    country = fields.String(required=True, validate=validate.Length(equal=2))
    tax_id = fields.String(load_default=None, validate=validate.Length(max=40))


class SupplierOut(Schema):
    id = fields.Integer()
    name = fields.String()
    legal_name = fields.String(allow_none=True)
    country = fields.String()
    tax_id = fields.String(
        allow_none=True,
        metadata={"description": "Only for procurement and finance; absent for the others."},
    )
    tax_id_on_file = fields.Boolean(metadata={"description": "Whether a tax id is recorded."})
    is_active = fields.Boolean()


class SupplierContactIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    phone = fields.String(load_default=None, validate=validate.Length(max=40))
    role = fields.String(load_default=None, validate=validate.Length(max=80))


class SupplierContactOut(Schema):
    id = fields.Integer()
    supplier_id = fields.Integer()
    name = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    role = fields.String(allow_none=True)


class FreelancerSkillIn(Schema):
    level = Integer(
        required=True,
        validate=validate.Range(min=1, max=5, error="From 1 (basic) to 5 (expert)."),
    )


class FreelancerSkillOut(Schema):
    skill_id = fields.Integer()
    name = fields.String(attribute="skill.name")
    level = fields.Integer(metadata={"description": "From 1 (basic) to 5 (expert)."})


class SkillIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    category = fields.String(load_default=None, validate=validate.Length(max=80))


class SkillOut(Schema):
    id = fields.Integer()
    name = fields.String()
    category = fields.String(allow_none=True)


class ExchangeRateIn(Schema):
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    rate = _Decimal(required=True, metadata={"description": "Base currency per unit."})
    effective_from = Date(required=True)


class ExchangeRateOut(Schema):
    id = fields.Integer()
    currency = fields.String()
    rate = fields.Decimal(as_string=True)
    effective_from = fields.Date()


RequisitionPage = page_schema(RequisitionOut, "RequisitionPage")
EngagementPage = page_schema(EngagementOut, "EngagementPage")
UnitPage = page_schema(UnitOut, "UnitPage")
LocationPage = page_schema(LocationOut, "LocationPage")
SupplierPage = page_schema(SupplierOut, "SupplierPage")
SkillPage = page_schema(SkillOut, "SkillPage")
ExchangeRatePage = page_schema(ExchangeRateOut, "ExchangeRatePage")


class InvitationIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    allow_other_email = fields.Boolean(load_default=False)


class InvitationOut(Schema):
    invitation_id = fields.Integer()
    link = fields.String(metadata={"description": "Shown once; the link works once."})
    expires_at = fields.DateTime()


# --- delegations -------------------------------------------------------------------------------


class DelegationIn(Schema):
    delegate_user_id = Integer(required=True, validate=ID_RANGE)
    starts_on = Date(required=True)
    ends_on = Date(required=True)
    manager_user_id = Integer(
        load_default=None,
        validate=ID_RANGE,
        metadata={"description": "Procurement and org admins only; a manager delegates their own."},
    )
    note = fields.String(load_default="", validate=validate.Length(max=500))


class DelegationQuery(Schema):
    include_past = fields.Boolean(load_default=False)


class DelegationOut(Schema):
    id = fields.Integer()
    manager_user_id = fields.Integer()
    delegate_user_id = fields.Integer()
    starts_on = fields.Date()
    ends_on = fields.Date()
    note = fields.String()
    created_by_user_id = fields.Integer()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


# --- the organization's workforce rules (the settings page) ---------------------------------


class WorkforceSettingsIn(Schema):
    notice_period_days = Integer(
        required=True, metadata={"description": "Days of notice an ending gives (0-365)."}
    )
    trial_max_days = Integer(
        required=True, metadata={"description": "Longest trial engagement, in days (1-180)."}
    )
    trial_max_budget = _Decimal(
        load_default=None,
        metadata={"description": "Largest trial budget in the base currency; absent: kept."},
    )


class WorkforceSettingsOut(Schema):
    notice_period_days = fields.Integer()
    trial_max_days = fields.Integer()


_with_money(WorkforceSettingsOut, [("trial_max_budget", "trial_max_budget", False, "currency")])


class ApprovalRuleIn(Schema):
    role = fields.String(required=True, metadata={"description": "An approver role."})
    min_budget = _Decimal(
        load_default="0",
        metadata={"description": "The step applies from this budget (base currency); 0: always."},
    )


class ApprovalChainIn(Schema):
    steps = fields.List(fields.Nested(ApprovalRuleIn), required=True)


class ApprovalRuleOut(Schema):
    position = fields.Integer()
    role = fields.String()
    label = fields.String()


_with_money(ApprovalRuleOut, [("min_budget", "min_budget", False, "currency")])


class ApprovalChainOut(Schema):
    steps = fields.List(fields.Nested(ApprovalRuleOut))


class TemplateStepIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(
        required=True, metadata={"description": "answer, sign, upload (the freelancer) or review."}
    )


class TemplateStepOut(Schema):
    id = fields.Integer()
    position = fields.Integer()
    title = fields.String()
    kind = fields.String()


class TemplateStepList(Schema):
    items = fields.List(fields.Nested(TemplateStepOut))
