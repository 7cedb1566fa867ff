"""Background jobs: after commit, inline or on rq; failures recorded, not raised."""

import pytest
from sqlalchemy import select

from fms import jobs
from fms.extensions import db
from fms.identity.models import Organization
from fms.tenancy import scope_session

CALLS = []


@jobs.job
def remember_org(actor, tag):
    jobs.report_progress(40, "working")
    CALLS.append((actor.org_id, tag))
    return {"tag": tag}


@jobs.job
def broken_job(actor):
    raise RuntimeError("the printer is on fire")


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


@pytest.fixture
def org(session, make_org):
    org = make_org()
    session.commit()
    scope_session(session, org.id)
    return org


def _run(session, run_id):
    session.expire_all()
    return session.scalar(select(jobs.JobRun).where(jobs.JobRun.id == run_id))


def test_inline_job_runs_once_the_transaction_commits(session, org):
    run = jobs.enqueue_after_commit(remember_org, "after-commit")
    run_id = run.id
    assert CALLS == []  # not before the commit
    session.commit()
    assert [(org.id, "after-commit")] == CALLS
    done = _run(session, run_id)
    assert done.state == "finished" and done.result == {"tag": "after-commit"}
    assert done.progress == 100 and done.attempts == 1 and done.finished_at is not None


def test_rolled_back_work_enqueues_nothing(session, org):
    jobs.enqueue_after_commit(remember_org, "rolled-back")
    session.rollback()
    scope_session(session, org.id)
    session.commit()
    assert CALLS == []
    assert session.scalars(select(jobs.JobRun)).all() == []


def test_a_failing_job_is_recorded_not_raised(session, org):
    run = jobs.enqueue_after_commit(broken_job)
    run_id = run.id
    session.commit()  # does not raise
    failed = _run(session, run_id)
    assert failed.state == "failed"
    assert "printer is on fire" in failed.error


def test_a_finished_job_is_not_run_twice(app, session, org):
    run = jobs.enqueue_after_commit(remember_org, "once")
    run_id = run.id
    session.commit()
    jobs.run_job(run_id)
    assert [(org.id, "once")] == CALLS


def test_only_registered_functions_can_be_enqueued(session, org):
    def not_a_job(actor):
        return None

    with pytest.raises(ValueError):
        jobs.enqueue_after_commit(not_a_job)


def test_job_status_in_the_api(client, session, org_admin, sign_in):
    from fms.identity.models import User

    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    scope_session(session, org.id)
    run = jobs.enqueue_after_commit(remember_org, "api")
    run_id = run.id
    session.commit()
    body = client.get(f"/api/v1/jobs/{run_id}").get_json()
    assert body["state"] == "finished" and body["result"] == {"tag": "api"}
    assert client.get("/api/v1/jobs/does-not-exist").status_code == 404


@pytest.mark.redis
def test_jobs_go_through_redis_to_a_forking_rq_worker(app, committed, monkeypatch):
    """With FMS_REDIS_URL set the same code path enqueues on rq; a real worker runs it."""
    from redis import Redis

    from tests.conftest import REDIS_URL

    Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setitem(app.config, "FMS_REDIS_URL", REDIS_URL)
    org = Organization(name="Queued", slug="queued")
    committed.add(org)
    committed.commit()
    scope_session(committed, org.id)
    ok = jobs.enqueue_after_commit(remember_org, "via-rq")
    bad = jobs.enqueue_after_commit(broken_job)
    ok_id, bad_id = ok.id, bad.id
    committed.commit()
    assert CALLS == []  # not inline: it waits on the queue
    assert len(jobs.queue_for(app)) == 2
    jobs.start_worker(app, burst=True)  # forks a work horse per job, like production
    committed.expire_all()
    scope_session(committed, org.id)
    finished = committed.get(jobs.JobRun, ok_id)
    failed = committed.get(jobs.JobRun, bad_id)
    assert finished.state == "finished" and finished.result == {"tag": "via-rq"}
    assert failed.state == "failed" and "printer is on fire" in failed.error


@pytest.mark.postgres
def test_progress_is_visible_while_the_job_runs(app, committed):
    """On PostgreSQL progress commits through its own connection, before the job ends."""
    seen = {}

    @jobs.job
    def slow(actor):
        jobs.report_progress(60, "three of five")
        with db.engine.connect() as other:
            row = other.exec_driver_sql(
                "SELECT progress, message FROM job_run WHERE state = 'running'"
            ).one()
        seen["progress"] = tuple(row)

    org = Organization(name="Progress", slug="progress")
    committed.add(org)
    committed.commit()
    scope_session(committed, org.id)
    jobs.enqueue_after_commit(slow)
    committed.commit()
    assert seen["progress"] == (60, "three of five")


