"""Requisitions and their approval chain: the rules.

A hiring manager asks for a freelancer; the organization's approval rules whose budget
threshold the requisition reaches (in the base currency, converted with the exchange
rate in effect on the day it is submitted) form its chain, fixed at submission. Steps
are decided in order, each by a different person holding the step's role, never by the
requester. The last approval turns the requisition into an engagement (state approved).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms import money
from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, RuleViolation
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.statemachine import lock, transition
from fms.tenancy import MAX_ID, get_in_org
from fms.timekeeping import utcnow
from fms.workforce import approvals, hooks, rules
from fms.workforce.engagements import engagement_from_requisition, trial_budget_problem
from fms.workforce.models import ApprovalStep, Requisition, Skill
from fms.workforce.validation import amount_in, check_terms, to_base_currency

EDITABLE = (
    "title",
    "description",
    "kind",
    "department_id",
    "cost_centre_id",
    "location_id",
    "start_date",
    "end_date",
    "weekly_minutes",
    "currency",
    "rate_min",
    "rate_max",
    "budget",
    "justification",
    "skill_ids",
)


def _snapshot(req: Requisition) -> dict:
    return {name: getattr(req, name) for name in EDITABLE}


def _skill_ids(session: Session, raw, errors: dict) -> list[int]:
    """Skills of this organization's taxonomy only; another organization's id, or one that
    does not exist, is refused like any unknown value."""
    if raw in (None, ""):
        return []
    try:
        wanted = {int(s) for s in raw}
    except (TypeError, ValueError):
        errors["skill_ids"] = ["Choose skills from the list."]
        return []
    if any(not 0 < s <= MAX_ID for s in wanted):
        errors["skill_ids"] = ["Choose skills from the list."]
        return []
    known = set(session.scalars(select(Skill.id).where(Skill.id.in_(wanted))))  # scoped
    if known != wanted:
        errors["skill_ids"] = ["Choose skills from this organization's list."]
    return sorted(known)


def _clean(session: Session, fields: dict) -> dict:
    errors: dict[str, list[str]] = {}
    title = (fields.get("title") or "").strip()
    if not title or len(title) > 200:
        errors["title"] = ["Give the role a title (at most 200 characters)."]
    values = check_terms(session, fields, errors, rate_fields=("rate_min", "rate_max"))
    low, high = values.get("rate_min"), values.get("rate_max")
    if low is not None and high is not None and low > high:
        errors.setdefault("rate_max", []).append("Must not be below the minimum rate.")
    budget = amount_in(fields.get("budget"))
    if budget is not None and values.get("currency"):
        budget = money.round_half_up(budget, values["currency"])
    if budget is None or budget <= 0:
        errors["budget"] = ["A positive amount."]
    justification = (fields.get("justification") or "").strip()
    if not justification:
        errors["justification"] = ["Say why the organization needs this freelancer."]
    skill_ids = _skill_ids(session, fields.get("skill_ids"), errors)
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    values.update(
        title=title,
        description=(fields.get("description") or "").strip(),
        budget=budget,
        justification=justification,
        skill_ids=skill_ids,
    )
    return values


def create_requisition(session: Session, *, actor: Actor, **fields) -> Requisition:
    """A hiring manager drafts a request for a freelancer."""
    require(actor, "requisitions.create")
    values = _clean(session, fields)
    req = Requisition(org_id=actor.org_id, requester_user_id=actor.user_id, **values)
    session.add(req)
    session.flush()
    audit.record(session, actor, "requisition.created", req, after=_snapshot(req))
    return req


def update_requisition(
    session: Session, *, actor: Actor, requisition_id: int, **fields
) -> Requisition:
    """Drafts can be edited by their requester until they are submitted (checked with the
    row locked, so an edit and a submission never interleave). Saving without a change
    writes no audit entry."""
    req = get_requisition(session, actor=actor, requisition_id=requisition_id)
    require_requester(actor, req)
    lock(session, req)
    if req.state != "draft":
        raise RuleViolation("Only a draft can be edited; reopen a rejected requisition first.")
    before = _snapshot(req)
    for key, value in _clean(session, {**before, **fields}).items():
        setattr(req, key, value)
    after = _snapshot(req)
    if after != before:
        audit.record(session, actor, "requisition.updated", req, before=before, after=after)
    return req


def get_requisition(session: Session, *, actor: Actor, requisition_id: int) -> Requisition:
    require(actor, "requisitions.read")
    return get_in_org(session, Requisition, requisition_id, what="requisition")


def require_requester(actor: Actor, req: Requisition) -> None:
    """Only the requester (or an org admin) changes, reopens or submits a requisition."""
    if actor.user_id != req.requester_user_id and not actor.can("organization.manage"):
        raise NotAllowed("Only the requester can change this requisition.")


def submit_requisition(
    session: Session, *, actor: Actor, requisition_id: int, today: date
) -> Requisition:
    """Submit a draft: convert its budget and fix its approval chain for this round —
    computed from the row locked, so a concurrent edit cannot slip in between."""
    req = get_requisition(session, actor=actor, requisition_id=requisition_id)
    require_requester(actor, req)
    lock(session, req)
    budget_base = to_base_currency(
        session, actor=actor, amount=req.budget, currency=req.currency, on=today
    )
    if req.kind == "trial":
        problem = trial_budget_problem(session, actor, budget_base)
        if problem:
            raise RuleViolation(problem)
    chain = approvals.chain_for(session, budget_base)
    round_ = req.round + 1
    transition(
        session,
        req,
        to="submitted",
        table=rules.REQUISITION_TRANSITIONS,
        actor=actor,
        values={"round": round_, "submitted_at": utcnow(), "budget_base": budget_base},
        after={"budget_base": budget_base, "chain": [r.label for r in chain]},
    )
    approvals.open_chain(session, chain, org_id=actor.org_id, requisition_id=req.id, round_=round_)
    return req


def steps(session: Session, requisition: Requisition, *, all_rounds: bool = False):
    return approvals.steps_of(
        session,
        requisition_id=requisition.id,
        round_=None if all_rounds else requisition.round,
    )


def current_step(session: Session, requisition: Requisition) -> ApprovalStep | None:
    if requisition.state != "submitted":
        return None
    return approvals.first_pending(steps(session, requisition))


def decision_problem(session: Session, actor: Actor, requisition: Requisition):
    """Why the actor may not decide the current step, as the error to raise (None: they may)."""
    if requisition.state != "submitted":
        return RuleViolation("Nothing is waiting for a decision.")
    return approvals.decision_problem(
        actor,
        steps(session, requisition),
        requester_user_id=requisition.requester_user_id,
        what="requisition",
    )


def can_decide(session: Session, actor: Actor, requisition: Requisition) -> str | None:
    """The reason, in words, that the actor may not decide now (None: they may)."""
    problem = decision_problem(session, actor, requisition)
    return problem.detail if problem else None


def decide_step(
    session: Session,
    *,
    actor: Actor,
    requisition_id: int,
    approve: bool,
    comment: str = "",
    today: date,
) -> Requisition:
    """Approve or reject the current step; the last approval creates the engagement."""
    req = get_requisition(session, actor=actor, requisition_id=requisition_id)
    problem = decision_problem(session, actor, req)
    if problem:
        raise problem
    comment = (comment or "").strip()
    if not approve and not comment:
        raise InvalidInput("Say why you reject it.", errors={"comment": ["Required."]})
    chain = steps(session, req)
    approvals.decide(
        session,
        actor=actor,
        step=approvals.first_pending(chain),
        approve=approve,
        comment=comment,
        after={"requisition_id": req.id},
    )
    if not approve:
        approvals.skip_rest(session, chain)
        return transition(
            session,
            req,
            to="rejected",
            table=rules.REQUISITION_TRANSITIONS,
            actor=actor,
            values={"decided_at": utcnow()},
        )
    if approvals.first_pending(chain) is not None:
        return req
    transition(
        session,
        req,
        to="approved",
        table=rules.REQUISITION_TRANSITIONS,
        actor=actor,
        values={"decided_at": utcnow()},
    )
    engagement_from_requisition(session, actor=actor, requisition=req)
    hooks.record_event.send("requisition.approved", session=session, ids=[req.id])
    return req


def reopen_requisition(session: Session, *, actor: Actor, requisition_id: int) -> Requisition:
    """A rejected requisition goes back to draft for changes and a new submission."""
    req = get_requisition(session, actor=actor, requisition_id=requisition_id)
    require_requester(actor, req)
    return transition(session, req, to="draft", table=rules.REQUISITION_TRANSITIONS, actor=actor)


def cancel_requisition(session: Session, *, actor: Actor, requisition_id: int) -> Requisition:
    """The requester (or procurement) withdraws a requisition that is not yet approved; the
    steps still waiting are skipped, so nobody is asked to approve it any more."""
    req = get_requisition(session, actor=actor, requisition_id=requisition_id)
    if actor.user_id != req.requester_user_id and not actor.can("engagements.manage"):
        raise NotAllowed("Only the requester or procurement can cancel this requisition.")
    transition(
        session,
        req,
        to="cancelled",
        table=rules.REQUISITION_TRANSITIONS,
        actor=actor,
        values={"decided_at": utcnow()},
    )
    approvals.skip_rest(session, steps(session, req))
    return req


MAX_BULK = 200


def approve_current_steps(
    session: Session, *, actor: Actor, requisition_ids, comment: str, today: date
) -> list[Requisition]:
    """Approve the current step of several requisitions, all of them or none: the first one
    the actor may not decide raises (naming it), and the caller rolls the others back."""
    ids = sorted(set(requisition_ids))
    if not ids:
        raise InvalidInput(
            "Select at least one requisition.", errors={"requisition_ids": ["Empty."]}
        )
    if len(ids) > MAX_BULK:
        raise InvalidInput(
            f"Approve at most {MAX_BULK} requisitions at once.",
            errors={"requisition_ids": [f"At most {MAX_BULK}."]},
        )
    comment = (comment or "").strip()[:2000]
    rows = [get_requisition(session, actor=actor, requisition_id=i) for i in ids]
    for req in rows:
        try:
            decide_step(
                session,
                actor=actor,
                requisition_id=req.id,
                approve=True,
                comment=comment,
                today=today,
            )
        except (InvalidInput, RuleViolation, NotAllowed) as exc:
            exc.detail = f"Requisition {req.id} ({req.title}): {exc.detail}"
            exc.args = (exc.detail,)
            raise
    return rows
