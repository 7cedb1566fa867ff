"""Timesheet page forms, and the week grid's strict time parser (h:mm or decimal hours)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fms.forms import DateField, DecimalField, OneTimeForm, whole_number
from fms.timesheets import rules

TIME_MESSAGE = "Hours as h:mm (7:30) or decimal hours (7.5)."
_HMM = re.compile(r"(\d{1,2}):([0-5]\d)", re.ASCII)
_DECIMAL = re.compile(r"\d{1,2}(\.\d{1,4})?|\.\d{1,4}", re.ASCII)


def parse_duration(text: str | None) -> int:
    """A cell's time as minutes: "" is 0, "7:30" and "7.5" are 450. Only ASCII digits,
    whole minutes, nothing negative; the 24-hour bound is the service's rule."""
    value = (text or "").strip()
    if not value:
        return 0
    if match := _HMM.fullmatch(value):
        return int(match.group(1)) * 60 + int(match.group(2))
    if _DECIMAL.fullmatch(value):
        try:
            minutes = Decimal(value) * 60
        except InvalidOperation:
            raise ValueError(TIME_MESSAGE) from None
        if minutes != minutes.to_integral_value():
            raise ValueError("Whole minutes, please: use h:mm (7:20) for this one.")
        return int(minutes)
    raise ValueError(TIME_MESSAGE)


def parse_signed_duration(text: str | None) -> int:
    """A correction's time: "+1:30", "-0:45", "-0.75" as signed minutes (not 0)."""
    value = (text or "").strip()
    sign = -1 if value.startswith("-") else 1
    if value.startswith(("+", "-")):
        value = value[1:].strip()
    minutes = parse_duration(value)
    if minutes == 0:
        raise ValueError("A correction changes the time: not 0.")
    return sign * minutes


def show_duration(minutes: int | None) -> str:
    if not minutes:
        return ""
    return f"{minutes // 60}:{minutes % 60:02d}"


DAY_CHOICES = [("", "—"), ("0.5", "Half day"), ("1", "Full day")]


class OpenWeekForm(OneTimeForm):
    engagement_id = SelectField("Engagement", coerce=whole_number, validators=[DataRequired()])
    week_start = DateField(
        "Week starting", validators=[DataRequired()], description="The first day of the week."
    )


class CommentForm(FlaskForm):
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=2000)])


class AdjustmentForm(OneTimeForm):
    work_date = SelectField("Day corrected", validators=[DataRequired()])
    kind = SelectField(
        "Correct",
        choices=[("minutes", "Time (± h:mm)"), ("amount", "Amount (±)")],
        validators=[DataRequired()],
    )
    value = StringField(
        "Change",
        validators=[DataRequired(), Length(max=20)],
        description="For example +1:30 or -0:45 for time, -120.00 for an amount.",
    )
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])


class MilestoneForm(OneTimeForm):
    title = StringField("Deliverable", validators=[DataRequired(), Length(max=200)])
    amount = DecimalField("Amount", validators=[DataRequired()])
    due_date = DateField("Due", validators=[DataRequired()])


class ExpenseForm(OneTimeForm):
    spent_on = DateField("Date", validators=[DataRequired()])
    category = SelectField(
        "Category",
        choices=[(c, c.capitalize()) for c in rules.EXPENSE_CATEGORIES],
        validators=[DataRequired()],
    )
    amount = DecimalField("Amount", validators=[DataRequired()])
    currency = StringField("Currency", validators=[DataRequired(), Length(min=3, max=3)])
    description = StringField("Description", validators=[Optional(), Length(max=500)])
    receipt = FileField(
        "Receipt", description="PDF, PNG, JPEG, WebP or HEIC; at most 10 MB. Optional."
    )


class WeekStartForm(FlaskForm):
    week_start = SelectField(
        "New week start",
        coerce=whole_number,
        choices=list(enumerate(rules.WEEKDAYS)),
        validators=[Optional()],
    )


class TaskCodeForm(OneTimeForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=30)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])


ROUNDING_LABELS = {
    "none": "No rounding",
    "up_6": "Up to 6 minutes",
    "nearest_6": "Nearest 6 minutes",
    "up_15": "Up to 15 minutes",
    "nearest_15": "Nearest 15 minutes",
}


class RoundingForm(FlaskForm):
    mode = SelectField(
        "Time rounding (per day)",
        choices=[(k, ROUNDING_LABELS.get(k, k)) for k in rules.ROUNDING_MODES],
        validators=[DataRequired()],
    )
