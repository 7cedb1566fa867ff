"""Expenses: a reimbursable cost in its own currency with a receipt (a file kept by
fms.storage, referenced by its row; its SHA-256 and name are copied from that row, never
taken from the client), submitted by the freelancer and decided by the reviewer of the week
it falls in, exactly once. Submitted and approved expenses in the engagement's currency
count against its budget cap."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms import money
from fms.audit import services as audit
from fms.errors import InvalidInput, RuleViolation
from fms.identity.actor import Actor
from fms.statemachine import lock, transition
from fms.storage import StoredFile, uploaded_by
from fms.tenancy import get_in_org
from fms.timesheets import notices, pricing, rules
from fms.timesheets.models import Expense
from fms.timesheets.services import (
    acting_day,
    amount_in,
    check_added_item,
    comment_in,
    date_in,
    decide,
    engagement_of,
    own_engagement,
    require_reviewer,
    text_in,
    week_schedule,
)


def _receipt(session: Session, actor: Actor, receipt_file_id) -> StoredFile | None:
    """The stored file the actor uploaded as the receipt (in this organization); another
    person's file, or another organization's, is not found."""
    if receipt_file_id in (None, ""):
        return None
    return uploaded_by(session, receipt_file_id, user_id=actor.user_id, field="receipt_file_id")


def create_expense(
    session: Session,
    *,
    actor: Actor,
    engagement_id,
    spent_on,
    category,
    amount,
    currency,
    description="",
    receipt_sha256=None,
    receipt_name=None,
    receipt_file_id=None,
) -> Expense:
    """The freelancer records an expense of their active engagement: dated within its
    dates, one of the categories, a positive amount in an ISO 4217 currency (its own,
    billed on that currency's invoice), optionally a receipt they uploaded (fms.storage),
    referenced by its stored file: its SHA-256 is the stored file's. A `receipt_sha256`
    given alongside must be that hash; on its own it names a file the actor uploaded (the
    expense references that row), anything else is refused."""
    engagement = own_engagement(session, actor, engagement_id)
    if engagement.state != "active":
        raise RuleViolation("Active engagement: expenses are recorded while it is active.")
    day = date_in(spent_on, "spent_on")
    if not engagement.start_date <= day <= engagement.end_date:
        raise InvalidInput(
            "Engagement dates: the expense falls outside the engagement.",
            errors={"spent_on": ["Outside the engagement's dates."]},
        )
    if category not in rules.EXPENSE_CATEGORIES:
        raise InvalidInput(
            "Choose a category.", errors={"category": [", ".join(rules.EXPENSE_CATEGORIES)]}
        )
    try:
        currency = money.check_currency(currency)
    except money.CurrencyError:
        raise InvalidInput(
            "An ISO 4217 currency code.", errors={"currency": ["Such as EUR."]}
        ) from None
    value = amount_in(amount, currency)
    stored = _receipt(session, actor, receipt_file_id)
    if receipt_sha256 not in (None, ""):
        if stored is None:
            # callers that stored the upload just before may name it by its hash: it must
            # be one the actor uploaded, and the expense then references that row
            stored = session.scalar(
                select(StoredFile)
                .where(
                    StoredFile.sha256 == str(receipt_sha256),
                    StoredFile.created_by_user_id == actor.user_id,
                )
                .order_by(StoredFile.id.desc())
                .limit(1)
            )
        if stored is None or receipt_sha256 != stored.sha256:
            raise InvalidInput(
                "A receipt is an uploaded file; its SHA-256 is the stored file's.",
                errors={"receipt_sha256": ["Not a receipt you uploaded."]},
            )
    name = text_in(receipt_name, limit=200, name="receipt_name") or None
    row = Expense(
        org_id=engagement.org_id,
        engagement_id=engagement.id,
        spent_on=day,
        category=category,
        amount=value,
        currency=currency,
        description=text_in(description, limit=500, name="description"),
        receipt_file_id=stored.id if stored else None,
        receipt_sha256=stored.sha256 if stored else None,
        receipt_name=(name or stored.original_name) if stored else None,
        state="draft",
        created_by_user_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "expense.created",
        row,
        after={"amount": value, "currency": currency, "spent_on": day, "category": category},
    )
    return row


def attach_receipt(session: Session, *, actor: Actor, expense_id, receipt_file_id) -> Expense:
    """The freelancer attaches a receipt they uploaded (fms.storage) to their draft or
    rejected expense: the expense references the stored file and takes its SHA-256 and
    name from it."""
    row = get_in_org(session, Expense, expense_id, what="expense")
    own_engagement(session, actor, row.engagement_id)
    lock(session, row)  # a submission at the same moment waits, then is seen here
    if row.state not in ("draft", "rejected"):
        raise RuleViolation(f"This expense is {row.state}: its receipt can no longer change.")
    stored = _receipt(session, actor, receipt_file_id)
    if stored is None:
        raise InvalidInput("Upload the receipt first.", errors={"receipt_file_id": ["Required."]})
    before = {"receipt_file_id": row.receipt_file_id, "receipt_sha256": row.receipt_sha256}
    row.receipt_file_id, row.receipt_sha256 = stored.id, stored.sha256
    row.receipt_name = stored.original_name
    session.flush()
    audit.record(
        session,
        actor,
        "expense.receipt_attached",
        row,
        before=before,
        after={"receipt_file_id": stored.id, "receipt_sha256": stored.sha256},
    )
    return row


def receipt_of(session: Session, expense: Expense) -> StoredFile | None:
    """The stored file of an expense's receipt (the caller checked the viewer may see the
    expense), or None."""
    if expense.receipt_file_id is None:
        return None
    return session.scalar(select(StoredFile).where(StoredFile.id == expense.receipt_file_id))


def _check_cap(session, actor, engagement, row, today) -> list[str]:
    """An expense in another currency than the engagement's bills on another invoice and
    is not counted against its cap."""
    if row.currency != engagement.currency:
        return []
    return check_added_item(
        session,
        actor,
        engagement,
        item=pricing.expense_item(row),
        today=today,
        what="this expense",
        besides_expense=row.id,
    )


def submit_expense(
    session: Session, *, actor: Actor, expense_id, today: date | None = None
) -> Expense:
    """The freelancer submits their draft (or rejected, edited) expense, within the budget
    cap (engagement row locked)."""
    row = get_in_org(session, Expense, expense_id, what="expense")
    engagement = own_engagement(session, actor, row.engagement_id)
    if row.state not in ("draft", "rejected"):
        raise RuleViolation(f"This expense is {row.state} already.")
    _check_cap(session, actor, engagement, row, acting_day(session, actor, today))
    if row.state == "rejected":
        transition(session, row, to="draft", table=rules.EXPENSE_TRANSITIONS, actor=actor)
    return transition(session, row, to="submitted", table=rules.EXPENSE_TRANSITIONS, actor=actor)


def decide_expense(
    session: Session,
    *,
    actor: Actor,
    expense_id,
    approve: bool,
    comment=None,
    today: date | None = None,
) -> Expense:
    """The reviewer of the week the expense falls in (its manager on the week's last
    working day, a delegate they named for today, or procurement) approves it — within the
    budget cap in effect — or rejects it (comment required), exactly once."""
    from fms.timesheets.rules import week_bounds

    row = get_in_org(session, Expense, expense_id, what="expense")
    engagement = engagement_of(session, row.engagement_id)
    first, last = week_bounds(row.spent_on, week_schedule(session))
    require_reviewer(session, actor, engagement, first, last, today=today)
    comment = comment_in(comment, not approve)
    if approve and row.state == "submitted":
        _check_cap(session, actor, engagement, row, acting_day(session, actor, today))
    decide(
        session,
        row,
        to="approved" if approve else "rejected",
        table=rules.EXPENSE_TRANSITIONS,
        actor=actor,
        comment=comment,
        label="expense",
    )
    notices.item_decided(
        session,
        row=row,
        what=f"expense of {row.spent_on.isoformat()} ({row.amount:,.2f} {row.currency})",
        freelancer_id=engagement.freelancer_id,
        state=row.state,
    )
    return row
