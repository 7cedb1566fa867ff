"""/api/v1/jobs/<job_id>: progress and outcome of a background job, and its retry.

A job is visible to the person who started it and to org admins; to anyone else, as to
another organization, it does not exist (404).
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from fms import jobs
from fms.api.common import API_PREFIX
from fms.extensions import db
from fms.identity.permissions import require
from fms.identity.web_session import current_actor

blp = Blueprint("jobs_api", __name__, url_prefix=API_PREFIX, description="Background jobs")


class JobOut(Schema):
    id = fields.String()
    name = fields.String()
    state = fields.String(metadata={"description": "queued, running, finished or failed"})
    progress = fields.Integer()
    message = fields.String(allow_none=True)
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    heartbeat_at = fields.DateTime(
        allow_none=True, metadata={"description": "last sign of life while running"}
    )
    finished_at = fields.DateTime(allow_none=True)


@blp.route("/jobs/<job_id>")
class JobById(MethodView):
    @blp.response(200, JobOut)
    def get(self, job_id: str):
        """A job's state; a run whose worker died is reported failed."""
        actor = current_actor()
        require(actor, "jobs.read")
        run = jobs.get_run(db.session, job_id, actor=actor)
        db.session.commit()  # keeps a "failed" found on a dead run
        return run


@blp.route("/jobs/<job_id>/retry")
class JobRetry(MethodView):
    @blp.response(202, JobOut)
    def post(self, job_id: str):
        """Queue a failed job again (409 unless it is failed: a retry is taken once)."""
        actor = current_actor()
        require(actor, "jobs.read")
        run = jobs.retry_run(db.session, actor=actor, run_id=job_id)
        run_id = run.id
        db.session.commit()  # enqueues it (inline mode: runs it) after the commit
        return jobs.get_run(db.session, run_id, actor=actor)
