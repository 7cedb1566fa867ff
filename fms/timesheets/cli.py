"""`flask fms timesheets ...`."""

from __future__ import annotations

from flask.cli import AppGroup

timesheets_cli = AppGroup("timesheets", help="Timesheets, milestones and expenses.")
