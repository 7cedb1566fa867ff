"""Timesheet pages: the freelancer's week grid, milestones and expenses, the reviewer's queue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("timesheets", __name__, url_prefix="/timesheets")
