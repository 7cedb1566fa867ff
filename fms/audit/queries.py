"""Reads of the audit log for the audit page and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.audit.models import AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    entity_type: str | None = None
    entity_id: int | None = None
    actor_user_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


def _filtered(stmt, f: AuditFilter):
    if f.action:
        stmt = stmt.where(AuditEntry.action.startswith(f.action, autoescape=True))
    if f.entity_type:
        stmt = stmt.where(AuditEntry.entity_type == f.entity_type)
    if f.entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == f.entity_id)
    if f.actor_user_id is not None:
        stmt = stmt.where(AuditEntry.actor_user_id == f.actor_user_id)
    if f.date_from:
        stmt = stmt.where(AuditEntry.created_at >= datetime.combine(f.date_from, time(), UTC))
    if f.date_to:
        end = datetime.combine(f.date_to + timedelta(days=1), time(), UTC)
        stmt = stmt.where(AuditEntry.created_at < end)
    return stmt


def list_entries(session: Session, f: AuditFilter, *, page: int, per_page: int):
    """One page of the organization's entries, newest first, and the total count."""
    total = session.scalar(_filtered(select(func.count(AuditEntry.id)), f))
    rows = session.scalars(
        _filtered(select(AuditEntry), f)
        .order_by(AuditEntry.seq.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def entity_types(session: Session) -> list[str]:
    return list(
        session.scalars(select(AuditEntry.entity_type).distinct().order_by(AuditEntry.entity_type))
    )


def get_entry(session: Session, entry_id: int) -> AuditEntry:
    from fms.tenancy import get_in_org

    return get_in_org(session, AuditEntry, entry_id, what="audit entry")


def actor_names(session: Session, user_ids) -> dict[int, str]:
    """Display names of acting users, read through the identity table by id only."""
    from sqlalchemy import column, table

    ids = sorted(i for i in user_ids if i is not None)
    if not ids:
        return {}
    # audit imports no domain: the user table is named, not imported
    users = table("user_account", column("id"), column("name"))
    rows = session.execute(select(users.c.id, users.c.name).where(users.c.id.in_(ids)))
    return {row.id: row.name for row in rows}
