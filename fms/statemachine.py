"""Explicit state machines: a table of allowed transitions, applied as conditional updates."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from fms.audit import services as audit
from fms.errors import RuleViolation
from fms.modified import stamped


def transition(
    session: Session,
    obj,
    *,
    to: str,
    table: dict[str, set[str]],
    actor,
    action: str | None = None,
    values: dict | None = None,
    label: str | None = None,
    after: dict | None = None,
):
    """Move `obj` from its state to `to` if the table allows it, exactly once.

    `UPDATE ... WHERE id = :id AND state = :from` then check one row changed: a concurrent
    request that moved it first makes this one fail instead of deciding twice.
    """
    model = type(obj)
    current = obj.state
    name = label or model.__tablename__.replace("_", " ")
    if to not in table.get(current, set()):
        raise RuleViolation(f"A {name} that is {_words(current)} cannot become {_words(to)}.")
    # updated_at named explicitly, so the object below shows the moment the row got
    changes = stamped(model, {"state": to, **(values or {})})
    result = session.execute(
        update(model)
        .where(model.id == obj.id, model.state == current)
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RuleViolation(f"This {name} was changed by someone else; reload and try again.")
    for key, value in changes.items():
        # the row is updated already: record the values as loaded, not as pending changes
        set_committed_value(obj, key, value)
    audit.record(
        session,
        actor,
        action or f"{model.__tablename__}.{to}",
        obj,
        before={"state": current},
        after={"state": to, **(after or {})},
    )
    return obj


def lock(session: Session, obj):
    """Take the row's lock, then re-read it: for a check that reads more than the state
    (a budget, dates) before it writes. On PostgreSQL SELECT ... FOR UPDATE; SQLite
    serialises writing transactions anyway. Lock order: the audit head first (fms.audit)."""
    model = type(obj)
    session.execute(select(model.id).where(model.id == obj.id).with_for_update())
    session.refresh(obj)
    return obj


def _words(state: str) -> str:
    return state.replace("_", " ")
