"""/api/v1/jobs/<job_id>: progress and outcome of a background job."""

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
    finished_at = fields.DateTime(allow_none=True)


@blp.route("/jobs/<job_id>")
class JobById(MethodView):
    @blp.response(200, JobOut)
    def get(self, job_id: str):
        actor = current_actor()
        require(actor, "jobs.read")
        run = jobs.get_run(db.session, job_id)
        if not actor.is_staff and run.requested_by_user_id != actor.user_id:
            from fms.errors import NotFound

            raise NotFound("No such job.")
        return run
