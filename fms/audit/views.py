"""The audit page for org admins and compliance officers, with filters."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required

from fms.audit import queries
from fms.audit.services import redacted
from fms.extensions import db
from fms.forms import date_filter, id_arg, page_arg
from fms.identity.permissions import require
from fms.identity.web_session import current_actor

bp = Blueprint("audit", __name__)
PER_PAGE = 50
# A filtered total is counted up to here ("10000+ entries"); the unfiltered one is exact.
COUNT_CAP = 10_000


@bp.get("/admin/audit")
@login_required
def audit_log():
    actor = current_actor()
    require(actor, "audit.read")
    entity_id = request.args.get("entity_id", type=id_arg)
    actor_user_id = request.args.get("actor_user_id", type=id_arg)
    filters = queries.AuditFilter(
        action=(request.args.get("action") or "").strip()[:80] or None,
        entity_type=(request.args.get("entity_type") or "").strip()[:60] or None,
        entity_id=entity_id,
        actor_user_id=actor_user_id,
        date_from=date_filter("date_from", "From"),
        date_to=date_filter("date_to", "To"),
    )
    page = max(request.args.get("page", 1, type=page_arg) or 1, 1)
    actions = queries.actions(db.session)
    rows, total = queries.list_entries(
        db.session,
        filters,
        page=page,
        per_page=PER_PAGE,
        count_cap=COUNT_CAP,
        known_actions=actions,
    )
    return render_template(
        "audit/log.html",
        rows=rows,
        total=total,
        total_capped=total >= COUNT_CAP and not filters.is_empty,
        page=page,
        per_page=PER_PAGE,
        filters=filters,
        actions=actions,
        entity_types=queries.entity_types(db.session),
        actor_names=queries.actor_names(db.session, {r.actor_user_id for r in rows}),
    )


@bp.get("/admin/audit/<int:entry_id>")
@login_required
def audit_entry(entry_id: int):
    actor = current_actor()
    require(actor, "audit.read")
    entry = queries.get_entry(db.session, entry_id)
    names = queries.actor_names(db.session, {entry.actor_user_id})
    # entries written before redaction moved into record() may still hold clear values
    before, after = redacted(entry.before, entry.after)
    return render_template(
        "audit/entry.html", entry=entry, before=before, after=after, actor_names=names
    )
