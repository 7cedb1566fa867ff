"""Reports routes of /api/v1: spend analytics, the same figures as the spend dashboard
(one service, `fms.reports.spend.spend_report`), spend exports (XLSX, CSV, PDF) and the
monthly spend pack subscription.

Amounts are strings ("1234.50"), never floats. Bad filters answer a 422 problem whose
`errors` name the query parameters (from, to, grain, group_by, currency) or, in a body, point
at its fields; a person without `reports.spend` gets 403.

Exports are the export page's (`fms.reports.jobs`): a small one is written at once (201), a
large XLSX/CSV (above FMS_REPORT_INLINE_ROWS Detail rows) by a background job (202); either
is then read at `/reports/exports/{export_id}` and downloaded from its `/file`.
Subscriptions are a person's own, as on the subscriptions page: nobody sees or cancels
another person's (404), and an integration has none (403).
"""

from __future__ import annotations

from flask import send_file, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from fms.api.common import API_PREFIX, PageArgs, page_body, page_schema
from fms.extensions import db
from fms.identity.web_session import current_actor, org_today
from fms.reports import exports, jobs, spend, subscriptions
from fms.timekeeping import utcnow

blp = Blueprint("reports_api", __name__, url_prefix=API_PREFIX, description="Spend reports")
bad_filters = blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
not_ready = blp.alt_response(409, response="CONFLICT")


class SpendQueryIn(Schema):
    """Query parameters, read as text and checked by the service's parser (one set of
    messages for the page and the API)."""

    from_ = fields.String(
        data_key="from",
        validate=validate.Length(max=40),
        metadata={"description": "First work date, YYYY-MM-DD. Default: a year ago."},
    )
    to = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "Last work date, YYYY-MM-DD (inclusive). Default: today."},
    )
    grain = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "week, month (default) or quarter."},
    )
    group_by = fields.String(
        validate=validate.Length(max=200),
        metadata={
            "description": "Up to two of " + ", ".join(spend.DIMENSIONS) + ", comma-separated."
        },
    )
    currency = fields.String(
        validate=validate.Length(max=40),
        metadata={
            "description": "base (default: the organization's base currency, converted at "
            "the work date) or original."
        },
    )


def _spend_args(args: dict) -> dict:
    """The filters as the service's parser reads them (`from` is a Python keyword)."""
    return {("from" if k == "from_" else k): v for k, v in args.items() if k != "format"}


class SpendRowOut(Schema):
    period = fields.String(metadata={"description": '"2026-11", "2026-W45", "2026-Q4" or "total".'})
    period_start = fields.Date()
    keys = fields.List(
        fields.String(), metadata={"description": "Labels of the group_by dimensions, in order."}
    )
    currency = fields.String()
    approved = fields.Decimal(as_string=True, metadata={"description": "Approved (accrued) spend."})
    invoiced = fields.Decimal(
        as_string=True,
        metadata={"description": "Issued invoice lines; credit notes count negative."},
    )
    minutes = fields.Integer()
    hours = fields.Decimal(as_string=True)
    fte = fields.Decimal(as_string=True)
    average_rate = fields.Decimal(
        as_string=True, allow_none=True, metadata={"description": "Approved spend per hour."}
    )


class SpendFiltersOut(Schema):
    from_ = fields.Date(data_key="from", attribute="start")
    to = fields.Date(attribute="end")
    grain = fields.String()
    group_by = fields.List(fields.String())
    currency = fields.String()


class SpendReportOut(Schema):
    filters = fields.Nested(SpendFiltersOut, attribute="query")
    base_currency = fields.String()
    rows = fields.List(fields.Nested(SpendRowOut))
    totals = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(SpendRowOut),
        metadata={"description": "Per currency: the grand total row."},
    )
    unconverted = fields.List(
        fields.String(),
        metadata={"description": "Currencies left as they are: no exchange rate on a day."},
    )


@blp.route("/reports/spend")
class SpendReport(MethodView):
    @blp.arguments(SpendQueryIn, location="query")
    @blp.response(200, SpendReportOut)
    @bad_filters
    def get(self, args):
        """Approved and invoiced spend, hours, FTE and average rate by period (and up to two
        dimensions), per currency; the figures of the spend dashboard."""
        actor = current_actor()
        query = spend.parse_spend_query(_spend_args(args), today=org_today())
        return spend.spend_report(db.session, actor=actor, query=query)


# --- exports ---------------------------------------------------------------------------------


class ExportIn(SpendQueryIn):
    """The spend report's filters, and the file's format."""

    format = fields.String(
        required=True,
        validate=validate.OneOf(exports.FORMATS),
        metadata={
            "description": "xlsx (summary, every approved item, headcount), csv (every "
            "approved item) or pdf (the summary with a chart)."
        },
    )


class ExportOut(Schema):
    id = fields.String(metadata={"description": "The export's id (its job's)."})
    state = fields.String(metadata={"description": "queued, running, finished or failed"})
    progress = fields.Integer(metadata={"description": "0-100"})
    message = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    format = fields.String()
    filename = fields.String()
    filters = fields.Nested(SpendFiltersOut)
    rows = fields.Integer(
        allow_none=True,
        metadata={"description": "Approved items written (a PDF: 0); null until finished."},
    )
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    download_url = fields.String(
        allow_none=True, metadata={"description": "The file, once finished; null before."}
    )


