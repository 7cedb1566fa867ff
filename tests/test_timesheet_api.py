"""The timesheets API end to end: a week from draft to approved, rejection, bulk approval,
adjustments, milestones, expenses with receipts; bad input is a problem+json 4xx that
stores nothing; another organization's ids are 404; lists in a fixed number of statements."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from fms.identity.models import User
from fms.storage import StoredFile
from fms.tenancy import scope_session
from fms.timesheets import services as ts
from fms.timesheets.models import Adjustment, Expense, Timesheet, TimesheetEntry
from tests.factories_timesheets import MONDAY, add_submitted_sheets

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
PROBLEM = "application/problem+json"


@pytest.fixture
def api(app, session, world, sign_in):
    """A client that signs in as one of the world's people: `api.as_(world.manager)`."""
    client = app.test_client()

    def as_(actor):
        sign_in(client, session.get(User, actor.user_id), world.org)
        return client

    client.as_ = as_
    return client


def _count(session, model, **where):
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    return session.scalar(stmt)


def _week(api, world, minutes=(480, 450, 0, 510)):
    client = api.as_(world.me)
    opened = client.post(
        "/api/v1/timesheets",
        json={"engagement_id": world.engagement.id, "week_start": MONDAY.isoformat()},
    )
    assert opened.status_code == 201, opened.get_json()
    sheet_id = opened.get_json()["id"]
    entries = [
        {"work_date": MONDAY.replace(day=MONDAY.day + i).isoformat(), "minutes": m}
        for i, m in enumerate(minutes)
    ]
    saved = client.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": entries})
    assert saved.status_code == 200, saved.get_json()
    return sheet_id, saved.get_json()


def _problem(response, status):
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.content_type.startswith(PROBLEM)
    return response.get_json()


# --- a week ----------------------------------------------------------------------------------


