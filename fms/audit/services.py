"""Writing and verifying the audit log.

Every service that changes state calls `record()` in the same transaction as the change.
Entries are hash-chained per organization: each entry's hash covers its own fields and
the previous entry's hash. Writers advance the chain head with an UPDATE first, which
locks the head row on PostgreSQL (and takes SQLite's write lock), so two concurrent
writers queue up instead of forking the chain. The head is also the first lock of every
writing transaction (see "one lock order" below).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from fms.audit.models import AuditChainHead, AuditEntry
from fms.tenancy import ALL_TENANTS
from fms.timekeeping import utcnow

GENESIS_HASH = "0" * 64

# Values an audit entry never holds: it records THAT they changed, not what they are.
# Owned here (audit imports no domain); identity's REDACTED_IN_AUDIT must be a subset,
# which tests/test_field_permissions.py checks. Callers may add keys with `redact=`.
REDACTED_KEYS = frozenset(
    {"iban", "tax_id", "password", "password_hash", "client_secret", "secret", "token"}
)
ON_FILE, UNCHANGED, CHANGED, SET, REMOVED = "on file", "unchanged", "changed", "set", "removed"
_MARKERS = frozenset({ON_FILE, UNCHANGED, CHANGED, SET, REMOVED})


def _is_marker(value) -> bool:
    return isinstance(value, str) and value in _MARKERS


def _hide(data, keys: frozenset, marker: str):
    """Replace the values of redacted keys, at any depth, by a marker (None stays None)."""
    if isinstance(data, dict):
        return {
            k: (
                (None if v is None else (v if _is_marker(v) else marker))
                if k in keys
                else _hide(v, keys, marker)
            )
            for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [_hide(v, keys, marker) for v in data]
    return data


def _change(old, new) -> str | None:
    if new is None:
        return REMOVED if old is not None else None
    if old is None:
        return SET
    if _is_marker(new):  # already redacted (showing an entry twice changes nothing)
        return new if new != ON_FILE else UNCHANGED
    return UNCHANGED if old == new else CHANGED


def redacted(before, after, *, redact=()) -> tuple:
    """(before, after) with secret values replaced by what happened to them.

    Before: "on file" where a value was; after: "set", "changed", "unchanged" or "removed"
    for top-level keys present before, "set" elsewhere. Safe to apply twice.
    """
    keys = REDACTED_KEYS | frozenset(redact or ())
    shown_after = _hide(after, keys, SET)
    if isinstance(before, dict) and isinstance(after, dict):
        shown_after = dict(shown_after)
        for key in keys & before.keys() & after.keys():
            shown_after[key] = _change(before[key], after[key])
    return _hide(before, keys, ON_FILE), shown_after


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot put {type(value).__name__} in the audit log")


def jsonable(data):
    """The JSON form that is stored and hashed (Decimals and dates as strings)."""
    if data is None:
        return None
    return json.loads(json.dumps(data, default=_plain))


def _canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    fields = {
        "org_id": entry.org_id,
        "seq": entry.seq,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
        "actor_user_id": entry.actor_user_id,
        "channel": entry.channel,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "before": entry.before,
        "after": entry.after,
        "ip": entry.ip,
        "request_id": entry.request_id,
    }
    # hashed only when set, so entries written before the columns existed keep their hash
    if entry.actor_token_id is not None or entry.actor_label is not None:
        fields["actor_token_id"] = entry.actor_token_id
        fields["actor_label"] = entry.actor_label
    return hashlib.sha256(prev_hash.encode() + _canonical(fields)).hexdigest()


def start_chain(session: Session, org_id: int) -> None:
    """Create the chain head of a new organization (in the transaction that creates it)."""
    session.execute(
        insert(AuditChainHead.__table__).values(org_id=org_id, last_seq=0, last_hash=GENESIS_HASH)
    )


# --- one lock order -------------------------------------------------------------------------
# Every writing transaction takes its organization's audit chain head FIRST, then the rows it
# changes or locks (and then writes its audit entries, which advance the head it holds). Two
# transactions of one organization therefore queue on the head and never wait on each other's
# rows in a circle (a reject racing a cancel deadlocked when the head came last). The hooks
# below take the head before the first flush, UPDATE, DELETE or SELECT ... FOR UPDATE of a
# session scoped to an organization; re-taking it in the same transaction is a no-op.

_HEAD_TAKEN = "fms_audit_head_taken"


def take_head(session: Session, org_id: int) -> None:
    """Lock the organization's chain head for this transaction (before anything else)."""
    if session.info.get(_HEAD_TAKEN) == org_id:
        return
    session.info[_HEAD_TAKEN] = org_id
    table = AuditChainHead.__table__
    session.connection().execute(
        update(table).where(table.c.org_id == org_id).values(last_seq=table.c.last_seq)
    )


def _scoped_org(session: Session) -> int | None:
    from fms.tenancy import session_org_id

    return session_org_id(session)


@event.listens_for(Session, "do_orm_execute")
def _head_before_row_locks(state):
    writes = state.is_update or state.is_delete
    locks = state.is_select and getattr(state.statement, "_for_update_arg", None) is not None
    if writes or locks:
        org_id = _scoped_org(state.session)
        if org_id is not None:
            take_head(state.session, org_id)


@event.listens_for(Session, "before_flush")
def _head_before_flush(session, flush_context, instances):
    if session.new or session.dirty or session.deleted:
        org_id = _scoped_org(session)
        if org_id is not None:
            take_head(session, org_id)


@event.listens_for(Session, "after_transaction_end")
def _head_released(session, transaction):
    # a savepoint rolled back releases what it locked: take the head again next time
    session.info.pop(_HEAD_TAKEN, None)