def test_a_running_job_is_not_started_again(session, org):
    from sqlalchemy import update

    run = jobs.enqueue_after_commit(remember_org, "twice")
    run_id = run.id
    session.info.pop("fms_pending_jobs", None)  # deliver it by hand below
    session.execute(update(jobs.JobRun).where(jobs.JobRun.id == run_id).values(state="running"))
    session.commit()
    jobs.run_job(run_id)  # a duplicate delivery while the first is still running
    assert CALLS == []


# --- heartbeat and recovery of crashed runs ---------------------------------------------


def _crashed_run(session, org, *, minutes_ago: int):
    """A run a killed worker left claimed: 'running', its last heartbeat long ago."""
    from datetime import timedelta

    from sqlalchemy import update

    from fms.timekeeping import utcnow

    run = jobs.enqueue_after_commit(remember_org, "crashed")
    run_id = run.id
    session.info.pop("fms_pending_jobs", None)  # the worker that took it is gone
    then = utcnow() - timedelta(minutes=minutes_ago)
    session.execute(
        update(jobs.JobRun)
        .where(jobs.JobRun.id == run_id)
        .values(state="running", started_at=then, heartbeat_at=then, attempts=1)
    )
    session.commit()
    return run_id


def test_a_run_records_a_heartbeat_when_claimed_and_on_progress(session, org):
    beats = []

    @jobs.job
    def watch_heartbeat(actor):
        before = session.scalar(
            select(jobs.JobRun.heartbeat_at).where(jobs.JobRun.state == "running")
        )
        jobs.report_progress(10, "started")
        beats.append(before)
        return None

    run = jobs.enqueue_after_commit(watch_heartbeat)
    run_id = run.id
    session.commit()
    assert beats and beats[0] is not None  # set when the run was claimed
    assert _run(session, run_id).heartbeat_at >= beats[0]


