"""HTML forms of identity pages (Flask-WTF: every POST carries a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Email, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from fms.identity.permissions import ROLES


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


ROLE_CHOICES = list(ROLES.items())


class SignInForm(FlaskForm):
    email = EmailField("Work email", validators=[DataRequired(), Email(), Length(max=254)])
    # empty when the person continues with single sign-on
    password = PasswordField("Password", validators=[Optional(), Length(max=1024)])
    next = HiddenField()


class AddMemberForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    roles = MultiCheckboxField("Roles", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(
        "Initial password (optional)",
        validators=[Optional(), Length(min=12, max=1024)],
        description="Leave empty when the person signs in through your identity provider.",
    )


class RolesForm(FlaskForm):
    roles = MultiCheckboxField("Roles", choices=ROLE_CHOICES, validators=[DataRequired()])


class EmptyForm(FlaskForm):
    """A POST with nothing but its CSRF token (buttons such as sign out, deactivate)."""


class SwitchOrganizationForm(FlaskForm):
    org_id = SelectField("Organization", coerce=int)


class OrganizationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    base_currency = StringField(
        "Base currency",
        validators=[DataRequired(), Length(min=3, max=3)],
        description="ISO 4217 code; approval thresholds and reports use it.",
    )
    timezone = SelectField("Timezone")
