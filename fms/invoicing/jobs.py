"""Closing a billing period as a background job (`fms.jobs`): on rq when FMS_REDIS_URL is
set, inline once the enqueuing transaction commits otherwise.

The job is `close_period` in the job's one transaction, committed by `run_job` only when
the close has finished: a worker that dies half-way leaves nothing marked (its transaction
rolls back with its connection) and its run `running` with a heartbeat that stops; the
stale-run sweep (`fms.jobs.recover_stale_runs`) marks it failed, and a retry closes the
period from the start. Running it again after it finished bills nothing and answers the
period's drafts (`close_period` is idempotent), so a duplicated delivery is harmless.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from fms import jobs
from fms.extensions import db
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.invoicing import rules
from fms.invoicing.close import close_period
from fms.invoicing.settings import billing_settings


@jobs.job
def close_period_job(actor: Actor, period: str) -> dict:
    """Close `period` as `actor` (the finance user who asked); what it made, as ids."""
    result = close_period(db.session, actor=actor, period=period)
    return {
        "period": period,
        "period_start": result.period_start.isoformat(),
        "period_end": result.period_end.isoformat(),
        "created": result.created,
        "invoice_ids": [invoice.id for invoice in result.invoices],
    }


def enqueue_close(session: Session, *, actor: Actor, period: str) -> jobs.JobRun:
    """Queue the close of `period` for once the caller's transaction commits; the run is
    the actor's. The period is checked now (a name the billing period knows); whether it is
    over, and what stops it, the job says on its run."""
    require(actor, "invoicing.manage")
    rules.period_bounds(billing_settings(session).billing_period, period)
    info = session.info
    previous = info.get(jobs.ACTOR_KEY)
    info[jobs.ACTOR_KEY] = actor  # the run's requester: whom the job acts as, who sees it
    try:
        return jobs.enqueue_after_commit(close_period_job, period, session=session)
    finally:
        if previous is None:
            info.pop(jobs.ACTOR_KEY, None)
        else:
            info[jobs.ACTOR_KEY] = previous
