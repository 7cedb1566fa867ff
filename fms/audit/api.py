"""Audit routes of /api/v1 (org admins and compliance officers)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from fms.api.common import API_PREFIX, page_body
from fms.audit import queries, schemas
from fms.audit.services import redacted
from fms.extensions import db
from fms.identity.permissions import require
from fms.identity.web_session import current_actor

blp = Blueprint("audit_api", __name__, url_prefix=API_PREFIX, description="Audit log")


def _shown(entry) -> dict:
    """An entry as stored, with secrets hidden even in entries older than redaction."""
    body = {c.key: getattr(entry, c.key) for c in entry.__table__.columns}
    body["before"], body["after"] = redacted(entry.before, entry.after)
    return body


@blp.route("/audit-entries")
class AuditEntries(MethodView):
    @blp.arguments(schemas.AuditQuery, location="query")
    @blp.response(200, schemas.AuditEntryPage)
    def get(self, args):
        """Entries of the current organization, newest first, with filters."""
        require(current_actor(), "audit.read")
        filters = queries.AuditFilter(
            **{k: v for k, v in args.items() if k not in ("page", "per_page")}
        )
        rows, total = queries.list_entries(
            db.session, filters, page=args["page"], per_page=args["per_page"]
        )
        return page_body([_shown(r) for r in rows], total, args)


@blp.route("/audit-entries/<int:entry_id>")
class AuditEntryById(MethodView):
    @blp.response(200, schemas.AuditEntryOut)
    def get(self, entry_id: int):
        require(current_actor(), "audit.read")
        return _shown(queries.get_entry(db.session, entry_id))
