"""HTML forms of workforce pages (services do the real validation; forms parse and show)."""

from decimal import Decimal
from functools import partial

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from fms.forms import (
    DateField,
    DecimalField,
    IntegerField,
    LookupField,
    OneTimeForm,
    whole_number,
)
from fms.timekeeping import minutes_from_hours
from fms.workforce import rules

# --- pickers: type-ahead on the server (fms.forms.LookupField, js/combobox.js) -------------

_ENDPOINTS = {
    "freelancer": "workforce_api.lookup_freelancers",
    "supplier": "workforce_api.lookup_suppliers",
    "department": "workforce_api.lookup_departments",
    "cost_centre": "workforce_api.lookup_cost_centres",
    "location": "workforce_api.lookup_locations",
}


def picker(label: str, kind: str, **kwargs) -> LookupField:
    """A type-ahead field for one workforce record kind (freelancer, supplier, unit)."""
    from fms.extensions import db
    from fms.identity.web_session import current_actor
    from fms.workforce import lookups

    def search(text):
        if kind == "freelancer":
            call = lookups.lookup_freelancers
        elif kind == "supplier":
            call = lookups.lookup_suppliers
        else:
            call = partial(lookups.lookup_units, kind=kind)
        return call(db.session, actor=current_actor(), q=text, per_page=5)

    return LookupField(
        label,
        search=search,
        describe=lambda record_id: lookups.describe(db.session, kind, record_id),
        endpoint=_ENDPOINTS[kind],
        noun=label.lower().split(" (")[0],
        **kwargs,
    )


def person_picker(label: str, *, roles=(), **kwargs) -> LookupField:
    """A type-ahead field for an active member of the organization (optionally by role)."""
    from fms.extensions import db
    from fms.identity import memberships
    from fms.identity.web_session import current_actor

    return LookupField(
        label,
        search=lambda text: memberships.lookup_people(
            db.session, actor=current_actor(), q=text, roles=roles, per_page=5
        ),
        describe=lambda user_id: memberships.describe_person(db.session, user_id),
        endpoint="identity_api.PeopleLookup",
        params={"role": list(roles)} if roles else {},
        noun=label.lower(),
        **kwargs,
    )


MANAGER_ROLES = ("hiring_manager", "org_admin")


class UnitForm(OneTimeForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=30)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    is_active = BooleanField("Active", default=True)


class LocationForm(UnitForm):
    country = StringField(
        "Country", validators=[DataRequired(), Length(min=2, max=2)], description="e.g. DE"
    )
    city = StringField("City", validators=[Optional(), Length(max=120)])


def unit_form(kind: str, **kwargs):
    return (LocationForm if kind == "location" else UnitForm)(**kwargs)


KIND_CHOICES = list(rules.ENGAGEMENT_KINDS.items())


class _TermsForm(OneTimeForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    kind = SelectField("Kind", choices=KIND_CHOICES)
    department_id = picker("Department", "department")
    cost_centre_id = picker("Cost centre", "cost_centre")
    location_id = picker("Location", "location")
    start_date = DateField("Start", validators=[DataRequired()])
    end_date = DateField("End", validators=[DataRequired()])
    weekly_hours = DecimalField(
        "Expected hours per week", places=2, validators=[DataRequired(), NumberRange(0.25, 80)]
    )
    currency = StringField("Currency", default="EUR", validators=[DataRequired(), Length(3, 3)])


class RequisitionForm(_TermsForm):
    description = TextAreaField("What the freelancer will do", validators=[Length(max=5000)])
    rate_min = DecimalField("Rate from", places=2, validators=[DataRequired()])
    rate_max = DecimalField("Rate up to", places=2, validators=[DataRequired()])
    budget = DecimalField("Budget", places=2, validators=[DataRequired()])
    skill_ids = SelectMultipleField(
        "Skills",
        coerce=whole_number,
        validators=[Optional()],
        description="Hold Ctrl (⌘ on a Mac) to pick several.",
    )
    justification = TextAreaField("Justification", validators=[DataRequired(), Length(max=5000)])


class EngagementForm(_TermsForm):
    rate = DecimalField("Rate", places=2, validators=[DataRequired()])
    overtime_rate = DecimalField("Overtime rate", places=2, validators=[Optional()])
    budget_cap = DecimalField("Budget cap", places=2, validators=[DataRequired()])
    po_number = StringField("PO number", validators=[Optional(), Length(max=40)])
    hiring_manager_user_id = person_picker("Hiring manager", roles=MANAGER_ROLES)
    freelancer_id = picker(
        "Freelancer (if known)",
        "freelancer",
        description="Optional: leave empty and invite the freelancer once approved.",
    )
    supplier_id = picker(
        "Supplier",
        "supplier",
        description=(
            "Leave empty to use the freelancer's own supplier (or direct); "
            "it is named on the engagement page."
        ),
    )
    confirm_supplier = BooleanField(
        "Yes, this engagement goes through this supplier although the freelancer's "
        "profile names another"
    )


class DecisionForm(FlaskForm):
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=2000)])


class ReasonForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])


class NoticeForm(FlaskForm):
    end_date = DateField("Last working day", validators=[DataRequired()])
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])


