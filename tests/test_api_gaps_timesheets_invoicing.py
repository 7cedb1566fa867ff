"""API operations for what the pages already did: copying the previous week into a
timesheet, and the logo invoices print. Each answers as the page's rule says, refuses
without changing anything, and hides other freelancers' and other organizations' data.
Figures are worked out by hand: the week of 2026-03-02 has 480, 480 and 240 minutes on
Monday to Wednesday, so the next week gets the same on its Monday to Wednesday."""

from __future__ import annotations

import base64
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from fms.identity.models import User
from fms.storage import StoredFile
from fms.timesheets import services as ts
from fms.timesheets.models import TaskCode, Timesheet, TimesheetEntry
from tests.factories import as_org
from tests.factories_timesheets import MONDAY

PROBLEM = "application/problem+json"
NEXT = MONDAY + timedelta(weeks=1)


@pytest.fixture
def client_as(app, session, sign_in):
    """A fresh client signed in as `actor` in `org`: client_as(world.me, world.org)."""

    def make(actor, org):
        session.commit()
        client = app.test_client()
        sign_in(client, session.get(User, actor.user_id), org)
        return client

    return make


def _problem(response, status):
    assert response.status_code == status, (response.status_code, response.get_data()[:500])
    assert response.content_type.startswith(PROBLEM)
    return response.get_json()


def _minutes(session, sheet_id) -> list[tuple]:
    session.expire_all()
    rows = session.scalars(
        select(TimesheetEntry)
        .where(TimesheetEntry.timesheet_id == sheet_id)
        .order_by(TimesheetEntry.work_date)
    )
    return [(row.work_date, row.minutes, row.note) for row in rows]


def _copy(client, sheet_id, **headers):
    return client.post(f"/api/v1/timesheets/{sheet_id}/copy-previous-week", headers=headers)


@pytest.fixture
def two_weeks(session, world):
    """The week of MONDAY filled (480, 480, 240 minutes, code PRJ-1, note "Sprint") and the
    next week opened, empty."""
    with as_org(session, world.org.id):
        session.add(TaskCode(org_id=world.org.id, code="PRJ-1", name="Relaunch"))
        session.flush()
        first = world.fill(minutes=(480, 480, 240), task_code="PRJ-1", note="Sprint")
        second = ts.open_timesheet(
            session, actor=world.me, engagement_id=world.engagement.id, week_start=NEXT
        )
    session.commit()
    return first, second


def _save(session, world, sheet, entry: dict) -> None:
    with as_org(session, world.org.id):
        ts.save_entries(session, actor=world.me, timesheet_id=sheet.id, entries=[entry])


# --- copy the previous week ------------------------------------------------------------------


