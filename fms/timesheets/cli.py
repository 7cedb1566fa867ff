"""`flask fms timesheets ...`."""

from __future__ import annotations

from flask.cli import AppGroup

from fms.extensions import db
from fms.notifications.cli import today_option

timesheets_cli = AppGroup("timesheets", help="Timesheets, milestones and expenses.")


@timesheets_cli.command("remind")
@today_option
def remind(today):
    """Send the timesheet reminders (run daily from cron; `flask fms notifications remind`
    runs them too, with every other area's): sheets waiting too long for their reviewer,
    and last week's missing sheet. Each is sent once ever: a second run, or a retried job,
    sends nothing again. Each organization in its own transaction."""
    from fms.cli import per_organization
    from fms.timekeeping import today_in
    from fms.timesheets import notices

    def run(org_id, timezone):
        on = today.date() if today else today_in(timezone)
        return notices.remind(db.session, org_id=org_id, today=on)

    per_organization(run, what="timesheet reminders", done=lambda n: f"{n} reminder(s) sent.")