def test_a_week_is_opened_filled_submitted_and_approved(api, session, world):
    sheet_id, body = _week(api, world)
    assert body["state"] == "draft"
    assert [d["minutes"] for d in body["day_totals"]] == [480, 450, 0, 510, 0, 0, 0]
    assert body["minutes"] == 1440 and body["amounts"] == [{"amount": "2160.00", "currency": "EUR"}]
    submitted = api.post(f"/api/v1/timesheets/{sheet_id}/submit")
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["timesheet"]["state"] == "submitted"
    assert submitted.get_json()["warnings"] == []

    manager = api.as_(world.manager)
    queue = manager.get("/api/v1/timesheets/review-queue").get_json()
    assert [row["timesheet_id"] for row in queue] == [sheet_id]
    assert queue[0]["minutes"] == 1440
    listed = manager.get("/api/v1/timesheets?state=submitted,approved").get_json()
    assert [item["id"] for item in listed["items"]] == [sheet_id]
    approved = manager.post(f"/api/v1/timesheets/{sheet_id}/approve")
    assert approved.get_json()["state"] == "approved"
    again = _problem(manager.post(f"/api/v1/timesheets/{sheet_id}/approve"), 409)
    assert "already" in again["detail"]

    # after approval nothing is edited: a correction is an adjustment
    me = api.as_(world.me)
    _problem(me.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": []}), 409)
    made = me.post(
        f"/api/v1/timesheets/{sheet_id}/adjustments",
        json={"work_date": MONDAY.isoformat(), "minutes": -60, "reason": "Counted lunch"},
    )
    assert made.status_code == 201, made.get_json()
    adjustment_id = made.get_json()["id"]
    both = {"work_date": MONDAY.isoformat(), "minutes": 5, "amount": "5.00", "reason": "x"}
    _problem(me.post(f"/api/v1/timesheets/{sheet_id}/adjustments", json=both), 422)
    outside = {"work_date": "2026-03-09", "minutes": 5, "reason": "x"}
    _problem(me.post(f"/api/v1/timesheets/{sheet_id}/adjustments", json=outside), 422)
    assert me.post(f"/api/v1/adjustments/{adjustment_id}/submit").status_code == 200
    _problem(me.post(f"/api/v1/adjustments/{adjustment_id}/approve"), 403)
    decided = api.as_(world.manager).post(f"/api/v1/adjustments/{adjustment_id}/approve")
    assert decided.get_json()["state"] == "approved"
    detail = api.get(f"/api/v1/timesheets/{sheet_id}").get_json()
    assert [a["minutes"] for a in detail["adjustments"]] == [-60]


def test_a_rejection_needs_a_comment_and_sends_the_sheet_back(api, session, world):
    sheet_id, _ = _week(api, world, minutes=(240,))
    assert api.post(f"/api/v1/timesheets/{sheet_id}/submit").status_code == 200
    manager = api.as_(world.manager)
    _problem(manager.post(f"/api/v1/timesheets/{sheet_id}/reject", json={}), 422)
    _problem(manager.post(f"/api/v1/timesheets/{sheet_id}/reject", json={"comment": " "}), 422)
    assert session.get(Timesheet, sheet_id).state == "submitted"
    rejected = manager.post(f"/api/v1/timesheets/{sheet_id}/reject", json={"comment": "Tue?"})
    assert rejected.get_json()["state"] == "rejected"
    assert rejected.get_json()["decision_comment"] == "Tue?"
    # the freelancer edits it again
    me = api.as_(world.me)
    entries = [{"work_date": MONDAY.isoformat(), "minutes": 300}]
    again = me.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": entries})
    assert again.get_json()["state"] == "draft"


def test_bulk_approval_previews_then_reports_what_changed_meanwhile(api, session, world):
    sheets = add_submitted_sheets(session, world, 3)
    session.commit()
    ids = [s.id for s in sheets]
    manager = api.as_(world.manager)
    preview = manager.post("/api/v1/timesheets/bulk-approval/preview", json={"timesheet_ids": ids})
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["count"] == 3 and body["minutes"] == 3 * 480
    assert body["amounts"] == [{"amount": "2160.00", "currency": "EUR"}]
    # meanwhile a stand-in for procurement sends one back
    ts.reject_timesheet(session, actor=world.procurement, timesheet_id=ids[1], comment="No")
    session.commit()
    result = manager.post("/api/v1/timesheets/bulk-approval", json={"timesheet_ids": ids})
    assert result.get_json() == {
        "approved": [ids[0], ids[2]],
        "changed_meanwhile": [ids[1]],
        "not_allowed": [],
    }
    assert _count(session, Timesheet, state="approved") == 2


# --- milestones and expenses -----------------------------------------------------------------


def test_a_milestone_is_set_delivered_and_accepted(api, session, world):
    fixed = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager.user_id, kind="fixed"
    )
    session.commit()
    procurement = api.as_(world.procurement)
    made = procurement.post(
        "/api/v1/milestones",
        json={
            "engagement_id": fixed.id,
            "title": "Design",
            "amount": "5000.00",
            "due_date": "2026-06-30",
        },
    )
    assert made.status_code == 201, made.get_json()
    milestone_id = made.get_json()["id"]
    assert made.get_json()["amount"] == {"amount": "5000.00", "currency": "EUR"}
    _problem(procurement.post(f"/api/v1/milestones/{milestone_id}/deliver"), 403)
    me = api.as_(world.me)
    assert me.post(f"/api/v1/milestones/{milestone_id}/deliver").get_json()["state"] == "delivered"
    assert [m["id"] for m in me.get("/api/v1/milestones").get_json()["items"]] == [milestone_id]
    manager = api.as_(world.manager)
    _problem(manager.post(f"/api/v1/milestones/{milestone_id}/send-back", json={}), 422)
    sent = manager.post(f"/api/v1/milestones/{milestone_id}/send-back", json={"comment": "v2"})
    assert sent.get_json()["state"] == "sent_back"
    # version 2 goes with its deliverable; a program renamed .pdf is refused, nothing kept
    deliverable = f"/api/v1/milestones/{milestone_id}/deliverable"
    me = api.as_(world.me)
    _problem(me.get(deliverable), 404)
    _problem(me.post(deliverable, data={"file": (io.BytesIO(EXE), "v2.pdf")}), 422)
    attached = me.post(deliverable, data={"file": (io.BytesIO(PDF), "v2.pdf")})
    assert attached.status_code == 200 and attached.get_json()["attachment_file_id"]
    assert api.as_(world.manager).get(deliverable).get_data() == PDF
    assert api.as_(world.me).post(f"/api/v1/milestones/{milestone_id}/deliver").status_code == 200
    # delivered: what is under review stays as it is
    _problem(api.as_(world.me).post(deliverable, data={"file": (io.BytesIO(PDF), "v3.pdf")}), 409)
    accepted = api.as_(world.manager).post(f"/api/v1/milestones/{milestone_id}/accept")
    assert accepted.get_json()["state"] == "accepted"
    assert api.get(f"/api/v1/milestones/{milestone_id}").get_json()["state"] == "accepted"


