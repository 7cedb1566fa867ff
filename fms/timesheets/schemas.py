"""API schemas of timesheets: `XIn` for request bodies and arguments, `XOut` for answers.

Minutes are integers; a daily-rate day is "0", "0.5" or "1" (a string, never a float);
money is `{"amount": "12.34", "currency": "EUR"}` with the amount a string."""

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from fms.api.common import ID_RANGE, Date, Integer, page_schema
from fms.timesheets import rules
from fms.timesheets.services import MAX_BULK, MAX_COMMENT, MAX_NOTE

_MONEY = 'Money: {"amount": "12.34", "currency": "EUR"}'
_AMOUNT = {"description": 'An exact amount as a string, such as "120.50".'}


class MoneyOut(Schema):
    amount = fields.String(metadata=_AMOUNT)
    currency = fields.String()


# --- timesheets ----------------------------------------------------------------------------


class TimesheetOpenIn(Schema):
    engagement_id = Integer(required=True, validate=ID_RANGE)
    week_start = Date(
        required=True,
        metadata={"description": "The first day of a week (the organization's week start)."},
    )


class EntryIn(Schema):
    work_date = Date(required=True, metadata={"description": "A day of the sheet's week."})
    minutes = Integer(
        load_default=0,
        validate=validate.Range(min=0, max=rules.DAY_MINUTES),
        metadata={"description": "Integer minutes, 0 to 1440 (hourly engagements)."},
    )
    days = fields.String(
        load_default=None,
        validate=validate.OneOf(["0", "0.5", "1"]),
        metadata={"description": 'Daily-rate engagements: "0", "0.5" or "1".'},
    )
    task_code = fields.String(
        load_default=None, validate=validate.Length(max=30), metadata={"description": "A code."}
    )
    note = fields.String(load_default="", validate=validate.Length(max=MAX_NOTE))


class EntriesIn(Schema):
    entries = fields.List(
        fields.Nested(EntryIn),
        required=True,
        validate=validate.Length(max=7),
        metadata={"description": "The whole week: what is left out is removed."},
    )


class EntryOut(Schema):
    work_date = fields.Date()
    minutes = fields.Integer()
    days = fields.String(allow_none=True, metadata={"description": '"0.5" or "1"; or null.'})
    task_code = fields.String(allow_none=True)
    note = fields.String()
    invoiced = fields.Boolean()


class DayOut(Schema):
    work_date = fields.Date()
    minutes = fields.Integer(metadata={"description": "As recorded."})
    billable_minutes = fields.Integer(metadata={"description": "After the time rounding."})
    days = fields.String(allow_none=True)


class AdjustmentOut(Schema):
    id = fields.Integer()
    timesheet_id = fields.Integer()
    engagement_id = fields.Integer()
    work_date = fields.Date()
    minutes = fields.Integer(allow_none=True)
    amount = fields.Nested(MoneyOut, allow_none=True, metadata={"description": _MONEY})
    reason = fields.String()
    state = fields.String()
    created_by_user_id = fields.Integer(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decided_by_user_id = fields.Integer(allow_none=True)
    decision_comment = fields.String(allow_none=True)


class TimesheetOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    engagement = fields.String()
    freelancer_id = fields.Integer()
    freelancer = fields.String()
    week_start = fields.Date()
    week_end = fields.Date()
    state = fields.String()
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decided_by_user_id = fields.Integer(allow_none=True)
    decision_comment = fields.String(allow_none=True)
    updated_at = fields.DateTime(
        metadata={"description": "When the record last changed (what `updated_since` filters on)."}
    )
    minutes = fields.Integer(metadata={"description": "Billable minutes, after rounding."})
    overtime_minutes = fields.Integer()
    days = fields.String(metadata={"description": 'Daily-rate days, such as "4.5".'})
    amounts = fields.List(
        fields.Nested(MoneyOut),
        metadata={"description": "Per currency, rounded as invoice lines are."},
    )


class TimesheetDetailOut(TimesheetOut):
    entries = fields.List(fields.Nested(EntryOut))
    day_totals = fields.List(
        fields.Nested(DayOut), metadata={"description": "Every day of the week, in order."}
    )
    adjustments = fields.List(fields.Nested(AdjustmentOut))


TimesheetPage = page_schema(TimesheetOut, "TimesheetPage")


class SubmissionOut(Schema):
    timesheet = fields.Nested(TimesheetDetailOut)
    warnings = fields.List(
        fields.String(), metadata={"description": "Such as the 80 % budget warning."}
    )


class RejectIn(Schema):
    comment = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_COMMENT),
        metadata={"description": "Why it goes back (required)."},
    )


class BulkIn(Schema):
    timesheet_ids = fields.List(
        Integer(validate=ID_RANGE),
        required=True,
        validate=validate.Length(min=1, max=MAX_BULK),
    )


class SkippedOut(Schema):
    timesheet_id = fields.Integer()
    reason = fields.String()