def test_a_crashed_run_is_failed_by_the_recover_sweep_and_retryable_once(app, session, org):
    run_id = _crashed_run(session, org, minutes_ago=jobs.STALE_AFTER_SECONDS // 60 + 5)
    fresh_id = _crashed_run(session, org, minutes_ago=0)  # still beating: left alone
    result = app.test_cli_runner().invoke(args=["fms", "jobs", "recover"])
    assert result.exit_code == 0, result.output
    assert "1 stale job run(s) marked failed" in result.output
    scope_session(session, org.id)
    failed = _run(session, run_id)
    assert failed.state == "failed" and "heartbeat" in failed.error
    assert failed.finished_at is not None
    assert _run(session, fresh_id).state == "running"

    # a retry enqueues it again; a second retry while it is queued is refused
    session.info.pop("fms_pending_jobs", None)
    actor = jobs._job_actor(session, failed)
    jobs.retry_run(session, actor=actor, run_id=run_id)
    from fms.errors import RuleViolation

    with pytest.raises(RuleViolation):
        jobs.retry_run(session, actor=actor, run_id=run_id)
    session.commit()  # the retry runs (inline) once the transaction commits
    done = _run(session, run_id)
    assert done.state == "finished" and done.attempts == 2 and done.error is None
    assert [(org.id, "crashed")] == CALLS


def test_looking_at_a_crashed_run_reports_it_failed_and_it_can_be_retried_once(
    client, session, org_admin, sign_in
):
    from fms.identity.models import User

    org = session.get(Organization, org_admin.org_id)
    scope_session(session, org.id)
    session.info["fms_actor"] = jobs._job_actor(
        session, jobs.JobRun(org_id=org.id, requested_by_user_id=org_admin.user_id)
    )
    run_id = _crashed_run(session, org, minutes_ago=jobs.STALE_AFTER_SECONDS // 60 + 5)
    sign_in(client, session.get(User, org_admin.user_id), org)
    body = client.get(f"/api/v1/jobs/{run_id}").get_json()
    assert body["state"] == "failed" and "heartbeat" in body["error"]
    assert body["heartbeat_at"] is not None

    # the first retry is accepted (and runs inline after its commit) ...
    first = client.post(f"/api/v1/jobs/{run_id}/retry")
    assert first.status_code == 202, first.get_json()
    assert client.get(f"/api/v1/jobs/{run_id}").get_json()["state"] == "finished"
    # ... a second one finds nothing failed to retry
    second = client.post(f"/api/v1/jobs/{run_id}/retry")
    assert second.status_code == 409
    assert [(org.id, "crashed")] == CALLS


def test_a_retry_while_the_first_is_still_queued_is_refused(app, session, org, monkeypatch):
    """With a queue the first retry stays 'queued' until a worker takes it."""
    run_id = _crashed_run(session, org, minutes_ago=jobs.STALE_AFTER_SECONDS // 60 + 5)
    assert jobs.recover_stale_runs(session) == [run_id]
    session.commit()
    scope_session(session, org.id)
    dispatched = []
    monkeypatch.setattr(jobs, "_dispatch", lambda app, rid: dispatched.append(rid))
    actor = jobs._job_actor(session, _run(session, run_id))
    jobs.retry_run(session, actor=actor, run_id=run_id)
    session.commit()
    scope_session(session, org.id)
    assert _run(session, run_id).state == "queued" and dispatched == [run_id]
    from fms.errors import RuleViolation

    with pytest.raises(RuleViolation):
        jobs.retry_run(session, actor=actor, run_id=run_id)
    session.commit()
    assert dispatched == [run_id]  # enqueued once


def test_a_stale_attempt_finishing_late_does_not_overwrite_the_retry(session, org):
    """The swept worker was only slow: its late outcome must not clobber attempt 2."""
    run_id = _crashed_run(session, org, minutes_ago=jobs.STALE_AFTER_SECONDS // 60 + 5)
    jobs.recover_stale_runs(session)
    session.commit()
    scope_session(session, org.id)
    from sqlalchemy import update

    session.execute(
        update(jobs.JobRun).where(jobs.JobRun.id == run_id).values(state="running", attempts=2)
    )
    session.commit()
    jobs._finish(run_id, state="finished", result={"late": True}, attempt=1)
    session.commit()
    scope_session(session, org.id)
    assert _run(session, run_id).state == "running"


# --- who may read a job's result ----------------------------------------------------------


def test_a_job_result_is_for_its_starter_and_org_admins_only(
    client, session, org_admin, make_member, make_org, sign_in
):
    from fms.identity.models import User

    org = session.get(Organization, org_admin.org_id)
    starter = make_member(org, roles=("finance",))
    colleague = make_member(org, roles=("finance",))
    scope_session(session, org.id)
    session.info["fms_actor"] = jobs._job_actor(
        session, jobs.JobRun(org_id=org.id, requested_by_user_id=starter.user_id)
    )
    run = jobs.enqueue_after_commit(remember_org, "secret payroll figures")
    run_id = run.id
    session.commit()
    assert jobs.get_run(session, run_id).requested_by_user_id == starter.user_id

    def status(member):
        sign_in(client, session.get(User, member.user_id), org)
        return client.get(f"/api/v1/jobs/{run_id}").status_code

    assert status(starter) == 200
    assert status(org_admin) == 200
    assert status(colleague) == 404  # staff, but not theirs: no result, no hint it exists
    other = make_org()
    other_admin = make_member(other, roles=("org_admin",))
    session.commit()
    sign_in(client, session.get(User, other_admin.user_id), other)
    assert client.get(f"/api/v1/jobs/{run_id}").status_code == 404
    assert client.post(f"/api/v1/jobs/{run_id}/retry").status_code == 404


@pytest.mark.postgres
def test_the_worker_beats_while_a_silent_job_runs(app, committed, monkeypatch):
    """A job that reports no progress still shows signs of life (the timer's own commits)."""
    import time

    monkeypatch.setitem(app.config, "FMS_JOB_HEARTBEAT_SECONDS", 0.05)
    seen = {}

    @jobs.job
    def silent(actor):
        time.sleep(0.5)
        with db.engine.connect() as other:
            seen["beat"] = tuple(
                other.exec_driver_sql(
                    "SELECT started_at, heartbeat_at FROM job_run WHERE state = 'running'"
                ).one()
            )

    org = Organization(name="Beating", slug="beating")
    committed.add(org)
    committed.commit()
    scope_session(committed, org.id)
    jobs.enqueue_after_commit(silent)
    committed.commit()
    started_at, heartbeat_at = seen["beat"]
    assert heartbeat_at > started_at