def _files(app):
    root = app.config["FMS_STORAGE_DIR"]
    from pathlib import Path

    return sorted(str(p) for p in Path(root, "files").rglob("*") if p.is_file())


def _expense(client, world, **extra):
    body = {
        "engagement_id": world.engagement.id,
        "spent_on": "2026-03-03",
        "category": "travel",
        "amount": "42.50",
        "currency": "EUR",
    }
    made = client.post("/api/v1/expenses", json=body | extra)
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def test_an_expense_with_a_receipt_is_submitted_approved_and_downloadable(
    app, api, session, world, make_org, make_member, sign_in
):
    me = api.as_(world.me)
    expense_id = _expense(me, world)
    for name, data in (("taxi.png", PNG), ("hotel.pdf", PDF)):
        uploaded = me.post(
            f"/api/v1/expenses/{expense_id}/receipt",
            data={"file": (__import__("io").BytesIO(data), name)},
            content_type="multipart/form-data",
        )
        assert uploaded.status_code == 200, uploaded.get_json()
        assert uploaded.get_json()["receipt_name"] == name
    assert me.post(f"/api/v1/expenses/{expense_id}/submit").get_json()["state"] == "submitted"
    assert me.get(f"/api/v1/expenses/{expense_id}").get_json()["receipt_name"] == "hotel.pdf"
    late = me.post(
        f"/api/v1/expenses/{expense_id}/receipt",
        data={"file": (__import__("io").BytesIO(PNG), "swap.png")},
        content_type="multipart/form-data",
    )
    _problem(late, 409)  # a submitted expense keeps its receipt
    manager = api.as_(world.manager)
    receipt = manager.get(f"/api/v1/expenses/{expense_id}/receipt")
    assert receipt.status_code == 200 and receipt.data == PDF
    assert receipt.mimetype == "application/pdf"
    assert receipt.headers["X-Content-Type-Options"] == "nosniff"
    assert manager.post(f"/api/v1/expenses/{expense_id}/approve").get_json()["state"] == "approved"
    # another organization's person: no such expense, no receipt
    other = make_org()
    stranger = make_member(other, roles=("org_admin",))
    sign_in(manager, session.get(User, stranger.user_id), other)
    _problem(manager.get(f"/api/v1/expenses/{expense_id}/receipt"), 404)
    _problem(manager.post(f"/api/v1/expenses/{expense_id}/approve"), 404)


def test_an_executable_renamed_pdf_is_refused_and_nothing_is_stored(app, api, session, world):
    me = api.as_(world.me)
    expense_id = _expense(me, world)
    before_rows, before_files = _count(session, StoredFile), _files(app)
    refused = me.post(
        f"/api/v1/expenses/{expense_id}/receipt",
        data={"file": (__import__("io").BytesIO(EXE), "receipt.pdf")},
        content_type="multipart/form-data",
    )
    problem = _problem(refused, 422)
    assert "content" in problem["detail"]
    assert _count(session, StoredFile) == before_rows and _files(app) == before_files
    assert session.get(Expense, expense_id).receipt_sha256 is None
    missing = me.post(f"/api/v1/expenses/{expense_id}/receipt", data={})
    _problem(missing, 422)
    # nobody downloads a receipt that is not there
    _problem(me.get(f"/api/v1/expenses/{expense_id}/receipt"), 404)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"work_date": MONDAY.isoformat(), "minutes": -30},
        {"work_date": MONDAY.isoformat(), "minutes": 25 * 60},
        {"work_date": "2026-03-09", "minutes": 60},  # the next week
        {"work_date": MONDAY.isoformat(), "minutes": "abc"},
        {"work_date": MONDAY.isoformat(), "minutes": 1.5},
        {"work_date": "03/02/2026", "minutes": 60},
        {"work_date": MONDAY.isoformat(), "minutes": 60, "note": "x" * 501},
        {"work_date": MONDAY.isoformat(), "minutes": 60, "billable": True},
    ],
)
def test_bad_entries_are_problems_and_change_nothing(api, session, world, entry):
    sheet_id, _ = _week(api, world, minutes=(120,))
    response = api.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": [entry]})
    problem = _problem(response, 422)
    assert problem["errors"], problem
    rows = session.scalars(select(TimesheetEntry).where(TimesheetEntry.timesheet_id == sheet_id))
    assert [(e.work_date, e.minutes) for e in rows] == [(MONDAY, 120)]


