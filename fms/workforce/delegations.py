"""Delegations: a hiring manager's stand-in while they are away.

From its first to its last day (inclusive) a delegation lets the delegate act on the
engagements the manager manages on those days — propose amendments, give notice, and
later approve time — as `engagements._acts_for` asks. A delegate does not pass it on.
A hiring manager names stand-ins for themselves; procurement and org admins for anyone.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.models import Membership
from fms.tenancy import MAX_ID, get_in_org
from fms.timekeeping import utcnow
from fms.workforce.models import Delegation

MAX_DAYS = 366
# roles whose holders manage engagements (and so may stand in for a manager)
MANAGING_ROLES = {"hiring_manager", "org_admin"}


def _may_manage_any(actor: Actor) -> bool:
    return actor.can("delegations.manage")


def _require_some(actor: Actor) -> None:
    if not (_may_manage_any(actor) or actor.can("delegations.own")):
        raise NotAllowed("Hiring managers, procurement and org admins manage delegations.")


def _member_id(session: Session, user_id, field: str, label: str) -> int:
    """An active member of this organization who manages engagements."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        user_id = 0
    if not 0 < user_id <= MAX_ID:
        raise InvalidInput(f"Choose the {label}.", errors={field: ["Required."]})
    member = session.scalar(  # scoped to the organization
        select(Membership).where(Membership.user_id == user_id, Membership.is_active.is_(True))
    )
    if member is None or not (MANAGING_ROLES & set(member.roles)):
        raise InvalidInput(
            f"The {label} must be an active hiring manager of this organization.",
            errors={field: ["Not a hiring manager of this organization."]},
        )
    return user_id


def create_delegation(
    session: Session,
    *,
    actor: Actor,
    delegate_user_id,
    starts_on,
    ends_on,
    today: date,
    manager_user_id=None,
    note: str = "",
) -> Delegation:
    """Name a stand-in for a period of at most a year that has not ended; not oneself, and
    not a second time for days the same pair already covers."""
    from fms.workforce.validation import date_in

    _require_some(actor)
    if manager_user_id in (None, ""):
        manager_user_id = actor.user_id
    elif not _may_manage_any(actor) and str(manager_user_id) != str(actor.user_id):
        # a hiring manager delegates their own engagements, never another manager's
        raise NotAllowed("You name stand-ins for your own engagements only.")
    manager = _member_id(session, manager_user_id, "manager_user_id", "manager")
    errors: dict[str, list[str]] = {}
    start, end = date_in(starts_on), date_in(ends_on)
    if start is None:
        errors["starts_on"] = ["A date such as 2027-01-04."]
    elif start < today:
        errors["starts_on"] = ["Today or later."]
    if end is None:
        errors["ends_on"] = ["A date such as 2027-01-15."]
    elif start is not None and end < start:
        errors["ends_on"] = ["Not before the first day."]
    elif start is not None and (end - start).days + 1 > MAX_DAYS:
        errors["ends_on"] = [f"At most {MAX_DAYS} days; name the stand-in again after."]
    note = (note or "").strip()
    if len(note) > 500:
        errors["note"] = ["At most 500 characters."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    delegate = _member_id(session, delegate_user_id, "delegate_user_id", "stand-in")
    if delegate == manager:
        raise InvalidInput(
            "A manager does not stand in for themselves.",
            errors={"delegate_user_id": ["Choose someone else."]},
        )
    # the manager's membership row is locked while looking for overlaps, so two requests
    # naming the same stand-in at once cannot both find none
    session.execute(
        select(Membership.id)
        .where(Membership.user_id == manager, Membership.org_id == actor.org_id)
        .with_for_update()
    )
    overlapping = session.scalar(
        select(Delegation.id).where(
            Delegation.manager_user_id == manager,
            Delegation.delegate_user_id == delegate,
            Delegation.revoked_at.is_(None),
            Delegation.starts_on <= end,
            Delegation.ends_on >= start,
        )
    )
    if overlapping:
        raise RuleViolation("This stand-in already covers some of these days.")
    delegation = Delegation(
        org_id=actor.org_id,
        manager_user_id=manager,
        delegate_user_id=delegate,
        starts_on=start,
        ends_on=end,
        note=note,
        created_by_user_id=actor.user_id,
    )
    session.add(delegation)
    session.flush()
    audit.record(
        session,
        actor,
        "delegation.created",
        delegation,
        after={
            "manager_user_id": manager,
            "delegate_user_id": delegate,
            "starts_on": start,
            "ends_on": end,
        },
    )
    return delegation


def list_delegations(
    session: Session, *, actor: Actor, today: date, include_past: bool = False
) -> list[Delegation]:
    """Procurement and org admins see every delegation; a manager those they give or hold."""
    _require_some(actor)
    stmt = select(Delegation)
    if not _may_manage_any(actor):
        stmt = stmt.where(
            or_(
                Delegation.manager_user_id == actor.user_id,
                Delegation.delegate_user_id == actor.user_id,
            )
        )
    if not include_past:
        stmt = stmt.where(
            Delegation.revoked_at.is_(None),
            Delegation.ends_on >= today,
        )
    return list(session.scalars(stmt.order_by(Delegation.starts_on.desc(), Delegation.id.desc())))


def get_delegation(session: Session, *, actor: Actor, delegation_id) -> Delegation:
    """Another manager's delegation is as unknown as another organization's."""
    _require_some(actor)
    delegation = get_in_org(session, Delegation, delegation_id, what="delegation")
    if not _may_manage_any(actor) and actor.user_id not in (
        delegation.manager_user_id,
        delegation.delegate_user_id,
    ):
        raise NotFound("No such delegation.")
    return delegation


def revoke_delegation(session: Session, *, actor: Actor, delegation_id) -> Delegation:
    """The manager (or procurement, an org admin) ends a delegation at once; a delegate may
    give it back. Revoked once: a second revocation changes nothing and says so."""
    delegation = get_delegation(session, actor=actor, delegation_id=delegation_id)
    changed = session.execute(
        update(Delegation)
        .where(Delegation.id == delegation.id, Delegation.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed != 1:
        raise RuleViolation("This delegation has already been revoked.")
    audit.record(session, actor, "delegation.revoked", delegation, after={"revoked": True})
    return delegation
