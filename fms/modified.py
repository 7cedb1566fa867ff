"""Modification times (`updated_at`) of the records integrations poll with `?updated_since=`.

The column itself carries `default=utcnow, onupdate=utcnow`: SQLAlchemy applies `onupdate`
to every UPDATE of the table that does not set the column, whether the ORM flushes a
changed object or a service runs a bulk `update(Engagement)` (state transitions, notice,
amendments), so no service has to remember it.

A record's API body also shows rows of other tables (an engagement its terms, a sheet its
days). `touches_parent(Child, Parent, "parent_id")` registers such a pair: a flush that
adds, changes or deletes a child sets its parent's `updated_at` too, and so does a bulk
`delete(Child)` (a week's days cleared). Models register their pairs; this module knows no
domain.
"""

from __future__ import annotations

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from fms.timekeeping import utcnow

_PARENTS: dict[type, tuple[type, str]] = {}
_PENDING = "fms_modified_parents"


def stamped(model: type, changes: dict) -> dict:
    """`changes` with the model's `updated_at` set to now (when it has that column and the
    changes do not name it). For a bulk UPDATE whose values are then copied onto the loaded
    object (`fms.statemachine.transition`): `onupdate` would write its own moment into the
    row and the object, never synchronised, would go on showing the old one."""
    if "updated_at" in changes or "updated_at" not in model.__table__.c:
        return changes
    return {**changes, "updated_at": utcnow()}


def touches_parent(child: type, parent: type, foreign_key: str) -> None:
    """A change to a `child` row is a change to its `parent` (by `child.<foreign_key>`)."""
    _PARENTS[child] = (parent, foreign_key)


@event.listens_for(Session, "before_flush")
def _collect(session, flush_context, instances):
    if not _PARENTS:
        return
    touched: dict[type, set[int]] = session.info.setdefault(_PENDING, {})
    changed = [*session.new, *session.deleted]
    changed += [o for o in session.dirty if session.is_modified(o, include_collections=False)]
    for obj in changed:
        pair = _PARENTS.get(type(obj))
        if pair is None:
            continue
        parent, key = pair
        parent_id = getattr(obj, key, None)
        if parent_id is not None:
            touched.setdefault(parent, set()).add(parent_id)


@event.listens_for(Session, "after_flush")
def _touch(session, flush_context):
    touched = session.info.pop(_PENDING, None)
    if not touched:
        return
    now = utcnow()
    for parent, ids in touched.items():
        table = parent.__table__
        # Core on the flush's connection: the statement is not an ORM execution of its own
        session.connection().execute(
            update(table).where(table.c.id.in_(sorted(ids))).values(updated_at=now)
        )


@event.listens_for(Session, "do_orm_execute")
def _touch_before_bulk_delete(state):
    """`session.execute(delete(Child).where(...))`: the parents of the rows it will delete
    changed (read before the rows are gone)."""
    if not state.is_delete or state.bind_mapper is None:
        return
    pair = _PARENTS.get(state.bind_mapper.class_)
    if pair is None:
        return
    parent, key = pair
    child = state.bind_mapper.local_table
    ids = select(child.c[key])
    if state.statement.whereclause is not None:
        ids = ids.where(state.statement.whereclause)
    table = parent.__table__
    state.session.connection().execute(
        update(table).where(table.c.id.in_(ids)).values(updated_at=utcnow())
    )
