"""Reads of the audit log for the audit page and the API.

The log grows with every change, so no read here scans it: pages walk an index newest
first, the filter choices come from skip scans (one index probe per distinct value, not
a DISTINCT over every entry), the unfiltered total is the chain head's last sequence
number (the chain is gapless), and a filtered total on the page is counted up to a cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from fms.audit.models import AuditChainHead, AuditEntry
from fms.tenancy import session_org_id

# At most this many distinct actions / record types are offered as filter choices.
CHOICES_LIMIT = 500


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    entity_type: str | None = None
    entity_id: int | None = None
    actor_user_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    # the record and the records that belong to it, ((type, (id, ...)), ...): its history
    # (fms.audit.hooks.family); when set it replaces entity_type and entity_id
    family: tuple = ()

    @property
    def is_empty(self) -> bool:
        texts_and_dates = (self.action, self.entity_type, self.date_from, self.date_to)
        ids = (self.entity_id, self.actor_user_id)
        return not any(texts_and_dates) and all(i is None for i in ids) and not self.family


def _filtered(stmt, f: AuditFilter, known_actions: list[str] | None):
    if f.action:
        if known_actions is not None and len(known_actions) < CHOICES_LIMIT:
            # a prefix ("location.") names the known actions it starts: equality on the index
            matching = [a for a in known_actions if a.startswith(f.action)]
            stmt = stmt.where(AuditEntry.action.in_(matching))
        else:
            stmt = stmt.where(AuditEntry.action.startswith(f.action, autoescape=True))
    if f.family:
        stmt = stmt.where(
            or_(
                *(
                    and_(AuditEntry.entity_type == kind, AuditEntry.entity_id.in_(ids))
                    for kind, ids in f.family
                )
            )
        )
    else:
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


def list_entries(
    session: Session,
    f: AuditFilter,
    *,
    page: int,
    per_page: int,
    count_cap: int | None = None,
    known_actions: list[str] | None = None,
):
    """One page of the organization's entries, newest first, and the total count.

    With `count_cap` a filtered total stops counting there (the page shows "N+").
    """
    if f.action and known_actions is None:
        known_actions = actions(session)
    if f.is_empty:
        head = select(AuditChainHead.last_seq).where(
            AuditChainHead.org_id == session_org_id(session)  # not a tenant model: by hand
        )
        total = session.scalar(head) or 0
    else:
        matching = _filtered(select(AuditEntry.id), f, known_actions)
        if count_cap is not None:
            matching = matching.limit(count_cap)
        total = session.scalar(select(func.count()).select_from(matching.subquery()))
    rows = session.scalars(
        _filtered(select(AuditEntry), f, known_actions)
        .order_by(AuditEntry.seq.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


def iter_entries(session: Session, f: AuditFilter, *, limit: int):
    """The entries the filters match, newest first, at most `limit`, read in batches (an
    export streams them instead of holding them all)."""
    stmt = (
        _filtered(select(AuditEntry), f, actions(session) if f.action else None)
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
        .execution_options(yield_per=500)
    )
    yield from session.scalars(stmt)


def _skip_scan(session: Session, column_name: str) -> list[str]:
    """The distinct values of a column in the organization's entries, in order.

    A recursive query that asks the index for "the next value after the last one" each
    step: as many probes as there are values, whatever the number of entries.
    """
    org_id = session_org_id(session)
    if org_id is None:
        return []
    table = AuditEntry.__table__  # Core: the organization is named explicitly below
    column = table.c[column_name]

    def next_value(after=None):
        stmt = select(column).where(table.c.org_id == org_id)
        if after is not None:
            stmt = stmt.where(column > after)
        return stmt.order_by(column).limit(1).scalar_subquery()

    values = select(next_value().label("v")).cte("choices", recursive=True)
    values = values.union_all(select(next_value(values.c.v)).where(values.c.v.is_not(None)))
    stmt = select(values.c.v).where(values.c.v.is_not(None)).limit(CHOICES_LIMIT)
    return list(session.scalars(stmt))


def actions(session: Session) -> list[str]:
    """The actions recorded in the organization (filter choices)."""
    return _skip_scan(session, "action")


def entity_types(session: Session) -> list[str]:
    """The record types in the organization's entries (filter choices)."""
    return _skip_scan(session, "entity_type")


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


def history(session: Session, entity_type: str, entity_id: int, *, limit: int = 10):
    """The latest entries of a record and of the records that belong to it (registered
    children: an engagement's checklist steps, amendments and their approval steps, ...)."""
    f = AuditFilter(
        entity_type=entity_type,
        entity_id=entity_id,
        family=family_of(session, entity_type, entity_id),
    )
    rows, _ = list_entries(session, f, page=1, per_page=limit, count_cap=limit)
    return rows


def family_of(session: Session, entity_type: str, entity_id: int) -> tuple:
    """AuditFilter.family for a record: it and what belongs to it, by type."""
    from fms.audit.hooks import family

    found = family(session, entity_type, entity_id)
    return tuple((kind, tuple(sorted(ids))) for kind, ids in sorted(found.items()))
