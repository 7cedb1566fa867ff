"""Timesheet notifications: the reviewer hears of a submitted week (and their delegate that
day), the freelancer of the decision with its comment — once, in the inbox and by mail as
each person chose; reminders are sent once ever, whatever day the job runs (time travel);
the Overview items."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import time_machine
from sqlalchemy import select

from fms.identity.models import User
from fms.notifications import services as inbox
from fms.notifications.models import Notification, OutboxMessage
from fms.notifications.sender import send_due
from fms.tenancy import scope_session
from fms.timesheets import milestones, overview
from fms.timesheets import services as ts
from tests.factories_timesheets import MONDAY, delegate
from tests.test_outbox import Mailbox, smtp_server  # noqa: F401 - the loopback SMTP fixture


def _notes(session, actor, kind=None):
    query = select(Notification).where(Notification.user_id == actor.user_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return session.scalars(query.order_by(Notification.id)).all()


def _mails(session, actor):
    email = session.get(User, actor.user_id).email
    return session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email)).all()


def test_a_week_reaches_its_reviewers_and_the_decision_its_freelancer(session, world):
    today = date(2026, 3, 9)
    delegate(session, world, today, today + timedelta(days=3))
    sheet = world.submit(world.fill(), today=today).sheet
    for reviewer in (world.manager, world.stand_in):
        (note,) = _notes(session, reviewer, "timesheet.submitted")
        assert "week of 2026-03-02 waits for your review" in note.title
        assert note.url == "/timesheets/review" and note.read_at is None
        assert len(_mails(session, reviewer)) == 1  # "submitted" is mail by default
    assert _notes(session, world.manager2) == [] and _notes(session, world.me) == []

    ts.reject_timesheet(
        session, actor=world.manager, timesheet_id=sheet.id, comment="Wednesday is a holiday"
    )
    (rejected,) = _notes(session, world.me, "timesheet.rejected")
    assert "sent back" in rejected.title and "Wednesday is a holiday" in rejected.body
    (mail,) = _mails(session, world.me)
    assert "Wednesday is a holiday" in mail.body_text
    # decided: the reviewers' notifications about it are settled
    assert all(n.read_at is not None for n in _notes(session, world.stand_in))

    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        entries=[{"work_date": "2026-03-02", "minutes": 240}],
    )
    world.submit(sheet, today=today)  # edited and submitted again: a new event
    assert rejected.read_at is not None  # the rejection is dealt with
    assert len(_notes(session, world.manager, "timesheet.submitted")) == 2
    ts.approve_timesheet(session, actor=world.stand_in, timesheet_id=sheet.id, today=today)
    (approved,) = _notes(session, world.me, "timesheet.approved")
    assert approved.title == "Your timesheet for the week of 2026-03-02 was approved"
    assert len(_mails(session, world.me)) == 1  # approvals: inbox only by default


def test_a_freelancer_who_chose_mail_gets_approvals_by_mail(session, world):
    inbox.set_preferences(session, actor=world.me, choices={"timesheet.approved": "mail"})
    sheets = [world.submit(world.fill(MONDAY + timedelta(weeks=i))).sheet for i in range(2)]
    result = ts.bulk_approve(session, actor=world.manager, timesheet_ids=[s.id for s in sheets])
    assert len(result.approved) == 2
    assert len(_notes(session, world.me, "timesheet.approved")) == 2
    assert len(_mails(session, world.me)) == 2


def test_milestone_decisions_reach_the_freelancer(session, world):
    fixed = world.fixed_engagement()
    row = milestones.create_milestone(
        session,
        actor=world.procurement,
        engagement_id=fixed.id,
        title="Design",
        amount="100.00",
        due_date="2026-06-30",
    )
    milestones.deliver_milestone(session, actor=world.me, milestone_id=row.id)
    milestones.decide_milestone(
        session, actor=world.manager, milestone_id=row.id, accept=False, comment="Colours"
    )
    (note,) = _notes(session, world.me, "timesheet.item_decided")
    assert note.title == "Your milestone “Design” was sent back"
    assert "Colours" in note.body


def test_the_rejection_reaches_a_real_smtp_server_once(app, session, world, smtp_server):  # noqa: F811
    box = smtp_server(Mailbox())
    sheet = world.submit(world.fill()).sheet
    ts.reject_timesheet(session, actor=world.manager, timesheet_id=sheet.id, comment="Split it")
    session.commit()
    send_due(session)
    send_due(session)
    to_freelancer = [
        m for _f, to, m in box.accepted if to == [session.get(User, world.me.user_id).email]
    ]
    (mail,) = to_freelancer
    assert mail["Subject"] == "Your timesheet for the week of 2026-03-02 was sent back"
    body = mail.get_body(("plain",)).get_content()
    assert "Split it" in body and "https://fms.example.com/timesheets/" in body


def _at(day: date):
    return time_machine.travel(datetime(day.year, day.month, day.day, 9, tzinfo=UTC), tick=False)


def test_reminders_are_sent_once_ever(app, session, world):
    other = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
    )
    with _at(date(2026, 3, 6)):
        world.submit(world.fill(), today=date(2026, 3, 6))  # the week of 2 March
    session.commit()
    runner = app.test_cli_runner()

    def remind(*args):
        result = runner.invoke(args=["fms", "timesheets", "remind", *args])
        assert result.exit_code == 0, result.output
        return result.output

    with _at(date(2026, 3, 9)):
        # the reviewer: waiting since the 6th; the freelancer: `other` has no week of 2 March
        assert "2 reminder(s) sent." in remind()
        assert "0 reminder(s) sent." in remind()  # a second run, or a retried job
    with _at(date(2026, 3, 11)):
        assert "0 reminder(s) sent." in remind()
    # a week later: the week of 9 March is missing on both engagements, once each
    assert "2 reminder(s) sent." in remind("--today", "2026-03-17")
    assert "0 reminder(s) sent." in remind("--today", "2026-03-18")
    scope_session(session, world.org.id)  # the command leaves the session unscoped
    (waiting,) = _notes(session, world.manager, "timesheet.waiting")
    assert "has waited 3 days" in waiting.title
    missing = _notes(session, world.me, "timesheet.missing")
    assert [n.title for n in missing] == [
        "Your timesheet for the week of 2026-03-02 is missing",
        "Your timesheet for the week of 2026-03-09 is missing",
        "Your timesheet for the week of 2026-03-09 is missing",
    ]
    assert {n.dedupe_key.split(":")[2] for n in missing} == {
        str(world.engagement.id),
        str(other.id),
    }


def test_the_overview_shows_waiting_and_missing_sheets(session, world):
    world.submit(world.fill(MONDAY))
    today = MONDAY + timedelta(weeks=2)  # the week of 2 March submitted, 9 March missing
    (waiting,) = overview.items(session, actor=world.manager, today=today)
    assert (waiting.title, waiting.url) == ("1 timesheet waiting for you", "/timesheets/review")
    assert overview.items(session, actor=world.manager2, today=today) == []
    (everyone,) = overview.items(session, actor=world.procurement, today=today)
    assert everyone.count == 1 and everyone.detail == "Oldest: the week of 2026-03-02"
    (missing,) = overview.items(session, actor=world.me, today=today)
    assert (missing.title, missing.url, missing.count) == (
        "Last week's sheet is missing",
        "/timesheets/",
        1,
    )
    assert overview.items(session, actor=world.me, today=MONDAY + timedelta(weeks=1)) == []


def test_the_waiting_reminder_follows_the_acting_day_for_delegates(session, world):
    from fms.timesheets import notices

    with _at(date(2026, 3, 20)):  # submitted then, whatever the clock says now
        world.submit(world.fill())
    delegate(session, world, date(2026, 3, 20), date(2026, 3, 31))
    assert notices.remind_waiting(session, org_id=world.org.id, today=date(2027, 1, 4)) == 1
    assert notices.remind_waiting(session, org_id=world.org.id, today=date(2027, 1, 5)) == 0
    assert _notes(session, world.stand_in) == []  # their delegation was over that day
