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
