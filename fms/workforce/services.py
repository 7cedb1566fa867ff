"""Org structure and freelancer profiles: the rules."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.tenancy import get_in_org
from fms.workforce.models import CostCentre, Department, Freelancer, Location

STRUCTURE_KINDS = {
    "department": Department,
    "cost_centre": CostCentre,
    "location": Location,
}
STRUCTURE_LABELS = {
    "department": "department",
    "cost_centre": "cost centre",
    "location": "location",
}
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _model(kind: str):
    try:
        return STRUCTURE_KINDS[kind]
    except KeyError:
        raise InvalidInput(f"Unknown kind of unit: {kind!r}.") from None


def _snapshot(unit) -> dict:
    data = {"code": unit.code, "name": unit.name, "is_active": unit.is_active}
    if isinstance(unit, Location):
        data.update(country=unit.country, city=unit.city)
    return data


def _clean(kind: str, *, code, name, country=None, city=None) -> dict:
    errors: dict[str, list[str]] = {}
    code = (code or "").strip()
    name = (name or "").strip()
    if not _CODE.match(code):
        errors["code"] = ["Up to 30 letters, digits, dots, dashes or underscores."]
    if not name or len(name) > 120:
        errors["name"] = ["Required, at most 120 characters."]
    values = {"code": code, "name": name}
    if kind == "location":
        country = (country or "").strip().upper()
        if not _COUNTRY.match(country):
            errors["country"] = ["A two-letter ISO 3166 country code, such as DE."]
        city = (city or "").strip() or None
        if city and len(city) > 120:
            errors["city"] = ["At most 120 characters."]
        values.update(country=country, city=city)
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    return values


def _code_taken(session: Session, model, code: str, exclude_id: int | None = None) -> bool:
    stmt = select(model.id).where(model.code == code)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    return session.scalar(stmt) is not None


def list_units(session: Session, *, actor: Actor, kind: str, include_archived: bool = True):
    require(actor, "structure.read")
    model = _model(kind)
    stmt = select(model).order_by(model.is_active.desc(), model.code)
    if not include_archived:
        stmt = stmt.where(model.is_active.is_(True))
    return list(session.scalars(stmt))


def get_unit(session: Session, *, actor: Actor, kind: str, unit_id: int):
    require(actor, "structure.read")
    return get_in_org(session, _model(kind), unit_id, what=STRUCTURE_LABELS[kind])


def create_unit(session: Session, *, actor: Actor, kind: str, **fields):
    """Org admins add a department, cost centre or location; codes are unique per kind."""
    require(actor, "structure.manage")
    model = _model(kind)
    values = _clean(kind, **fields)
    if _code_taken(session, model, values["code"]):
        raise InvalidInput(
            f"A {STRUCTURE_LABELS[kind]} with code {values['code']} already exists.",
            errors={"code": ["Already in use."]},
        )
    unit = model(org_id=actor.org_id, **values)
    session.add(unit)
    session.flush()
    audit.record(session, actor, f"{kind}.created", unit, after=_snapshot(unit))
    return unit


def update_unit(session: Session, *, actor: Actor, kind: str, unit_id: int, **fields):
    """Rename or recode a unit, or archive it (is_active=False) so it is not offered anymore."""
    require(actor, "structure.manage")
    model = _model(kind)
    unit = get_in_org(session, model, unit_id, what=STRUCTURE_LABELS[kind])
    is_active = fields.pop("is_active", None)
    merged = {"code": unit.code, "name": unit.name}
    if kind == "location":
        merged.update(country=unit.country, city=unit.city)
    merged.update({k: v for k, v in fields.items() if v is not None})
    values = _clean(kind, **merged)
    if _code_taken(session, model, values["code"], exclude_id=unit.id):
        raise InvalidInput(
            f"A {STRUCTURE_LABELS[kind]} with code {values['code']} already exists.",
            errors={"code": ["Already in use."]},
        )
    before = _snapshot(unit)
    for key, value in values.items():
        setattr(unit, key, value)
    if is_active is not None:
        unit.is_active = bool(is_active)
    after = _snapshot(unit)
    if before == after:
        return unit
    action = f"{kind}.updated"
    if before["is_active"] != after["is_active"]:
        action = f"{kind}.{'restored' if after['is_active'] else 'archived'}"
    audit.record(session, actor, action, unit, before=before, after=after)
    return unit


# --- freelancers -------------------------------------------------------------------------


def list_freelancers(
    session: Session,
    *,
    actor: Actor,
    country: str | None = None,
    search: str | None = None,
    page: int = 1,
    per_page: int = 50,
):
    """Freelancers known to the organization, filtered, one page at a time."""
    from sqlalchemy import func, or_

    require(actor, "freelancers.read")
    stmt = select(Freelancer)
    if country:
        stmt = stmt.where(Freelancer.country == country.upper())
    if search:
        like = f"%{search.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Freelancer.display_name).like(like),
                func.lower(Freelancer.email).like(like),
                func.lower(Freelancer.headline).like(like),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(
        stmt.order_by(Freelancer.display_name, Freelancer.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


def get_freelancer(session: Session, *, actor: Actor, freelancer_id: int) -> Freelancer:
    require(actor, "freelancers.read")
    return get_in_org(session, Freelancer, freelancer_id, what="freelancer")


def freelancer_countries(session: Session, *, actor: Actor) -> list[str]:
    require(actor, "freelancers.read")
    return list(session.scalars(select(Freelancer.country).distinct().order_by(Freelancer.country)))
