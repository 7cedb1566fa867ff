"""Tenant scoping: one mechanism, applied to every ORM query, that cannot be forgotten.

Every tenant-owned model inherits `TenantMixin`. A session is bound to one organization
with `scope_session(session, org_id)` when the Actor of a request, job or CLI command is
built. From then on every ORM SELECT, UPDATE and DELETE of a tenant model is filtered to
that organization (`with_loader_criteria`, added in a `do_orm_execute` hook, so relationship
loads are covered too). An unscoped session sees no tenant rows at all (fail closed).
Cross-tenant reads are explicit: `.execution_options(all_tenants=True)`.

`Session.get()` answers from the identity map without SQL, so primary-key loads of tenant
models go through `get_in_org()`, which always queries and checks the organization.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, event, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, with_loader_criteria

from fms.errors import NotFound

ALL_TENANTS = "all_tenants"
# The largest id FMS accepts anywhere (paths, forms, bodies): what the id columns hold
# (BIGINT on PostgreSQL, INTEGER on SQLite: both 64-bit signed, see fms.database.ID_TYPE).
# A larger number is no row's id, and would make the database fail instead of answer.
MAX_ID = 2**63 - 1
_ORG_KEY = "fms_org_id"


class TenantMixin:
    """A row owned by one organization."""

    @declared_attr
    def org_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr receives the class
        return mapped_column(ForeignKey("organization.id"), index=True, nullable=False)


class TenantMismatch(RuntimeError):
    """Code tried to write a row of another organization: a programming error."""


def scope_session(session: Session, org_id: int | None) -> None:
    """Bind the session to one organization (None: see no tenant rows)."""
    session.info[_ORG_KEY] = org_id


def session_org_id(session: Session) -> int | None:
    return session.info.get(_ORG_KEY)


@event.listens_for(Session, "do_orm_execute")
def _filter_to_current_org(state):
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(ALL_TENANTS):
        return
    org_id = state.session.info.get(_ORG_KEY)
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin,
            lambda cls: cls.org_id == org_id,
            include_aliases=True,
            track_closure_variables=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_and_check_org(session, flush_context, instances):
    org_id = session.info.get(_ORG_KEY)
    if org_id is None:
        return
    for obj in session.new:
        if isinstance(obj, TenantMixin):
            if obj.org_id is None:
                obj.org_id = org_id
            elif obj.org_id != org_id:
                raise TenantMismatch(
                    f"{type(obj).__name__} for organization {obj.org_id} "
                    f"in a session scoped to organization {org_id}"
                )


def get_in_org(session: Session, model, ident, *, what: str | None = None):
    """Load a tenant row by primary key within the session's organization, or NotFound."""
    label = what or model.__name__.lower()
    try:
        key = int(ident)
    except (TypeError, ValueError):
        raise NotFound(f"No such {label}.") from None
    if not 0 < key <= MAX_ID:  # beyond BIGINT the database would fail instead of answering
        raise NotFound(f"No such {label}.")
    obj = session.scalars(select(model).where(model.id == key)).one_or_none()
    if obj is None or obj.org_id != session.info.get(_ORG_KEY):
        raise NotFound(f"No such {label}.")
    return obj
