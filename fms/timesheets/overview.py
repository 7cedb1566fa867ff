"""Timesheets' items for the Overview: sheets waiting for the reviewer, and the freelancer's
missing sheet of last week. Registered with Reports' overview hook by the app factory
(timesheets never imports Reports); a fixed number of statements whatever the rows."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.overview import OverviewItem, plural
from fms.timesheets import notices, queries
from fms.timesheets.models import Timesheet
from fms.workforce.models import Freelancer

REVIEW_PATH = notices.REVIEW_PATH
OWN_PATH = notices.OWN_PATH


def items(session: Session, *, actor, today: date) -> list[OverviewItem]:
    """The actor's timesheet items, for the roles they hold."""
    out: list[OverviewItem] = []
    if actor.user_id is None:
        return out
    if actor.can("engagements.manage") or actor.can("engagements.end"):
        count, oldest = _waiting(session, actor, today)
        if count:
            out.append(
                OverviewItem(
                    key="timesheets.to_review",
                    title=f"{plural(count, 'timesheet')} waiting for you",
                    count=count,
                    url=REVIEW_PATH,
                    detail=f"Oldest: the week of {oldest.isoformat()}",
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


def _waiting(session: Session, actor, today: date) -> tuple[int, date | None]:
    """How many submitted sheets the actor may decide today, and the oldest week: counted in
    SQL for procurement (every sheet but their own), through the queue's rule otherwise."""
    if not actor.can("engagements.manage"):
        sheets, _ = queries.sheets_to_review(session, actor=actor, today=today)
        return len(sheets), (sheets[0].week_start if sheets else None)
    stmt = select(func.count(Timesheet.id), func.min(Timesheet.week_start)).where(
        Timesheet.state == "submitted"
    )
    own = select(Freelancer.id).where(Freelancer.user_id == actor.user_id)
    count, oldest = session.execute(stmt.where(Timesheet.freelancer_id.not_in(own))).one()
    return int(count or 0), oldest
