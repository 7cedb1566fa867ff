"""Timesheet routes of /api/v1: sheets, entries, milestones, expenses, approvals, adjustments."""

from __future__ import annotations

from flask_smorest import Blueprint

from fms.api.common import API_PREFIX

blp = Blueprint(
    "timesheets_api", __name__, url_prefix=API_PREFIX, description="Timesheets and their review"
)
