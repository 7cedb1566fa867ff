"""Adding rows whose uniqueness the database enforces, safely under concurrent requests.

A check before the insert tells the common case politely; the database's unique constraint
decides the race. The loser of a race gets the same answer as a late duplicate — 409 with
the existing row's id — never a 500 IntegrityError.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms.errors import AlreadyExists


def add_unique(
    session: Session,
    row,
    *,
    existing: Callable[[], int | None],
    detail: str,
    errors: dict | None = None,
):
    """Insert `row` (in a savepoint) unless `existing()` finds its twin; either way a
    duplicate raises AlreadyExists with the twin's id."""
    found = existing()
    if found is not None:
        raise AlreadyExists(detail, existing_id=found, errors=errors)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = existing()
        if found is None:
            raise
        raise AlreadyExists(detail, existing_id=found, errors=errors) from None
    return row
