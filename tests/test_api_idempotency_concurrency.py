"""Idempotency-Key under real concurrency on PostgreSQL: identical requests with one key,
sent at the same moment by several connections, create exactly one object; the others
are answered from it (replayed) or told it is still running (409 with Retry-After)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from fms.identity import services as identity
from fms.identity.models import User
from fms.identity.web_session import TOKEN_KEY
from fms.tenancy import scope_session
from fms.timesheets import expenses, rules
from fms.timesheets.models import Expense
from fms.workforce.models import Engagement
from tests.test_timesheet_concurrency import _setup

pytestmark = pytest.mark.postgres
REQUESTS = 6


def signed_in_clients(app, session, org_id, user_id, count):
    """`count` test clients, each with its own server-side session for the user."""
    user = session.get(User, user_id)
    clients = []
    for _ in range(count):
        started = identity.start_session(
            session,
            user=user,
            method="password",
            ip="127.0.0.1",
            user_agent="pytest",
            org_id=org_id,
        )
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie[TOKEN_KEY] = started.token
        clients.append(client)
    session.commit()
    return clients


def at_once(calls):
    """Run each call in its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def slowed(monkeypatch, module, name, seconds=0.3):
    """Make a service take a while, so that the racing requests overlap for sure."""
    original = getattr(module, name)

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)


def test_identical_requests_with_one_key_create_one_expense(app, committed, monkeypatch):
    org_id, _, people = _setup(committed, submit=False)
    scope_session(committed, org_id)
    engagement_id = committed.scalar(select(Engagement.id))
    clients = signed_in_clients(app, committed, org_id, people["freelancer"].user_id, REQUESTS)
    slowed(monkeypatch, expenses, "create_expense")
    body = {
        "engagement_id": engagement_id,
        "spent_on": "2026-03-03",
        "category": rules.EXPENSE_CATEGORIES[0],
        "amount": "42.50",
        "currency": "EUR",
        "description": "Train",
    }
    headers = {"Idempotency-Key": "expense-2026-03-03-train"}
    answers = at_once(
        [
            (lambda c=client: c.post("/api/v1/expenses", json=body, headers=headers))
            for client in clients
        ]
    )

    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    originals = [
        a for a in answers if a.status_code == 201 and "Idempotent-Replayed" not in a.headers
    ]
    assert len(originals) == 1, statuses
    for answer in answers:
        if answer.status_code == 201:
            assert answer.get_json() == originals[0].get_json()
        else:
            assert answer.headers["Retry-After"] == "1"
    committed.expire_all()
    assert committed.scalar(select(func.count()).select_from(Expense)) == 1
    # once the first has finished, a retry is answered from it
    retry = clients[0].post("/api/v1/expenses", json=body, headers=headers)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == originals[0].get_json()
    assert committed.scalar(select(func.count()).select_from(Expense)) == 1


def test_without_a_key_the_same_requests_would_each_create_one(app, committed):
    # the control: the race above is real, nothing else de-duplicates these requests
    org_id, _, people = _setup(committed, submit=False)
    scope_session(committed, org_id)
    engagement_id = committed.scalar(select(Engagement.id))
    clients = signed_in_clients(app, committed, org_id, people["freelancer"].user_id, 3)
    body = {
        "engagement_id": engagement_id,
        "spent_on": "2026-03-03",
        "category": rules.EXPENSE_CATEGORIES[0],
        "amount": "42.50",
        "currency": "EUR",
    }
    answers = at_once(
        [(lambda c=client: c.post("/api/v1/expenses", json=body)) for client in clients]
    )
    assert [a.status_code for a in answers] == [201, 201, 201]
    committed.expire_all()
    assert committed.scalar(select(func.count()).select_from(Expense)) == 3
