"""Large spend exports as background jobs (`fms.jobs`): above FMS_REPORT_INLINE_ROWS Detail
rows the page queues this job instead of answering at once; the job page shows its progress
and links the file when it is written.

The job takes the query's parts (ids and plain values), rebuilds the query, writes the file
through the same builder as the page and the CLI to a partial file and renames it into
place, so a retried or duplicated run leaves one whole file.

The API keeps every export as such a run: a small one is written at once and recorded as a
finished run (`write_export_now`), so one read (`get_export`) and one download
(`export_file`) serve both.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from fms import jobs
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.extensions import db
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.reports import detail, exports, spend

EXPORT_JOBS_PER_USER = 3


def query_args(query: spend.SpendQuery) -> list:
    return [
        query.start.isoformat(),
        query.end.isoformat(),
        query.grain,
        ",".join(query.group_by),
        query.currency,
    ]


def query_from_args(start: str, end: str, grain: str, group_by: str, currency: str):
    return spend.SpendQuery(
        start=date.fromisoformat(start),
        end=date.fromisoformat(end),
        grain=grain,
        group_by=tuple(g for g in group_by.split(",") if g),
        currency=currency,
    )


def _file_path(run_id: str, fmt: str) -> Path:
    from fms.lists import export_path

    return export_path(current_app.config["FMS_STORAGE_DIR"], run_id, fmt)


def _write(
    session: Session, *, actor: Actor, query, fmt: str, path: Path, today: date, now, progress
) -> dict:
    """Write the export through the one builder to a partial file renamed into place, so a
    retried or duplicated run leaves one whole file; the run's result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with open(partial, "wb") as out:
        rows = exports.build_export(
            session,
            actor=actor,
            query=query,
            fmt=fmt,
            target=out,
            today=today,
            now=now,
            progress=progress,
        )
    partial.replace(path)
    return {"rows": rows, "format": fmt, "filename": exports.export_filename(query, fmt)}


@jobs.job
def export_spend_job(
    actor: Actor, start: str, end: str, grain: str, group_by: str, currency: str, fmt: str
) -> dict:
    """Write a spend export to storage for the actor who asked (the job page links it)."""
    from fms.identity.services import today_of
    from fms.timekeeping import utcnow

    query = query_from_args(start, end, grain, group_by, currency)
    return _write(
        db.session,
        actor=actor,
        query=query,
        fmt=fmt,
        path=_file_path(jobs._current_run.get(), fmt),
        today=today_of(db.session, actor.org_id),
        now=utcnow(),
        progress=lambda percent: jobs.report_progress(percent, "Writing rows"),
    )


def enqueue_export(
    session: Session, *, actor: Actor, query: spend.SpendQuery, fmt: str
) -> jobs.JobRun:
    """Queue a large export for once the caller's transaction commits; the run is the
    actor's, and one person has at most a few waiting (FMS_EXPORT_JOBS_PER_USER)."""
    require(actor, "reports.spend")
    limit = int(current_app.config.get("FMS_EXPORT_JOBS_PER_USER", EXPORT_JOBS_PER_USER))
    jobs.require_room(session, export_spend_job, actor=actor, limit=limit)
    info = session.info
    previous = info.get(jobs.ACTOR_KEY)
    info[jobs.ACTOR_KEY] = actor  # the run's requester: whom the job acts as, who sees it
    try:
        return jobs.enqueue_after_commit(export_spend_job, *query_args(query), fmt, session=session)
    finally:
        if previous is None:
            info.pop(jobs.ACTOR_KEY, None)
        else:
            info[jobs.ACTOR_KEY] = previous


def check_format(fmt: str) -> str:
    if fmt not in exports.FORMATS:
        raise InvalidInput("Choose XLSX, CSV or PDF.", errors={"format": ["Unknown format."]})
    return fmt


def runs_as_job(session: Session, *, actor: Actor, query: spend.SpendQuery, fmt: str) -> bool:
    """Whether this export is written by a background job: an XLSX or CSV with more Detail
    rows than FMS_REPORT_INLINE_ROWS. A PDF holds the summary only and is always at once."""
    require(actor, "reports.spend")
    check_format(fmt)
    if fmt not in ("xlsx", "csv"):
        return False
    limit = int(current_app.config.get("FMS_REPORT_INLINE_ROWS", exports.INLINE_ROWS))
    return detail.detail_count(session, actor=actor, start=query.start, end=query.end) > limit


def write_export_now(
    session: Session,
    *,
    actor: Actor,
    query: spend.SpendQuery,
    fmt: str,
    today: date,
    now: datetime,
) -> jobs.JobRun:
    """Write a small export to storage now, recorded as a finished run of the export job,
    so it is read and downloaded (`export_file`) like one a job wrote."""
    require(actor, "reports.spend")
    check_format(fmt)
    run_id = uuid.uuid4().hex
    result = _write(
        session,
        actor=actor,
        query=query,
        fmt=fmt,
        path=_file_path(run_id, fmt),
        today=today,
        now=now,
        progress=None,
    )
    run = jobs.JobRun(
        id=run_id,
        org_id=actor.org_id,
        name=export_spend_job.job_name,
        args=[*query_args(query), fmt],
        state="finished",
        progress=100,
        result=result,
        attempts=1,
        requested_by_user_id=actor.user_id,
        started_at=now,
        heartbeat_at=now,
        finished_at=now,
    )
    session.add(run)
    session.flush()
    return run


def get_export(session: Session, *, actor: Actor, export_id: str) -> jobs.JobRun:
    """A spend export of the actor's organization that the actor may see: the person who
    asked for it and org admins (as for any job), and for an integration the exports
    integrations asked for (they have no person). Anything else is not found."""
    require(actor, "reports.spend")
    try:
        run = jobs.get_run(session, str(export_id))
    except NotFound:
        raise NotFound("No such export.") from None
    visible = actor.can("organization.manage") or run.requested_by_user_id == actor.user_id
    if run.name != export_spend_job.job_name or not visible:
        raise NotFound("No such export.")
    return run


def export_query(run: jobs.JobRun) -> tuple[spend.SpendQuery, str]:
    """The filters and format an export run was asked for."""
    *parts, fmt = run.args
    return query_from_args(*parts), fmt


class ExportNotReady(RuleViolation):
    title = "Not ready"


def export_file(run: jobs.JobRun) -> tuple[Path, str, str]:
    """(path, download name, format) of a finished export's file; one still being written
    (or failed) is a 409, a file no longer kept a 404."""
    query, fmt = export_query(run)
    if run.state != "finished":
        raise ExportNotReady(f"The export is {run.state}; its file is not ready.")
    path = _file_path(run.id, fmt)
    if not path.is_file():
        raise NotFound("The export's file is no longer kept.")
    return path, (run.result or {}).get("filename") or exports.export_filename(query, fmt), fmt
