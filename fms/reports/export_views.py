"""Spend exports and the monthly spend pack, in the browser.

`/reports/exports` chooses the range, grouping and format; `/reports/exports/spend.<fmt>`
answers the file at once, or — above FMS_REPORT_INLINE_ROWS Detail rows (XLSX, CSV) —
queues a job and sends the person to its page (progress, then the download link).
`/reports/packs/<pack_id>` is the link in a monthly pack mail: the same workbook for that
month, for people of that organization who may read spend.
"""

from __future__ import annotations

import tempfile

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required

from fms.exports import csv_stream_response
from fms.extensions import db
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.reports import detail, exports, jobs, spend, subscriptions
from fms.timekeeping import utcnow

bp = Blueprint("report_exports", __name__, url_prefix="/reports")


def _answer(actor, query: spend.SpendQuery, fmt: str):
    """The file at once, or a job for a large XLSX/CSV (the job page links the file)."""
    if jobs.runs_as_job(db.session, actor=actor, query=query, fmt=fmt):
        run = jobs.enqueue_export(db.session, actor=actor, query=query, fmt=fmt)
        run_id = run.id
        db.session.commit()
        return redirect(url_for("jobs_pages.show", run_id=run_id))
    filename = exports.export_filename(query, fmt)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":  # streamed a row at a time, through a session of the stream's own
        return csv_stream_response(
            filename,
            detail.HEADER,
            lambda session: (
                row.cells()
                for row in detail.detail_rows(
                    session, actor=actor, start=query.start, end=query.end
                )
            ),
        )
    # a zip (and a PDF) is complete only at its end: written to a spooled file, then sent
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    exports.build_export(
        db.session,
        actor=actor,
        query=query,
        fmt=fmt,
        target=spool,
        today=org_today(),
        now=utcnow(),
    )
    spool.seek(0)

    def chunks():
        try:
            while chunk := spool.read(64 * 1024):
                yield chunk
        finally:
            spool.close()

    return Response(chunks(), mimetype=exports.MEDIA_TYPES[fmt], headers=headers)


@bp.get("/exports")
@login_required
def export_page():
    actor = current_actor()
    require(actor, "reports.spend")
    query = spend.parse_spend_query(request.args.to_dict(), today=org_today())
    return render_template(
        "reports/export.html",
        query=query,
        dimensions=exports.DIMENSION_LABELS,
        grains=spend.GRAINS,
        subscribed=subscriptions.is_subscribed(db.session, actor=actor),
    )


@bp.get("/exports/spend.<fmt>")
@login_required
def export_file(fmt: str):
    actor = current_actor()
    require(actor, "reports.spend")
    query = spend.parse_spend_query(request.args.to_dict(), today=org_today())
    return _answer(actor, query, fmt)


@bp.get("/subscriptions")
@login_required
def subscriptions_page():
    actor = current_actor()
    require(actor, "reports.spend")
    return render_template(
        "reports/subscriptions.html",
        subscribed=subscriptions.is_subscribed(db.session, actor=actor),
    )


@bp.post("/subscriptions")
@login_required
def change_subscription():
    actor = current_actor()
    if request.form.get("action") == "unsubscribe":
        subscriptions.unsubscribe(db.session, actor=actor)
        message = "You will get no more monthly spend packs."
    else:
        subscriptions.subscribe(db.session, actor=actor)
        message = "You will get the spend pack by mail at the start of each month."
    db.session.commit()
    flash(message)
    return redirect(url_for(".subscriptions_page"))


@bp.get("/packs/<int:pack_id>")
@login_required
def pack(pack_id: int):
    """A monthly pack's workbook (the mail's link): that month, base currency."""
    actor = current_actor()
    delivery = subscriptions.get_delivery(db.session, actor=actor, delivery_id=pack_id)
    first, last = subscriptions.parse_month(delivery.month)
    query = spend.SpendQuery(start=first, end=last, grain="month")
    return _answer(actor, query, "xlsx")
