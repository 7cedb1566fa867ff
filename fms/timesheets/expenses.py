"""Expenses: a reimbursable cost in its own currency with a receipt (kept by fms.storage;
here only its SHA-256 and file name), submitted by the freelancer and decided by the
reviewer of the week it falls in, exactly once. No upload yet."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from fms import money
from fms.audit import services as audit
from fms.errors import InvalidInput, RuleViolation
from fms.identity.actor import Actor
from fms.statemachine import transition
from fms.tenancy import get_in_org
from fms.timesheets import rules
from fms.timesheets.models import Expense
from fms.timesheets.services import (
    amount_in,
    comment_in,
    date_in,
    decide,
    engagement_of,
    own_engagement,
    require_reviewer,
    text_in,
    week_schedule,
)

_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)


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
) -> Expense:
    """The freelancer records an expense of their active engagement: dated within its
    dates, one of the categories, a positive amount in an ISO 4217 currency (its own,
    billed on that currency's invoice), optionally a stored receipt's SHA-256 and name."""
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
    if receipt_sha256 not in (None, "") and not _SHA256.fullmatch(str(receipt_sha256)):
        raise InvalidInput(
            "A receipt is referenced by its SHA-256.", errors={"receipt_sha256": ["64 hex."]}
        )
    row = Expense(
        org_id=engagement.org_id,
        engagement_id=engagement.id,
        spent_on=day,
        category=category,
        amount=value,
        currency=currency,
        description=text_in(description, limit=500, name="description"),
        receipt_sha256=receipt_sha256 or None,
        receipt_name=text_in(receipt_name, limit=200, name="receipt_name") or None,
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


def submit_expense(session: Session, *, actor: Actor, expense_id) -> Expense:
    """The freelancer submits their draft (or rejected, edited) expense."""
    row = get_in_org(session, Expense, expense_id, what="expense")
    own_engagement(session, actor, row.engagement_id)
    if row.state == "rejected":
        transition(session, row, to="draft", table=rules.EXPENSE_TRANSITIONS, actor=actor)
    return transition(session, row, to="submitted", table=rules.EXPENSE_TRANSITIONS, actor=actor)


def decide_expense(
    session: Session, *, actor: Actor, expense_id, approve: bool, comment=None
) -> Expense:
    """The reviewer of the week the expense falls in (its manager on the week's last
    working day, their delegate, or procurement) approves or rejects it (comment
    required), exactly once."""
    from fms.timesheets.rules import week_bounds

    row = get_in_org(session, Expense, expense_id, what="expense")
    engagement = engagement_of(session, row.engagement_id)
    first, last = week_bounds(row.spent_on, week_schedule(session))
    require_reviewer(session, actor, engagement, first, last)
    return decide(
        session,
        row,
        to="approved" if approve else "rejected",
        table=rules.EXPENSE_TRANSITIONS,
        actor=actor,
        comment=comment_in(comment, not approve),
        label="expense",
    )