class BulkPreviewOut(Schema):
    timesheet_ids = fields.List(fields.Integer(), metadata={"description": "What it approves."})
    count = fields.Integer()
    minutes = fields.Integer()
    days = fields.String()
    amounts = fields.List(fields.Nested(MoneyOut))
    skipped = fields.List(fields.Nested(SkippedOut))


class BulkResultOut(Schema):
    approved = fields.List(fields.Integer())
    changed_meanwhile = fields.List(
        fields.Integer(), metadata={"description": "No longer submitted, or not found."}
    )
    not_allowed = fields.List(fields.Integer(), metadata={"description": "Not yours to decide."})


class QueueRowOut(Schema):
    timesheet_id = fields.Integer()
    engagement_id = fields.Integer()
    freelancer = fields.String()
    week_start = fields.Date()
    week_end = fields.Date()
    age_days = fields.Integer()
    minutes = fields.Integer()
    overtime_minutes = fields.Integer()
    days = fields.String()
    amounts = fields.List(fields.Nested(MoneyOut))
    other_manager_days = fields.List(
        fields.Date(), metadata={"description": "Days that fell under another manager."}
    )
    budget_used_percent = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The engagement's submitted and approved spend (this week "
            "included) against the budget cap in effect today, in whole percent."
        },
    )


# --- adjustments ---------------------------------------------------------------------------


class AdjustmentIn(Schema):
    work_date = Date(required=True, metadata={"description": "The day of the sheet it corrects."})
    minutes = Integer(
        load_default=None,
        validate=validate.Range(min=-rules.DAY_MINUTES, max=rules.DAY_MINUTES),
        metadata={"description": "Signed minutes; or give an amount."},
    )
    amount = fields.String(
        load_default=None,
        validate=validate.Length(max=20),
        metadata={"description": 'A signed amount such as "-40.00"; or give minutes.'},
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=MAX_COMMENT))


# --- milestones ----------------------------------------------------------------------------


class MilestoneIn(Schema):
    engagement_id = Integer(required=True, validate=ID_RANGE)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    amount = fields.String(required=True, validate=validate.Length(min=1, max=20), metadata=_AMOUNT)
    due_date = Date(required=True)


class MilestoneOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    title = fields.String()
    amount = fields.Nested(MoneyOut, metadata={"description": _MONEY})
    due_date = fields.Date()
    state = fields.String()
    delivered_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decided_by_user_id = fields.Integer(allow_none=True)
    decision_comment = fields.String(allow_none=True)
    attachment_file_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The deliverable's stored file; download at …/deliverable."},
    )


MilestonePage = page_schema(MilestoneOut, "MilestonePage")


# --- expenses ------------------------------------------------------------------------------


class ExpenseIn(Schema):
    engagement_id = Integer(required=True, validate=ID_RANGE)
    spent_on = Date(required=True)
    category = fields.String(required=True, validate=validate.OneOf(rules.EXPENSE_CATEGORIES))
    amount = fields.String(required=True, validate=validate.Length(min=1, max=20), metadata=_AMOUNT)
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    description = fields.String(load_default="", validate=validate.Length(max=500))


class ReceiptIn(Schema):
    file = Upload(
        required=True,
        metadata={"description": "PDF, PNG, JPEG, WebP or HEIC, decided by the content."},
    )


class ExpenseOut(Schema):
    id = fields.Integer()
    engagement_id = fields.Integer()
    spent_on = fields.Date()
    category = fields.String()
    amount = fields.Nested(MoneyOut, metadata={"description": _MONEY})
    description = fields.String()
    receipt_name = fields.String(allow_none=True)
    receipt_sha256 = fields.String(allow_none=True)
    state = fields.String()
    created_by_user_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decided_by_user_id = fields.Integer(allow_none=True)
    decision_comment = fields.String(allow_none=True)


ExpensePage = page_schema(ExpenseOut, "ExpensePage")


# --- settings ------------------------------------------------------------------------------


class TaskCodeIn(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=30))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class TaskCodePatchIn(Schema):
    is_active = fields.Boolean(required=True)


class TaskCodeOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    is_active = fields.Boolean()


class WeekStartIn(Schema):
    weekday = Integer(
        required=True,
        validate=validate.Range(min=0, max=6),
        metadata={"description": "0 = Monday ... 6 = Sunday."},
    )


class WeekStartChangeOut(Schema):
    effective_from = fields.Date()
    weekday = fields.Integer()


class WeekStartOut(Schema):
    weekday = fields.Integer(metadata={"description": "Today's week start, 0 = Monday."})
    schedule = fields.List(
        fields.Nested(WeekStartChangeOut),
        metadata={"description": "Changes, oldest first; Monday before the first."},
    )


class TimeRoundingIn(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(list(rules.ROUNDING_MODES)))


class TimeRoundingOut(Schema):
    engagement_id = fields.Integer()
    mode = fields.String()
