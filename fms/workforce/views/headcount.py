"""The headcount page, its CSV download, and the same figures for the API."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_login import login_required

from fms import exports
from fms.extensions import db
from fms.forms import date_filter, id_arg
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.workforce import queries

bp = Blueprint("headcount", __name__)
FILTER_ARGS = {
    "cost_centre_id": int,
    "department_id": int,
    "location_id": int,
    "supplier_id": int,
    "manager_user_id": int,
    "skill_id": int,
    "country": str,
    "kind": str,
}


def parse_args(args, today: date):
    """Date, grouping and filters from query parameters. A date that is not one, or lies
    outside the business range, answers a 422 page naming the range (`date_filter`);
    other bad values fall back to defaults."""
    on = date_filter("on", "As of") or today
    group_by = args.get("group_by") or "cost_centre"
    if group_by not in queries.GROUPS:
        group_by = "cost_centre"
    filters = {}
    for name, kind in FILTER_ARGS.items():
        value = args.get(name)
        if value:
            try:
                filters[name] = id_arg(value) if kind is int else value.strip().upper()[:20]
            except ValueError:
                continue
    if "kind" in filters:
        filters["kind"] = filters["kind"].lower()
    return on, group_by, filters


@bp.get("/headcount")
@login_required
def index():
    actor = current_actor()
    require(actor, "headcount.read")
    today = org_today()
    on, group_by, filters = parse_args(request.args, today)
    result = queries.headcount(
        db.session, org_id=actor.org_id, on=on, group_by=group_by, filters=filters
    )
    series = queries.trend(db.session, org_id=actor.org_id, today=on, months=12, filters=filters)
    buckets, nearest = queries.ending_soon(db.session, today=today, filters=filters)
    return render_template(
        "workforce/headcount.html",
        result=result,
        series=series,
        buckets=buckets,
        nearest=nearest,
        on=on,
        today=today,
        group_by=group_by,
        groups=queries.GROUPS,
        filters=filters,
        options=queries.choices(db.session, freelancers=False),
        chart=_chart(series),
        csv_args=request.args.to_dict(),
    )


@bp.get("/headcount.csv")
@login_required
def download():
    actor = current_actor()
    require(actor, "headcount.read")
    on, group_by, filters = parse_args(request.args, org_today())
    result = queries.headcount(
        db.session, org_id=actor.org_id, on=on, group_by=group_by, filters=filters
    )
    header = [queries.GROUPS[group_by], "People", "Engagements", "FTE", "As of"]
    rows = [[g.label, g.people, g.engagements, g.fte, on] for g in result.groups]
    total = result.total
    rows.append(["Total (each person once)", total.people, total.engagements, total.fte, on])
    return exports.csv_response(f"headcount-{group_by}-{on.isoformat()}.csv", header, rows)


def _chart(series, width=720, height=220, pad=32):
    """Bars for people per month-end, as SVG coordinates (drawn by the template, no script)."""
    peak = max((f.people for _, f in series), default=0) or 1
    step = (width - 2 * pad) / max(len(series), 1)
    bars = []
    for index, (point, figures) in enumerate(series):
        bar_height = (height - 2 * pad) * figures.people / peak
        bars.append(
            {
                "x": round(pad + index * step + step * 0.15, 1),
                "width": round(step * 0.7, 1),
                "y": round(height - pad - bar_height, 1),
                "height": round(bar_height, 1),
                "label": point.strftime("%b %y"),
                "value": figures.people,
                "fte": figures.fte,
                "date": point.isoformat(),
            }
        )
    return {"width": width, "height": height, "pad": pad, "bars": bars, "peak": peak}
