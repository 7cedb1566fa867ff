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

Crashed runs: a running job beats a heartbeat (`heartbeat_at`) when it is claimed, at
every progress report and, on PostgreSQL, every HEARTBEAT_SECONDS from a timer thread in
the worker. A run still "running" whose heartbeat is older than STALE_AFTER_SECONDS (the
app setting FMS_JOB_STALE_AFTER_SECONDS, default 10 minutes) belongs to a worker that
died: `recover_stale_runs()` marks it failed, from `flask fms jobs recover` (run it every
few minutes, e.g. from cron) and whenever someone looks at the run. A failed run can be
retried once per failure (`retry_run`: UPDATE ... WHERE state = 'failed'); that is safe
because jobs are idempotent. An attempt that was swept but finishes after all records
nothing once a newer attempt has claimed the run.

Results are for the person who started the job and for org admins; to anyone else the
run does not exist (404), like another organization's.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import JSON, Index, Integer, String, Text, and_, event, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.functions import count as func_count

from fms.database import Id, savepoint_released
from fms.errors import RuleViolation
from fms.extensions import db
from fms.tenancy import ALL_TENANTS, TenantMixin, scope_session, session_org_id
from fms.timekeeping import UTCDateTime, utcnow

log = logging.getLogger(__name__)

_REGISTRY: dict[str, Callable] = {}
_PENDING = "fms_pending_jobs"
ACTOR_KEY = "fms_actor"
_current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("fms_job", default=None)
# A worker beats at least this often while a job runs (PostgreSQL; see the docstring) ...
HEARTBEAT_SECONDS = 30
# ... and a run whose heartbeat is older than this is taken for dead (FMS_JOB_STALE_AFTER_SECONDS).
STALE_AFTER_SECONDS = 600
STALE_ERROR = "The worker stopped: no heartbeat since {since:%Y-%m-%d %H:%M:%S}Z. Retry it."


class JobRun(TenantMixin, db.Model):
    """One execution request of a background job, with its progress and outcome."""

    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_state_heartbeat_at", "state", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by_user_id: Mapped[Id | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
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
    _schedule(session, run.id)
    return run


class TooManyRuns(RuleViolation):
    status = 429
    title = "Too many requests"


def require_room(session: Session, func: Callable, *, actor, limit: int) -> None:
    """At most `limit` unfinished runs of one job per person in the organization: a heavy
    job asked for again and again (a large export) would otherwise fill the queue for
    everyone. The person's row is locked while counting, so two requests at once cannot
    both take the last place (SQLite serialises writing transactions anyway)."""
    from fms.identity.models import User

    session.execute(select(User.id).where(User.id == actor.user_id).with_for_update())
    waiting = session.scalar(
        select(func_count())
        .select_from(JobRun)
        .where(
            JobRun.name == func.job_name,
            JobRun.requested_by_user_id == actor.user_id,
            JobRun.state.in_(("queued", "running")),
        )
    )
    if waiting >= limit:
        raise TooManyRuns(
            f"You have {waiting} of these being prepared already (at most {limit} at a "
            "time). Wait for one to finish on the Jobs page, then ask again."
        )


def _schedule(session: Session, run_id: str) -> None:
    session.info.setdefault(_PENDING, []).append(run_id)


@event.listens_for(Session, "after_commit")
def _dispatch_pending(session):
    if savepoint_released(session):
        return
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
        # each delivery its own rq id: a retry must not meet rq's record of the dead attempt
        queue_for(app).enqueue(
            "fms.jobs.run_job",
            run_id,
            job_id=f"{run_id}-{uuid.uuid4().hex[:8]}",
            job_timeout=3600,
            failure_ttl=86400,
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


def _finish(
    run_id: str, *, state: str, result=None, error: str | None = None, attempt: int | None = None
) -> None:
    """Record an outcome; an attempt's outcome only while no newer attempt has the run."""
    stmt = update(JobRun).where(JobRun.id == run_id)
    if attempt is not None:
        stmt = stmt.where(JobRun.attempts == attempt, JobRun.state.in_(("running", "failed")))
    db.session.execute(
        stmt.values(
            state=state,
            result=result,
            error=error,
            finished_at=utcnow(),
            progress=100 if state == "finished" else JobRun.progress,
        ).execution_options(**{ALL_TENANTS: True, "synchronize_session": False})
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
    # Claim the run: a duplicated delivery finds it running (or done) and stops here; a
    # failed run runs again only after retry_run() has queued it again.
    now = utcnow()
    claimed = session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.state == "queued")
        .values(state="running", started_at=now, heartbeat_at=now, attempts=JobRun.attempts + 1)
        .execution_options(**{ALL_TENANTS: True, "synchronize_session": False})
    ).rowcount
    if claimed != 1:
        session.rollback()
        log.info("job run %r is not queued (running, done or failed)", run_id)
        return
    attempt = session.scalar(
        select(JobRun.attempts).where(JobRun.id == run_id).execution_options(**{ALL_TENANTS: True})
    )
    args = list(run.args or [])
    actor = _job_actor(session, run)
    session.info[ACTOR_KEY] = actor
    session.commit()
    token = _current_run.set(run_id)
    beating = _Heartbeat.for_run(db.engine, run_id)
    try:
        result = func(actor, *args)
        _finish(run_id, state="finished", result=result, attempt=attempt)
        session.commit()
    except Exception as exc:
        session.rollback()
        log.exception("job run %r (%s) failed", run_id, run.name)
        scope_session(session, run.org_id)
        detail = "".join(traceback.format_exception_only(exc)).strip()
        _finish(run_id, state="failed", error=detail[:2000], attempt=attempt)
        session.commit()
    finally:
        if beating is not None:
            beating.stop()
        _current_run.reset(token)


