"""What timesheets registers with lower areas at app start: the audit page's words for
its actions and records (transitions write "<table>.<state>")."""

from __future__ import annotations

from blinker import Namespace

from fms.audit import hooks as audit_hooks

# Record events (DESIGN.md, "Hooks between areas"): what just happened to timesheets,
# heard by higher areas inside the same transaction; sent as
# `record_event.send("timesheet.approved", session=session, ids=[...])`;
# webhooks connects at app start.
record_event = Namespace().signal("timesheets.record-event")

ACTION_WORDS = {
    "organization.scale_data_loaded": "Scale data loaded (flask fms seed-scale)",
    # settings (fms/timesheets/services.py)
    "timesheet_week_start.changed": "Week start changed",
    "timesheet_task_code.created": "Task code added",
    "timesheet_task_code.changed": "Task code changed",
    "engagement.time_rounding_set": "Time rounding set",
    "timesheet_period.locked": "Billing period closed for timesheets",
    # sheets
    "timesheet.created": "Timesheet opened",
    "timesheet.entries_saved": "Timesheet entries saved",
    "timesheet.draft": "Timesheet reopened as a draft",
    "timesheet.submitted": "Timesheet submitted",
    "timesheet.approved": "Timesheet approved",
    "timesheet.rejected": "Timesheet sent back",
    "timesheet.invoiced": "Timesheet invoiced",
    # adjustments
    "timesheet_adjustment.created": "Adjustment drafted",
    "timesheet_adjustment.draft": "Adjustment reopened as a draft",
    "timesheet_adjustment.submitted": "Adjustment submitted",
    "timesheet_adjustment.approved": "Adjustment approved",
    "timesheet_adjustment.rejected": "Adjustment rejected",
    "timesheet_adjustment.invoiced": "Adjustment invoiced",
    # milestones (fms/timesheets/milestones.py)
    "milestone.created": "Milestone set",
    "milestone.draft": "Milestone reopened",
    "milestone.delivered": "Milestone delivered",
    "milestone.deliverable_attached": "Milestone deliverable attached",
    "milestone.accepted": "Milestone accepted",
    "milestone.sent_back": "Milestone sent back",
    "milestone.invoiced": "Milestone invoiced",
    # expenses (fms/timesheets/expenses.py)
    "expense.created": "Expense recorded",
    "expense.receipt_attached": "Receipt attached",
    "expense.draft": "Expense reopened as a draft",
    "expense.submitted": "Expense submitted",
    "expense.approved": "Expense approved",
    "expense.rejected": "Expense rejected",
    "expense.invoiced": "Expense invoiced",
}

ENTITY_WORDS = {
    "timesheet": "Timesheet",
    "timesheet_adjustment": "Adjustment",
    "timesheet_task_code": "Task code",
    "timesheet_week_start": "Week start",
    "timesheet_period": "Billing period",
    "timesheet_period_lock": "Billing period",
    "milestone": "Milestone",
    "expense": "Expense",
}


def register(app) -> None:
    """Called once from create_app."""
    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    from fms.timesheets import (
        guards,
        notices,  # noqa: F401 - registers its kinds and reminders
    )

    guards.register()  # a rate change never reaches back over recorded time
