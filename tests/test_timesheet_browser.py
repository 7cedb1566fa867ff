"""The timesheet pages in a real browser: a freelancer fills a week on a 390-px phone with
the keyboard alone and submits it; a manager approves a queue in bulk at 1440 px.

Headless Debian Chromium through Playwright, on a live server over committed data.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from fms.identity import services as identity
from fms.identity.models import User
from fms.identity.web_session import TOKEN_KEY
from fms.timesheets import services as ts
from fms.timesheets.models import Timesheet, TimesheetEntry
from tests.factories import as_org
from tests.factories_timesheets import MONDAY

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def session(committed):
    """The factories write committed rows, so the live server's threads see them."""
    return committed


def _page(app, browser, session, base, org, user_id, viewport):
    user = session.get(User, user_id)
    with as_org(session, org.id):
        started = identity.start_session(
            session, user=user, method="password", ip="127.0.0.1", user_agent="pw", org_id=org.id
        )
    session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps({TOKEN_KEY: started.token})
    context = browser.new_context(viewport=viewport, locale="en-US")
    context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": base}])
    page = context.new_page()
    page.fms_errors = []
    page.on("pageerror", lambda exc: page.fms_errors.append(str(exc)))
    return page


def test_a_freelancer_fills_a_week_on_a_phone_with_the_keyboard(
    app, live_fms, world, session, chromium
):
    with as_org(session, world.org.id):
        sheet = ts.open_timesheet(
            session, actor=world.me, engagement_id=world.engagement.id, week_start=MONDAY
        )
        sheet_id = sheet.id
    session.commit()  # nothing read after this keeps SQLite locked for the live server
    page = _page(app, chromium, session, live_fms, world.org, world.me.user_id, PHONE)
    keys = page.keyboard
    try:
        page.goto(f"{live_fms}/timesheets/{sheet_id}")
        # one card per day: Tuesday's card sits below Monday's, not beside it
        monday = page.locator("#day-0").bounding_box()
        tuesday = page.locator("#day-1").bounding_box()
        assert tuesday["y"] > monday["y"] + monday["height"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.focus("#time-0")
        keys.type("8:00")
        keys.press("ArrowRight")  # the caret is at the end: on to Tuesday
        keys.type("7.5")
        keys.press("ArrowRight")
        keys.type("7:45")
        keys.press("ArrowDown")  # Wednesday's task code, then Tab to its note
        assert page.evaluate("document.activeElement.id") == "task-2"
        keys.press("Tab")
        keys.type("Workshop")
        assert page.locator("[data-total-week]").inner_text() == "23:15"  # live total
        assert page.locator('[data-total-day="1"]').inner_text() == "7:30"
        with page.expect_navigation():
            keys.press("Enter")  # Enter saves the draft
        assert "Draft saved." in page.content()
        page.focus("button[value=submit]")
        with page.expect_navigation():
            keys.press("Enter")
        assert "Submitted for approval" in page.content()
        assert page.locator("#time-0").count() == 0  # read-only now
        assert not page.fms_errors
    finally:
        page.context.close()
    session.expire_all()
    with as_org(session, world.org.id):
        stored = session.get(Timesheet, sheet_id)
        assert stored.state == "submitted"
        minutes = session.scalars(
            select(TimesheetEntry.minutes)
            .where(TimesheetEntry.timesheet_id == sheet_id)
            .order_by(TimesheetEntry.work_date)
        ).all()
    assert minutes == [480, 450, 465]


def test_a_manager_approves_the_queue_in_bulk(app, live_fms, world, session, chromium):
    with as_org(session, world.org.id):
        for week in range(4):
            world.submit(world.fill(week_start=MONDAY + timedelta(weeks=week), minutes=(480, 420)))
    session.commit()
    page = _page(app, chromium, session, live_fms, world.org, world.manager.user_id, WIDE)
    try:
        page.goto(f"{live_fms}/timesheets/review")
        assert page.locator("input[name=ids]").count() == 4
        page.check("[data-fms-select-all]")
        page.click("text=Approve selected…")
        page.wait_for_url("**/timesheets/review/approve?**")
        assert "Approve 4 timesheets?" in page.content()
        assert "60:00 h" in page.content()
        page.click("button:has-text('Approve 4 timesheets')")
        page.wait_for_url("**/timesheets/review")
        content = page.content()
        assert "Approved 4 timesheets." in content and "Nothing waiting for you" in content
        assert not page.fms_errors
    finally:
        page.context.close()
    session.expire_all()
    with as_org(session, world.org.id):
        states = set(session.scalars(select(Timesheet.state)))
    assert states == {"approved"}


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def test_expense_milestone_and_a_week_sent_back_reach_the_freelancer(
    app, live_fms, world, session, chromium, tmp_path
):
    """On a phone the freelancer records an expense with its receipt and delivers a
    milestone with its deliverable; the manager sends a week back with a comment at
    1440 px; the freelancer finds it in the inbox."""
    from fms.timesheets import milestones
    from fms.timesheets.models import Expense, Milestone

    with as_org(session, world.org.id):
        fixed = world.make_engagement(
            world.org, freelancer=world.freelancer, manager_id=world.manager.user_id, kind="fixed"
        )
        milestone_id = milestones.create_milestone(
            session,
            actor=world.procurement,
            engagement_id=fixed.id,
            title="Design system",
            amount="5000",
            due_date="2026-06-30",
        ).id
        sheet_id = world.submit(world.fill(minutes=(480,))).sheet.id
        engagement_id, fixed_id = world.engagement.id, fixed.id
    session.commit()
    receipt = tmp_path / "train.pdf"
    receipt.write_bytes(PDF)
    phone = _page(app, chromium, session, live_fms, world.org, world.me.user_id, PHONE)
    try:
        phone.goto(f"{live_fms}/timesheets/engagements/{engagement_id}#expenses")
        phone.fill("#spent_on", "2026-03-03")
        phone.select_option("#category", "travel")
        phone.fill("#amount", "42.50")
        phone.fill("#currency", "EUR")
        phone.set_input_files("#receipt", str(receipt))
        with phone.expect_navigation():
            phone.click("button:has-text('Save expense')")
        assert "Expense saved as a draft" in phone.content()
        with phone.expect_navigation():
            phone.click("#expenses button:has-text('Submit')")
        phone.goto(f"{live_fms}/timesheets/engagements/{fixed_id}#milestones")
        phone.set_input_files(f"#deliverable-{milestone_id}", str(receipt))
        with phone.expect_navigation():
            phone.click("button:has-text('Mark delivered')")
        assert "Marked delivered" in phone.content()
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert not phone.fms_errors
    finally:
        phone.context.close()

    wide = _page(app, chromium, session, live_fms, world.org, world.manager.user_id, WIDE)
    try:
        wide.goto(f"{live_fms}/timesheets/{sheet_id}#decision")
        wide.fill("#comment", "Monday was a public holiday: please rebook it.")
        with wide.expect_navigation():
            wide.click("#decision button:has-text('Send back')")
        assert not wide.fms_errors
    finally:
        wide.context.close()

    phone = _page(app, chromium, session, live_fms, world.org, world.me.user_id, PHONE)
    try:
        phone.goto(f"{live_fms}/inbox")
        assert "Monday was a public holiday" in phone.content()
    finally:
        phone.context.close()
    session.expire_all()
    with as_org(session, world.org.id):
        assert session.scalar(select(Expense.state)) == "submitted"
        delivered = session.get(Milestone, milestone_id)
        assert delivered.state == "delivered" and delivered.attachment_file_id is not None
        assert session.get(Timesheet, sheet_id).state == "rejected"