def _export_body(run) -> dict:
    query, fmt = jobs.export_query(run)
    finished = run.state == "finished"
    return {
        "id": run.id,
        "state": run.state,
        "progress": run.progress,
        "message": run.message,
        "error": run.error,
        "format": fmt,
        "filename": exports.export_filename(query, fmt),
        "filters": query,
        "rows": (run.result or {}).get("rows") if finished else None,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "download_url": url_for(".ExportFile", export_id=run.id) if finished else None,
    }


def _export_answer(run_id: str, status: int):
    run = jobs.get_export(db.session, actor=current_actor(), export_id=run_id)
    return _export_body(run), status, {"Location": url_for(".ExportById", export_id=run_id)}


@blp.route("/reports/exports")
class Exports(MethodView):
    @blp.arguments(ExportIn)
    @blp.response(201, ExportOut, description="Small: the file is written; see download_url.")
    @blp.alt_response(
        202,
        schema=ExportOut,
        description="Large: a background job writes the file; follow Location for its "
        "progress until state is finished.",
    )
    @bad_filters
    def post(self, data):
        """Export spend as XLSX, CSV or PDF with the spend report's filters.

        The figures are those of `GET /reports/spend` with the same filters. An XLSX or CSV
        with more approved items than the installation's inline limit is written by a
        background job (202; a person has at most a few waiting: 429); anything smaller is
        written at once (201)."""
        actor = current_actor()
        fmt = data["format"]
        query = spend.parse_spend_query(_spend_args(data), today=org_today())
        if jobs.runs_as_job(db.session, actor=actor, query=query, fmt=fmt):
            run = jobs.enqueue_export(db.session, actor=actor, query=query, fmt=fmt)
            status = 202
        else:
            run = jobs.write_export_now(
                db.session, actor=actor, query=query, fmt=fmt, today=org_today(), now=utcnow()
            )
            status = 201
        run_id = run.id
        db.session.commit()  # a job runs (inline mode) or is queued after this
        return _export_answer(run_id, status)


@blp.route("/reports/exports/<export_id>")
class ExportById(MethodView):
    @blp.response(200, ExportOut)
    def get(self, export_id: str):
        """An export's state and progress, and its download link once finished."""
        run = jobs.get_export(db.session, actor=current_actor(), export_id=export_id)
        body = _export_body(run)
        db.session.commit()  # keeps a "failed" found on a dead run
        return body


@blp.route("/reports/exports/<export_id>/file")
class ExportFile(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "The export's file.",
                "content": {
                    media_type: {"schema": {"type": "string", "format": "binary"}}
                    for media_type in exports.MEDIA_TYPES.values()
                },
            }
        }
    )
    @not_ready
    def get(self, export_id: str):
        """Download a finished export (409 while it is being written, or when it failed)."""
        run = jobs.get_export(db.session, actor=current_actor(), export_id=export_id)
        path, filename, fmt = jobs.export_file(run)
        response = send_file(
            path,
            mimetype=exports.MEDIA_TYPES[fmt],
            as_attachment=True,
            download_name=filename,
            max_age=0,
        )
        response.headers["Cache-Control"] = "private, no-store"
        return response


# --- the monthly spend pack --------------------------------------------------------------------


class SubscriptionIn(Schema):
    """Nothing to choose: the pack comes at the start of each month, to the person's email."""


class SubscriptionOut(Schema):
    id = fields.Integer()
    user_id = fields.Integer(metadata={"description": "The subscriber: always the caller."})
    created_at = fields.DateTime()


SubscriptionPage = page_schema(SubscriptionOut, "SubscriptionPage")


@blp.route("/reports/subscriptions")
class Subscriptions(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, SubscriptionPage)
    def get(self, args):
        """The caller's subscription to the monthly spend pack (none or one)."""
        rows = subscriptions.own_subscriptions(db.session, actor=current_actor())
        start = (args["page"] - 1) * args["per_page"]
        return page_body(rows[start : start + args["per_page"]], len(rows), args)

    @blp.arguments(SubscriptionIn)
    @blp.response(201, SubscriptionOut, description="Subscribed.")
    @blp.alt_response(200, schema=SubscriptionOut, description="Already subscribed.")
    def post(self, data):
        """Subscribe the caller to the monthly spend pack: a mail early each month with a
        link to the past month's spend workbook. People who may read spend only."""
        actor = current_actor()
        already = subscriptions.own_subscriptions(db.session, actor=actor)
        row = subscriptions.subscribe(db.session, actor=actor)
        row_id = row.id
        db.session.commit()
        row = subscriptions.get_own_subscription(db.session, actor=actor, subscription_id=row_id)
        return row, 200 if already else 201


@blp.route("/reports/subscriptions/<int:subscription_id>")
class SubscriptionById(MethodView):
    @blp.response(200, SubscriptionOut)
    def get(self, subscription_id: int):
        """One of the caller's subscriptions (another person's is not found)."""
        return subscriptions.get_own_subscription(
            db.session, actor=current_actor(), subscription_id=subscription_id
        )

    @blp.response(204)
    def delete(self, subscription_id: int):
        """Cancel the caller's subscription: no more monthly packs."""
        subscriptions.cancel_subscription(
            db.session, actor=current_actor(), subscription_id=subscription_id
        )
        db.session.commit()
