"""The home dashboard, global search, and the reports: spend, budgets and rates."""

from datetime import date
from decimal import Decimal

from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy import select

from fms.errors import InvalidInput
from fms.extensions import db
from fms.forms import id_arg
from fms.identity.web_session import current_actor
from fms.reports import overview, queries

bp = Blueprint("reports", __name__)
# the grouped spend table shows this many rows (exports hold them all): a year by two
# dimensions can have tens of thousands, which no one reads on a screen
SPEND_TABLE_ROWS = 200


@bp.get("/")
@login_required
def home():
    actor = current_actor()
    from fms.identity.web_session import org_today

    today = org_today()
    summary = queries.dashboard(db.session, actor=actor, today=today)
    work = overview.assemble(db.session, actor=actor, today=today)
    return render_template("reports/home.html", summary=summary, work=work, today=today)


@bp.get("/search")
@login_required
def search():
    """Global search: what the person may read, grouped by kind (fms/reports/search.py)."""
    from flask import request

    from fms.identity.web_session import org_today
    from fms.reports import search as global_search

    results = global_search.search(
        db.session, actor=current_actor(), text=request.args.get("q", ""), today=org_today()
    )
    return render_template("reports/search.html", results=results, kinds=global_search.KINDS)


# --- spend, budgets and rate dashboards (fms/reports/spend.py, budget.py, rates.py) -------


def _spend_args(args) -> dict[str, str]:
    """The page's query parameters as the parser takes them: the two "Group by" selects
    arrive as two group_by values (or one comma list from a bookmark or the API)."""
    values = {key: args.get(key, "") for key in ("from", "to", "grain", "currency")}
    groups = [g for value in args.getlist("group_by") for g in value.split(",") if g.strip()]
    values["group_by"] = ",".join(groups)
    return values


@bp.get("/reports/spend")
@login_required
def spend():
    """The spend dashboard: trend, by dimension, top engagements, budget alerts and the
    headcount trend; filters in the URL; bad filters shown inline (a 422 page)."""
    from flask import request

    from fms.identity.permissions import require
    from fms.identity.web_session import org_today
    from fms.reports import budget, charts
    from fms.reports import spend as spend_service
    from fms.workforce import queries as workforce_queries

    actor = current_actor()
    require(actor, "reports.spend")
    today = org_today()
    raw = _spend_args(request.args)
    errors = {}
    try:
        query = spend_service.parse_spend_query(raw, today=today)
    except InvalidInput as exc:
        errors = exc.errors
        query = spend_service.parse_spend_query({}, today=today)
    report = spend_service.spend_report(db.session, actor=actor, query=query)
    dimension = query.group_by[0] if query.group_by else "cost_centre"
    # the side panels: spend by the dimension summed over the range ("all": one bucket),
    # and the top engagements (ordered and cut in SQL)
    panels = spend_service.spend_report(
        db.session,
        actor=actor,
        query=spend_service.SpendQuery(query.start, query.end, "all", (dimension,), query.currency),
    )
    currency = report.base_currency if query.currency == "base" else None
    currencies = report.currencies or [report.base_currency]
    shown = currency if currency in currencies else currencies[0]
    trend = _trend_rows(report, shown)
    dimension_rows = _totals_by_key(panels, shown, 0)
    # by approved spend: invoiced-only rows (a service fee has no engagement) are not top
    top_rows = spend_service.top_groups(
        db.session,
        actor=actor,
        query=spend_service.SpendQuery(
            query.start, query.end, "all", ("engagement",), query.currency
        ),
        currency=shown,
    )
    alerts = budget.budget_report(db.session, actor=actor, today=today, roll_ups=False).alerts[:6]
    headcount = None
    if actor.can("headcount.read"):
        headcount = workforce_queries.trend(db.session, org_id=actor.org_id, today=today, months=12)
    return render_template(
        "reports/spend.html",
        query=query,
        raw=raw,
        errors=errors,
        report=report,
        shown=shown,
        trend=trend,
        trend_chart=charts.column_chart(
            f"Spend by {query.grain}, {shown}",
            [row["period"] for row in trend],
            [
                charts.Series("Approved", [row["approved"] for row in trend], charts.PALETTE[0]),
                charts.Series("Invoiced", [row["invoiced"] for row in trend], charts.PALETTE[1]),
            ],
            description=f"Approved and invoiced spend per {query.grain} from "
            f"{query.start} to {query.end}, in {shown}; the table below has the figures.",
            unit=shown,
        ),
        dimension=dimension,
        dimension_rows=dimension_rows,
        dimension_chart=charts.bar_chart(
            f"Approved spend by {spend_service.DIMENSION_LABELS[dimension].lower()}, {shown}",
            [(row["label"], row["approved"]) for row in dimension_rows[:12]],
            unit=shown,
        ),
        top_rows=top_rows,
        alerts=alerts,
        alert_words=budget.ALERT_WORDS,
        headcount=headcount,
        headcount_chart=charts.column_chart(
            "People at work on each of the last 12 month-ends",
            [point.strftime("%b %y") for point, _ in headcount],
            [charts.Series("People", [f.people for _, f in headcount], charts.PALETTE[3])],
            description="Contingent headcount on each month's last day.",
        )
        if headcount
        else None,
        dimensions=spend_service.DIMENSION_LABELS,
        grains=spend_service.GRAINS,
        today=today,
        wider_from=date(query.start.year - 1, query.start.month, 1),
        table_limit=SPEND_TABLE_ROWS,
    ), (422 if errors else 200)


