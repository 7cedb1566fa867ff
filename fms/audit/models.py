"""The audit log's table and the head of each organization's hash chain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from fms.database import Id
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow


class AuditEntry(TenantMixin, db.Model):
    """One state change: who, what, before and after. Never updated, never deleted."""

    __tablename__ = "audit_entry"
    # What the audit page reads by (fms/audit/queries.py): (org_id, seq) pages the
    # newest first; (org_id, action, seq) and (org_id, entity_type, ...) serve the filters
    # and the skip scans that list the filter choices; (org_id, actor_user_id, seq) "who".
    __table_args__ = (
        UniqueConstraint("org_id", "seq"),
        Index("ix_audit_entry_org_entity", "org_id", "entity_type", "entity_id"),
        Index("ix_audit_entry_org_action_seq", "org_id", "action", "seq"),
        Index("ix_audit_entry_org_actor_seq", "org_id", "actor_user_id", "seq"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_user_id: Mapped[Id | None] = mapped_column()
    channel: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(80))
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[Id | None] = mapped_column()
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # a change made through an API token: which token, and who it was in words at that
    # moment (an integration has no user; a personal token's user is actor_user_id)
    actor_token_id: Mapped[Id | None] = mapped_column()
    actor_label: Mapped[str | None] = mapped_column(String(200))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(db.Model):
    """The last link of an organization's chain; its row is locked by every writer."""

    __tablename__ = "audit_chain_head"

    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise AuditLogIsAppendOnly("audit entries are never changed or deleted")
