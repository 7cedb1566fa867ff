"""Timesheets: entries, submission rules, review, bulk approval, adjustments, invoicing's
marks, milestones. Every refusal says which rule, and nothing is stored."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.audit import services as audit
from fms.audit.models import AuditEntry
from fms.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.tenancy import scope_session
from fms.timesheets import milestones
from fms.timesheets import services as ts
from fms.timesheets.models import Adjustment, Milestone, Timesheet, TimesheetEntry
from tests.factories_timesheets import MONDAY, add_submitted_sheets, delegate


def _count(session, model, **where):
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    return session.scalar(stmt)


def _entries(session, sheet):
    return [
        (e.work_date, e.minutes)
        for e in session.scalars(
            select(TimesheetEntry)
            .where(TimesheetEntry.timesheet_id == sheet.id)
            .order_by(TimesheetEntry.work_date)
        )
    ]


# --- a week from draft to approved -----------------------------------------------------------


def test_a_week_is_filled_submitted_and_approved(session, world):
    sheet = world.fill(minutes=(480, 450, 0, 510))
    assert (sheet.week_start, sheet.week_end) == (MONDAY, date(2026, 3, 8))
    # the zero day is not stored
    assert _entries(session, sheet) == [
        (date(2026, 3, 2), 480),
        (date(2026, 3, 3), 450),
        (date(2026, 3, 5), 510),
    ]
    result = world.submit(sheet)
    assert sheet.state == "submitted" and result.warnings == []
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    assert sheet.state == "approved" and sheet.decided_by_user_id == world.manager.user_id
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.entity_type == "timesheet", AuditEntry.entity_id == sheet.id)
        .order_by(AuditEntry.seq)
    ).all()
    assert actions == [
        "timesheet.created",
        "timesheet.entries_saved",
        "timesheet.submitted",
        "timesheet.approved",
    ]
    assert audit.verify_chain(session, world.org.id).ok


def test_one_sheet_per_engagement_and_week(session, world):
    first = world.fill()
    with pytest.raises(AlreadyExists) as caught:
        ts.open_timesheet(
            session, actor=world.me, engagement_id=world.engagement.id, week_start=MONDAY
        )
    assert caught.value.existing_id == first.id
    assert _count(session, Timesheet) == 1


def test_a_week_starts_on_the_first_day_of_a_week(session, world):
    with pytest.raises(
        InvalidInput, match="not the first day of a week; that week starts on 2026-03-02"
    ):
        ts.open_timesheet(
            session, actor=world.me, engagement_id=world.engagement.id, week_start="2026-03-04"
        )
    with pytest.raises(RuleViolation, match="Engagement dates"):
        ts.open_timesheet(
            session, actor=world.me, engagement_id=world.engagement.id, week_start="2027-03-01"
        )
    assert _count(session, Timesheet) == 0


# --- bad input: a clear error, nothing stored ------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ({"work_date": "2026-03-02", "minutes": -30}, "entries.0.minutes", "From 0 to 1440"),
        ({"work_date": "2026-03-02", "minutes": 1500}, "entries.0.minutes", "From 0 to 1440"),
        ({"work_date": "2026-03-02", "minutes": "7h"}, "entries.0.minutes", "whole number"),
        ({"work_date": "2026-03-02", "minutes": 7.5}, "entries.0.minutes", "whole number"),
        ({"work_date": "2026-03-02", "minutes": "١٢"}, "entries.0.minutes", "whole number"),
        ({"work_date": "2026-03-09", "minutes": 60}, "entries.0.work_date", "Outside this week"),
        ({"work_date": "02.03.2026", "minutes": 60}, "entries.0.work_date", "2026-12-01"),
        (
            {"work_date": "2026-03-02", "minutes": 60, "task_code": "NOPE"},
            "entries.0.task_code",
            "active codes",
        ),
    ],
)
def test_bad_entries_are_refused_and_nothing_is_stored(session, world, entry, field, message):
    sheet = world.fill(minutes=(120,))
    with pytest.raises(InvalidInput) as caught:
        ts.save_entries(session, actor=world.me, timesheet_id=sheet.id, entries=[entry])
    assert message in caught.value.errors[field][0]
    assert _entries(session, sheet) == [(MONDAY, 120)]  # the earlier entries stand


def test_the_same_day_twice_is_refused(session, world):
    sheet = world.fill(minutes=(120,))
    twice = [{"work_date": "2026-03-02", "minutes": 60}] * 2
    with pytest.raises(InvalidInput) as caught:
        ts.save_entries(session, actor=world.me, timesheet_id=sheet.id, entries=twice)
    assert caught.value.errors["entries.1.work_date"] == ["One entry per day."]


def test_another_engagement_or_organization_is_not_found(
    session, world, make_org, make_engagement, make_freelancer
):
    someone_else = world.make_engagement(world.org)  # another freelancer's engagement
    with pytest.raises(NotFound, match="No such engagement"):
        ts.open_timesheet(session, actor=world.me, engagement_id=someone_else.id, week_start=MONDAY)
    other_org = make_org()
    foreign = make_engagement(other_org)
    scope_session(session, world.org.id)
    with pytest.raises(NotFound):
        ts.open_timesheet(session, actor=world.me, engagement_id=foreign.id, week_start=MONDAY)
    with pytest.raises(NotFound):
        ts.open_timesheet(session, actor=world.me, engagement_id="abc", week_start=MONDAY)
    with pytest.raises(NotFound):
        ts.open_timesheet(session, actor=world.me, engagement_id=2**63, week_start=MONDAY)
    assert _count(session, Timesheet) == 0


def test_someone_elses_sheet_cannot_be_edited(session, world, make_user, make_member, actor_of):
    sheet = world.fill()
    intruder = actor_of(make_member(world.org, roles=("freelancer",), user=make_user()))
    with pytest.raises(NotFound):
        ts.save_entries(session, actor=intruder, timesheet_id=sheet.id, entries=[])
    with pytest.raises(NotAllowed):  # staff see it, but do not fill it in
        ts.save_entries(session, actor=world.manager, timesheet_id=sheet.id, entries=[])
    assert _entries(session, sheet) == [(MONDAY, 480)]


def test_task_codes_are_the_organizations_own(session, world):
    ts.add_task_code(session, actor=world.procurement, code="PRJ-1", name="Project one")
    with pytest.raises(AlreadyExists):
        ts.add_task_code(session, actor=world.procurement, code="PRJ-1", name="Again")
    with pytest.raises(NotAllowed):
        ts.add_task_code(session, actor=world.me, code="X", name="X")
    sheet = world.fill(minutes=(60,), task_code="PRJ-1", note="Kick-off")
    entry = session.scalar(select(TimesheetEntry).where(TimesheetEntry.timesheet_id == sheet.id))
    assert entry.task_code_id is not None and entry.note == "Kick-off"


def test_daily_engagements_record_full_or_half_days(session, world):
    daily = world.make_engagement(
        world.org,
        freelancer=world.freelancer,
        kind="daily",
        rate="800",
        manager_id=world.manager.user_id,
        start=date(2027, 1, 1),
        end=date(2027, 6, 30),
    )
    sheet = ts.open_timesheet(
        session, actor=world.me, engagement_id=daily.id, week_start="2027-01-04"
    )
    for bad in ("0.25", "2", "one", "-0.5"):
        with pytest.raises(InvalidInput, match="entries"):
            ts.save_entries(
                session,
                actor=world.me,
                timesheet_id=sheet.id,
                entries=[{"work_date": "2027-01-04", "days": bad}],
            )
    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        entries=[
            {"work_date": "2027-01-04", "days": "1"},
            {"work_date": "2027-01-05", "days": "0.5"},
        ],
    )
    rows = session.scalars(
        select(TimesheetEntry.half_days)
        .where(TimesheetEntry.timesheet_id == sheet.id)
        .order_by(TimesheetEntry.work_date)
    ).all()
    assert rows == [2, 1]


# --- submission rules ------------------------------------------------------------------------


def test_only_an_active_engagement_submits(session, world):
    sheet = world.fill()
    world.engagement.state = "ended"
    session.flush()
    with pytest.raises(RuleViolation, match="Active engagement: .* it is ended"):
        world.submit(sheet)
    assert sheet.state == "draft"


def test_at_most_24_hours_a_day_across_engagements(session, world):
    other = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
    )
    first = world.fill(minutes=(900,))
    world.submit(first)
    second = world.fill(minutes=(600,), engagement=other)
    # 900 + 600 minutes = 25:00 on 2026-03-02
    with pytest.raises(RuleViolation, match="24-hour day: .*2026-03-02 would have 25:00"):
        world.submit(second)
    assert second.state == "draft"
    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=second.id,
        entries=[{"work_date": "2026-03-02", "minutes": 540}],  # 900 + 540 = 24:00 exactly
    )
    world.submit(second)
    assert second.state == "submitted"


def test_budget_cap_warns_at_80_percent_and_refuses_past_it(session, world):
    world.set_terms(budget_cap=Decimal(1000))
    # 480 min at 90/h = 720.00: 72 % of 1,000
    assert world.submit(world.fill(MONDAY, (480,))).warnings == []
    # + 120 min = 180.00 -> 900.00: 90 %
    warned = world.submit(world.fill(MONDAY + timedelta(weeks=1), (120,)))
    assert warned.warnings == [
        "Budget: the engagement is at 900.00 of the 1,000.00 EUR cap (80 % or more)."
    ]
    # + 70 min = 105.00 -> 1,005.00: past the cap
    third = world.fill(MONDAY + timedelta(weeks=2), (70,))
    with pytest.raises(RuleViolation, match="Budget cap: .*1,005.00 of the 1,000.00 EUR cap"):
        world.submit(third)
    assert third.state == "draft"
    # an approved budget increase raises the cap
    world.amend("budget_increase", "2026-03-01", new_budget_cap="2000")
    world.submit(third)
    assert third.state == "submitted"


def test_a_rejected_sheet_no_longer_counts_against_the_cap(session, world):
    world.set_terms(budget_cap=Decimal(1000))
    first = world.submit(world.fill(MONDAY, (600,))).sheet  # 900.00
    ts.reject_timesheet(session, actor=world.manager, timesheet_id=first.id, comment="Too much")
    second = world.fill(MONDAY + timedelta(weeks=1), (600,))
    assert world.submit(second).sheet.state == "submitted"  # 900.00 again, not 1,800.00


def test_submission_guards_refuse_with_their_reason(session, world):
    calls = []

    def compliance(session, *, engagement, sheet):
        calls.append((engagement.id, sheet.id))
        return "Compliance: the contract has not been signed."

    ts.register_submission_guard(compliance)
    try:
        sheet = world.fill()
        with pytest.raises(RuleViolation, match="Compliance: the contract"):
            world.submit(sheet)
    finally:
        ts.unregister_submission_guard(compliance)
    assert calls == [(world.engagement.id, sheet.id)] and sheet.state == "draft"
    world.submit(sheet)
    assert sheet.state == "submitted"


def test_a_trial_engagement_keeps_its_own_limits(session, world):
    trial = world.make_engagement(
        world.org,
        freelancer=world.freelancer,
        kind="trial",
        rate="90",
        manager_id=world.manager.user_id,
        start=date(2026, 5, 1),
        end=date(2026, 5, 30),
    )
    # trial_max_days 30 (the default) from 2026-05-01: the week of 2026-05-25 is inside, and
    # 7 x 600 minutes = 70 h at 90 = 6,300.00 > the 5,000.00 trial budget
    sheet = world.fill(date(2026, 5, 4), (600,) * 7, engagement=trial)
    with pytest.raises(RuleViolation, match="Trial limit: .*5,000.00"):
        world.submit(sheet)
    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        entries=[{"work_date": "2026-05-04", "minutes": 600}],  # 900.00
    )
    world.submit(sheet)
    assert sheet.state == "submitted"


def test_a_trial_records_time_within_its_days_only(session, world):
    from fms.workforce.models import WorkforceSettings

    session.add(WorkforceSettings(org_id=world.org.id, trial_max_days=10, trial_max_budget=5000))
    trial = world.make_engagement(
        world.org,
        freelancer=world.freelancer,
        kind="trial",
        manager_id=world.manager.user_id,
        start=date(2026, 5, 1),
        end=date(2026, 5, 30),
    )
    sheet = world.fill(date(2026, 5, 11), (60,), engagement=trial)  # day 11 of a 10-day trial
    with pytest.raises(RuleViolation, match="Trial limit: .*first 10 days"):
        world.submit(sheet)


def test_a_late_week_of_a_closed_period_may_still_be_submitted(session, world):
    ts.lock_period(
        session, actor=world.procurement, period_start="2026-03-01", period_end="2026-03-31"
    )
    with pytest.raises(AlreadyExists):
        ts.lock_period(
            session, actor=world.procurement, period_start="2026-03-01", period_end="2026-03-31"
        )
    result = world.submit(world.fill())
    assert result.sheet.state == "submitted"
    assert result.warnings == [
        "This week is in a closed billing period: it bills in the next close."
    ]
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=result.sheet.id)


# --- review ----------------------------------------------------------------------------------


def test_who_decides_a_sheet(session, world):
    sheet = world.submit(world.fill()).sheet
    for outsider in (world.manager2, world.stand_in, world.me):
        with pytest.raises(NotAllowed):
            ts.approve_timesheet(session, actor=outsider, timesheet_id=sheet.id)
    assert sheet.state == "submitted"
    ts.approve_timesheet(session, actor=world.procurement, timesheet_id=sheet.id)
    assert sheet.state == "approved"


def test_after_a_manager_transfer_the_new_manager_reviews_the_week(session, world):
    # transfer from Wednesday 2026-03-04: Friday's manager (manager2) decides the week
    world.amend("manager_transfer", "2026-03-04", new_hiring_manager_user_id=world.manager2.user_id)
    sheet = world.submit(world.fill()).sheet
    with pytest.raises(NotAllowed):
        ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    ts.approve_timesheet(session, actor=world.manager2, timesheet_id=sheet.id)
    # the week before is still the first manager's
    earlier = world.submit(world.fill(MONDAY - timedelta(weeks=1))).sheet
    with pytest.raises(NotAllowed):
        ts.approve_timesheet(session, actor=world.manager2, timesheet_id=earlier.id)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=earlier.id)


def test_reject_needs_a_comment_and_the_freelancer_edits_again(session, world):
    sheet = world.submit(world.fill()).sheet
    with pytest.raises(InvalidInput, match="Say why"):
        ts.reject_timesheet(session, actor=world.manager, timesheet_id=sheet.id, comment="  ")
    assert sheet.state == "submitted"
    ts.reject_timesheet(session, actor=world.manager, timesheet_id=sheet.id, comment="Tuesday?")
    assert (sheet.state, sheet.decision_comment) == ("rejected", "Tuesday?")
    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        entries=[{"work_date": "2026-03-03", "minutes": 300}],
    )
    assert sheet.state == "draft"
    world.submit(sheet)
    assert sheet.state == "submitted"


def test_a_decided_sheet_is_decided_once_and_never_edited(session, world):
    sheet = world.submit(world.fill()).sheet
    with pytest.raises(RuleViolation, match="can no longer be edited"):
        ts.save_entries(session, actor=world.me, timesheet_id=sheet.id, entries=[])
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    with pytest.raises(RuleViolation, match="already been decided"):
        ts.approve_timesheet(session, actor=world.procurement, timesheet_id=sheet.id)
    with pytest.raises(RuleViolation, match="already been decided"):
        ts.reject_timesheet(session, actor=world.manager, timesheet_id=sheet.id, comment="No")
    with pytest.raises(RuleViolation, match="approved: it can no longer be edited .*adjustment"):
        ts.save_entries(
            session,
            actor=world.me,
            timesheet_id=sheet.id,
            entries=[{"work_date": "2026-03-02", "minutes": 1}],
        )
    assert _entries(session, sheet) == [(MONDAY, 480)]


# --- bulk approval ---------------------------------------------------------------------------


def test_bulk_preview_and_approval_report_what_changed_meanwhile(session, world):
    sheets = add_submitted_sheets(session, world, 4)
    other_manager = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager2.user_id
    )
    theirs = add_submitted_sheets(session, world, 1, engagement=other_manager)[0]
    ids = [s.id for s in sheets] + [theirs.id]
    preview = ts.preview_bulk_approval(session, actor=world.manager, timesheet_ids=ids)
    # 4 sheets x 480 minutes at 90/h = 4 x 720.00
    assert (preview.count, preview.minutes) == (4, 1920)
    assert preview.amounts == {"EUR": Decimal("2880.00")}
    assert preview.skipped == {theirs.id: "not yours to decide"}
    # meanwhile one is rejected by procurement
    ts.reject_timesheet(session, actor=world.procurement, timesheet_id=sheets[0].id, comment="x")
    result = ts.bulk_approve(session, actor=world.manager, timesheet_ids=[str(i) for i in ids])
    assert result.approved == sorted(s.id for s in sheets[1:])
    assert result.changed_meanwhile == [sheets[0].id]
    assert result.not_allowed == [theirs.id]
    states = dict(session.execute(select(Timesheet.id, Timesheet.state)).all())
    assert states[sheets[0].id] == "rejected" and states[theirs.id] == "submitted"
    assert {states[s.id] for s in sheets[1:]} == {"approved"}
    entries = session.scalars(
        select(AuditEntry.entity_id).where(AuditEntry.action == "timesheet.approved")
    ).all()
    assert sorted(entries) == result.approved
    assert audit.verify_chain(session, world.org.id).ok


@pytest.mark.parametrize("values", [[], ["x"], [0], [2**63], list(range(1, 1002))])
def test_bulk_input_is_checked(session, world, values):
    with pytest.raises(InvalidInput):
        ts.bulk_approve(session, actor=world.manager, timesheet_ids=values)


def test_bulk_approval_runs_a_fixed_number_of_statements(session, world, query_counter):
    audit.start_chain(session, world.org.id)  # an organization has its chain from the start
    counts = {}
    for size in (10, 500):
        fresh = world.make_engagement(
            world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
        )
        sheets = add_submitted_sheets(session, world, size, engagement=fresh)
        ids = [s.id for s in sheets]
        session.expire_all()
        with query_counter() as preview_statements:
            preview = ts.preview_bulk_approval(session, actor=world.manager, timesheet_ids=ids)
        assert preview.count == size
        session.expire_all()
        with query_counter() as statements:
            result = ts.bulk_approve(session, actor=world.manager, timesheet_ids=ids)
        assert len(result.approved) == size
        counts[size] = (len(preview_statements), len(statements))
    # preview: sheets, engagements, terms, delegations, entries, then pricing's engagements,
    # terms and rounding; approval: sheets, engagements, terms, delegations, the audit head
    # taken, the UPDATE ... RETURNING, the head advanced by N, one executemany INSERT of the
    # entries, the head's last hash; then the notifications: reviewers' settled, the
    # freelancers, the people and their choices, one INSERT ... RETURNING of the inbox rows
    # (approvals go to the inbox by default: no mail)
    assert counts[10] == counts[500] == (8, 14)
    assert audit.verify_chain(session, world.org.id).ok


def test_the_audit_batch_writer_keeps_the_chain(session, world):
    audit.record(session, world.manager, "x.before", entity_type="x", entity_id=1)
    written = audit.record_many(
        session,
        world.manager,
        [audit.Change("x.batch", "x", n, after={"n": n, "iban": "DE00"}) for n in range(5)],
    )
    audit.record(session, world.manager, "x.after", entity_type="x", entity_id=2)
    assert written == 5
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "x").order_by(AuditEntry.seq)
    ).all()
    assert [r.action for r in rows] == ["x.before"] + ["x.batch"] * 5 + ["x.after"]
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + 7))
    assert rows[1].after == {"n": 0, "iban": "set"}  # redacted as record() does
    assert audit.verify_chain(session, world.org.id).ok


# --- adjustments -----------------------------------------------------------------------------


def test_an_adjustment_corrects_approved_time_through_approval(session, world):
    sheet = world.fill()
    with pytest.raises(RuleViolation, match="Adjustments correct approved time"):
        ts.create_adjustment(
            session,
            actor=world.me,
            timesheet_id=sheet.id,
            work_date="2026-03-02",
            minutes=60,
            reason="Forgot",
        )
    world.submit(sheet)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    for bad in (
        {"minutes": -481},  # 480 recorded: the day would be negative
        {"minutes": 961},  # 480 + 961 > 24 h
        {"minutes": "1.5"},
        {"minutes": 0},
        {"minutes": 60, "amount": "10"},
        {"amount": "10.001"},  # EUR has cents
        {"amount": "abc"},
        {"minutes": 60, "work_date": "2026-03-09"},  # outside the sheet's week
        {"minutes": 60, "reason": ""},
    ):
        values = {"work_date": "2026-03-02", "reason": "Forgot", **bad}
        with pytest.raises(InvalidInput):
            ts.create_adjustment(session, actor=world.me, timesheet_id=sheet.id, **values)
    assert _count(session, Adjustment) == 0
    adjustment = ts.create_adjustment(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        work_date="2026-03-02",
        minutes=-60,
        reason="Lunch was counted",
    )
    ts.submit_adjustment(session, actor=world.me, adjustment_id=adjustment.id)
    with pytest.raises(InvalidInput):
        ts.decide_adjustment(
            session, actor=world.manager, adjustment_id=adjustment.id, approve=False
        )
    with pytest.raises(NotAllowed):
        ts.decide_adjustment(
            session, actor=world.manager2, adjustment_id=adjustment.id, approve=True
        )
    ts.decide_adjustment(session, actor=world.manager, adjustment_id=adjustment.id, approve=True)
    assert adjustment.state == "approved"
    with pytest.raises(RuleViolation, match="already been decided"):
        ts.decide_adjustment(
            session, actor=world.procurement, adjustment_id=adjustment.id, approve=True
        )
    assert _entries(session, sheet) == [(MONDAY, 480)]  # the approved sheet never changed


# --- invoicing's marks -------------------------------------------------------------------------


def test_days_are_invoiced_one_by_one_and_once(session, world):
    sheet = world.submit(world.fill(minutes=(480, 480))).sheet
    monday, tuesday = session.scalars(
        select(TimesheetEntry.id)
        .where(TimesheetEntry.timesheet_id == sheet.id)
        .order_by(TimesheetEntry.work_date)
    ).all()
    with pytest.raises(RuleViolation, match="not approved"):
        ts.mark_invoiced(session, actor=world.procurement, entry_ids=[monday], invoice_id=1)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    assert (
        ts.mark_invoiced(session, actor=world.procurement, entry_ids=[monday], invoice_id=1) == []
    )
    with pytest.raises(RuleViolation, match="invoiced already"):
        ts.mark_invoiced(
            session, actor=world.procurement, entry_ids=[monday, tuesday], invoice_id=2
        )
    assert ts.mark_invoiced(
        session, actor=world.procurement, entry_ids=[tuesday], invoice_id=2
    ) == [sheet.id]
    session.expire_all()
    assert session.get(Timesheet, sheet.id).state == "invoiced"
    assert audit.verify_chain(session, world.org.id).ok


# --- week start ------------------------------------------------------------------------------


def test_a_new_week_start_applies_to_weeks_that_begin_after_the_change(
    session, world, make_member, actor_of
):
    admin = actor_of(make_member(world.org, roles=("org_admin",)))
    with pytest.raises(InvalidInput):
        ts.set_week_start(session, actor=admin, weekday="7", today=date(2026, 3, 4))
    with pytest.raises(NotAllowed):
        ts.set_week_start(session, actor=world.manager, weekday=6, today=date(2026, 3, 4))
    # chosen on Wednesday 2026-03-04: the Monday week ends Sunday 2026-03-08; the first
    # Sunday after it is 2026-03-15; 2026-03-09..14 is a short transitional week
    row = ts.set_week_start(session, actor=admin, weekday=6, today=date(2026, 3, 4))
    assert row.effective_from == date(2026, 3, 15)
    with pytest.raises(RuleViolation, match="already takes effect on 2026-03-15"):
        ts.set_week_start(session, actor=admin, weekday=2, today=date(2026, 3, 5))
    short = ts.open_timesheet(
        session, actor=world.me, engagement_id=world.engagement.id, week_start="2026-03-09"
    )
    assert (short.week_start, short.week_end) == (date(2026, 3, 9), date(2026, 3, 14))
    sunday = ts.open_timesheet(
        session, actor=world.me, engagement_id=world.engagement.id, week_start="2026-03-15"
    )
    assert sunday.week_end == date(2026, 3, 21)
    with pytest.raises(InvalidInput, match="that week starts on 2026-03-15"):
        ts.open_timesheet(
            session, actor=world.me, engagement_id=world.engagement.id, week_start="2026-03-16"
        )


# --- milestones ------------------------------------------------------------------------------


def test_a_milestone_is_delivered_then_accepted_or_sent_back(session, world):
    fixed = world.make_engagement(
        world.org,
        freelancer=world.freelancer,
        kind="fixed",
        rate="1",
        manager_id=world.manager.user_id,
        start=date(2027, 1, 1),
        end=date(2027, 6, 30),
    )
    with pytest.raises(RuleViolation, match="fixed-fee"):
        milestones.create_milestone(
            session,
            actor=world.procurement,
            engagement_id=world.engagement.id,
            title="X",
            amount="100",
            due_date="2026-06-01",
        )
    for bad in ({"amount": "-1"}, {"amount": "1.234"}, {"due_date": "2028-01-01"}, {"title": ""}):
        values = {"title": "Design", "amount": "12500.00", "due_date": "2027-03-31", **bad}
        with pytest.raises(InvalidInput):
            milestones.create_milestone(
                session, actor=world.procurement, engagement_id=fixed.id, **values
            )
    milestone = milestones.create_milestone(
        session,
        actor=world.procurement,
        engagement_id=fixed.id,
        title="Design",
        amount="12500.00",
        due_date="2027-03-31",
    )
    assert (milestone.amount, milestone.currency) == (Decimal("12500.0000"), "EUR")
    with pytest.raises(NotFound):
        milestones.deliver_milestone(session, actor=world.manager, milestone_id=milestone.id)
    milestones.deliver_milestone(session, actor=world.me, milestone_id=milestone.id)
    with pytest.raises(InvalidInput):
        milestones.decide_milestone(
            session, actor=world.manager, milestone_id=milestone.id, accept=False
        )
    milestones.decide_milestone(
        session, actor=world.manager, milestone_id=milestone.id, accept=False, comment="Colours"
    )
    assert milestone.state == "sent_back"
    milestones.deliver_milestone(session, actor=world.me, milestone_id=milestone.id)
    milestones.decide_milestone(
        session, actor=world.manager, milestone_id=milestone.id, accept=True
    )
    assert milestone.state == "accepted"
    with pytest.raises(RuleViolation, match="already been decided"):
        milestones.decide_milestone(
            session, actor=world.procurement, milestone_id=milestone.id, accept=True
        )
    assert _count(session, Milestone) == 1


# --- reads -----------------------------------------------------------------------------------


def test_the_review_queue_shows_the_reviewers_sheets_priced(session, world):
    world.set_terms(overtime_rate=Decimal(135))
    world.amend("manager_transfer", "2026-03-04", new_hiring_manager_user_id=world.manager2.user_id)
    sheet = world.submit(world.fill(minutes=(600, 480)), today=date(2026, 3, 10)).sheet
    from fms.timesheets import queries

    assert queries.review_queue(session, actor=world.manager, today=date(2026, 3, 13)) == []
    (row,) = queries.review_queue(session, actor=world.manager2, today=date(2026, 3, 13))
    assert row.sheet.id == sheet.id
    assert row.freelancer_name == world.freelancer.display_name
    # 600 + 480 minutes: 960 at 90 = 1,440.00; 120 overtime at 135 = 270.00
    assert (row.minutes, row.overtime_minutes) == (1080, 120)
    assert row.amounts == {"EUR": Decimal("1710.00")}
    # Monday and Tuesday fell under the first manager
    assert row.other_manager_days == [date(2026, 3, 2), date(2026, 3, 3)]
    (history,) = queries.freelancer_history(session, actor=world.me, today=date(2026, 3, 13))
    assert history.sheet.id == sheet.id and history.amounts == {"EUR": Decimal("1710.00")}


def test_queue_and_history_run_a_fixed_number_of_statements(session, world, query_counter):
    from fms.timesheets import queries

    counts = {}
    for size in (10, 500):
        fresh = world.make_engagement(
            world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
        )
        add_submitted_sheets(session, world, size, engagement=fresh)
        session.expire_all()
        with query_counter() as queue_statements:
            queue = queries.review_queue(
                session, actor=world.manager, today=date(2026, 12, 1), with_budget=False
            )
        session.expire_all()
        with query_counter() as budget_statements:
            budgets = queries.queue_budgets(session, actor=world.manager, today=date(2026, 12, 1))
        assert set(budgets) == {s.sheet.engagement_id for s in queue}
        session.expire_all()
        with query_counter() as history_statements:
            history = queries.freelancer_history(
                session, actor=world.me, today=date(2026, 12, 1), limit=1000
            )
        assert len(queue) == len(history) == (10 if size == 10 else 510)
        counts[size] = (
            len(queue_statements),
            len(history_statements),
            len(budget_statements),
        )
    # queue: sheets, engagements, terms, delegations, names, entries, pricing's three;
    # history: the profile, sheets, entries, pricing's three; budgets: the queue's four,
    # the counted sheets, their entries and pricing's three, adjustments, milestones,
    # expenses
    assert counts[10] == counts[500] == (9, 6, 12)


def test_the_queue_shows_each_engagements_budget_used(session, world):
    """Spend counted as for the cap (submitted and approved, priced per day) against the
    cap in effect today: 16 h at 90 = 1,440 of 2,000 is 72 % (rounded down)."""
    from fms.timesheets import queries

    world.set_terms(rate=Decimal("90"), budget_cap=Decimal("2000"))
    first = world.fill(minutes=(480,))
    world.submit(first)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=first.id)
    second = world.fill(week_start=MONDAY + timedelta(weeks=1), minutes=(480,))
    world.submit(second)
    draft = world.fill(week_start=MONDAY + timedelta(weeks=2), minutes=(480,))
    assert draft.state == "draft"  # a draft is not spend
    [row] = queries.review_queue(session, actor=world.manager, today=date(2026, 3, 20))
    assert row.sheet.id == second.id and row.budget_used_percent == 72
    budgets = queries.queue_budgets(session, actor=world.manager, today=date(2026, 3, 20))
    assert budgets == {world.engagement.id: 72}


# --- expenses --------------------------------------------------------------------------------


def test_an_expense_is_checked_then_decided_once(session, world):
    from fms.timesheets import expenses
    from fms.timesheets.models import Expense

    good = {
        "engagement_id": world.engagement.id,
        "spent_on": "2026-03-03",
        "category": "travel",
        "amount": "49.90",
        "currency": "CHF",
    }
    for bad in (
        {"spent_on": "2027-01-05"},  # after the engagement
        {"category": "gifts"},
        {"amount": "-5"},
        {"amount": "4.999"},
        {"amount": "1e3x"},
        {"currency": "EURO"},
        {"receipt_sha256": "not-a-hash"},
    ):
        with pytest.raises(InvalidInput):
            expenses.create_expense(session, actor=world.me, **{**good, **bad})
    with pytest.raises(NotFound):
        expenses.create_expense(session, actor=world.manager, **good)
    assert _count(session, Expense) == 0
    expense = expenses.create_expense(session, actor=world.me, **good)
    assert (expense.amount, expense.currency) == (Decimal("49.90"), "CHF")
    expenses.submit_expense(session, actor=world.me, expense_id=expense.id)
    with pytest.raises(NotAllowed):
        expenses.decide_expense(session, actor=world.manager2, expense_id=expense.id, approve=True)
    with pytest.raises(InvalidInput):
        expenses.decide_expense(session, actor=world.manager, expense_id=expense.id, approve=False)
    expenses.decide_expense(session, actor=world.manager, expense_id=expense.id, approve=True)
    with pytest.raises(RuleViolation, match="already been decided"):
        expenses.decide_expense(
            session, actor=world.procurement, expense_id=expense.id, approve=True
        )
    assert expense.state == "approved"


def test_adjustments_milestones_and_expenses_are_invoiced_once(session, world):
    sheet = world.submit(world.fill()).sheet
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    adjustment = ts.create_adjustment(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        work_date="2026-03-02",
        minutes=30,
        reason="Call",
    )
    with pytest.raises(RuleViolation, match="not approved"):
        ts.mark_items_invoiced(
            session,
            actor=world.procurement,
            model=Adjustment,
            item_ids=[adjustment.id],
            invoice_id=7,
        )
    ts.submit_adjustment(session, actor=world.me, adjustment_id=adjustment.id)
    ts.decide_adjustment(session, actor=world.manager, adjustment_id=adjustment.id, approve=True)
    assert ts.mark_items_invoiced(
        session,
        actor=world.procurement,
        model=Adjustment,
        item_ids=[adjustment.id],
        invoice_id=7,
    ) == [adjustment.id]
    with pytest.raises(RuleViolation, match="invoiced already"):
        ts.mark_items_invoiced(
            session,
            actor=world.procurement,
            model=Adjustment,
            item_ids=[adjustment.id],
            invoice_id=8,
        )
    session.expire_all()
    row = session.get(Adjustment, adjustment.id)
    assert (row.state, row.invoice_id) == ("invoiced", 7)
    assert audit.verify_chain(session, world.org.id).ok


def test_nobody_decides_their_own_time(session, world):
    # the freelancer's own account also holds procurement in this organization
    me_as_procurement = world.me.__class__(
        user_id=world.me.user_id,
        org_id=world.org.id,
        roles=frozenset({"freelancer", "procurement"}),
    )
    sheet = world.submit(world.fill()).sheet
    with pytest.raises(NotAllowed, match="your own"):
        ts.approve_timesheet(session, actor=me_as_procurement, timesheet_id=sheet.id)
    assert sheet.state == "submitted"


def test_bulk_approval_skips_the_actors_own_sheets(session, world):
    me_as_procurement = world.me.__class__(
        user_id=world.me.user_id,
        org_id=world.org.id,
        roles=frozenset({"freelancer", "procurement"}),
    )
    sheets = add_submitted_sheets(session, world, 2)
    result = ts.bulk_approve(session, actor=me_as_procurement, timesheet_ids=[s.id for s in sheets])
    assert result.approved == [] and result.not_allowed == sorted(s.id for s in sheets)


def test_an_adjustment_stays_within_the_budget_cap(session, world):
    world.set_terms(budget_cap=Decimal(1000))
    sheet = world.submit(world.fill(minutes=(600,))).sheet  # 900.00
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    # +60 minutes = 90.00 -> 990.00: within; +120 more = 180.00 -> 1,170.00: past the cap
    within = ts.create_adjustment(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        work_date="2026-03-03",
        minutes=60,
        reason="Review call",
    )
    ts.submit_adjustment(session, actor=world.me, adjustment_id=within.id)
    past = ts.create_adjustment(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        work_date="2026-03-04",
        minutes=120,
        reason="More",
    )
    with pytest.raises(RuleViolation, match="Budget cap: .*1,170.00 of the 1,000.00 EUR cap"):
        ts.submit_adjustment(session, actor=world.me, adjustment_id=past.id)
    assert past.state == "draft"
    # a negative correction always goes through
    back = ts.create_adjustment(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        work_date="2026-03-02",
        minutes=-600,
        reason="Wrong engagement",
    )
    ts.submit_adjustment(session, actor=world.me, adjustment_id=back.id)
    assert back.state == "submitted"


# --- rules found in the last review -----------------------------------------------------------


def _fixed(world, cap):
    return world.fixed_engagement(budget_cap=Decimal(cap))


def _milestone(session, world, engagement, amount, **kw):
    return milestones.create_milestone(
        session,
        actor=world.procurement,
        engagement_id=engagement.id,
        title="Deliverable",
        amount=amount,
        due_date="2026-06-30",
        **kw,
    )


def test_milestones_count_against_the_budget_cap_at_delivery_and_acceptance(session, world):
    fixed = _fixed(world, 1000)
    first = _milestone(session, world, fixed, "900.00")
    milestones.deliver_milestone(session, actor=world.me, milestone_id=first.id)  # 90 %
    second = _milestone(session, world, fixed, "200.00")
    with pytest.raises(RuleViolation, match="Budget cap: .*1,100.00 of the 1,000.00 EUR cap"):
        milestones.deliver_milestone(session, actor=world.me, milestone_id=second.id)
    assert second.state == "draft"
    # acceptance checks the cap in effect too (here lowered behind its back)
    world.set_terms(engagement=fixed, budget_cap=Decimal(800))
    with pytest.raises(RuleViolation, match="Budget cap: .*900.00 of the 800.00 EUR cap"):
        milestones.decide_milestone(
            session, actor=world.manager, milestone_id=first.id, accept=True
        )
    assert first.state == "delivered"


def test_expenses_in_the_engagements_currency_count_against_the_budget_cap(session, world):
    from fms.timesheets import expenses

    world.set_terms(budget_cap=Decimal(1000))

    def expense(amount, currency="EUR"):
        row = expenses.create_expense(
            session,
            actor=world.me,
            engagement_id=world.engagement.id,
            spent_on="2026-03-03",
            category="travel",
            amount=amount,
            currency=currency,
        )
        expenses.submit_expense(session, actor=world.me, expense_id=row.id)
        return row

    expense("5000.00", "CHF")  # another currency: another invoice, not this cap
    expense("400.00")
    # 480 minutes at 90/h = 720.00 + 400.00 = 1,120.00
    sheet = world.fill(minutes=(480,))
    with pytest.raises(RuleViolation, match="Budget cap: .*1,120.00 of the 1,000.00 EUR cap"):
        world.submit(sheet)
    world.submit(world.fill(MONDAY + timedelta(weeks=1), (240,)))  # 360.00 -> 760.00
    with pytest.raises(RuleViolation, match="Budget cap: .*1,060.00 of the 1,000.00 EUR cap"):
        expense("300.00")


def test_minute_adjustments_count_toward_the_24_hour_day(session, world):
    other = world.make_engagement(
        world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
    )
    sheet = world.submit(world.fill(minutes=(900,))).sheet
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)

    def adjust(minutes):
        return ts.create_adjustment(
            session,
            actor=world.me,
            timesheet_id=sheet.id,
            work_date="2026-03-02",
            minutes=minutes,
            reason="Forgot the evening",
        )

    more, draft = adjust(300), adjust(200)  # the draft: 23:20 when drafted
    ts.submit_adjustment(session, actor=world.me, adjustment_id=more.id)
    ts.decide_adjustment(session, actor=world.manager, adjustment_id=more.id, approve=True)
    # an approved adjustment counts: 900 + 300 + 300 = 25:00
    second = world.fill(minutes=(300,), engagement=other)
    with pytest.raises(RuleViolation, match="24-hour day: .*2026-03-02 would have 25:00"):
        world.submit(second)
    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=second.id,
        entries=[{"work_date": "2026-03-02", "minutes": 180}],
    )
    world.submit(second)  # 900 + 300 + 180 = 23:00
    # a draft adjustment is checked again at its submission: 23:00 + 200 = 26:20
    with pytest.raises(RuleViolation, match="24-hour day: .*2026-03-02 would have 26:20"):
        ts.submit_adjustment(session, actor=world.me, adjustment_id=draft.id)
    assert draft.state == "draft"


def test_milestone_rights_follow_the_manager_of_today(session, world):
    fixed = _fixed(world, 100000)
    world.amend(
        "manager_transfer",
        "2026-05-01",
        engagement=fixed,
        new_hiring_manager_user_id=world.manager2.user_id,
    )
    today = date(2026, 5, 15)
    with pytest.raises(NotAllowed):
        milestones.create_milestone(
            session,
            actor=world.manager,
            engagement_id=fixed.id,
            title="X",
            amount="10.00",
            due_date="2026-06-30",
            today=today,
        )
    row = milestones.create_milestone(
        session,
        actor=world.manager2,
        engagement_id=fixed.id,
        title="X",
        amount="10.00",
        due_date="2026-03-31",
        today=today,
    )
    milestones.deliver_milestone(session, actor=world.me, milestone_id=row.id)
    # due under the first manager, decided today: today's manager decides
    with pytest.raises(NotAllowed):
        milestones.decide_milestone(
            session, actor=world.manager, milestone_id=row.id, accept=True, today=today
        )
    milestones.decide_milestone(
        session, actor=world.manager2, milestone_id=row.id, accept=True, today=today
    )
    assert row.state == "accepted"


def test_a_delegate_acts_on_the_days_of_the_delegation_whatever_the_week(session, world):
    from fms.timesheets import queries

    delegate(session, world, date(2026, 3, 1), date(2026, 3, 10))
    early = world.submit(world.fill(MONDAY - timedelta(weeks=2))).sheet  # 16-22 February
    late = world.submit(world.fill(MONDAY + timedelta(weeks=2))).sheet  # 16-22 March
    during, after = date(2026, 3, 5), date(2026, 3, 11)
    queue = queries.review_queue(session, actor=world.stand_in, today=during)
    assert [r.sheet.id for r in queue] == [early.id, late.id]
    assert queries.review_queue(session, actor=world.stand_in, today=after) == []
    with pytest.raises(NotAllowed):
        ts.approve_timesheet(session, actor=world.stand_in, timesheet_id=early.id, today=after)
    ts.approve_timesheet(session, actor=world.stand_in, timesheet_id=early.id, today=during)
    result = ts.bulk_approve(session, actor=world.stand_in, timesheet_ids=[late.id], today=after)
    assert result.not_allowed == [late.id]
    ts.reject_timesheet(
        session, actor=world.stand_in, timesheet_id=late.id, comment="No", today=during
    )
    assert (early.state, late.state) == ("approved", "rejected")


def test_an_expense_receipt_is_the_stored_file_with_its_hash(session, world):
    from fms import storage
    from fms.timesheets import expenses

    def upload(name, by):
        return storage.store(
            session,
            org_id=world.org.id,
            filename=name,
            data=b"%PDF-1.7\n" + name.encode() + b"\n%%EOF\n",
            allowed_kinds=storage.RECEIPT_KINDS,
            max_bytes=10_000,
            created_by=by.user_id,
        )

    stored = upload("train.pdf", world.me)
    good = {
        "engagement_id": world.engagement.id,
        "spent_on": "2026-03-03",
        "category": "travel",
        "amount": "49.90",
        "currency": "EUR",
    }
    # a hash the client makes up is no receipt
    with pytest.raises(InvalidInput):
        expenses.create_expense(session, actor=world.me, **good, receipt_sha256="ab" * 32)
    with pytest.raises(InvalidInput):
        expenses.create_expense(
            session, actor=world.me, **good, receipt_file_id=stored.id, receipt_sha256="ab" * 32
        )
    # someone else's upload is not the freelancer's receipt
    theirs = upload("contract.pdf", world.manager)
    with pytest.raises(NotFound):
        expenses.create_expense(session, actor=world.me, **good, receipt_file_id=theirs.id)
    expense = expenses.create_expense(session, actor=world.me, **good, receipt_file_id=stored.id)
    assert expense.receipt_file_id == stored.id
    assert expense.receipt_sha256 == stored.sha256
    assert expense.receipt_name == "train.pdf"
    assert expenses.receipt_of(session, expense) is stored
    # named by the hash of the freelancer's own upload: the same stored row
    by_hash = expenses.create_expense(session, actor=world.me, **good, receipt_sha256=stored.sha256)
    assert by_hash.receipt_file_id == stored.id
    with pytest.raises(InvalidInput):  # the hash of someone else's upload
        expenses.create_expense(session, actor=world.me, **good, receipt_sha256=theirs.sha256)
    # attached later: the same, and only the freelancer's own upload
    later = expenses.create_expense(session, actor=world.me, **good)
    with pytest.raises(NotFound):
        expenses.attach_receipt(
            session, actor=world.me, expense_id=later.id, receipt_file_id=theirs.id
        )
    expenses.attach_receipt(session, actor=world.me, expense_id=later.id, receipt_file_id=stored.id)
    assert (later.receipt_file_id, later.receipt_sha256) == (stored.id, stored.sha256)


def test_every_action_timesheets_write_has_words(app):
    import re
    from pathlib import Path

    from fms.audit import hooks
    from fms.timesheets import rules

    written = set()
    for path in (Path(ts.__file__).parent).glob("*.py"):
        for call in re.finditer(r"audit\.record\((.{0,200}?)\)", path.read_text(), re.S):
            written.update(re.findall(r'"([a-z_]+\.[a-z_]+)"', call.group(1)))
    for table, entity in (
        (rules.SHEET_TRANSITIONS, "timesheet"),
        (rules.ADJUSTMENT_TRANSITIONS, "timesheet_adjustment"),
        (rules.MILESTONE_TRANSITIONS, "milestone"),
        (rules.EXPENSE_TRANSITIONS, "expense"),
    ):
        written |= {f"{entity}.{state}" for state in set().union(*table.values())}
    assert "timesheet.created" in written and "expense.receipt_attached" in written
    assert not {a for a in written if a not in hooks.known_actions()}
