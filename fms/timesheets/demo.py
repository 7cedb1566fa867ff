"""The demo organization's timesheets: about twelve weeks of sheets for the demo manager's
engagements in every state, a rejection with its comment, an adjustment, milestones of a
fixed-fee engagement, expenses with small real receipt files.

Everything goes through the services (open, save, submit, approve, reject, adjust, deliver,
accept; receipts through fms.storage), so the audit log and the notifications are the real
ones. Deterministic (dates relative to today, the engagements chosen by id) and loaded
once: a second run finds the sheets and adds nothing.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms import storage
from fms.identity import services as identity
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.timesheets import expenses, milestones
from fms.timesheets import services as ts
from fms.timesheets.models import Timesheet
from fms.workforce.engagements import terms_on
from fms.workforce.models import Engagement, Freelancer

WEEKS = 12
MANAGER_EMAIL = "manager@northbridge.example"
TIME_ENGAGEMENTS = 4  # the demo manager's time engagements that get sheets
REJECTION = "Tuesday's workshop belongs to PRJ-GRID, not ADMIN: please rebook it and resubmit."
RECEIPT_KINDS = ("pdf", "png")
TASK_CODES = [("PRJ-GRID", "Grid modernisation"), ("ADMIN", "Administration")]


def _actor(session: Session, org_id: int, user_id: int) -> Actor:
    roles = session.scalar(select(Membership.roles).where(Membership.user_id == user_id))
    return Actor(user_id=user_id, org_id=org_id, roles=frozenset(roles or ()), channel="cli")


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def load_timesheets_demo(session: Session, *, actor: Actor, password: str, today: date) -> str:
    """Add the timesheets demo once; returns a one-line summary."""
    if session.scalar(select(func.count(Timesheet.id))):
        return "Timesheets demo already loaded."
    manager_id = session.scalar(select(User.id).where(User.email == MANAGER_EMAIL))
    if manager_id is None:
        return "Timesheets demo skipped: no demo manager."
    manager = _actor(session, actor.org_id, manager_id)
    chosen = _managed_engagements(session, manager_id, today)
    hourly = [e for e in chosen if e.kind == "hourly"]
    daily = [e for e in chosen if e.kind == "daily"]
    # three hourly engagements and a daily-rate one where the demo has them
    time_engagements = (hourly[:3] + daily[:1] + hourly[3:])[:TIME_ENGAGEMENTS]
    fixed = next((e for e in chosen if e.kind == "fixed"), None)
    _freelancer_logins(session, actor, password, [*time_engagements, fixed])
    for code, name in TASK_CODES:
        ts.add_task_code(session, actor=actor, code=code, name=name)
    counts = {"sheets": 0, "expenses": 0, "milestones": 0}
    for ordinal, engagement in enumerate(time_engagements):
        me = _actor(session, actor.org_id, _user_of(session, engagement))
        counts["sheets"] += _weeks_of(session, engagement, ordinal, me, manager, today)
    if time_engagements:
        first = time_engagements[0]
        me = _actor(session, actor.org_id, _user_of(session, first))
        counts["expenses"] = _expenses(session, first, me, manager, today)
    if fixed is not None:
        me = _actor(session, actor.org_id, _user_of(session, fixed))
        counts["milestones"] = _milestones(session, fixed, me, manager)
    summary = (
        f"Timesheets demo: {counts['sheets']} weekly sheets over {WEEKS} weeks (some waiting "
        f"for {MANAGER_EMAIL}, one rejected, one adjusted), {counts['milestones']} milestones, "
        f"{counts['expenses']} expenses with receipts."
    )
    return summary


def freelancer_logins(session: Session, *, besides: str) -> list[tuple[str, str, list[str]]]:
    """The demo freelancers who sign in (email, name, roles), but `besides`, by email."""
    rows = session.execute(
        select(Freelancer.email, Freelancer.display_name)
        .where(Freelancer.user_id.is_not(None), Freelancer.email != besides)
        .order_by(Freelancer.email)
    ).all()
    return [(email, name, ["freelancer"]) for email, name in rows]


def _managed_engagements(session: Session, manager_id: int, today: date) -> list[Engagement]:
    """The active engagements the demo manager manages today, oldest first."""
    active = session.scalars(
        select(Engagement)
        .where(Engagement.state == "active", Engagement.end_date > today + timedelta(days=7))
        .order_by(Engagement.start_date, Engagement.id)
    ).all()
    return [
        e
        for e in active
        if (terms := terms_on(session, e.id, today)) is not None
        and terms.hiring_manager_user_id == manager_id
    ]


def _user_of(session: Session, engagement: Engagement) -> int:
    return session.scalar(
        select(Freelancer.user_id).where(Freelancer.id == engagement.freelancer_id)
    )


def _freelancer_logins(session, actor, password, engagements) -> None:
    """A sign-in for each chosen engagement's freelancer who has none yet (the demo's own
    operator path, as for the staff), linked to their profile."""
    org = session.get(Organization, actor.org_id)
    for engagement in engagements:
        if engagement is None:
            continue
        profile = session.scalar(
            select(Freelancer).where(Freelancer.id == engagement.freelancer_id)
        )
        if profile.user_id is not None:
            continue
        user = identity.create_local_member(
            session,
            org=org,
            actor=actor,
            email=profile.email,
            name=profile.display_name,
            roles=["freelancer"],
            password=password,
        )
        profile.user_id = user.id
    session.flush()


def _entries(engagement: Engagement, week_start: date, weekly_minutes: int, age: int) -> list:
    """Monday to Friday within the engagement's dates: the weekly hours spread over the
    week (a longer Thursday now and then); daily-rate engagements book whole and half
    days."""
    days = [
        week_start + timedelta(days=i)
        for i in range(5)
        if engagement.start_date <= week_start + timedelta(days=i) <= engagement.end_date
    ]
    rows = []
    if engagement.kind == "daily":
        booked = max(1, weekly_minutes // 480)
        for i, day in enumerate(days[:booked]):
            half = i == booked - 1 and age % 3 == 1
            rows.append({"work_date": day.isoformat(), "days": "0.5" if half else "1"})
        return rows
    per_day = weekly_minutes // 5
    for i, day in enumerate(days):
        extra = 45 if i == 3 and age % 2 == 0 else 0
        rows.append(
            {
                "work_date": day.isoformat(),
                "minutes": per_day + extra - (15 if i == 4 and extra else 0),
                "task_code": "PRJ-GRID" if i < 3 else "ADMIN",
                "note": "Sprint review" if i == 4 else "",
            }
        )
    return rows


def _state_of(ordinal: int, age: int) -> str:
    """Last week: a draft on the first engagement, waiting on the others; the week before
    waiting on the second; one rejected three weeks back; everything older approved."""
    if age == 0:
        return "draft" if ordinal == 0 else "submitted"
    if age == 1 and ordinal == 1:
        return "submitted"
    if age == 2 and ordinal == 2:
        return "rejected"
    return "approved"


def _weeks_of(session, engagement, ordinal, me: Actor, manager: Actor, today: date) -> int:
    """Up to twelve weeks of the engagement's sheets, each taken to its state by the
    freelancer and the manager; an adjustment on the first engagement's fourth week."""
    made = 0
    for age in range(WEEKS - 1, -1, -1):
        week_start = _monday(today) - timedelta(weeks=age + 1)
        if (
            week_start < engagement.start_date
            or week_start + timedelta(days=4) > engagement.end_date
        ):
            continue
        terms = terms_on(session, engagement.id, week_start)
        sheet = ts.open_timesheet(
            session, actor=me, engagement_id=engagement.id, week_start=week_start
        )
        entries = _entries(engagement, week_start, terms.weekly_minutes, age)
        ts.save_entries(session, actor=me, timesheet_id=sheet.id, entries=entries)
        made += 1
        state = _state_of(ordinal, age)
        if state == "draft":
            continue
        ts.submit_timesheet(session, actor=me, timesheet_id=sheet.id, today=today)
        if state == "approved":
            ts.approve_timesheet(session, actor=manager, timesheet_id=sheet.id)
        elif state == "rejected":
            ts.reject_timesheet(session, actor=manager, timesheet_id=sheet.id, comment=REJECTION)
        if ordinal == 0 and age == 3 and engagement.kind != "daily":
            adjustment = ts.create_adjustment(
                session,
                actor=me,
                timesheet_id=sheet.id,
                work_date=week_start + timedelta(days=1),
                minutes=60,
                reason="The evening on-call hour on Tuesday was missing.",
            )
            ts.submit_adjustment(session, actor=me, adjustment_id=adjustment.id)
            ts.decide_adjustment(session, actor=manager, adjustment_id=adjustment.id, approve=True)
    return made


