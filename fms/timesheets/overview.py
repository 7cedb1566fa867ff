"""Timesheets' items for the Overview: sheets waiting for the reviewer, and the freelancer's
missing sheet of last week. Registered with Reports' overview hook by the app factory
(timesheets never imports Reports); a fixed number of statements whatever the rows."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from fms.overview import OverviewItem, plural
from fms.timesheets import notices, queries

REVIEW_PATH = notices.REVIEW_PATH
OWN_PATH = notices.OWN_PATH


def items(session: Session, *, actor, today: date) -> list[OverviewItem]:
    """The actor's timesheet items, for the roles they hold."""
    out: list[OverviewItem] = []
    if actor.user_id is None:
        return out
    if actor.can("engagements.manage") or actor.can("engagements.end"):
        waiting, _ = queries.sheets_to_review(session, actor=actor, today=today)
        if waiting:
            out.append(
                OverviewItem(
                    key="timesheets.to_review",
                    title=f"{plural(len(waiting), 'timesheet')} waiting for you",
                    count=len(waiting),
                    url=REVIEW_PATH,
                    detail=f"Oldest: the week of {waiting[0].week_start.isoformat()}",
                )
            )
    if actor.can("own_engagements.read"):
        missing, first = notices.missing_last_week(
            session, today=today, freelancer_user_id=actor.user_id
        )
        if missing:
            out.append(
                OverviewItem(
                    key="timesheets.missing_last_week",
                    title="Last week's sheet is missing",
                    count=len(missing),
                    url=OWN_PATH,
                    tone="warning",
                    detail=f"The week of {first.isoformat()}: "
                    + ", ".join(title for _, title, _ in missing),
                )
            )
    return out
