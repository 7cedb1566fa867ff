"""The approval chain shared by requisitions and amendments.

The organization's approval rules whose threshold an amount reaches (in the base currency)
form the chain, fixed when the request is made. Steps are decided in order, each by a
different person holding the step's role, never by the requester. A decision is a
conditional update of a pending step, so two approvers at once never both decide one.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import NotAllowed, RuleViolation
from fms.identity.actor import Actor
from fms.timekeeping import utcnow
from fms.workforce import notices, queries, rules
from fms.workforce.models import ApprovalStep

# what decides when an organization has set no rules at all (as for direct engagements)
PROCUREMENT_ONLY = [
    SimpleNamespace(role="procurement", label=rules.step_label("procurement", Decimal(0), "EUR"))
]


def chain_for(session: Session, amount_base: Decimal, *, unless_no_rules=None) -> list:
    """The organization's rules that apply to an amount in the base currency. An
    organization without rules gets `unless_no_rules` if given, else a refusal."""
    all_rules = queries.approval_rules(session)
    if not all_rules and unless_no_rules is not None:
        return unless_no_rules
    chain = rules.chain_for(all_rules, amount_base)
    if not chain:
        raise RuleViolation("The organization has no approval rules; ask an org admin to add them.")
    return chain


def open_chain(
    session: Session,
    chain: list,
    *,
    org_id: int,
    requisition_id: int | None = None,
    amendment_id: int | None = None,
    round_: int = 1,
) -> list[ApprovalStep]:
    """Fix the chain's steps for one requisition round or one amendment."""
    steps = [
        ApprovalStep(
            org_id=org_id,
            requisition_id=requisition_id,
            amendment_id=amendment_id,
            round=round_,
            position=position,
            role=rule.role,
            label=rule.label,
            state="pending",
        )
        for position, rule in enumerate(chain, start=1)
    ]
    session.add_all(steps)
    session.flush()
    if steps:
        notices.step_pending(session, steps[0])
    return steps


def steps_of(
    session: Session,
    *,
    requisition_id: int | None = None,
    amendment_id: int | None = None,
    round_: int | None = None,
) -> list[ApprovalStep]:
    if requisition_id is not None:
        stmt = select(ApprovalStep).where(ApprovalStep.requisition_id == requisition_id)
    else:
        stmt = select(ApprovalStep).where(ApprovalStep.amendment_id == amendment_id)
    if round_ is not None:
        stmt = stmt.where(ApprovalStep.round == round_)
    return list(session.scalars(stmt.order_by(ApprovalStep.round, ApprovalStep.position)))


def first_pending(steps: list[ApprovalStep]) -> ApprovalStep | None:
    return next((s for s in steps if s.state == "pending"), None)


def decision_problem(
    actor: Actor, steps: list[ApprovalStep], *, requester_user_id: int | None, what: str
) -> Exception | None:
    """Why the actor may not decide the chain's current step, as the error to raise."""
    step = first_pending(steps)
    if step is None:
        return RuleViolation("Nothing is waiting for a decision.")
    if step.role not in actor.roles:
        return NotAllowed(f"This step needs someone with the {step.role.replace('_', ' ')} role.")
    if actor.user_id == requester_user_id:
        return NotAllowed(f"You cannot approve your own {what}.")
    if any(s.decided_by_user_id == actor.user_id for s in steps):
        return RuleViolation("Each step needs a different person; you already decided one.")
    return None


def decide(
    session: Session,
    *,
    actor: Actor,
    step: ApprovalStep,
    approve: bool,
    comment: str | None,
    after: dict,
) -> None:
    """Decide one pending step exactly once (the loser of a race is told to reload)."""
    changed = session.execute(
        update(ApprovalStep)
        .where(ApprovalStep.id == step.id, ApprovalStep.state == "pending")
        .values(
            state="approved" if approve else "rejected",
            decided_by_user_id=actor.user_id,
            decided_at=utcnow(),
            comment=comment or None,
        )
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed != 1:
        raise RuleViolation("Someone else decided this step first; reload and try again.")
    audit.record(
        session,
        actor,
        "approval_step.approved" if approve else "approval_step.rejected",
        step,
        after={**after, "label": step.label, "comment": comment or None},
    )
    notices.steps_closed(session, org_id=step.org_id, step_ids=[step.id])
    if approve:
        following = session.scalars(
            select(ApprovalStep)
            .where(
                ApprovalStep.requisition_id == step.requisition_id
                if step.requisition_id is not None
                else ApprovalStep.amendment_id == step.amendment_id,
                ApprovalStep.round == step.round,
                ApprovalStep.position > step.position,
                ApprovalStep.state == "pending",
            )
            .order_by(ApprovalStep.position)
            .limit(1)
        ).first()
        if following is not None:
            notices.step_pending(session, following)


def skip_rest(session: Session, steps: list[ApprovalStep]) -> None:
    """After a rejection (or a withdrawal) the remaining steps are not asked any more."""
    pending = [s.id for s in steps if s.state == "pending"]
    if pending:
        session.execute(
            update(ApprovalStep)
            .where(ApprovalStep.id.in_(pending), ApprovalStep.state == "pending")
            .values(state="skipped")
            .execution_options(synchronize_session="fetch")
        )
        notices.steps_closed(session, org_id=steps[0].org_id, step_ids=pending)
