"""HTML forms of the token pages (Flask-WTF: every POST carries a CSRF token)."""

from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from fms.forms import OneTimeForm, whole_number
from fms.identity.forms import ROLE_CHOICES, MultiCheckboxField
from fms.identity.tokens.services import ACCESS, AREAS

SCOPE_CHOICES = [
    (f"{area}:{access}", f"{label}: {'read and write' if access == 'write' else 'read'}")
    for area, label in AREAS.items()
    for access in ACCESS
]
EXPIRY_CHOICES = [(30, "30 days"), (90, "90 days"), (365, "1 year"), (0, "Never")]


class TokenForm(OneTimeForm):
    name = StringField(
        "Token name",
        validators=[DataRequired(), Length(max=200)],
        description="Where it is used, e.g. “Nightly HR sync”.",
    )
    scopes = MultiCheckboxField(
        "Scopes",
        choices=SCOPE_CHOICES,
        validators=[DataRequired(message="Choose at least one scope.")],
        description="Write includes read. The token can never do more than its "
        "principal's roles allow at the moment it is used.",
    )
    expires_in_days = SelectField(
        "Expires after", choices=EXPIRY_CHOICES, coerce=whole_number, default=90
    )


class ServiceAccountForm(OneTimeForm):
    name = StringField(
        "Integration name",
        validators=[DataRequired(), Length(max=200)],
        description="The system that connects, e.g. “SAP S/4HANA”.",
    )
    description = StringField("Description (optional)", validators=[Optional(), Length(max=500)])
    roles = MultiCheckboxField(
        "Roles",
        choices=ROLE_CHOICES,
        validators=[DataRequired(message="Choose at least one role.")],
        description="What the integration may do, as a member with these roles could.",
    )


class ServiceAccountEditForm(ServiceAccountForm):
    is_active = BooleanField("Active (its tokens work)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, one_time=False, **kwargs)