class _Heartbeat(threading.Thread):
    """Beats a running job's heartbeat from the worker while the job's code runs.

    Through its own connection, so the beat commits whatever the job's transaction does.
    Not on SQLite (one writer at a time, jobs inline): there the beat is at the claim and
    at every progress report.
    """

    def __init__(self, engine, run_id: str, interval: float):
        super().__init__(name=f"fms-heartbeat-{run_id}", daemon=True)
        self.engine, self.run_id, self.interval = engine, run_id, interval
        self._stopped = threading.Event()

    @classmethod
    def for_run(cls, engine, run_id: str) -> _Heartbeat | None:
        if engine.dialect.name == "sqlite":
            return None
        interval = current_app.config.get("FMS_JOB_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)
        beat = cls(engine, run_id, float(interval))
        beat.start()
        return beat

    def run(self) -> None:
        table = JobRun.__table__
        while not self._stopped.wait(self.interval):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(table)
                        .where(table.c.id == self.run_id, table.c.state == "running")
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is not the job's failure; the next one may land
                log.warning("heartbeat of job run %r failed", self.run_id, exc_info=True)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def report_progress(percent: int, message: str | None = None) -> None:
    """Tell watchers how far the running job is (0-100)."""
    run_id = _current_run.get()
    if run_id is None:
        return
    values = {
        "progress": max(0, min(100, int(percent))),
        "message": (message or "")[:255],
        "heartbeat_at": utcnow(),
    }
    stmt = update(JobRun.__table__).where(JobRun.__table__.c.id == run_id).values(**values)
    if db.engine.dialect.name == "sqlite":
        db.session.execute(stmt)
        return
    with db.engine.begin() as connection:
        connection.execute(stmt)


def stale_after() -> timedelta:
    seconds = current_app.config.get("FMS_JOB_STALE_AFTER_SECONDS", STALE_AFTER_SECONDS)
    return timedelta(seconds=int(seconds))


def _stale(cutoff: datetime):
    return and_(
        JobRun.state == "running",
        or_(
            JobRun.heartbeat_at < cutoff,
            and_(JobRun.heartbeat_at.is_(None), JobRun.started_at < cutoff),
        ),
    )


def recover_stale_runs(
    session: Session, *, run_id: str | None = None, all_orgs: bool = False
) -> list[str]:
    """Mark failed the running runs whose heartbeat stopped (their worker died)."""
    now = utcnow()
    cutoff = now - stale_after()
    stmt = select(JobRun.id, JobRun.heartbeat_at, JobRun.started_at).where(_stale(cutoff))
    if run_id is not None:
        stmt = stmt.where(JobRun.id == str(run_id))
    options = {ALL_TENANTS: True} if all_orgs else {}
    recovered = []
    for rid, heartbeat_at, started_at in session.execute(stmt.execution_options(**options)):
        since = heartbeat_at or started_at
        changed = session.execute(
            update(JobRun)
            .where(JobRun.id == rid, _stale(cutoff))  # it may have beaten since we looked
            .values(state="failed", error=STALE_ERROR.format(since=since), finished_at=now)
            .execution_options(**options, synchronize_session=False)
        ).rowcount
        if changed:
            log.warning("job run %r had no heartbeat since %s: marked failed", rid, since)
            recovered.append(rid)
    return recovered


def _may_see(actor, run: JobRun) -> bool:
    """The person who started the job, and org admins (jobs without a starter: admins)."""
    if actor.can("organization.manage"):
        return True
    return run.requested_by_user_id is not None and run.requested_by_user_id == actor.user_id


def get_run(session: Session, run_id: str, *, actor=None) -> JobRun:
    """A job run of the session's organization that `actor` may see, or NotFound.

    A run whose worker died is reported failed here, the moment someone looks at it.
    """
    from fms.errors import NotFound

    stmt = select(JobRun).where(JobRun.id == str(run_id))
    run = session.scalar(stmt)
    if run is None or (actor is not None and not _may_see(actor, run)):
        raise NotFound("No such job.")
    if run.state == "running" and recover_stale_runs(session, run_id=run.id):
        session.refresh(run)
    return run


def retry_run(session: Session, *, actor, run_id: str) -> JobRun:
    """Queue a failed run again (once: a second retry finds it queued, not failed)."""

    run = get_run(session, run_id, actor=actor)
    changed = session.execute(
        update(JobRun)
        .where(JobRun.id == run.id, JobRun.state == "failed")
        .values(
            state="queued",
            progress=0,
            message=None,
            result=None,
            error=None,
            finished_at=None,
            heartbeat_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise RuleViolation("Only a failed job can be retried; it is queued, running or done.")
    _schedule(session, run.id)
    session.flush()
    session.refresh(run)
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

    # rq forks a fresh work horse per job: warmed here, before the first fork, WeasyPrint's
    # imports (cffi, Pango, fontconfig) and its font cache are inherited by every job, so
    # a PDF job does not pay a cold start of a second or more each time.
    from fms.pdf import warm_up

    with app.app_context():
        warm_up()
    connection = Redis.from_url(app.config["FMS_REDIS_URL"])
    queue = Queue(app.config["FMS_JOB_QUEUE"], connection=connection)
    FMSWorker([queue], connection=connection).work(burst=burst, with_scheduler=False)


@job
def check_job_pipeline(actor, note: str = "ok") -> dict:
    """A no-op job used by `flask fms jobs check` and the tests to prove the pipeline."""
    report_progress(50, "halfway")
    return {"org_id": actor.org_id, "note": note}