class ReviewForm(FlaskForm):
    rating = SelectField(
        "Rating",
        coerce=whole_number,
        choices=[
            (5, "5 – outstanding"),
            (4, "4 – strong"),
            (3, "3 – as expected"),
            (2, "2 – below expectations"),
            (1, "1 – poor"),
        ],
    )
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=2000)])


class OnboardForm(FlaskForm):
    freelancer_id = picker("Or start onboarding with a freelancer already known here", "freelancer")
    confirm_supplier = BooleanField(
        "Keep the engagement's supplier although the freelancer's profile names another"
    )


class AmendmentForm(FlaskForm):
    kind = SelectField("Change", choices=list(rules.AMENDMENT_KINDS.items()))
    effective_from = DateField("Effective from", validators=[DataRequired()])
    new_rate = DecimalField("New rate", places=2, validators=[Optional()])
    new_end_date = DateField("New end date", validators=[Optional()])
    new_budget_cap = DecimalField("New budget cap", places=2, validators=[Optional()])
    new_hiring_manager_user_id = SelectField("New hiring manager", coerce=whole_number)
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])


class SupplierForm(OneTimeForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    legal_name = StringField("Legal name", validators=[Optional(), Length(max=200)])
    country = StringField("Country", validators=[DataRequired(), Length(2, 2)])
    tax_id = StringField(
        "Tax id (VAT)",
        validators=[Optional(), Length(max=40)],
        description="Checked with the country's validator where one exists.",
    )


class ContactForm(OneTimeForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    role = StringField("Role", validators=[Optional(), Length(max=80)])


class SkillForm(OneTimeForm):
    name = StringField("Skill", validators=[DataRequired(), Length(max=80)])
    category = StringField("Category", validators=[Optional(), Length(max=80)])


class FreelancerSkillForm(FlaskForm):
    skill_id = SelectField("Skill", coerce=whole_number)
    level = SelectField("Level", coerce=whole_number, choices=[(i, str(i)) for i in range(1, 6)])


class ExchangeRateForm(OneTimeForm):
    currency = StringField("Currency", validators=[DataRequired(), Length(3, 3)])
    rate = DecimalField("Base currency per unit", places=6, validators=[DataRequired()])
    effective_from = DateField("Effective from", validators=[DataRequired()])


class SettingsForm(FlaskForm):
    notice_period_days = IntegerField("Notice period (days)", validators=[DataRequired()])
    trial_max_days = IntegerField(
        "Trial engagements last at most (days)", validators=[DataRequired()]
    )
    trial_max_budget = DecimalField(
        "Trial budget at most (base currency)", places=2, validators=[Optional()]
    )


class TemplateStepForm(OneTimeForm):
    title = StringField("Step", validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        "Done by",
        choices=[
            ("answer", "Freelancer answers"),
            ("sign", "Freelancer signs"),
            ("upload", "Freelancer uploads"),
            ("review", "Staff reviews"),
        ],
    )


class FreelancerProfileForm(OneTimeForm):
    legal_name = StringField("Legal name", validators=[DataRequired(), Length(max=200)])
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=200)])
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    headline = StringField("Headline", validators=[Optional(), Length(max=200)])
    country = StringField("Country", validators=[DataRequired(), Length(2, 2)])
    timezone = StringField("Timezone", default="Europe/Berlin", validators=[DataRequired()])
    currency = StringField("Invoicing currency", default="EUR", validators=[Length(3, 3)])
    tax_id = StringField(
        "Tax id",
        validators=[Optional(), Length(max=40)],
        description="VAT or tax number, checked with the country's validator where one exists.",
    )
    iban = StringField("IBAN", validators=[Optional(), Length(max=42)])
    supplier_id = SelectField("Supplier", coerce=whole_number)


# --- helpers the workforce pages share ----------------------------------------------------


def fill_choices(form, options: dict, *, blank: dict | None = None) -> None:
    """Give a form's select fields their options (with an optional blank first entry)."""
    for name, values in options.items():
        field = getattr(form, name, None)
        if field is None:
            continue
        label = (blank or {}).get(name)
        field.choices = ([(0, label)] if label else []) + list(values)


def terms_fields(form) -> dict:
    """The service arguments from a requisition or engagement form."""
    hours = form.weekly_hours.data
    try:
        minutes = minutes_from_hours(hours) if hours is not None else None
    except (TypeError, ValueError):
        minutes = None
    return {
        "title": form.title.data,
        "kind": form.kind.data,
        "department_id": form.department_id.data,
        "cost_centre_id": form.cost_centre_id.data,
        "location_id": form.location_id.data,
        "start_date": form.start_date.data,
        "end_date": form.end_date.data,
        "weekly_minutes": minutes,
        "currency": (form.currency.data or "").upper(),
    }


def decimal_text(value) -> str | None:
    return None if value is None else str(Decimal(value))


class DelegationForm(OneTimeForm):
    delegate_user_id = person_picker("Stand-in", roles=MANAGER_ROLES)
    manager_user_id = person_picker("For the engagements of", roles=MANAGER_ROLES)
    starts_on = DateField("From", validators=[DataRequired()])
    ends_on = DateField("Until (inclusive)", validators=[DataRequired()])
    note = StringField("Note", validators=[Optional(), Length(max=500)])