def _advance_head(session: Session, org_id: int) -> tuple[int, str]:
    table = AuditChainHead.__table__
    row = session.execute(
        update(table)
        .where(table.c.org_id == org_id)
        .values(last_seq=table.c.last_seq + 1)
        .returning(table.c.last_seq, table.c.last_hash)
    ).one_or_none()
    if row is None:
        start_chain(session, org_id)
        return _advance_head(session, org_id)
    return row.last_seq, row.last_hash


def _token_of(actor) -> dict:
    """The API token an actor works through, for the entry: its id and `token_label` (who,
    in words); nothing for sessions, jobs, the CLI and SCIM (whose token is another kind)."""
    if getattr(actor, "channel", None) != "api" or getattr(actor, "token_id", None) is None:
        return {}
    return {"actor_token_id": actor.token_id, "actor_label": getattr(actor, "token_label", None)}


def record(
    session: Session,
    actor,
    action: str,
    entity=None,
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    org_id: int | None = None,
    redact=(),
) -> AuditEntry:
    """Append one entry for a state change, in the caller's transaction.

    Values of keys in REDACTED_KEYS (and `redact`) are never stored: the entry says that
    they were set, changed or removed.
    """
    before, after = redacted(jsonable(before), jsonable(after), redact=redact)
    if entity is not None:
        if entity.id is None:
            session.flush()
        entity_type = entity_type or entity.__tablename__
        entity_id = entity.id
    org = org_id if org_id is not None else actor.org_id
    if org is None:
        raise ValueError("an audit entry needs an organization")
    seq, prev_hash = _advance_head(session, org)
    entry = AuditEntry(
        org_id=org,
        seq=seq,
        created_at=utcnow(),
        actor_user_id=actor.user_id,
        channel=actor.channel,
        action=action,
        entity_type=entity_type or "organization",
        entity_id=entity_id,
        before=before,
        after=after,
        ip=actor.ip,
        request_id=actor.request_id,
        prev_hash=prev_hash,
        **_token_of(actor),
    )
    entry.hash = entry_hash(entry, prev_hash)
    table = AuditChainHead.__table__
    session.execute(update(table).where(table.c.org_id == org).values(last_hash=entry.hash))
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Change:
    """One entry of a batch: what happened to which entity (see `record_many`)."""

    action: str
    entity_type: str
    entity_id: int | None
    before: dict | None = None
    after: dict | None = None


def record_many(session: Session, actor, changes: list[Change], *, org_id: int | None = None):
    """Append one entry per change, in order, under one advance of the head: three
    statements whatever their number (advance the head by N, one executemany INSERT,
    store the last hash). The chain is the same as N `record` calls would make."""
    if not changes:
        return 0
    org = org_id if org_id is not None else actor.org_id
    if org is None:
        raise ValueError("an audit entry needs an organization")
    take_head(session, org)
    table = AuditChainHead.__table__
    row = session.execute(
        update(table)
        .where(table.c.org_id == org)
        .values(last_seq=table.c.last_seq + len(changes))
        .returning(table.c.last_seq, table.c.last_hash)
    ).one_or_none()
    if row is None:
        start_chain(session, org)
        return record_many(session, actor, changes, org_id=org)
    seq, prev_hash = row.last_seq - len(changes), row.last_hash
    now, rows, token = utcnow(), [], _token_of(actor)
    for change in changes:
        seq += 1
        before, after = redacted(jsonable(change.before), jsonable(change.after))
        entry = AuditEntry(
            org_id=org,
            seq=seq,
            created_at=now,
            actor_user_id=actor.user_id,
            channel=actor.channel,
            action=change.action,
            entity_type=change.entity_type,
            entity_id=change.entity_id,
            before=before,
            after=after,
            ip=actor.ip,
            request_id=actor.request_id,
            prev_hash=prev_hash,
            **token,
        )
        entry.hash = prev_hash = entry_hash(entry, prev_hash)
        rows.append({c: getattr(entry, c) for c in _ENTRY_COLUMNS})
    session.execute(insert(AuditEntry.__table__), rows)
    session.execute(update(table).where(table.c.org_id == org).values(last_hash=prev_hash))
    return len(rows)


_ENTRY_COLUMNS = (
    "org_id",
    "seq",
    "created_at",
    "actor_user_id",
    "channel",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "ip",
    "request_id",
    "actor_token_id",
    "actor_label",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    org_id: int | None = None
    seq: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"ok ({self.entries} entries)"
        return f"broken: organization {self.org_id}, entry #{self.seq}: {self.problem}"


def verify_chain(session: Session, org_id: int) -> ChainReport:
    """Walk one organization's chain; report the first broken link, or ok."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.org_id == org_id)
        .order_by(AuditEntry.seq)
        .execution_options(**{ALL_TENANTS: True, "yield_per": 500})
    )
    for entry in session.scalars(stmt):
        count += 1
        if entry.seq != expected_seq:
            return ChainReport(False, count, org_id, expected_seq, "entry missing")
        if entry.prev_hash != prev_hash:
            return ChainReport(False, count, org_id, entry.seq, "previous hash does not match")
        if entry_hash(entry, prev_hash) != entry.hash:
            return ChainReport(False, count, org_id, entry.seq, "contents changed")
        prev_hash, expected_seq = entry.hash, expected_seq + 1
    head = session.get(AuditChainHead, org_id)
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev_hash):
        return ChainReport(False, count, org_id, head.last_seq, "entries after this are missing")
    return ChainReport(True, count, org_id)


def verify_all(session: Session) -> list[ChainReport]:
    org_ids = session.scalars(select(AuditChainHead.org_id).order_by(AuditChainHead.org_id))
    return [verify_chain(session, org_id) for org_id in org_ids]
