"""Timesheet routes of /api/v1: sheets, entries, milestones, expenses, approvals, adjustments.

The routes parse, call the services (which check permission, ownership and state) and
answer; the lists are fms/timesheets/lists.py's specs, as the pages read them. Another
organization's id, or an object the actor may not see, answers 404 before the body is
looked at.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fms import money, storage
from fms.api import etag
from fms.api.common import API_PREFIX, page_body, updated_since_field
from fms.api.idempotency import idempotent
from fms.errors import NotFound, RuleViolation
from fms.extensions import db
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.lists import api_page, api_schema
from fms.tenancy import get_in_org
from fms.timesheets import expenses, milestones, pricing, queries, rules, schemas, services
from fms.timesheets.lists import EXPENSES, MILESTONES, TIMESHEETS
from fms.timesheets.models import (
    Adjustment,
    Expense,
    Milestone,
    TaskCode,
    TimeRounding,
    Timesheet,
)
from fms.workforce.models import Engagement, Freelancer

blp = Blueprint(
    "timesheets_api", __name__, url_prefix=API_PREFIX, description="Timesheets and their review"
)
# integrations poll changed sheets with `?updated_since=` (fms.modified)
TIMESHEET_QUERY = api_schema(
    TIMESHEETS, "TimesheetQuery", extra={"updated_since": updated_since_field()}
)
MILESTONE_QUERY = api_schema(MILESTONES, "MilestoneQuery")
EXPENSE_QUERY = api_schema(EXPENSES, "ExpenseQuery")
# a refused rule or a lost race (already decided, one sheet per week): problem+json 409
conflict = blp.alt_response(409, response="CONFLICT")
RECEIPT_TYPES = storage.openapi_content(storage.RECEIPT_KINDS)


# --- visibility: 404 first -----------------------------------------------------------------


def _visible_engagement(actor, engagement_id: int) -> None:
    services.visible_engagement(db.session, actor, engagement_id)


def _own(actor, engagement_id: int, message: str) -> None:
    services.freelancers_own(db.session, actor, engagement_id, message)


def _milestone(actor, milestone_id) -> Milestone:
    row = get_in_org(db.session, Milestone, milestone_id, what="milestone")
    _visible_engagement(actor, row.engagement_id)
    return row


def _expense(actor, expense_id) -> Expense:
    row = get_in_org(db.session, Expense, expense_id, what="expense")
    _visible_engagement(actor, row.engagement_id)
    return row


@blp.before_request
def _objects_first():
    """Another organization's object (or one the actor may not see) is a 404 before the
    request body is even looked at."""
    args = request.view_args or {}
    if not args:
        return
    actor = current_actor()
    if "timesheet_id" in args:
        services.get_timesheet(db.session, actor=actor, timesheet_id=args["timesheet_id"])
    if "adjustment_id" in args:
        row = get_in_org(db.session, Adjustment, args["adjustment_id"], what="adjustment")
        services.get_timesheet(db.session, actor=actor, timesheet_id=row.timesheet_id)
    if "milestone_id" in args:
        _milestone(actor, args["milestone_id"])
    if "expense_id" in args:
        _expense(actor, args["expense_id"])
    if "task_code_id" in args:
        get_in_org(db.session, TaskCode, args["task_code_id"], what="task code")
    if "engagement_id" in args:
        get_in_org(db.session, Engagement, args["engagement_id"], what="engagement")
        _visible_engagement(actor, args["engagement_id"])


# --- bodies --------------------------------------------------------------------------------


def _days_text(half_days: int) -> str:
    return f"{half_days // 2}" + (".5" if half_days % 2 else "")


def _money(amount, currency: str) -> dict:
    places = money.minor_units(currency)
    return {"amount": f"{Decimal(amount):.{places}f}", "currency": currency}


def _money_list(totals: dict) -> list[dict]:
    return [_money(amount, currency) for currency, amount in sorted(totals.items())]


def _figures(items) -> dict:
    return {
        "minutes": sum(i.quantity for i in items if i.kind in ("time", "overtime")),
        "overtime_minutes": sum(i.quantity for i in items if i.kind == "overtime"),
        "days": _days_text(sum(i.quantity for i in items if i.kind == "day")),
        "amounts": _money_list(pricing.totals_by_currency(items)),
    }


def _sheet_fields(sheet: Timesheet) -> dict:
    return {c.key: getattr(sheet, c.key) for c in Timesheet.__table__.columns}


def _sheet_bodies(rows) -> list[dict]:
    """Sheets (with their freelancer and engagement names) and their priced totals: four
    statements whatever their number."""
    items = pricing.sheet_items(db.session, [sheet.id for sheet, _, _ in rows])
    return [
        _sheet_fields(sheet)
        | {"freelancer": freelancer, "engagement": engagement}
        | _figures(items[sheet.id])
        for sheet, freelancer, engagement in rows
    ]


def _adjustment_body(row: Adjustment) -> dict:
    body = {c.key: getattr(row, c.key) for c in Adjustment.__table__.columns}
    body["amount"] = None if row.amount is None else _money(row.amount, row.currency)
    return body


def _sheet_detail(sheet: Timesheet) -> dict:
    """One sheet with its entries, every day's totals, its priced amounts and adjustments."""
    session = db.session
    names = session.execute(
        select(Freelancer.display_name, Engagement.title)
        .join(Engagement, Engagement.id == sheet.engagement_id)
        .where(Freelancer.id == sheet.freelancer_id)
    ).one()
    items = pricing.sheet_items(session, [sheet.id])[sheet.id]
    body = _sheet_fields(sheet) | {"freelancer": names[0], "engagement": names[1]}
    body |= _figures(items)
    entries = services.entries_of(session, sheet.id)
    codes = dict(
        session.execute(
            select(TaskCode.id, TaskCode.code).where(
                TaskCode.id.in_({e.task_code_id for e in entries if e.task_code_id})
            )
        ).all()
    )
    billable: dict = defaultdict(int)
    for item in items:
        billable[item.work_date] += item.minutes
    by_day = {e.work_date: e for e in entries}
    body["entries"] = [
        {
            "work_date": e.work_date,
            "minutes": e.minutes,
            "days": None if e.half_days is None else _days_text(e.half_days),
            "task_code": codes.get(e.task_code_id),
            "note": e.note,
            "invoiced": e.invoiced_at is not None,
        }
        for e in entries
    ]
    body["day_totals"] = [
        {
            "work_date": day,
            "minutes": by_day[day].minutes if day in by_day else 0,
            "billable_minutes": billable.get(day, 0),
            "days": (
                _days_text(by_day[day].half_days)
                if day in by_day and by_day[day].half_days is not None
                else None
            ),
        }
        for day in rules.days_of(sheet.week_start, sheet.week_end)
    ]
    adjustments = session.scalars(
        select(Adjustment).where(Adjustment.timesheet_id == sheet.id).order_by(Adjustment.id)
    ).all()
    body["adjustments"] = [_adjustment_body(a) for a in adjustments]
    return body