def test_the_previous_week_s_days_fill_the_same_weekdays(client_as, session, world, two_weeks):
    first, second = two_weeks
    before = _minutes(session, first.id)
    me = client_as(world.me, world.org)
    response = _copy(me, second.id, **{"Idempotency-Key": "copy-1"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == second.id and body["state"] == "draft"
    assert [d["minutes"] for d in body["day_totals"]] == [480, 480, 240, 0, 0, 0, 0]
    assert [(e["work_date"], e["task_code"], e["note"]) for e in body["entries"]] == [
        ("2026-03-09", "PRJ-1", "Sprint"),
        ("2026-03-10", "PRJ-1", "Sprint"),
        ("2026-03-11", "PRJ-1", "Sprint"),
    ]
    assert body["minutes"] == 1200  # 480 + 480 + 240
    # the earlier week is not touched
    assert _minutes(session, first.id) == before
    # the same key again: the same answer, nothing copied twice
    again = _copy(me, second.id, **{"Idempotency-Key": "copy-1"})
    assert again.status_code == 200 and again.get_json() == body
    assert [m for _, m, _ in _minutes(session, second.id)] == [480, 480, 240]


def test_days_that_have_time_keep_it(client_as, session, world, two_weeks):
    _, second = two_weeks
    tuesday = {"work_date": "2026-03-10", "minutes": 60, "note": "Half day off"}
    _save(session, world, second, tuesday)
    me = client_as(world.me, world.org)
    body = _copy(me, second.id).get_json()
    assert [d["minutes"] for d in body["day_totals"]] == [480, 60, 240, 0, 0, 0, 0]
    assert _minutes(session, second.id)[1] == (NEXT + timedelta(days=1), 60, "Half day off")
    # every empty day is filled now: a second copy has nothing to do and says so
    nothing = _problem(_copy(me, second.id), 409)
    assert "Nothing to copy" in nothing["detail"]


def test_a_submitted_sheet_is_refused_and_nothing_changes(client_as, session, world, two_weeks):
    _, second = two_weeks
    _save(session, world, second, {"work_date": "2026-03-13", "minutes": 120})
    with as_org(session, world.org.id):
        world.submit(second)
    me = client_as(world.me, world.org)
    refused = _problem(_copy(me, second.id), 409)
    assert "submitted" in refused["detail"]
    assert _minutes(session, second.id) == [(NEXT + timedelta(days=4), 120, "")]
    assert session.get(Timesheet, second.id).state == "submitted"


def test_the_first_week_has_nothing_to_copy(client_as, session, world, two_weeks):
    first, _ = two_weeks
    me = client_as(world.me, world.org)
    refused = _problem(_copy(me, first.id), 409)
    assert refused["detail"] == "There is no earlier week of this engagement to copy."


def test_only_the_sheet_s_freelancer_copies_and_others_find_nothing(
    client_as,
    session,
    world,
    two_weeks,
    make_org,
    make_user,
    make_member,
    make_freelancer,
    make_engagement,
    actor_of,
):
    _, second = two_weeks
    # another freelancer of the same organization, with a week of their own
    user = make_user()
    other = actor_of(make_member(world.org, roles=("freelancer",), user=user))
    profile = make_freelancer(world.org, user_id=user.id)
    make_engagement(world.org, freelancer=profile, manager_id=world.manager.user_id)
    # a freelancer's sheet in another organization
    org_b = make_org()
    user_b = make_user()
    member_b = actor_of(make_member(org_b, roles=("freelancer",), user=user_b))
    profile_b = make_freelancer(org_b, user_id=user_b.id)
    engagement_b = make_engagement(org_b, freelancer=profile_b)
    with as_org(session, org_b.id):
        theirs = ts.open_timesheet(
            session, actor=member_b, engagement_id=engagement_b.id, week_start=MONDAY
        )
    session.commit()

    _problem(_copy(client_as(other, world.org), second.id), 404)
    # the manager may see the sheet but does not fill it in
    _problem(_copy(client_as(world.manager, world.org), second.id), 403)
    _problem(_copy(client_as(world.me, world.org), theirs.id), 404)
    assert _minutes(session, second.id) == []


def test_a_read_token_cannot_copy_and_a_write_token_can(app, session, world, two_weeks):
    from fms.identity.tokens import services as tokens

    _, second = two_weeks
    with as_org(session, world.org.id):
        _, read = tokens.create_personal_token(
            session, actor=world.me, name="read", scopes=["timesheets:read"]
        )
        _, write = tokens.create_personal_token(
            session, actor=world.me, name="write", scopes=["timesheets:write"]
        )
    session.commit()
    client = app.test_client()
    refused = _problem(_copy(client, second.id, Authorization=f"Bearer {read}"), 403)
    assert "timesheets:write" in refused["detail"] or "scope" in refused["detail"].lower()
    assert _minutes(session, second.id) == []
    done = _copy(client, second.id, Authorization=f"Bearer {write}")
    assert done.status_code == 200, done.get_json()
    assert [m for _, m, _ in _minutes(session, second.id)] == [480, 480, 240]


def test_the_page_copies_through_the_same_rule(client_as, session, world, two_weeks):
    first, second = two_weeks
    me = client_as(world.me, world.org)
    done = me.post(f"/timesheets/{second.id}/copy-last-week", follow_redirects=True)
    assert done.status_code == 200
    assert "Copied 3 days from the week of 2026-03-02." in done.get_data(as_text=True)
    assert [m for _, m, _ in _minutes(session, second.id)] == [480, 480, 240]
    nothing = me.post(f"/timesheets/{first.id}/copy-last-week", follow_redirects=True)
    assert "There is no earlier week of this engagement to copy." in nothing.get_data(as_text=True)
    assert _minutes(session, first.id) == [
        (MONDAY, 480, "Sprint"),
        (MONDAY + timedelta(days=1), 480, "Sprint"),
        (MONDAY + timedelta(days=2), 240, "Sprint"),
    ]


# --- the logo invoices print ----------------------------------------------------------------


def _png(width=40, height=20) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (44, 93, 138)).save(buffer, format="PNG")
    return buffer.getvalue()


def _put_logo(client, data: bytes, name="logo.png"):
    return client.put(
        "/api/v1/billing-settings/logo",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _files(session) -> int:
    return session.scalar(select(func.count()).select_from(StoredFile))


def test_a_png_logo_is_stored_shown_and_printed(client_as, session, bill):
    from fms.invoicing import pdf as invoice_pdf
    from fms.invoicing.settings import billing_settings

    png = _png()
    finance = client_as(bill.finance, bill.org)
    assert finance.get("/api/v1/billing-settings").get_json()["has_logo"] is False
    _problem(finance.get("/api/v1/billing-settings/logo"), 404)
    saved = _put_logo(finance, png)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["has_logo"] is True
    downloaded = finance.get("/api/v1/billing-settings/logo")
    assert downloaded.status_code == 200 and downloaded.data == png
    downloaded.close()
    assert downloaded.mimetype == "image/png"
    # the settings page shows it, from the page's own route
    page = finance.get("/invoicing/settings").get_data(as_text=True)
    assert 'src="/invoicing/settings/logo"' in page
    shown = finance.get("/invoicing/settings/logo")
    assert shown.data == png
    shown.close()
    # an invoice issued from now on prints it
    with as_org(session, bill.org.id):
        assert billing_settings(session).logo_file_id is not None
        bill.approved_week(date(2026, 11, 2), (480,))
        (invoice,) = bill.close("2026-11").invoices
        bill.issue(invoice)
        document = invoice_pdf.invoice_document(session, invoice_id=invoice.id)
    assert document.logo_data_url == "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_file_that_is_no_small_png_or_jpeg_is_refused(client_as, session, bill):
    from fms.invoicing.settings import MAX_LOGO_BYTES

    finance = client_as(bill.finance, bill.org)
    files = _files(session)
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    wrong = _problem(_put_logo(finance, pdf), 422)
    assert "not an allowed type" in wrong["detail"]
    assert [e["pointer"] for e in wrong["errors"]] == ["/file"]
    # a PNG's first bytes, then padding to one byte over 1 MB (1,048,577 bytes)
    big = _png() + b"\x00" * (MAX_LOGO_BYTES + 1 - len(_png()))
    assert len(big) == 1024 * 1024 + 1
    too_big = _problem(_put_logo(finance, big), 422)
    assert "larger than 1 MB" in too_big["detail"]
    missing = finance.put(
        "/api/v1/billing-settings/logo", data={}, content_type="multipart/form-data"
    )
    _problem(missing, 422)
    assert _files(session) == files
    assert finance.get("/api/v1/billing-settings").get_json()["has_logo"] is False


def test_a_hiring_manager_may_not_and_another_organization_cannot_see_it(
    client_as, session, bill, make_org, make_member, actor_of
):
    png = _png()
    files = _files(session)
    manager = client_as(bill.world.manager, bill.org)
    _problem(_put_logo(manager, png), 403)
    assert _files(session) == files
    assert _put_logo(client_as(bill.finance, bill.org), png).status_code == 200
    _problem(client_as(bill.world.manager, bill.org).get("/api/v1/billing-settings/logo"), 403)
    org_b = make_org()
    finance_b = client_as(actor_of(make_member(org_b, roles=("finance",))), org_b)
    _problem(finance_b.get("/api/v1/billing-settings/logo"), 404)
    assert finance_b.get("/api/v1/billing-settings").get_json()["has_logo"] is False