def test_bad_ids_and_other_engagements_are_4xx_never_500(api, session, world):
    someone_else = world.make_engagement(world.org)  # another freelancer's engagement
    session.commit()
    me = api.as_(world.me)
    week = MONDAY.isoformat()
    _problem(
        me.post("/api/v1/timesheets", json={"engagement_id": someone_else.id, "week_start": week}),
        404,
    )
    for bad in (2**63, "abc", 1.5, -1, 0):
        response = me.post("/api/v1/timesheets", json={"engagement_id": bad, "week_start": week})
        _problem(response, 422)
    _problem(me.get(f"/api/v1/timesheets/{2**63}"), 404)
    _problem(me.post(f"/api/v1/expenses/{2**64}/submit"), 404)
    bulk = api.as_(world.manager).post(
        "/api/v1/timesheets/bulk-approval", json={"timesheet_ids": [2**63]}
    )
    _problem(bulk, 422)
    listing = api.get("/api/v1/timesheets?engagement_id=99999999999999999999")
    _problem(listing, 422)
    _problem(api.get("/api/v1/timesheets?week_from=2026-13-01"), 422)
    _problem(api.get("/api/v1/timesheets?state=draft,bogus"), 422)
    expense = {
        "engagement_id": world.engagement.id,
        "spent_on": "2026-03-03",
        "category": "travel",
        "currency": "EUR",
    }
    me = api.as_(world.me)
    for amount in ("abc", "NaN", "-5", "0.001", "1_000", 12):
        _problem(me.post("/api/v1/expenses", json=expense | {"amount": amount}), 422)
    _problem(me.post("/api/v1/expenses", json=expense | {"amount": "5", "category": "x"}), 422)
    assert _count(session, Timesheet) == 0 and _count(session, Adjustment) == 0
    assert _count(session, Expense) == 0


def test_another_organizations_ids_are_not_found(
    api, session, world, make_org, make_member, sign_in
):
    sheet_id, _ = _week(api, world, minutes=(60,))
    other = make_org()
    stranger = make_member(other, roles=("org_admin",))
    sign_in(api, session.get(User, stranger.user_id), other)
    for path in (
        f"/api/v1/timesheets/{sheet_id}",
        f"/api/v1/engagements/{world.engagement.id}/time-rounding",
    ):
        _problem(api.get(path), 404)
    _problem(api.post(f"/api/v1/timesheets/{sheet_id}/reject", json={}), 404)
    assert api.get("/api/v1/timesheets").get_json()["total"] == 0
    bulk = api.post("/api/v1/timesheets/bulk-approval", json={"timesheet_ids": [sheet_id]})
    assert bulk.get_json()["approved"] == []
    scope_session(session, world.org.id)
    assert session.get(Timesheet, sheet_id).state == "draft"


def test_each_person_lists_the_sheets_they_may_see(
    api, session, world, make_member, make_user, actor_of
):
    sheet_id, _ = _week(api, world, minutes=(60,))
    assert [i["id"] for i in api.get("/api/v1/timesheets").get_json()["items"]] == [sheet_id]
    # staff who read engagements read their time (finance bills it, compliance checks it);
    # another freelancer sees none of it
    for staff in (world.manager2, world.procurement):
        assert api.as_(staff).get("/api/v1/timesheets").get_json()["total"] == 1
    other = actor_of(make_member(world.org, roles=("freelancer",), user=make_user()))
    assert api.as_(other).get("/api/v1/timesheets").get_json()["total"] == 0
    listed = api.as_(world.manager).get("/api/v1/timesheets?sort=week_start&week_from=2026-03-08")
    assert [i["id"] for i in listed.get_json()["items"]] == [sheet_id]
    empty = api.get("/api/v1/timesheets?week_to=2026-03-01").get_json()
    assert empty["total"] == 0


