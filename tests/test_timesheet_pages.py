"""The timesheet pages as people use them: a freelancer fills a week in the grid and
submits it, a manager approves in bulk or sends a week back, expenses with receipts,
milestones, corrections and the settings — and every refusal says why and stores nothing."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.identity.models import User
from fms.storage import StoredFile
from fms.timesheets import services as ts
from fms.timesheets.forms import parse_duration, parse_signed_duration
from fms.timesheets.models import Adjustment, Expense, Milestone, TaskCode, Timesheet
from fms.timesheets.models import TimesheetEntry as Entry
from tests.factories import as_org
from tests.factories_timesheets import MONDAY

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


@pytest.fixture
def web(app, session, sign_in, world):
    """Test clients signed in as the world's people: web('me'), web('manager')..."""

    def client(who: str):
        actor = getattr(world, who)
        c = app.test_client()
        sign_in(c, session.get(User, actor.user_id), world.org)
        return c

    session.commit()
    return client


def _open(me, week=MONDAY, engagement_id=None, world=None):
    response = me.post_form(
        "/timesheets/open",
        page="/timesheets/",
        data={
            "engagement_id": engagement_id or world.engagement.id,
            "week_start": week.isoformat(),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _grid(**cells):
    """time-0=... for the posted grid (days are indexes from the week's first day)."""
    return {"action": "save", **{k.replace("_", "-"): v for k, v in cells.items()}}


def _entries(session, sheet_id):
    return session.scalars(
        select(Entry).where(Entry.timesheet_id == sheet_id).order_by(Entry.work_date)
    ).all()


def test_time_is_parsed_strictly():
    assert parse_duration("7:30") == parse_duration("7.5") == 450
    assert parse_duration("") == 0 and parse_duration("0:05") == 5
    for bad in ("seven", "7h", "7,5", "-1", "7:60", "١:٠٠", "7.33", "1e1"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_signed_duration("-0:45") == -45 and parse_signed_duration("+1.5") == 90


def test_a_freelancer_fills_a_week_and_submits_it(web, world, session):
    me = web("me")
    assert "No engagement" not in me.get("/timesheets/").get_data(as_text=True)
    sheet_id = _open(me, world=world)
    page = me.get(f"/timesheets/{sheet_id}").get_data(as_text=True)
    assert 'name="time-0"' in page and 'for="time-0"' in page
    data = _grid(time_0="8:00", time_1="7.5", time_2="7:45", note_2="Workshop")
    data["action"] = "submit"
    response = me.post(f"/timesheets/{sheet_id}", data=data)
    assert response.status_code == 302
    shown = me.get(response.headers["Location"]).get_data(as_text=True)
    assert "Submitted for approval" in shown
    assert "23:15" in shown  # the week's total, rendered by the server
    sheet = session.get(Timesheet, sheet_id)
    session.refresh(sheet)
    assert sheet.state == "submitted"
    assert [e.minutes for e in _entries(session, sheet_id)] == [480, 450, 465]
    assert 'name="time-0"' not in shown  # read-only while submitted


def test_text_in_a_time_cell_is_an_inline_error_and_nothing_is_stored(web, world, session):
    me = web("me")
    sheet_id = _open(me, world=world)
    data = _grid(time_0="8:00", time_1="eight", time_2="25:00")
    response = me.post(f"/timesheets/{sheet_id}", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Hours as h:mm (7:30) or decimal hours (7.5)." in page
    assert "From 0 to 1440 minutes (24 hours) a day." in page  # both errors at once
    assert 'id="time-1"' in page and 'aria-invalid="true"' in page
    assert 'value="eight"' in page  # what was typed stays to be corrected
    assert _entries(session, sheet_id) == []


def test_a_25_hour_day_is_refused_with_the_rule(web, world, session):
    me = web("me")
    sheet_id = _open(me, world=world)
    response = me.post(f"/timesheets/{sheet_id}", data=_grid(time_0="25:00"))
    assert response.status_code == 422
    assert "24 hours" in response.get_data(as_text=True)
    assert _entries(session, sheet_id) == []


def test_two_engagements_over_24_hours_are_refused_at_submission(web, world, session):
    with as_org(session, world.org.id):
        other = world.make_engagement(
            world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
        )
        first = world.fill(minutes=(900,), engagement=other)
        world.submit(first)
    session.commit()
    me = web("me")
    sheet_id = _open(me, world=world)
    data = _grid(time_0="10:00")
    data["action"] = "submit"
    response = me.post(f"/timesheets/{sheet_id}", data=data, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "not submitted" in page and "24-hour day" in page
    sheet = session.get(Timesheet, sheet_id)
    session.refresh(sheet)
    assert sheet.state == "draft"  # the time typed is kept as a draft
    assert [e.minutes for e in _entries(session, sheet_id)] == [600]


def test_copy_last_week_fills_the_empty_days(web, world, session):
    with as_org(session, world.org.id):
        session.add(TaskCode(org_id=world.org.id, code="PRJ-1", name="Relaunch"))
        session.flush()
        world.fill(minutes=(480, 240), task_code="PRJ-1", note="Sprint")
    session.commit()
    me = web("me")
    sheet_id = _open(me, week=MONDAY + timedelta(weeks=1), world=world)
    response = me.post(f"/timesheets/{sheet_id}/copy-last-week")
    assert response.status_code == 302
    copied = _entries(session, sheet_id)
    assert [(e.minutes, e.note) for e in copied] == [(480, "Sprint"), (240, "Sprint")]
    assert copied[0].work_date == MONDAY + timedelta(weeks=1)


def test_a_manager_approves_in_bulk_after_a_confirmation(web, world, session):
    from tests.factories_timesheets import add_submitted_sheets

    with as_org(session, world.org.id):
        world.set_terms(budget_cap=Decimal("10000"))
        sheets = add_submitted_sheets(session, world, 3)
    session.commit()
    manager = web("manager")
    queue = manager.get("/timesheets/review")
    assert queue.status_code == 200
    page = queue.get_data(as_text=True)
    assert page.count('name="ids"') == 3 and "Approve selected" in page
    # each row links its week and approves it there (URLs built once for the page)
    first = sheets[0].id
    assert f'href="/timesheets/{first}"' in page
    assert f'action="/timesheets/{first}/approve"' in page
    # the budget column is filled in from its own request: 3 x 8 h at 90 = 2,160 of 10,000
    assert f'data-budget-for="{world.engagement.id}"' in page
    budgets = manager.get("/timesheets/review/budgets").get_json()
    assert budgets == {str(world.engagement.id): 21}
    assert web("me").get("/timesheets/review/budgets").status_code == 403
    ids = [s.id for s in sheets[:2]]
    confirm = manager.get("/timesheets/review/approve", query_string={"ids": ids})
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Approve 2 timesheets" in text
    assert "16:00 h" in text and "€1,440.00" in text
    assert all(session.get(Timesheet, i).state == "submitted" for i in ids)  # nothing yet
    done = manager.post("/timesheets/review/approve", data={"ids": ids}, follow_redirects=True)
    assert "Approved 2 timesheets." in done.get_data(as_text=True)
    session.expire_all()
    assert [session.get(Timesheet, s.id).state for s in sheets] == [
        "approved",
        "approved",
        "submitted",
    ]


def test_bulk_approval_reports_what_changed_meanwhile(web, world, session):
    from tests.factories_timesheets import add_submitted_sheets

    with as_org(session, world.org.id):
        sheets = add_submitted_sheets(session, world, 2)
        ts.approve_timesheet(session, actor=world.procurement, timesheet_id=sheets[0].id)
    session.commit()
    done = web("manager").post(
        "/timesheets/review/approve", data={"ids": [s.id for s in sheets]}, follow_redirects=True
    )
    text = done.get_data(as_text=True)
    assert "Approved 1 timesheet." in text and "1 had changed meanwhile" in text


def test_rejecting_needs_a_comment_which_the_freelancer_then_sees(web, world, session):
    with as_org(session, world.org.id):
        sheet = world.fill(minutes=(480,))
        world.submit(sheet)
    session.commit()
    manager = web("manager")
    refused = manager.post(f"/timesheets/{sheet.id}/reject", data={"comment": "  "})
    assert refused.status_code == 422
    assert "Say why you send it back." in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Timesheet, sheet.id).state == "submitted"
    sent = manager.post(f"/timesheets/{sheet.id}/reject", data={"comment": "Tuesday is a holiday"})
    assert sent.status_code == 302
    mine = web("me")
    assert "Tuesday is a holiday" in mine.get("/timesheets/").get_data(as_text=True)
    page = mine.get(f"/timesheets/{sheet.id}").get_data(as_text=True)
    assert "Sent back" in page and "Tuesday is a holiday" in page
    assert 'name="time-0"' in page  # editable again


def test_the_queue_says_when_nothing_is_waiting(web):
    page = web("manager").get("/timesheets/review").get_data(as_text=True)
    assert "Nothing waiting for you" in page


def test_another_organizations_sheet_and_receipt_are_not_found(
    app, web, world, session, make_org, make_member, sign_in
):
    me = web("me")
    with as_org(session, world.org.id):
        sheet = world.fill(minutes=(60,))
    session.commit()
    response = me.post_form(
        f"/timesheets/engagements/{world.engagement.id}/expenses",
        page=f"/timesheets/engagements/{world.engagement.id}",
        data={
            "spent_on": MONDAY.isoformat(),
            "category": "travel",
            "amount": "42.50",
            "currency": "EUR",
            "receipt": (io.BytesIO(PDF), "train.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    expense = session.scalar(select(Expense))
    receipt = me.get(f"/timesheets/expenses/{expense.id}/receipt")
    assert receipt.status_code == 200 and receipt.data == PDF
    assert receipt.headers["X-Content-Type-Options"] == "nosniff"

    other_org = make_org()
    outsider = make_member(other_org, roles=("org_admin", "procurement"))
    session.commit()
    stranger = app.test_client()
    sign_in(stranger, session.get(User, outsider.user_id), other_org)
    for url in (
        f"/timesheets/{sheet.id}",
        f"/timesheets/expenses/{expense.id}/receipt",
        f"/timesheets/engagements/{world.engagement.id}",
    ):
        assert stranger.get(url).status_code == 404, url


def test_a_receipt_that_is_an_executable_renamed_pdf_is_refused(web, world, session):
    me = web("me")
    files_before = session.scalar(select(func.count()).select_from(StoredFile))
    response = me.post_form(
        f"/timesheets/engagements/{world.engagement.id}/expenses",
        page=f"/timesheets/engagements/{world.engagement.id}",
        data={
            "spent_on": MONDAY.isoformat(),
            "category": "meals",
            "amount": "12.00",
            "currency": "EUR",
            "receipt": (io.BytesIO(EXE), "receipt.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "not an allowed type" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Expense)) == 0
    assert session.scalar(select(func.count()).select_from(StoredFile)) == files_before


def test_an_expense_is_submitted_then_approved(web, world, session):
    me = web("me")
    hub = f"/timesheets/engagements/{world.engagement.id}"
    me.post_form(
        f"{hub}/expenses",
        page=hub,
        data={"spent_on": "2026-03-03", "category": "travel", "amount": "80", "currency": "eur"},
    )
    expense = session.scalar(select(Expense))
    assert expense.currency == "EUR" and expense.state == "draft"
    assert me.post(f"/timesheets/expenses/{expense.id}/submit").status_code == 302
    manager = web("manager")
    refused = manager.post(
        f"/timesheets/expenses/{expense.id}/decide",
        data={"decision": "reject"},
        follow_redirects=True,
    )
    assert "Nothing changed" in refused.get_data(as_text=True)
    assert "Expense · Travel" in manager.get("/timesheets/review").get_data(as_text=True)
    done = manager.post(
        f"/timesheets/expenses/{expense.id}/decide", data={"decision": "approve", "back": "review"}
    )
    assert done.headers["Location"].endswith("/timesheets/review#items")
    session.expire_all()
    assert session.get(Expense, expense.id).state == "approved"
    assert "Expense · Travel" not in manager.get("/timesheets/review").get_data(as_text=True)


def test_milestones_are_set_delivered_and_accepted(web, world, session):
    with as_org(session, world.org.id):
        fixed = world.make_engagement(
            world.org, freelancer=world.freelancer, manager_id=world.manager.user_id, kind="fixed"
        )
    session.commit()
    hub = f"/timesheets/engagements/{fixed.id}"
    procurement = web("procurement")
    created = procurement.post_form(
        f"{hub}/milestones",
        page=hub,
        data={"title": "Design system", "amount": "5000", "due_date": "2026-06-30"},
    )
    assert created.status_code == 302
    milestone = session.scalar(select(Milestone))
    me = web("me")
    assert "Mark delivered" in me.get(hub).get_data(as_text=True)
    deliver = f"/timesheets/milestones/{milestone.id}/deliver"
    # a program renamed .pdf is refused: nothing stored, nothing delivered
    refused = me.post(
        deliver,
        data={"deliverable": (io.BytesIO(EXE), "design.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Not delivered" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Milestone, milestone.id).state == "draft"
    assert session.scalar(select(func.count()).select_from(StoredFile)) == 0
    me.post(
        deliver,
        data={"deliverable": (io.BytesIO(PDF), "design.pdf")},
        content_type="multipart/form-data",
    )
    session.expire_all()
    delivered = session.get(Milestone, milestone.id)
    assert delivered.state == "delivered" and delivered.attachment_file_id is not None
    download = f"/timesheets/milestones/{milestone.id}/deliverable"
    manager = web("manager")
    assert manager.get(download).get_data() == PDF
    web("manager").post(
        f"/timesheets/milestones/{milestone.id}/decide", data={"decision": "accept"}
    )
    session.expire_all()
    assert session.get(Milestone, milestone.id).state == "accepted"


def test_a_correction_to_an_approved_week_goes_through_approval(web, world, session):
    with as_org(session, world.org.id):
        sheet = world.fill(minutes=(480,))
        world.submit(sheet)
        ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    session.commit()
    me = web("me")
    page = f"/timesheets/{sheet.id}"
    bad = me.post_form(
        f"{page}/adjustments",
        page=page,
        data={"work_date": MONDAY.isoformat(), "kind": "minutes", "value": "-9:00", "reason": "x"},
    )
    assert bad.status_code == 422 and "Out of range for this day" in bad.get_data(as_text=True)
    made = me.post_form(
        f"{page}/adjustments",
        page=page,
        data={
            "work_date": MONDAY.isoformat(),
            "kind": "minutes",
            "value": "+1:00",
            "reason": "Call",
        },
    )
    assert made.status_code == 302
    adjustment = session.scalar(select(Adjustment))
    assert adjustment.minutes == 60
    me.post(f"/timesheets/adjustments/{adjustment.id}/submit")
    manager = web("manager")
    assert "Call" in manager.get("/timesheets/review").get_data(as_text=True)
    manager.post(f"/timesheets/adjustments/{adjustment.id}/decide", data={"decision": "approve"})
    session.expire_all()
    assert session.get(Adjustment, adjustment.id).state == "approved"


def test_settings_week_start_and_task_codes(app, web, world, session, make_member, sign_in):
    admin = make_member(world.org, roles=("org_admin",))
    session.commit()
    c = app.test_client()
    sign_in(c, session.get(User, admin.user_id), world.org)
    assert c.get("/timesheets/settings").status_code == 200
    done = c.post(
        "/timesheets/settings/week-start", data={"week_start": "6"}, follow_redirects=True
    )
    assert re.search(
        r"Weeks will start on Sunday from \d{4}-\d\d-\d\d", done.get_data(as_text=True)
    )
    bad = c.post("/timesheets/settings/week-start", data={"week_start": "x"})
    assert bad.status_code == 422
    added = c.post_form(
        "/timesheets/settings/task-codes",
        page="/timesheets/settings",
        data={"code": "OPS", "name": "Operations"},
    )
    assert added.status_code == 302
    code = session.scalar(select(TaskCode).where(TaskCode.code == "OPS"))
    c.post(f"/timesheets/settings/task-codes/{code.id}/active")
    session.expire_all()
    assert session.get(TaskCode, code.id).is_active is False
    assert web("me").get("/timesheets/settings").status_code == 403


def test_daily_rate_engagements_record_full_or_half_days(web, world, session):
    with as_org(session, world.org.id):
        daily = world.make_engagement(
            world.org, freelancer=world.freelancer, manager_id=world.manager.user_id, kind="daily"
        )
    session.commit()
    me = web("me")
    sheet_id = _open(me, engagement_id=daily.id, world=world)
    page = me.get(f"/timesheets/{sheet_id}").get_data(as_text=True)
    assert 'name="days-0"' in page and "Half day" in page
    me.post(f"/timesheets/{sheet_id}", data={"action": "save", "days-0": "1", "days-1": "0.5"})
    assert [e.half_days for e in _entries(session, sheet_id)] == [2, 1]
    assert me.post(f"/timesheets/{sheet_id}", data={"days-0": "3"}).status_code == 422


def test_a_week_opens_on_its_first_day_only(web, world):
    me = web("me")
    response = me.post_form(
        "/timesheets/open",
        page="/timesheets/",
        data={"engagement_id": world.engagement.id, "week_start": "2026-03-03"},
    )
    assert response.status_code == 422
    assert "that week starts on 2026-03-02" in response.get_data(as_text=True)
    first = _open(me, world=world)
    assert _open(me, world=world) == first  # the same week again: to the sheet that exists


def test_submitting_near_the_budget_cap_warns(web, world, session):
    from decimal import Decimal

    with as_org(session, world.org.id):
        world.set_terms(budget_cap=Decimal("1000"))
    session.commit()
    me = web("me")
    sheet_id = _open(me, world=world)
    data = _grid(time_0="8:00", time_1="1:00")
    data["action"] = "submit"
    page = me.post(f"/timesheets/{sheet_id}", data=data, follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "Submitted for approval" in text and "80 % or more" in text


def test_a_stand_in_reviews_while_the_delegation_covers_today(web, world, session):
    from tests.factories_timesheets import add_submitted_sheets, delegate

    today = date.today()  # noqa: DTZ011 - the pages act on the organization's today
    with as_org(session, world.org.id):
        sheets = add_submitted_sheets(session, world, 1)
        delegate(session, world, today - timedelta(days=1), today + timedelta(days=1))
    session.commit()
    stand_in = web("stand_in")
    assert stand_in.get("/timesheets/review").get_data(as_text=True).count('name="ids"') == 1
    page = stand_in.get(f"/timesheets/{sheets[0].id}").get_data(as_text=True)
    assert "Approve this week" in page and "Budget used" in page
    assert "Nothing waiting for you" in web("manager2").get("/timesheets/review").get_data(
        as_text=True
    )


def _sign_in_statement(statement: str) -> bool:
    head = " ".join(statement.split())[:80]
    return any(t in head for t in ("sign_in_session", "FROM user_account", "user_account.id,"))


def test_the_queue_page_runs_a_fixed_number_of_statements(web, world, session, query_counter):
    from tests.factories_timesheets import add_submitted_sheets

    manager = web("manager")
    counts = []
    for batch in (3, 30):
        with as_org(session, world.org.id):
            add_submitted_sheets(session, world, batch)
        session.commit()
        with query_counter() as statements:
            page = manager.get("/timesheets/review")
        assert page.get_data(as_text=True).count('name="ids"') == batch
        # the page's own statements: the sign-in's reads and its once-a-minute "last seen"
        # depend on what the tests' shared session happens to hold
        counts.append(len([s for s in statements if not _sign_in_statement(s)]))
        with as_org(session, world.org.id):  # the next batch starts afresh
            session.execute(Entry.__table__.delete())
            session.execute(Timesheet.__table__.delete())
        session.commit()
    assert counts[0] == counts[1], counts


def test_another_freelancer_of_the_organization_cannot_fetch_a_receipt(
    app, web, world, session, make_user, make_member, make_freelancer, sign_in
):
    me = web("me")
    hub = f"/timesheets/engagements/{world.engagement.id}"
    me.post_form(
        f"{hub}/expenses",
        page=hub,
        data={
            "spent_on": "2026-03-03",
            "category": "meals",
            "amount": "18.40",
            "currency": "EUR",
            "receipt": (io.BytesIO(PDF), "lunch.pdf"),
        },
        content_type="multipart/form-data",
    )
    expense = session.scalar(select(Expense))
    assert expense.receipt_file_id is not None
    other = make_user()
    make_member(world.org, roles=("freelancer",), user=other)
    with as_org(session, world.org.id):
        make_freelancer(world.org, user_id=other.id)
    session.commit()
    colleague = app.test_client()
    sign_in(colleague, other, world.org)
    assert colleague.get(f"/timesheets/expenses/{expense.id}/receipt").status_code == 404
    assert colleague.get(hub).status_code == 404
    assert web("manager").get(f"/timesheets/expenses/{expense.id}/receipt").status_code == 200


def test_an_amount_correction_and_a_milestone_sent_back_without_a_comment(web, world, session):
    with as_org(session, world.org.id):
        sheet = world.fill(minutes=(480,))
        world.submit(sheet)
        ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
        fixed = world.fixed_engagement()
        milestone = Milestone(
            org_id=world.org.id,
            engagement_id=fixed.id,
            title="Audit report",
            amount=100,
            currency="EUR",
            due_date=MONDAY,
            state="delivered",
        )
        session.add(milestone)
    session.commit()
    manager = web("manager")
    page = f"/timesheets/{sheet.id}"
    made = manager.post_form(
        f"{page}/adjustments",
        page=page,
        data={
            "work_date": MONDAY.isoformat(),
            "kind": "amount",
            "value": "-45.00",
            "reason": "Rate",
        },
    )
    assert made.status_code == 302
    assert session.scalar(select(Adjustment.amount)) == -45
    refused = manager.post(
        f"/timesheets/milestones/{milestone.id}/decide",
        data={"decision": "send_back"},
        follow_redirects=True,
    )
    assert "Nothing changed" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Milestone, milestone.id).state == "delivered"
