"""Reports routes of /api/v1: spend analytics, the same figures as the spend dashboard
(one service, `fms.reports.spend.spend_report`).

Amounts are strings ("1234.50"), never floats. Bad filters answer a 422 problem whose
`errors` name the query parameters (from, to, grain, group_by, currency); a person
without `reports.spend` gets 403.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from fms.api.common import API_PREFIX
from fms.extensions import db
from fms.identity.web_session import current_actor, org_today
from fms.reports import spend

blp = Blueprint("reports_api", __name__, url_prefix=API_PREFIX, description="Spend reports")
bad_filters = blp.alt_response(422, response="UNPROCESSABLE_ENTITY")


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
        raw = {("from" if k == "from_" else k): v for k, v in args.items()}
        query = spend.parse_spend_query(raw, today=org_today())
        return spend.spend_report(db.session, actor=actor, query=query)
