"""Figures for the home dashboard, counted in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.audit.models import AuditEntry
from fms.identity.actor import Actor
from fms.identity.models import Membership
from fms.workforce.models import CostCentre, Department, Freelancer, Location


@dataclass
class Dashboard:
    members: int = 0
    freelancers: int = 0
    departments: int = 0
    cost_centres: int = 0
    locations: int = 0
    freelancers_by_country: list[tuple[str, int]] = field(default_factory=list)
    recent_activity: list[AuditEntry] = field(default_factory=list)


def dashboard(session: Session, *, actor: Actor, today=None) -> Dashboard:
    """The organization at a glance; each figure only for roles that may read it."""
    result = Dashboard()
    if actor.can("members.read"):
        result.members = session.scalar(
            select(func.count(Membership.id)).where(Membership.is_active.is_(True))
        )
    if actor.can("structure.read"):
        result.departments = session.scalar(select(func.count(Department.id)))
        result.cost_centres = session.scalar(select(func.count(CostCentre.id)))
        result.locations = session.scalar(select(func.count(Location.id)))
    if actor.can("freelancers.read"):
        result.freelancers = session.scalar(select(func.count(Freelancer.id)))
        result.freelancers_by_country = list(
            session.execute(
                select(Freelancer.country, func.count(Freelancer.id))
                .group_by(Freelancer.country)
                .order_by(func.count(Freelancer.id).desc(), Freelancer.country)
            ).all()
        )
    if actor.can("audit.read"):
        result.recent_activity = list(
            session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(8))
        )
    return result
