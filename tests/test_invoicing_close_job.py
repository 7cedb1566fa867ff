"""The close of a period as a job (`fms.invoicing.jobs`): inline in the embedded default,
idempotent; and, on PostgreSQL, a worker that dies in the middle of a close: its half-done
work is never seen and is gone with its transaction, the stale-run sweep marks its run
failed, the retry closes the period, and every item is billed once on one set of invoices."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from fms import jobs
from fms.invoicing import jobs as close_jobs
from fms.invoicing.models import Invoice, InvoiceLineItem
from fms.jobs import JobRun
from fms.tenancy import scope_session
from fms.timekeeping import utcnow
from fms.timesheets import services as timesheets
from fms.timesheets.models import PeriodLock, TimesheetEntry
from tests.test_invoicing_concurrency import _assert_each_item_billed_once, _setup


class WorkerDied(BaseException):
    """Not an Exception: `run_job` records exceptions as failures; a dead worker records
    nothing, as when its process is killed."""


def _count(session, model, *where):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def _run(session, run_id) -> JobRun:
    session.expire_all()
    return session.get(JobRun, run_id)


def test_the_close_job_closes_once_and_answers_the_same_drafts_again(app, committed):
    org_id, people = _setup(committed)
    scope_session(committed, org_id)
    first = close_jobs.enqueue_close(committed, actor=people["finance1"], period="2026-03")
    committed.commit()  # inline: the job runs now
    scope_session(committed, org_id)
    done = _run(committed, first.id)
    assert done.state == "finished", done.error
    assert done.requested_by_user_id == people["finance1"].user_id
    assert done.result["created"] is True
    assert len(done.result["invoice_ids"]) == 1

    again = close_jobs.enqueue_close(committed, actor=people["finance2"], period="2026-03")
    committed.commit()
    scope_session(committed, org_id)
    repeated = _run(committed, again.id)
    assert repeated.state == "finished", repeated.error
    assert repeated.result["created"] is False
    assert repeated.result["invoice_ids"] == done.result["invoice_ids"]
    _assert_each_item_billed_once(committed, org_id, expected_entries=2)
    assert _count(committed, Invoice) == 1


def test_a_period_that_is_not_over_fails_on_its_run(app, committed):
    org_id, people = _setup(committed)
    scope_session(committed, org_id)
    run = close_jobs.enqueue_close(committed, actor=people["finance1"], period="2099-12")
    committed.commit()
    scope_session(committed, org_id)
    failed = _run(committed, run.id)
    assert failed.state == "failed"
    assert "not over" in failed.error
    assert _count(committed, PeriodLock) == 0


@pytest.mark.postgres
def test_a_worker_dying_mid_close_leaves_nothing_and_the_retry_bills_once(
    app, committed, monkeypatch
):
    org_id, people = _setup(committed)
    finance = people["finance1"]
    # the first delivery is held back: it runs below, in a worker thread that dies
    held: list[str] = []
    real_dispatch = jobs._dispatch
    monkeypatch.setattr(jobs, "_dispatch", lambda _app, run_id: held.append(run_id))
    scope_session(committed, org_id)
    run_id = close_jobs.enqueue_close(committed, actor=finance, period="2026-03").id
    committed.commit()
    assert held == [run_id]

    real_mark = timesheets.mark_invoiced
    marked_inside: list[int] = []
    reached, proceed, died = threading.Event(), threading.Event(), threading.Event()

    def mark_then_die(session, **values):
        # the close's only hook used here: timesheets' own marking, called through its module
        real_mark(session, **values)
        marked_inside.append(
            session.scalar(
                select(func.count())
                .select_from(TimesheetEntry)
                .where(TimesheetEntry.invoice_id.is_not(None))
            )
        )
        reached.set()
        proceed.wait(30)
        raise WorkerDied

    monkeypatch.setattr(timesheets, "mark_invoiced", mark_then_die)

    def worker():
        with app.app_context():
            try:
                jobs.run_job(run_id)
            except WorkerDied:
                died.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert reached.wait(30), "the close never reached the marking"
    # half-way: the worker's transaction has marked the days and made the draft ...
    assert marked_inside == [2]
    # ... which no one else sees, while its run is running
    scope_session(committed, org_id)
    assert _count(committed, TimesheetEntry, TimesheetEntry.invoice_id.is_not(None)) == 0
    assert _count(committed, Invoice) == 0
    assert _run(committed, run_id).state == "running"
    committed.rollback()
    proceed.set()
    thread.join(30)
    assert died.is_set()

    # the worker is gone: its transaction rolled back with it; the run still says running
    scope_session(committed, org_id)
    assert _count(committed, TimesheetEntry, TimesheetEntry.invoice_id.is_not(None)) == 0
    assert _count(committed, Invoice) == 0
    assert _count(committed, InvoiceLineItem) == 0
    assert _count(committed, PeriodLock) == 0
    assert _run(committed, run_id).state == "running"
    # time passes without a heartbeat: the sweep marks the run failed, retryable
    committed.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(heartbeat_at=utcnow() - jobs.stale_after() - timedelta(minutes=1))
        .execution_options(synchronize_session=False)
    )
    committed.commit()
    scope_session(committed, org_id)
    assert jobs.recover_stale_runs(committed) == [run_id]
    committed.commit()
    scope_session(committed, org_id)
    failed = _run(committed, run_id)
    assert failed.state == "failed"
    assert "no heartbeat" in failed.error

    # the retry, with a healthy worker (inline here), closes the period once
    monkeypatch.setattr(timesheets, "mark_invoiced", real_mark)
    monkeypatch.setattr(jobs, "_dispatch", real_dispatch)
    jobs.retry_run(committed, actor=finance, run_id=run_id)
    committed.commit()
    scope_session(committed, org_id)
    retried = _run(committed, run_id)
    assert retried.state == "finished", retried.error
    assert retried.attempts == 2
    assert retried.result["created"] is True
    _assert_each_item_billed_once(committed, org_id, expected_entries=2)
    assert _count(committed, Invoice) == 1
    assert _count(committed, PeriodLock) == 1
    assert retried.result["invoice_ids"] == list(committed.scalars(select(Invoice.id)))
