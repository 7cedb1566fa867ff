"""`flask fms notifications ...`: the daily reminders the areas register."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from fms.extensions import db

notifications_cli = AppGroup("notifications", help="The in-app inbox and reminders.")


# the reminder commands' --today (this one, and areas' own, such as `timesheets remind`)
today_option = click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as on this date (default: today in each organization's timezone).",
)


@notifications_cli.command("remind")
@today_option
def remind(today):
    """Send the reminders every area registered (run daily from cron). Each reminder is sent
    once: a second run, or a retried job, sends nothing again. Each organization in its own
    transaction; one that fails does not stop the others."""
    from fms.cli import per_organization
    from fms.notifications.kinds import all_reminders
    from fms.timekeeping import today_in

    def run(org_id, timezone):
        on = today.date() if today else today_in(timezone)
        return sum(
            reminder(db.session, org_id=org_id, today=on) for _name, reminder in all_reminders()
        )

    per_organization(run, what="reminders", done=lambda total: f"{total} reminder(s) sent.")