def _trend_rows(report, currency: str) -> list[dict]:
    """One row per period of the range (zeros where nothing was spent), in one currency."""
    sums = {}
    for row in report.rows:
        if row.currency != currency:
            continue
        cell = sums.setdefault(row.period_start, [Decimal(0), Decimal(0), 0, Decimal(0)])
        cell[0] += row.approved
        cell[1] += row.invoiced
        cell[2] += row.minutes
        cell[3] += row.fte
    result = []
    for label, start in report.periods:
        approved, invoiced, minutes, fte = sums.get(start, (Decimal(0), Decimal(0), 0, 0))
        result.append(
            {
                "period": label,
                "approved": approved,
                "invoiced": invoiced,
                "hours": Decimal(minutes) / 60,
                "fte": fte,
                "rate": (approved * 60 / minutes).quantize(Decimal("0.01")) if minutes else None,
            }
        )
    return result


def _totals_by_key(report, currency: str, position: int) -> list[dict]:
    """The report's rows summed per one of their group keys (over periods and the other
    key), largest approved first."""
    sums: dict = {}
    for row in report.rows:
        if row.currency != currency:
            continue
        keys = row.keys[position : position + 1]
        cell = sums.setdefault(keys, [Decimal(0), Decimal(0), 0])
        cell[0] += row.approved
        cell[1] += row.invoiced
        cell[2] += row.minutes
    rows = [
        {
            "label": " · ".join(keys) if keys else "All",
            "approved": approved,
            "invoiced": invoiced,
            "hours": Decimal(minutes) / 60,
        }
        for keys, (approved, invoiced, minutes) in sums.items()
    ]
    return sorted(rows, key=lambda r: (-r["approved"], r["label"]))


@bp.get("/reports/budgets")
@login_required
def budgets():
    """Budget vs actual per engagement, PO and cost centre, with the forecast and alerts."""
    from flask import request

    from fms.identity.permissions import require
    from fms.identity.web_session import org_today
    from fms.reports import budget

    actor = current_actor()
    require(actor, "reports.spend")
    result = budget.budget_report(db.session, actor=actor, today=org_today())
    # thousands of engagements: a page of them at a time (most consumed first), and the
    # largest purchase orders and cost centres; the spend export has every figure
    pages = max(1, -(-len(result.engagements) // BUDGET_PAGE_SIZE))
    try:
        page = min(max(int(request.args.get("page", "1")), 1), pages)
    except ValueError:
        page = 1
    first = (page - 1) * BUDGET_PAGE_SIZE
    return render_template(
        "reports/budgets.html",
        result=result,
        words=budget.ALERT_WORDS,
        engagements=result.engagements[first : first + BUDGET_PAGE_SIZE],
        first_row=first + 1,
        page=page,
        pages=pages,
        top=BUDGET_PAGE_SIZE,
    )


BUDGET_PAGE_SIZE = 50


@bp.get("/reports/rates")
@login_required
def rates():
    """Rate benchmarks per skill, level and country."""
    from flask import request

    from fms.identity.permissions import require
    from fms.identity.web_session import org_today
    from fms.reports import rates as rate_service
    from fms.workforce.models import Skill

    actor = current_actor()
    require(actor, "reports.spend")
    errors = {}
    skill_id = None
    raw_skill = (request.args.get("skill_id") or "").strip()
    if raw_skill:
        try:
            skill_id = id_arg(raw_skill)
        except ValueError:
            errors["skill_id"] = ["Choose a skill from the list."]
    country = (request.args.get("country") or "").strip().upper()
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = ["A two-letter country code, such as DE."]
        country = ""
    rows = rate_service.rate_benchmarks(
        db.session, actor=actor, today=org_today(), skill_id=skill_id, country=country or None
    )
    skills = db.session.execute(select(Skill.id, Skill.name).order_by(Skill.name)).all()
    return render_template(
        "reports/rates.html",
        rows=rows,
        skills=skills,
        skill_id=skill_id,
        country=country,
        errors=errors,
    ), (422 if errors else 200)