def test_settings_task_codes_week_start_and_rounding(api, session, world, make_member, actor_of):
    procurement = api.as_(world.procurement)
    made = procurement.post("/api/v1/task-codes", json={"code": "DEV", "name": "Development"})
    assert made.status_code == 201, made.get_json()
    _problem(procurement.post("/api/v1/task-codes", json={"code": "DEV", "name": "Again"}), 409)
    code_id = made.get_json()["id"]
    retired = procurement.patch(f"/api/v1/task-codes/{code_id}", json={"is_active": False})
    assert retired.get_json()["is_active"] is False
    rounding = f"/api/v1/engagements/{world.engagement.id}/time-rounding"
    assert procurement.put(rounding, json={"mode": "up_15"}).get_json()["mode"] == "up_15"
    _problem(procurement.put(rounding, json={"mode": "up_7"}), 422)
    _problem(procurement.put("/api/v1/timesheet-settings/week-start", json={"weekday": 1}), 403)
    me = api.as_(world.me)
    sheet_id, body = _week(api, world, minutes=(50,))
    assert body["day_totals"][0] == {
        "work_date": MONDAY.isoformat(),
        "minutes": 50,
        "billable_minutes": 60,
        "days": None,
    }
    assert me.get(rounding).get_json()["mode"] == "up_15"
    assert me.get("/api/v1/timesheet-settings/week-start").get_json()["weekday"] == 0
    entries = f"/api/v1/timesheets/{sheet_id}/entries"
    coded = [{"work_date": MONDAY.isoformat(), "minutes": 50, "task_code": "DEV", "note": "API"}]
    _problem(me.put(entries, json={"entries": coded}), 422)  # the code is retired
    api.as_(world.procurement).patch(f"/api/v1/task-codes/{code_id}", json={"is_active": True})
    saved = api.as_(world.me).put(entries, json={"entries": coded}).get_json()
    assert saved["entries"][0]["task_code"] == "DEV" and saved["entries"][0]["note"] == "API"
    admin = actor_of(make_member(world.org, roles=("org_admin",)))
    changed = api.as_(admin).put("/api/v1/timesheet-settings/week-start", json={"weekday": 1})
    assert changed.status_code == 200, changed.get_json()
    assert [c["weekday"] for c in changed.get_json()["schedule"]] == [1]
    _problem(api.put("/api/v1/timesheet-settings/week-start", json={"weekday": 2}), 409)
    _problem(api.put("/api/v1/timesheet-settings/week-start", json={"weekday": 7}), 422)


# --- statements ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/timesheets?per_page=200",
        "/api/v1/timesheets?state=submitted&sort=-freelancer&per_page=200",
        "/api/v1/timesheets/review-queue",
    ],
)
def test_lists_run_a_fixed_number_of_statements(api, session, world, query_counter, path):
    counts = []
    for n in (10, 40):  # 10 sheets, then 50
        add_submitted_sheets(session, world, n) if n == 10 else _more(session, world, n)
        session.commit()
        client = api.as_(world.manager)
        with query_counter() as statements:
            response = client.get(path)
        assert response.status_code == 200, response.get_data()[:300]
        counts.append(len(statements))
    assert counts[0] == counts[1], f"{path}: {counts[0]} statements for 10, {counts[1]} for 50"


def _more(session, world, n):
    """n more submitted sheets, on a second engagement of the same freelancer and manager."""
    engagement = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
    )
    return add_submitted_sheets(session, world, n, engagement=engagement)