# --- receipts: small real files (a one-page PDF and a PNG), made here, no binary assets ------


def receipt_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF showing `lines` (ASCII) in Helvetica."""
    text = (
        "BT /F1 11 Tf 56 780 Td 14 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def receipt_png(width: int = 48, height: int = 64) -> bytes:
    """A small valid PNG: a grey slip with darker 'lines' of text."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00"
        + bytes(90 if (y % 8 in (2, 3) and 6 < x < width - 6) else 235 for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _expenses(session, engagement, me: Actor, manager: Actor, today: date) -> int:
    """Three expenses of the first engagement with stored receipts: a train ticket
    approved, a hotel night waiting for the manager, a dinner still a draft."""
    week = _monday(today) - timedelta(weeks=2)
    plans = [
        ("travel", "89.90", "EUR", "Train Berlin - Hamburg, site visit", "ticket.pdf", "approved"),
        ("accommodation", "124.00", "EUR", "Hotel night, Hamburg", "hotel.png", "submitted"),
        ("meals", "23.50", "EUR", "Dinner on the site visit", "dinner.pdf", "draft"),
    ]
    made = 0
    for offset, (category, amount, currency, description, name, state) in enumerate(plans):
        spent_on = max(week + timedelta(days=offset + 1), engagement.start_date)
        data = (
            receipt_png()
            if name.endswith(".png")
            else receipt_pdf([description, f"{spent_on.isoformat()}  {amount} {currency}"])
        )
        stored = storage.store(
            session,
            org_id=engagement.org_id,
            filename=name,
            allowed_kinds=RECEIPT_KINDS,
            max_bytes=1_000_000,
            data=data,
            created_by=me.user_id,
        )
        expense = expenses.create_expense(
            session,
            actor=me,
            engagement_id=engagement.id,
            spent_on=spent_on,
            category=category,
            amount=amount,
            currency=currency,
            description=description,
            receipt_sha256=stored.sha256,
            receipt_name=stored.original_name,
        )
        made += 1
        if state == "draft":
            continue
        expenses.submit_expense(session, actor=me, expense_id=expense.id)
        if state == "approved":
            expenses.decide_expense(session, actor=manager, expense_id=expense.id, approve=True)
    return made


def _milestones(session, engagement, me: Actor, manager: Actor) -> int:
    """A fixed-fee engagement's three deliverables: accepted, delivered (waiting for the
    manager) and still to do."""
    terms = terms_on(session, engagement.id, engagement.start_date)
    share = (terms.budget_cap / 4).quantize(Decimal("0.01"))  # three quarters of the cap
    plans = [("Discovery report", 30, "accepted"), ("Pilot roll-out", 60, "delivered"),
             ("Final handover", 120, "draft")]  # fmt: skip
    for title, days, state in plans:
        due = min(engagement.start_date + timedelta(days=days), engagement.end_date)
        row = milestones.create_milestone(
            session,
            actor=manager,
            engagement_id=engagement.id,
            title=title,
            amount=str(share),
            due_date=due,
        )
        if state == "draft":
            continue
        milestones.deliver_milestone(session, actor=me, milestone_id=row.id)
        if state == "accepted":
            milestones.decide_milestone(session, actor=manager, milestone_id=row.id, accept=True)
    return len(plans)
