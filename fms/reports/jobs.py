"""Large spend exports as background jobs (`fms.jobs`): above FMS_REPORT_INLINE_ROWS Detail
rows the page queues this job instead of answering at once; the job page shows its progress
and links the file when it is written.

The job takes the query's parts (ids and plain values), rebuilds the query, writes the file
through the same builder as the page and the CLI to a partial file and renames it into
place, so a retried or duplicated run leaves one whole file.
"""

from __future__ import annotations

from datetime import date

from flask import current_app
from sqlalchemy.orm import Session

from fms import jobs
from fms.extensions import db
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.reports import exports, spend

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


@jobs.job
def export_spend_job(
    actor: Actor, start: str, end: str, grain: str, group_by: str, currency: str, fmt: str
) -> dict:
    """Write a spend export to storage for the actor who asked (the job page links it)."""
    from fms.identity.services import today_of
    from fms.lists import export_path
    from fms.timekeeping import utcnow

    query = query_from_args(start, end, grain, group_by, currency)
    path = export_path(current_app.config["FMS_STORAGE_DIR"], jobs._current_run.get(), fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with open(partial, "wb") as out:
        rows = exports.build_export(
            db.session,
            actor=actor,
            query=query,
            fmt=fmt,
            target=out,
            today=today_of(db.session, actor.org_id),
            now=utcnow(),
            progress=lambda percent: jobs.report_progress(percent, "Writing rows"),
        )
    partial.replace(path)
    return {"rows": rows, "format": fmt, "filename": exports.export_filename(query, fmt)}


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
