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
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from fms.forms import OneTimeForm, whole_number
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


class AddMemberForm(OneTimeForm):
    name = StringField(
        "Name (optional)",
        validators=[Optional(), Length(max=200)],
        description="Used to greet them; they confirm their own name when they accept.",
    )
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    roles = MultiCheckboxField("Roles", choices=ROLE_CHOICES, validators=[DataRequired()])


class CodeForm(FlaskForm):
    code = StringField(
        "6-digit code",
        validators=[DataRequired(), Length(min=6, max=8)],
        description="From your authenticator app.",
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ChooseOrganizationForm(FlaskForm):
    org_id = SelectField("Organization", coerce=whole_number)


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=12, max=1024)],
        description="At least 12 characters.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class NewAccountForm(FlaskForm):
    name = StringField("Your full name", validators=[DataRequired(), Length(max=200)])


class RolesForm(FlaskForm):
    roles = MultiCheckboxField("Roles", choices=ROLE_CHOICES, validators=[DataRequired()])


class EmptyForm(FlaskForm):
    """A POST with nothing but its CSRF token (buttons such as sign out, deactivate)."""


class SwitchOrganizationForm(FlaskForm):
    org_id = SelectField("Organization", coerce=whole_number)


class OrganizationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    base_currency = StringField(
        "Base currency",
        validators=[DataRequired(), Length(min=3, max=3)],
        description="ISO 4217 code; approval thresholds and reports use it.",
    )
    timezone = SelectField("Timezone")
    locale = SelectField(
        "Locale",
        description="How numbers, dates and money are shown; people may choose their own.",
    )


class LocaleForm(FlaskForm):
    locale = SelectField(
        "Locale",
        description="How numbers, dates and money are shown to you. The text stays English.",
    )


def locale_choices(*, follow: str | None = None) -> list[tuple[str, str]]:
    """The offered locales with an example each; `follow` adds 'the organization's' first."""
    from datetime import date
    from decimal import Decimal

    from fms import formatting

    def example(code: str) -> str:
        amount = formatting.format_money(Decimal("1234.5"), "EUR", code)
        day = formatting.format_day(date(2026, 12, 31), code)
        return f"{formatting.SUPPORTED_LOCALES[code]} — {amount}, {day}"

    choices = [(code, example(code)) for code in formatting.SUPPORTED_LOCALES]
    if follow is not None:
        name = formatting.SUPPORTED_LOCALES.get(follow, follow)
        choices.insert(0, ("", f"As the organization ({name})"))
    return choices
