"""The job page: a background job's progress for the person who started it, and the
download of a file it wrote (large list exports)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, send_file
from flask_login import login_required

from fms import jobs
from fms.extensions import db
from fms.identity.permissions import require
from fms.identity.web_session import current_actor

bp = Blueprint("jobs_pages", __name__)


@bp.get("/jobs/<run_id>")
@login_required
def show(run_id: str):
    actor = current_actor()
    require(actor, "jobs.read")
    run = jobs.get_run(db.session, run_id, actor=actor)
    db.session.commit()  # keeps a "failed" found on a dead run
    return render_template("jobs/job.html", run=run)


@bp.get("/jobs/<run_id>/download")
@login_required
def download(run_id: str):
    from fms.lists import export_path

    actor = current_actor()
    require(actor, "jobs.read")
    run = jobs.get_run(db.session, run_id, actor=actor)
    result = run.result or {}
    if run.state != "finished" or result.get("format") not in ("csv", "xlsx"):
        abort(404)
    path = export_path(current_app.config["FMS_STORAGE_DIR"], run.id, result["format"])
    if not path.is_file():
        abort(404)
    return send_file(path, as_attachment=True, download_name=result.get("filename") or path.name)
