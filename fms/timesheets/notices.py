"""What timesheets tells people, through fms.notifications (inbox, and mail by each person's
choice per kind): a sheet waits for its reviewer; the freelancer's sheet, adjustment,
milestone or expense was decided; and two daily reminders — a sheet waiting too long, and
last week's sheet missing. Notifications is plumbing below timesheets (DESIGN.md): this
module uses it; it never calls back.

Every event has a dedupe key, so it reaches each person once whatever runs twice (a
retried job, a second `flask fms timesheets remind` the same day or any later day). A
sheet's submission keys carry its submission time, so a sheet sent back and submitted
again is a new event; deciding a sheet settles (marks read) its reviewers' "waiting"
notifications.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from fms.notifications.kinds import register_kind, register_reminder
from fms.notifications.services import Notice, notify_many, settle
from fms.timesheets import pricing, rules
from fms.timesheets.models import Timesheet, WeekStart
from fms.workforce.models import Delegation, Engagement, EngagementTerms, Freelancer

# A submitted sheet undecided this many days after its submission reminds its reviewers,
# once per submission. A constant for now (no organization setting yet).
WAITING_DAYS = 3
REVIEW_PATH = "/timesheets/review"
OWN_PATH = "/timesheets/"

register_kind(
    "timesheet.submitted",
    label="A timesheet waits for your review",
    default="mail",
    description="When a freelancer submits a week you review (as its manager or a delegate).",
)
register_kind(
    "timesheet.waiting",
    label=f"A timesheet has waited {WAITING_DAYS} days for your review",
    default="mail",
    description="Once per submission, when a week is still undecided.",
)
register_kind(
    "timesheet.approved",
    label="Your timesheet was approved",
    default="inbox",
    description="When the reviewer approves one of your weeks.",
)
register_kind(
    "timesheet.rejected",
    label="Your timesheet was sent back",
    default="mail",
    description="When the reviewer sends one of your weeks back, with their comment.",
)
register_kind(
    "timesheet.missing",
    label="Last week's timesheet is missing",
    default="mail",
    description="Once per engagement and week, when last week has no submitted sheet.",
)
register_kind(
    "timesheet.item_decided",
    label="Your adjustment, milestone or expense was decided",
    default="mail",
    description="When the reviewer approves or sends back a correction, deliverable or expense.",
)


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f") if moment else "0"


def submitted_key(sheet) -> str:
    return f"timesheet:{sheet.id}:submitted:{_stamp(sheet.submitted_at)}"


def waiting_key(sheet) -> str:
    return f"timesheet:{sheet.id}:waiting:{_stamp(sheet.submitted_at)}"


def _missing_key(engagement_id: int, week_start: date) -> str:
    return f"timesheet:missing:{engagement_id}:{week_start.isoformat()}"


def _week(sheet) -> str:
    return f"the week of {sheet.week_start.isoformat()}"


def reviewers_of(session: Session, sheets, today: date) -> dict[int, list[int]]:
    """Who reviews each sheet today: its engagement's manager on the week's last working
    day, and the delegates that manager named for today. Three statements."""
    ids = {s.engagement_id for s in sheets}
    if not ids:
        return {}
    engagements = {
        e.id: e for e in session.scalars(select(Engagement).where(Engagement.id.in_(ids)))
    }
    history = defaultdict(list)
    for terms in session.scalars(
        select(EngagementTerms)
        .where(EngagementTerms.engagement_id.in_(ids))
        .order_by(EngagementTerms.engagement_id, EngagementTerms.effective_from)
    ):
        history[terms.engagement_id].append(terms)
    managers = {}
    for sheet in sheets:
        engagement = engagements[sheet.engagement_id]
        day = rules.review_day(
            sheet.week_start, sheet.week_end, engagement.start_date, engagement.end_date
        )
        terms = pricing.terms_for_day(history[engagement.id], day)
        managers[sheet.id] = terms.hiring_manager_user_id if terms else None
    delegates = defaultdict(list)
    for manager_id, delegate_id in session.execute(
        select(Delegation.manager_user_id, Delegation.delegate_user_id).where(
            Delegation.manager_user_id.in_({m for m in managers.values() if m}),
            Delegation.starts_on <= today,
            Delegation.ends_on >= today,
            Delegation.revoked_at.is_(None),
        )
    ):
        delegates[manager_id].append(delegate_id)
    return {
        sheet_id: ([manager, *delegates[manager]] if manager else [])
        for sheet_id, manager in managers.items()
    }


def _names(session: Session, freelancer_ids) -> dict[int, tuple[int | None, str]]:
    return {
        row.id: (row.user_id, row.display_name)
        for row in session.execute(
            select(Freelancer.id, Freelancer.user_id, Freelancer.display_name).where(
                Freelancer.id.in_(set(freelancer_ids))
            )
        )
    }


def sheet_submitted(
    session: Session, *, sheet, engagement, today: date, previous: datetime | None = None
) -> int:
    """Tell the sheet's reviewers it waits for them; the freelancer's "missing" reminder for
    the week, and the rejection of its `previous` submission, are settled."""
    (user_id, name) = _names(session, [sheet.freelancer_id]).get(sheet.freelancer_id, (None, ""))
    recipients = reviewers_of(session, [sheet], today).get(sheet.id, [])
    settle(
        session,
        org_id=sheet.org_id,
        dedupe_keys=[
            _missing_key(sheet.engagement_id, sheet.week_start),
            f"timesheet:{sheet.id}:rejected:{_stamp(previous)}" if previous else None,
        ],
    )
    return notify_many(
        session,
        org_id=sheet.org_id,
        notices=[
            Notice(
                reviewer,
                "timesheet.submitted",
                f"{name}'s timesheet for {_week(sheet)} waits for your review",
                submitted_key(sheet),
                body=f"On “{engagement.title}”. Approve it or send it back with a comment.",
                url=REVIEW_PATH,
            )
            for reviewer in recipients
            if reviewer != user_id
        ],
    )


def sheets_decided(session: Session, *, org_id: int, sheets, state: str, comment=None) -> int:
    """Tell each sheet's freelancer it was approved or sent back (with the comment), and
    settle its reviewers' notifications about it. A fixed number of statements whatever
    the number of sheets (bulk approval)."""
    if not sheets:
        return 0
    settle(
        session,
        org_id=org_id,
        dedupe_keys=[key for s in sheets for key in (submitted_key(s), waiting_key(s))],
    )
    names = _names(session, {s.freelancer_id for s in sheets})
    approved = state == "approved"
    notices = []
    for sheet in sheets:
        user_id, _name = names.get(sheet.freelancer_id, (None, ""))
        notices.append(
            Notice(
                user_id,
                "timesheet.approved" if approved else "timesheet.rejected",
                f"Your timesheet for {_week(sheet)} was "
                + ("approved" if approved else "sent back"),
                f"timesheet:{sheet.id}:{state}:{_stamp(sheet.submitted_at)}",
                body=""
                if approved
                else f"The reviewer's comment: {comment or ''}\n\n"
                "Change the week and submit it again.",
                url=OWN_PATH,
            )
        )
    return notify_many(session, org_id=org_id, notices=notices)


def item_decided(session: Session, *, row, what: str, freelancer_id: int, state: str) -> int:
    """Tell the freelancer their adjustment, milestone or expense was decided (with the
    reviewer's comment when it was sent back)."""
    user_id, _name = _names(session, [freelancer_id]).get(freelancer_id, (None, ""))
    words = {"sent_back": "sent back"}.get(state, state)
    comment = row.decision_comment
    return notify_many(
        session,
        org_id=row.org_id,
        notices=[
            Notice(
                user_id,
                "timesheet.item_decided",
                f"Your {what} was {words}",
                f"{row.__tablename__}:{row.id}:{state}:{_stamp(row.decided_at)}",
                body=f"The reviewer's comment: {comment}" if comment else "",
                url=OWN_PATH,
            )
        ],
    )


# --- daily reminders (`flask fms timesheets remind`, and `flask fms notifications remind`) --


def remind_waiting(session: Session, *, org_id: int, today: date) -> int:
    """Reviewers hear once per submission that a sheet has waited WAITING_DAYS days or
    more."""
    cutoff = datetime.combine(today - timedelta(days=WAITING_DAYS), time.max, tzinfo=UTC)
    sheets = session.scalars(
        select(Timesheet)
        .where(
            Timesheet.org_id == org_id,
            Timesheet.state == "submitted",
            Timesheet.submitted_at <= cutoff,
        )
        .order_by(Timesheet.submitted_at, Timesheet.id)
    ).all()
    if not sheets:
        return 0
    reviewers = reviewers_of(session, sheets, today)
    names = _names(session, {s.freelancer_id for s in sheets})
    notices = []
    for sheet in sheets:
        user_id, name = names.get(sheet.freelancer_id, (None, ""))
        days = (today - sheet.submitted_at.astimezone(UTC).date()).days
        for reviewer in reviewers.get(sheet.id, []):
            if reviewer != user_id:
                notices.append(
                    Notice(
                        reviewer,
                        "timesheet.waiting",
                        f"{name}'s timesheet for {_week(sheet)} has waited {days} days "
                        "for your review",
                        waiting_key(sheet),
                        url=REVIEW_PATH,
                    )
                )
    return notify_many(session, org_id=org_id, notices=notices)


def last_week(session: Session, today: date) -> tuple[date, date]:
    """The week before the one `today` falls in, under the organization's week start."""
    schedule = [
        (row.effective_from, row.weekday)
        for row in session.scalars(select(WeekStart).order_by(WeekStart.effective_from))
    ]
    this_start, _ = rules.week_bounds(today, schedule)
    return rules.week_bounds(this_start - timedelta(days=1), schedule)


def missing_last_week(session: Session, *, today: date, freelancer_user_id: int | None = None):
    """Active time engagements (of one person, or all) whose last week overlaps their dates
    and has no submitted, approved or invoiced sheet: (engagement id, title, freelancer's
    user id), and last week's first day."""
    first, last = last_week(session, today)
    sent = exists().where(
        and_(
            Timesheet.engagement_id == Engagement.id,
            Timesheet.week_start == first,
            Timesheet.state.in_(rules.COUNTED_STATES),
        )
    )
    stmt = (
        select(Engagement.id, Engagement.title, Freelancer.user_id)
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(
            Engagement.state == "active",
            Engagement.kind.in_(rules.TIME_KINDS),
            Engagement.start_date <= last,
            Engagement.end_date >= first,
            Freelancer.user_id.is_not(None),
            ~sent,
        )
        .order_by(Engagement.id)
    )
    if freelancer_user_id is not None:
        stmt = stmt.where(Freelancer.user_id == freelancer_user_id)
    return session.execute(stmt).all(), first


def remind_missing(session: Session, *, org_id: int, today: date) -> int:
    """Freelancers hear once per engagement and week that last week's sheet is missing."""
    rows, first = missing_last_week(session, today=today)
    return notify_many(
        session,
        org_id=org_id,
        notices=[
            Notice(
                user_id,
                "timesheet.missing",
                f"Your timesheet for the week of {first.isoformat()} is missing",
                _missing_key(engagement_id, first),
                body=f"On “{title}”. Fill in the week and submit it.",
                url=OWN_PATH,
            )
            for engagement_id, title, user_id in rows
        ],
    )


def remind(session: Session, *, org_id: int, today: date) -> int:
    """Every timesheet reminder of one organization for one day."""
    return remind_waiting(session, org_id=org_id, today=today) + remind_missing(
        session, org_id=org_id, today=today
    )


register_reminder("timesheets.waiting", remind_waiting)
register_reminder("timesheets.missing", remind_missing)
