"""Background jobs: one code path for rq workers and for the embedded inline mode.

`enqueue_after_commit(func, *ids)` records a `JobRun` in the caller's transaction. Once
that transaction commits, the job goes on the rq queue when FMS_REDIS_URL is set, and
otherwise runs at that same point, inline, in a fresh app context. Either way `run_job`
executes it: loads the run, builds the Actor, calls the function, commits once, and
records a failure on the run instead of raising it into the request.

Jobs take ids, reload their objects, are safe to run twice, and never commit themselves.
Progress: `report_progress()` commits through its own connection on PostgreSQL so a page
can show it while the job runs; on SQLite (one writer at a time, jobs inline) it is
kept with the job's transaction and shows when the job ends.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime

from flask import current_app
from sqlalchemy import JSON, Integer, String, Text, event, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from fms.extensions import db
from fms.tenancy import ALL_TENANTS, TenantMixin, scope_session, session_org_id
from fms.timekeeping import UTCDateTime, utcnow

log = logging.getLogger(__name__)

_REGISTRY: dict[str, Callable] = {}
_PENDING = "fms_pending_jobs"
ACTOR_KEY = "fms_actor"
_current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("fms_job", default=None)


class JobRun(TenantMixin, db.Model):
    """One execution request of a background job, with its progress and outcome."""

    __tablename__ = "job_run"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def job(func: Callable) -> Callable:
    """Register a function as a job; it is called as `func(actor, *ids)`."""
    name = f"{func.__module__}.{func.__qualname__}"
    _REGISTRY[name] = func
    func.job_name = name
    return func


def enqueue_after_commit(func: Callable, *ids, session: Session | None = None) -> JobRun:
    """Run `func(actor, *ids)` once the current transaction has committed."""
    session = session or db.session
    name = getattr(func, "job_name", None)
    if name not in _REGISTRY:
        raise ValueError(f"{func!r} is not registered with @job")
    org_id = session_org_id(session)
    if org_id is None:
        raise ValueError("a job belongs to an organization: scope the session first")
    actor = session.info.get(ACTOR_KEY)
    run = JobRun(
        id=uuid.uuid4().hex,
        org_id=org_id,
        name=name,
        args=list(ids),
        state="queued",
        requested_by_user_id=getattr(actor, "user_id", None),
    )
    session.add(run)
    session.flush()
    session.info.setdefault(_PENDING, []).append(run.id)
    return run


@event.listens_for(Session, "after_commit")
def _dispatch_pending(session):
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    app = current_app._get_current_object()
    for run_id in pending:
        _dispatch(app, run_id)


@event.listens_for(Session, "after_soft_rollback")
def _discard_pending(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def _dispatch(app, run_id: str) -> None:
    redis_url = app.config.get("FMS_REDIS_URL")
    if not redis_url:
        run_job(run_id)
        return
    try:
        queue_for(app).enqueue(
            "fms.jobs.run_job", run_id, job_id=run_id, job_timeout=3600, failure_ttl=86400
        )
    except Exception as exc:  # the queue is down: say so on the run, keep the request alive
        log.exception("could not enqueue job run %r", run_id)
        with app.app_context():
            _finish(run_id, state="failed", error=f"could not enqueue: {exc}")
            db.session.commit()


def queue_for(app):
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(app.config["FMS_REDIS_URL"])
    return Queue(app.config["FMS_JOB_QUEUE"], connection=connection)


def _job_actor(session: Session, run: JobRun):
    from fms.identity.actor import Actor, system_actor
    from fms.identity.models import Membership

    if run.requested_by_user_id is None:
        return system_actor(run.org_id, channel="job", request_id=run.id)
    membership = session.scalar(
        select(Membership).where(
            Membership.user_id == run.requested_by_user_id, Membership.is_active.is_(True)
        )
    )
    roles = frozenset(membership.roles) if membership else frozenset()
    return Actor(
        user_id=run.requested_by_user_id,
        org_id=run.org_id,
        roles=roles,
        channel="job",
        request_id=run.id,
    )


def _finish(run_id: str, *, state: str, result=None, error: str | None = None) -> None:
    db.session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(
            state=state,
            result=result,
            error=error,
            finished_at=utcnow(),
            progress=100 if state == "finished" else JobRun.progress,
        )
        .execution_options(**{ALL_TENANTS: True, "synchronize_session": False})
    )


def run_job(run_id: str) -> None:
    """Execute one job run in a fresh app context (its own database session)."""
    with current_app.app_context():
        _run_job(run_id)


def _run_job(run_id: str) -> None:
    """A finished run is not run again; a failure is recorded on the run, not raised."""
    session = db.session
    run = session.scalar(
        select(JobRun).where(JobRun.id == run_id).execution_options(**{ALL_TENANTS: True})
    )
    if run is None:
        log.warning("job run %r does not exist", run_id)
        return
    if run.state == "finished":
        return
    func = _REGISTRY.get(run.name)
    scope_session(session, run.org_id)
    if func is None:
        _finish(run_id, state="failed", error=f"unknown job {run.name!r}")
        session.commit()
        return
    # Claim the run: a retried or duplicated delivery finds it running and stops here.
    claimed = session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.state.in_(("queued", "failed")))
        .values(state="running", started_at=utcnow(), attempts=JobRun.attempts + 1)
        .execution_options(**{ALL_TENANTS: True, "synchronize_session": False})
    ).rowcount
    if claimed != 1:
        session.rollback()
        log.info("job run %r is already running or done", run_id)
        return
    args = list(run.args or [])
    actor = _job_actor(session, run)
    session.info[ACTOR_KEY] = actor
    session.commit()
    token = _current_run.set(run_id)
    try:
        result = func(actor, *args)
        _finish(run_id, state="finished", result=result)
        session.commit()
    except Exception as exc:
        session.rollback()
        log.exception("job run %r (%s) failed", run_id, run.name)
        scope_session(session, run.org_id)
        detail = "".join(traceback.format_exception_only(exc)).strip()
        _finish(run_id, state="failed", error=detail[:2000])
        session.commit()
    finally:
        _current_run.reset(token)


def report_progress(percent: int, message: str | None = None) -> None:
    """Tell watchers how far the running job is (0-100)."""
    run_id = _current_run.get()
    if run_id is None:
        return
    values = {"progress": max(0, min(100, int(percent))), "message": (message or "")[:255]}
    stmt = update(JobRun.__table__).where(JobRun.__table__.c.id == run_id).values(**values)
    if db.engine.dialect.name == "sqlite":
        db.session.execute(stmt)
        return
    with db.engine.begin() as connection:
        connection.execute(stmt)


def get_run(session: Session, run_id: str) -> JobRun:
    """A job run of the session's organization, or NotFound."""
    from fms.errors import NotFound

    run = session.scalar(select(JobRun).where(JobRun.id == str(run_id)))
    if run is None:
        raise NotFound("No such job.")
    return run


def start_worker(app, *, burst: bool = False) -> None:
    """Run an rq worker for FMS's queue (`flask fms worker`)."""
    from redis import Redis
    from rq import Queue, Worker

    class FMSWorker(Worker):
        def main_work_horse(self, *args, **kwargs):
            # The forked work horse must not share the parent's database connections.
            db.engine.dispose(close=False)
            return super().main_work_horse(*args, **kwargs)

    connection = Redis.from_url(app.config["FMS_REDIS_URL"])
    queue = Queue(app.config["FMS_JOB_QUEUE"], connection=connection)
    FMSWorker([queue], connection=connection).work(burst=burst, with_scheduler=False)


@job
def check_job_pipeline(actor, note: str = "ok") -> dict:
    """A no-op job used by `flask fms jobs check` and the tests to prove the pipeline."""
    report_progress(50, "halfway")
    return {"org_id": actor.org_id, "note": note}
