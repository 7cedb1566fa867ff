"""Type-ahead lookups of workforce records for pickers: a page of matches, never every row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.lookups import LookupPage, Match, run_lookup
from fms.workforce.models import CostCentre, Department, Freelancer, Location, Supplier

DIRECT = "Direct (no supplier)"
UNITS = {"department": Department, "cost_centre": CostCentre, "location": Location}


def lookup_freelancers(
    session: Session, *, actor: Actor, q: str = "", page: int = 1, per_page: int = 20
) -> LookupPage:
    """Freelancers whose name or email contains `q`, with country and supplier as detail."""
    require(actor, "freelancers.read")
    return run_lookup(
        session,
        _freelancers(),
        columns=[Freelancer.display_name, Freelancer.email],
        q=q,
        order_by=[Freelancer.display_name, Freelancer.id],
        page=page,
        per_page=per_page,
        to_match=_freelancer_match,
    )


def lookup_suppliers(
    session: Session, *, actor: Actor, q: str = "", page: int = 1, per_page: int = 20
) -> LookupPage:
    """Active suppliers whose name or legal name contains `q`."""
    require(actor, "suppliers.read")
    return run_lookup(
        session,
        select(Supplier.id, Supplier.name, Supplier.country).where(Supplier.is_active.is_(True)),
        columns=[Supplier.name, Supplier.legal_name],
        q=q,
        order_by=[Supplier.name, Supplier.id],
        page=page,
        per_page=per_page,
        to_match=lambda r: Match(id=r[0], label=r[1], detail=r[2]),
    )


def lookup_units(
    session: Session, *, actor: Actor, kind: str, q: str = "", page: int = 1, per_page: int = 20
) -> LookupPage:
    """Active departments, cost centres or locations whose code or name contains `q`."""
    require(actor, "structure.read")
    model = UNITS[kind]
    return run_lookup(
        session,
        select(model.id, model.code, model.name).where(model.is_active.is_(True)),
        columns=[model.code, model.name],
        q=q,
        order_by=[model.code, model.id],
        page=page,
        per_page=per_page,
        to_match=lambda r: Match(id=r[0], label=f"{r[1]} · {r[2]}"),
    )


def freelancer_label(session: Session, freelancer_id) -> Match | None:
    """The picker's text for an already chosen freelancer (a re-shown form)."""
    row = session.execute(_freelancers().where(Freelancer.id == freelancer_id)).first()
    return _freelancer_match(row) if row else None


def _freelancers():
    return select(
        Freelancer.id,
        Freelancer.display_name,
        Freelancer.email,
        Freelancer.country,
        Freelancer.supplier_id,
        Supplier.name,
    ).outerjoin(Supplier, Supplier.id == Freelancer.supplier_id)


def _freelancer_match(row) -> Match:
    fid, name, email, country, supplier_id, supplier = row
    return Match(
        id=fid,
        label=name,
        detail=f"{email} · {country} · {supplier or DIRECT}",
        extra={"supplier_id": supplier_id, "supplier": supplier or DIRECT},
    )


def describe(session: Session, kind: str, record_id) -> Match | None:
    """The picker's text for an already chosen record of `kind` (a re-shown form)."""
    if kind == "freelancer":
        return freelancer_label(session, record_id)
    if kind == "supplier":
        row = session.execute(
            select(Supplier.id, Supplier.name, Supplier.country).where(Supplier.id == record_id)
        ).first()
        return Match(id=row[0], label=row[1], detail=row[2]) if row else None
    model = UNITS[kind]
    row = session.execute(
        select(model.id, model.code, model.name).where(model.id == record_id)
    ).first()
    return Match(id=row[0], label=f"{row[1]} · {row[2]}") if row else None
