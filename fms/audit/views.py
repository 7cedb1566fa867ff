"""The audit page for org admins and compliance officers: filters, words, links, CSV.

Audit imports no domain: actions in words, links to records and a record's children come
from what the areas registered (fms.audit.hooks). Identity is below every area and already
provides the permission check and the actor, and the "who" filter's people lookup.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required

from fms import exports
from fms.audit import hooks, queries
from fms.audit.services import redacted
from fms.extensions import db
from fms.forms import date_filter, id_arg, page_arg
from fms.identity.permissions import require
from fms.identity.web_session import current_actor

bp = Blueprint("audit", __name__)
PER_PAGE = 50
# A filtered total is counted up to here ("10000+ entries"); the unfiltered one is exact.
COUNT_CAP = 10_000
# An export holds at most this many entries, newest first (narrow the filters for older ones).
EXPORT_CAP = 100_000


def _who(notes: list[str]) -> int | None:
    """The acting person: an id (a link, or the picker), or a typed name resolved."""
    from fms.identity import memberships

    user_id = request.args.get("actor_user_id", type=id_arg)
    typed = (request.args.get("who") or "").strip()[:100]
    if user_id is not None or not typed:
        return user_id
    found = memberships.lookup_people(db.session, actor=current_actor(), q=typed, per_page=2)
    if len(found.items) == 1:
        return found.items[0].id
    notes.append(f"“{typed}” matches {'several people' if found.items else 'nobody'}: ignored.")
    return None


def _filters(notes: list[str]) -> queries.AuditFilter:
    entity_type = (request.args.get("entity_type") or "").strip()[:60] or None
    entity_id = request.args.get("entity_id", type=id_arg)
    family = ()
    if entity_type and entity_id is not None and request.args.get("children") != "0":
        family = queries.family_of(db.session, entity_type, entity_id)
    return queries.AuditFilter(
        action=(request.args.get("action") or "").strip()[:80] or None,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_user_id=_who(notes),
        date_from=date_filter("date_from", "From"),
        date_to=date_filter("date_to", "To"),
        family=family,
    )


@bp.get("/admin/audit")
@login_required
def audit_log():
    actor = current_actor()
    require(actor, "audit.read")
    notes: list[str] = []
    filters = _filters(notes)
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
    names = queries.actor_names(db.session, {r.actor_user_id for r in rows})
    if filters.actor_user_id is not None:
        names |= queries.actor_names(db.session, {filters.actor_user_id})
    return render_template(
        "audit/log.html",
        rows=rows,
        total=total,
        total_capped=total >= COUNT_CAP and not filters.is_empty,
        page=page,
        per_page=PER_PAGE,
        filters=filters,
        notes=notes,
        actions=actions,
        entity_types=queries.entity_types(db.session),
        actor_names=names,
        words=hooks.action_words,
        entity_words=hooks.entity_words,
        links=hooks.entity_urls((r.entity_type, r.entity_id) for r in rows),
        export_args={k: v for k, v in request.args.items() if k != "page"},
    )


@bp.get("/admin/audit.csv")
@login_required
def audit_export():
    """What the filters match, as CSV through the one export writer (newest first)."""
    actor = current_actor()
    require(actor, "audit.read")
    filters = _filters([])
    header = [
        "Number",
        "When (UTC)",
        "Who",
        "Action",
        "Action code",
        "Record type",
        "Record id",
        "Channel",
        "IP",
        "Request id",
    ]
    # streamed after the view returns, through a session of the stream's own
    return exports.csv_stream_response(
        "audit-log.csv",
        header,
        lambda session: _export_rows(
            session, queries.iter_entries(session, filters, limit=EXPORT_CAP)
        ),
    )


def _actor_words(names: dict, entry) -> str:
    """The actor in words: the person (with the API token they used), the integration's
    token, or System."""
    person = names.get(entry.actor_user_id)
    if person and entry.actor_label:
        return f"{person} with {entry.actor_label}"
    return person or entry.actor_label or "System"


def _export_rows(session, entries, batch: int = 500):
    """CSV rows of entries, naming the actors a batch at a time (nothing held whole)."""
    chunk: list = []

    def rows_of(chunk):
        names = queries.actor_names(session, {e.actor_user_id for e in chunk})
        for e in chunk:
            yield [
                e.seq,
                e.created_at,
                _actor_words(names, e),
                hooks.action_words(e.action),
                e.action,
                hooks.entity_words(e.entity_type),
                e.entity_id,
                e.channel,
                e.ip,
                e.request_id,
            ]

    for entry in entries:
        chunk.append(entry)
        if len(chunk) == batch:
            yield from rows_of(chunk)
            chunk = []
    yield from rows_of(chunk)


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
        "audit/entry.html",
        entry=entry,
        before=before,
        after=after,
        actor_names=names,
        words=hooks.action_words,
        entity_words=hooks.entity_words,
        links=hooks.entity_urls([(entry.entity_type, entry.entity_id)]),
    )