def _priced_body(row, model) -> dict:
    body = {c.key: getattr(row, c.key) for c in model.__table__.columns}
    body["amount"] = _money(row.amount, row.currency)
    return body


# --- timesheets ----------------------------------------------------------------------------


@blp.route("/timesheets")
class Timesheets(MethodView):
    @blp.arguments(TIMESHEET_QUERY, location="query")
    @blp.response(200, schemas.TimesheetPage)
    def get(self, args):
        """Timesheets you may see, with their time and amounts.

        A freelancer sees their own, a manager their engagements', procurement all; sorted
        and filtered like the list page (`state` takes several, comma-separated)."""
        actor = current_actor()
        context = {"today": org_today(), "updated_since": args.get("updated_since")}
        page = api_page(db.session, TIMESHEETS, args, actor=actor, context=context)
        rows = [(r.Timesheet, r.freelancer, r.engagement) for r in page.rows]
        return page_body(_sheet_bodies(rows), page.total, args)

    @idempotent
    @blp.arguments(schemas.TimesheetOpenIn)
    @blp.response(201, schemas.TimesheetDetailOut)
    @conflict
    def post(self, data):
        """The freelancer opens the week of one of their engagements (409 if it exists)."""
        sheet = services.open_timesheet(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _sheet_detail(sheet)


@blp.route("/timesheets/<int:timesheet_id>")
class TimesheetById(MethodView):
    @etag.documented
    @blp.response(200, schemas.TimesheetDetailOut)
    def get(self, timesheet_id: int):
        """A sheet with its entries, every day's total, amounts and adjustments."""
        sheet = services.get_timesheet(db.session, actor=current_actor(), timesheet_id=timesheet_id)
        return etag.tagged(_sheet_detail(sheet), schemas.TimesheetDetailOut)


@blp.route("/timesheets/<int:timesheet_id>/entries")
class TimesheetEntries(MethodView):
    @etag.documented
    @blp.arguments(schemas.EntriesIn)
    @blp.response(200, schemas.TimesheetDetailOut)
    @conflict
    def put(self, data, timesheet_id: int):
        """The freelancer replaces the week's entries.

        While the sheet is a draft (or rejected): integer minutes a day (0-1440), or
        "0.5"/"1" days on daily-rate engagements; days left out are removed. With
        `If-Match` (the sheet's ETag) only if nobody changed the sheet meanwhile."""
        actor = current_actor()
        sheet = services.get_timesheet(db.session, actor=actor, timesheet_id=timesheet_id)
        etag.check_if_match(lambda: _sheet_detail(sheet), schemas.TimesheetDetailOut, lock=sheet)
        sheet = services.save_entries(
            db.session, actor=actor, timesheet_id=timesheet_id, entries=data["entries"]
        )
        db.session.commit()
        return etag.tagged(_sheet_detail(sheet), schemas.TimesheetDetailOut)


@blp.route("/timesheets/<int:timesheet_id>/copy-previous-week")
class TimesheetCopyPreviousWeek(MethodView):
    @idempotent
    @blp.response(200, schemas.TimesheetDetailOut)
    @conflict
    def post(self, timesheet_id: int):
        """The freelancer fills the week's empty days from the previous week.

        From the engagement's latest earlier sheet: each day without time takes the same
        weekday's time, task code (if still active) and note; days with time keep it. Only
        the sheet's freelancer (403 for others who may see it), only a draft or rejected
        sheet (which becomes a draft); another state, or nothing to copy, is a 409 that
        changes nothing."""
        result = services.copy_previous_week(
            db.session, actor=current_actor(), timesheet_id=timesheet_id
        )
        db.session.commit()
        return _sheet_detail(result.sheet)


@blp.route("/timesheets/<int:timesheet_id>/submit")
class TimesheetSubmit(MethodView):
    @idempotent
    @blp.response(200, schemas.SubmissionOut)
    @conflict
    def post(self, timesheet_id: int):
        """Submit a draft week for review.

        Each refusal (409) names its rule; the answer carries warnings such as the budget
        at 80 % or more."""
        result = services.submit_timesheet(
            db.session, actor=current_actor(), timesheet_id=timesheet_id, today=org_today()
        )
        db.session.commit()
        return {"timesheet": _sheet_detail(result.sheet), "warnings": result.warnings}


@blp.route("/timesheets/<int:timesheet_id>/approve")
class TimesheetApprove(MethodView):
    @idempotent
    @blp.response(200, schemas.TimesheetDetailOut)
    @conflict
    def post(self, timesheet_id: int):
        """The reviewer approves a submitted sheet (409 when already decided)."""
        sheet = services.approve_timesheet(
            db.session, actor=current_actor(), timesheet_id=timesheet_id
        )
        db.session.commit()
        return _sheet_detail(sheet)


@blp.route("/timesheets/<int:timesheet_id>/reject")
class TimesheetReject(MethodView):
    @idempotent
    @blp.arguments(schemas.RejectIn)
    @blp.response(200, schemas.TimesheetDetailOut)
    @conflict
    def post(self, data, timesheet_id: int):
        """The reviewer sends a submitted sheet back with a comment (required)."""
        sheet = services.reject_timesheet(
            db.session, actor=current_actor(), timesheet_id=timesheet_id, comment=data["comment"]
        )
        db.session.commit()
        return _sheet_detail(sheet)


@blp.route("/timesheets/bulk-approval/preview")
class BulkPreview(MethodView):
    @blp.arguments(schemas.BulkIn)
    @blp.response(200, schemas.BulkPreviewOut)
    def post(self, data):
        """Preview a bulk approval.

        Count, time and amount per currency of what it would approve, and which sheets
        are skipped and why. Changes nothing."""
        preview = services.preview_bulk_approval(
            db.session, actor=current_actor(), timesheet_ids=data["timesheet_ids"]
        )
        return {
            "timesheet_ids": preview.timesheet_ids,
            "count": preview.count,
            "minutes": preview.minutes,
            "days": _days_text(preview.half_days),
            "amounts": _money_list(preview.amounts),
            "skipped": [
                {"timesheet_id": key, "reason": reason} for key, reason in preview.skipped.items()
            ],
        }


@blp.route("/timesheets/bulk-approval")
class BulkApprove(MethodView):
    @idempotent
    @blp.arguments(schemas.BulkIn)
    @blp.response(200, schemas.BulkResultOut)
    def post(self, data):
        """Approve many sheets at once.

        Those still submitted that are yours to decide; what changed meanwhile and what is
        not yours are reported, not approved."""
        result = services.bulk_approve(
            db.session, actor=current_actor(), timesheet_ids=data["timesheet_ids"]
        )
        db.session.commit()
        return {
            "approved": result.approved,
            "changed_meanwhile": result.changed_meanwhile,
            "not_allowed": result.not_allowed,
        }


@blp.route("/timesheets/review-queue")
class ReviewQueue(MethodView):
    @blp.response(200, schemas.QueueRowOut(many=True))
    def get(self):
        """Submitted sheets waiting for your decision, oldest week first.

        With the freelancer, age, time, overtime, amounts, the days that fell under
        another manager, and the engagement's budget used."""
        rows = queries.review_queue(db.session, actor=current_actor(), today=org_today())
        return [
            {
                "timesheet_id": row.sheet.id,
                "engagement_id": row.sheet.engagement_id,
                "freelancer": row.freelancer_name,
                "week_start": row.sheet.week_start,
                "week_end": row.sheet.week_end,
                "age_days": row.age_days,
                "minutes": row.minutes,
                "overtime_minutes": row.overtime_minutes,
                "days": _days_text(row.half_days),
                "amounts": _money_list(row.amounts),
                "other_manager_days": row.other_manager_days,
                "budget_used_percent": row.budget_used_percent,
            }
            for row in rows
        ]


# --- adjustments ---------------------------------------------------------------------------


@blp.route("/timesheets/<int:timesheet_id>/adjustments")
class TimesheetAdjustments(MethodView):
    @idempotent
    @blp.arguments(schemas.AdjustmentIn)
    @blp.response(201, schemas.AdjustmentOut)
    @conflict
    def post(self, data, timesheet_id: int):
        """Correct an approved sheet's day.

        By signed minutes or a signed amount, with a reason: a draft, then submitted and
        approved like a sheet."""
        row = services.create_adjustment(
            db.session, actor=current_actor(), timesheet_id=timesheet_id, **data
        )
        db.session.commit()
        return _adjustment_body(row)


@blp.route("/adjustments/<int:adjustment_id>/submit")
class AdjustmentSubmit(MethodView):
    @idempotent
    @blp.response(200, schemas.AdjustmentOut)
    @conflict
    def post(self, adjustment_id: int):
        """Its author submits a draft adjustment (within the budget cap)."""
        row = services.submit_adjustment(
            db.session, actor=current_actor(), adjustment_id=adjustment_id
        )
        db.session.commit()
        return _adjustment_body(row)


# --- milestones ----------------------------------------------------------------------------


@blp.route("/milestones")
class Milestones(MethodView):
    @blp.arguments(MILESTONE_QUERY, location="query")
    @blp.response(200, schemas.MilestonePage)
    def get(self, args):
        """Milestones the signed-in person may see; sorted and filtered like the list."""
        actor = current_actor()
        page = api_page(db.session, MILESTONES, args, actor=actor, context={"today": org_today()})
        bodies = [_priced_body(r.Milestone, Milestone) for r in page.rows]
        return page_body(bodies, page.total, args)

    @idempotent
    @blp.arguments(schemas.MilestoneIn)
    @blp.response(201, schemas.MilestoneOut)
    @conflict
    def post(self, data):
        """Procurement or the manager sets a fixed-fee engagement's deliverable and amount."""
        row = milestones.create_milestone(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _priced_body(row, Milestone)


@blp.route("/milestones/<int:milestone_id>")
class MilestoneById(MethodView):
    @blp.response(200, schemas.MilestoneOut)
    def get(self, milestone_id: int):
        """A milestone of an engagement the signed-in person may see."""
        return _priced_body(_milestone(current_actor(), milestone_id), Milestone)


@blp.route("/milestones/<int:milestone_id>/deliver")
class MilestoneDeliver(MethodView):
    @idempotent
    @blp.response(200, schemas.MilestoneOut)
    @conflict
    def post(self, milestone_id: int):
        """The freelancer marks their milestone delivered (again, after it was sent back)."""
        actor = current_actor()
        _own(actor, _milestone(actor, milestone_id).engagement_id, "The freelancer delivers.")
        row = milestones.deliver_milestone(db.session, actor=actor, milestone_id=milestone_id)
        db.session.commit()
        return _priced_body(row, Milestone)


@blp.route("/milestones/<int:milestone_id>/deliverable")
class MilestoneDeliverable(MethodView):
    @blp.doc(
        responses={"200": {"description": "The deliverable's bytes.", "content": RECEIPT_TYPES}}
    )
    def get(self, milestone_id: int):
        """Download the milestone's deliverable.

        Inside the organization, for those who may see the milestone; 404 otherwise or
        when there is none."""
        row = _milestone(current_actor(), milestone_id)
        stored = milestones.deliverable_of(db.session, row)
        if stored is None:
            raise NotFound("This milestone has no deliverable.")
        return storage.send_stored(stored)

    @blp.arguments(schemas.ReceiptIn, location="files")
    @blp.response(200, schemas.MilestoneOut)
    @conflict
    def post(self, files, milestone_id: int):
        """The freelancer attaches the deliverable to a draft (or sent-back) milestone.

        As multipart/form-data `file`. Its type is decided by its content (PDF, PNG, JPEG,
        WebP, HEIC) and its size is limited; a refusal stores nothing (422)."""
        actor = current_actor()
        _own(actor, _milestone(actor, milestone_id).engagement_id, "The freelancer delivers.")
        upload = files["file"]
        stored = storage.store_upload(db.session, upload, actor=actor, field="file")
        row = milestones.attach_deliverable(
            db.session, actor=actor, milestone_id=milestone_id, file_id=stored.id
        )
        db.session.commit()
        return _priced_body(row, Milestone)


# --- expenses ------------------------------------------------------------------------------


@blp.route("/expenses")
class Expenses(MethodView):
    @blp.arguments(EXPENSE_QUERY, location="query")
    @blp.response(200, schemas.ExpensePage)
    def get(self, args):
        """Expenses the signed-in person may see; sorted and filtered like the list."""
        actor = current_actor()
        page = api_page(db.session, EXPENSES, args, actor=actor, context={"today": org_today()})
        return page_body([_priced_body(r.Expense, Expense) for r in page.rows], page.total, args)

    @idempotent
    @blp.arguments(schemas.ExpenseIn)
    @blp.response(201, schemas.ExpenseOut)
    @conflict
    def post(self, data):
        """The freelancer records an expense.

        Of their active engagement, in its own currency: a draft; upload the receipt, then
        submit."""
        row = expenses.create_expense(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _priced_body(row, Expense)


@blp.route("/expenses/<int:expense_id>")
class ExpenseById(MethodView):
    @blp.response(200, schemas.ExpenseOut)
    def get(self, expense_id: int):
        """An expense of an engagement the signed-in person may see."""
        return _priced_body(_expense(current_actor(), expense_id), Expense)


@blp.route("/expenses/<int:expense_id>/receipt")
class ExpenseReceipt(MethodView):
    @blp.doc(responses={"200": {"description": "The receipt's bytes.", "content": RECEIPT_TYPES}})
    def get(self, expense_id: int):
        """Download the expense's receipt.

        Inside the organization, for those who may see the expense; 404 otherwise or when
        there is none."""
        row = _expense(current_actor(), expense_id)
        stored = expenses.receipt_of(db.session, row)
        if stored is None:
            raise NotFound("This expense has no receipt.")
        return storage.send_stored(stored)

    @blp.arguments(schemas.ReceiptIn, location="files")
    @blp.response(200, schemas.ExpenseOut)
    @conflict
    def post(self, files, expense_id: int):
        """The freelancer uploads the receipt of a draft (or rejected) expense.

        As multipart/form-data `file`. Its type is decided by its content (PDF, PNG, JPEG,
        WebP, HEIC) and its size is limited; a refusal stores nothing (422)."""
        actor = current_actor()
        row = _expense(actor, expense_id)
        _own(actor, row.engagement_id, "The freelancer uploads their receipt.")
        if row.state not in ("draft", "rejected"):
            raise RuleViolation(f"This expense is {row.state}: its receipt can no longer change.")
        upload = files["file"]
        stored = storage.store_upload(db.session, upload, actor=actor, field="file")
        row = expenses.attach_receipt(
            db.session, actor=actor, expense_id=row.id, receipt_file_id=stored.id
        )
        db.session.commit()
        return _priced_body(row, Expense)


@blp.route("/expenses/<int:expense_id>/submit")
class ExpenseSubmit(MethodView):
    @idempotent
    @blp.response(200, schemas.ExpenseOut)
    @conflict
    def post(self, expense_id: int):
        """The freelancer submits their draft (or rejected) expense."""
        actor = current_actor()
        _own(actor, _expense(actor, expense_id).engagement_id, "The freelancer submits.")
        row = expenses.submit_expense(db.session, actor=actor, expense_id=expense_id)
        db.session.commit()
        return _priced_body(row, Expense)


def _decision_routes(path: str, id_name: str, decide, flag: str, out, render, words, docs):
    """POST `{path}/<id>/{yes}` and `{path}/<id>/{no}` (with a required comment): the
    reviewer's two answers, each exactly once (409 when already decided)."""
    yes, no = words

    class Yes(MethodView):
        @idempotent
        @blp.response(200, out)
        @conflict
        def post(self, **ids):
            row = decide(db.session, actor=current_actor(), **{id_name: ids[id_name], flag: True})
            db.session.commit()
            return render(row)

    class No(MethodView):
        @idempotent
        @blp.arguments(schemas.RejectIn)
        @blp.response(200, out)
        @conflict
        def post(self, data, **ids):
            row = decide(
                db.session,
                actor=current_actor(),
                comment=data["comment"],
                **{id_name: ids[id_name], flag: False},
            )
            db.session.commit()
            return render(row)

    kind = path.strip("/").rstrip("s")
    for view, word, doc in ((Yes, yes, docs[0]), (No, no, docs[1])):
        view.post.__doc__ = doc
        view.__name__ = f"{kind.title()}{word.title().replace('-', '')}"
        blp.route(f"{path}/<int:{id_name}>/{word}", endpoint=f"{kind}_{word.replace('-', '_')}")(
            view
        )


_decision_routes(
    "/adjustments",
    "adjustment_id",
    services.decide_adjustment,
    "approve",
    schemas.AdjustmentOut,
    _adjustment_body,
    ("approve", "reject"),
    (
        "The sheet's reviewer (never the author) approves a submitted adjustment.",
        "The sheet's reviewer rejects a submitted adjustment with a comment (required).",
    ),
)
_decision_routes(
    "/milestones",
    "milestone_id",
    milestones.decide_milestone,
    "accept",
    schemas.MilestoneOut,
    lambda row: _priced_body(row, Milestone),
    ("accept", "send-back"),
    (
        "The reviewer accepts a delivered milestone (exactly once).",
        "The reviewer sends a delivered milestone back with a comment (required).",
    ),
)
_decision_routes(
    "/expenses",
    "expense_id",
    expenses.decide_expense,
    "approve",
    schemas.ExpenseOut,
    lambda row: _priced_body(row, Expense),
    ("approve", "reject"),
    (
        "The reviewer of the expense's week approves it (exactly once).",
        "The reviewer rejects the expense with a comment (required).",
    ),
)


# --- settings: task codes, week start, time rounding ---------------------------------------


@blp.route("/task-codes")
class TaskCodes(MethodView):
    @blp.response(200, schemas.TaskCodeOut(many=True))
    def get(self):
        """The organization's task/project codes (retired ones too), by code."""
        require(current_actor(), "organization.read")
        return db.session.scalars(select(TaskCode).order_by(TaskCode.code)).all()

    @blp.arguments(schemas.TaskCodeIn)
    @blp.response(201, schemas.TaskCodeOut)
    @conflict
    def post(self, data):
        """Add a code (procurement, org admin); codes are unique (409)."""
        row = services.add_task_code(db.session, actor=current_actor(), **data)
        db.session.commit()
        return row


@blp.route("/task-codes/<int:task_code_id>")
class TaskCodeById(MethodView):
    @blp.arguments(schemas.TaskCodePatchIn)
    @blp.response(200, schemas.TaskCodeOut)
    def patch(self, data, task_code_id: int):
        """Retire or restore a code; entries keep the codes they used."""
        row = services.set_task_code_active(
            db.session, actor=current_actor(), task_code_id=task_code_id, active=data["is_active"]
        )
        db.session.commit()
        return row


def _week_start_body() -> dict:
    schedule = services.week_schedule(db.session)
    today = org_today()
    current = [weekday for since, weekday in schedule if since <= today]
    return {
        "weekday": current[-1] if current else rules.DEFAULT_WEEK_START,
        "schedule": [{"effective_from": d, "weekday": w} for d, w in schedule],
    }


@blp.route("/timesheet-settings/week-start")
class WeekStart(MethodView):
    @blp.response(200, schemas.WeekStartOut)
    def get(self):
        """The weekday weeks start on, and its changes over time."""
        require(current_actor(), "organization.read")
        return _week_start_body()

    @blp.arguments(schemas.WeekStartIn)
    @blp.response(200, schemas.WeekStartOut)
    @conflict
    def put(self, data):
        """The org admin changes the weekday weeks start on.

        It applies to weeks that begin after the current one; one pending change at a time
        (409 otherwise)."""
        services.set_week_start(
            db.session, actor=current_actor(), weekday=data["weekday"], today=org_today()
        )
        db.session.commit()
        return _week_start_body()


@blp.route("/engagements/<int:engagement_id>/time-rounding")
class EngagementTimeRounding(MethodView):
    @blp.response(200, schemas.TimeRoundingOut)
    def get(self, engagement_id: int):
        """How the engagement's billable minutes are rounded per day."""
        mode = db.session.scalar(
            select(TimeRounding.mode).where(TimeRounding.engagement_id == engagement_id)
        )
        return {"engagement_id": engagement_id, "mode": mode or "none"}

    @blp.arguments(schemas.TimeRoundingIn)
    @blp.response(200, schemas.TimeRoundingOut)
    def put(self, data, engagement_id: int):
        """Procurement sets the engagement's time rounding.

        none, up_6, nearest_6, up_15 or nearest_15, per day; stored minutes never change,
        only what is billed."""
        row = services.set_time_rounding(
            db.session, actor=current_actor(), engagement_id=engagement_id, mode=data["mode"]
        )
        db.session.commit()
        return {"engagement_id": engagement_id, "mode": row.mode}