def test_bulk_approval_runs_a_fixed_number_of_statements(api, session, world, query_counter):
    counts = []
    for n in (10, 40):
        sheets = add_submitted_sheets(session, world, n) if n == 10 else _more(session, world, n)
        session.commit()
        ids = [s.id for s in sheets]
        client = api.as_(world.manager)
        with query_counter() as statements:
            response = client.post("/api/v1/timesheets/bulk-approval", json={"timesheet_ids": ids})
        assert response.get_json()["approved"] == ids
        counts.append(len(statements))
    assert counts[0] == counts[1]


# --- submission answers, daily rates, receipts -----------------------------------------------


def test_submission_warns_at_80_percent_of_the_budget(api, session, world):
    from decimal import Decimal

    world.set_terms(budget_cap=Decimal("2500"))  # the week is 2160 EUR: 86 %
    session.commit()
    sheet_id, _ = _week(api, world)
    answer = api.post(f"/api/v1/timesheets/{sheet_id}/submit").get_json()
    assert answer["timesheet"]["state"] == "submitted"
    assert any("80 %" in warning for warning in answer["warnings"]), answer["warnings"]


def test_a_daily_rate_week_records_half_days(api, session, world):
    daily = world.make_engagement(
        world.org,
        freelancer=world.freelancer,
        manager_id=world.manager.user_id,
        kind="daily",
        rate="600",
    )
    session.commit()
    me = api.as_(world.me)
    opened = me.post(
        "/api/v1/timesheets", json={"engagement_id": daily.id, "week_start": MONDAY.isoformat()}
    )
    sheet_id = opened.get_json()["id"]
    entries = [
        {"work_date": "2026-03-02", "days": "1"},
        {"work_date": "2026-03-03", "days": "0.5"},
    ]
    saved = me.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": entries})
    assert saved.status_code == 200, saved.get_json()
    body = saved.get_json()
    assert body["days"] == "1.5" and body["amounts"] == [{"amount": "900.00", "currency": "EUR"}]
    assert [d["days"] for d in body["day_totals"][:3]] == ["1", "0.5", None]
    bad = [{"work_date": "2026-03-02", "days": "0.25"}]
    _problem(me.put(f"/api/v1/timesheets/{sheet_id}/entries", json={"entries": bad}), 422)


def test_a_receipt_over_the_size_limit_is_refused(app, api, session, world, monkeypatch):
    import io

    monkeypatch.setitem(app.config, "FMS_RECEIPT_MAX_BYTES", 64)
    me = api.as_(world.me)
    expense_id = _expense(me, world)
    before_rows, before_files = _count(session, StoredFile), _files(app)
    big = me.post(
        f"/api/v1/expenses/{expense_id}/receipt",
        data={"file": (io.BytesIO(PNG + b"\x00" * 100), "big.png")},
        content_type="multipart/form-data",
    )
    assert "larger" in _problem(big, 422)["detail"]
    assert _count(session, StoredFile) == before_rows and _files(app) == before_files


def test_a_receipt_is_hidden_from_another_freelancer_of_the_organization(
    api, session, world, make_user, make_member, sign_in
):
    import io

    me = api.as_(world.me)
    expense_id = _expense(me, world)
    uploaded = me.post(
        f"/api/v1/expenses/{expense_id}/receipt",
        data={"file": (io.BytesIO(PDF), "r.pdf")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 200
    assert me.get(f"/api/v1/expenses/{expense_id}/receipt").data == PDF
    colleague = make_member(world.org, roles=("freelancer",), user=make_user())
    sign_in(api, session.get(User, colleague.user_id), world.org)
    _problem(api.get(f"/api/v1/expenses/{expense_id}/receipt"), 404)
    assert api.get("/api/v1/expenses").get_json()["total"] == 0


@pytest.mark.parametrize("path", ["timesheets", "milestones", "expenses"])
def test_every_sort_key_of_the_lists_answers(api, session, world, path):
    from fms.lists import spec_for

    add_submitted_sheets(session, world, 2)
    session.commit()
    client = api.as_(world.procurement)
    for key in spec_for(path).sort_keys:
        for sort in (key, f"-{key}"):
            response = client.get(f"/api/v1/{path}?sort={sort}&q=a")
            assert response.status_code == 200, (sort, response.get_data()[:200])
    _problem(client.get(f"/api/v1/{path}?sort=nothing"), 422)
