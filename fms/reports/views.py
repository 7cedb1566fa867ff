"""The home dashboard."""

from flask import Blueprint, render_template
from flask_login import login_required

from fms.extensions import db
from fms.identity.web_session import current_actor
from fms.reports import overview, queries

bp = Blueprint("reports", __name__)


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
