"""Engagements: creation, approval, onboarding, amendments, notice and reviews.

States follow `rules.ENGAGEMENT_TRANSITIONS`; every change is a conditional update with an
audit entry. Terms that change over time are effective-dated rows (`EngagementTerms`), so
the rate, budget, manager and cost centre on any past date stay answerable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from fms import money
from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.models import Membership
from fms.identity.permissions import require
from fms.records import add_unique
from fms.statemachine import lock, transition
from fms.tenancy import MAX_ID, get_in_org
from fms.timekeeping import today_in, utcnow
from fms.workforce import approvals, hooks, queries, rules
from fms.workforce.models import (
    Amendment,
    Engagement,
    EngagementTerms,
    Freelancer,
    OnboardingStep,
    OnboardingTemplateStep,
    PerformanceReview,
    Requisition,
    Supplier,
)
from fms.workforce.validation import (
    amount_in,
    check_terms,
    date_in,
    optional_rate_in,
    to_base_currency,
)

TERMS_FIELDS = (
    "rate",
    "overtime_rate",
    "budget_cap",
    "hiring_manager_user_id",
    "department_id",
    "cost_centre_id",
    "location_id",
    "weekly_minutes",
)


def _move(session, engagement, to, actor, **kw):
    return transition(
        session, engagement, to=to, table=rules.ENGAGEMENT_TRANSITIONS, actor=actor, **kw
    )


def get_engagement(session: Session, *, actor: Actor, engagement_id: int) -> Engagement:
    """Staff read every engagement; a freelancer only their own, until its end date."""
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    if actor.can("engagements.read"):
        return engagement
    if actor.can("own_engagements.read") and _is_own(session, actor, engagement):
        return engagement
    raise NotFound("No such engagement.")


def _is_own(session: Session, actor: Actor, engagement: Engagement) -> bool:
    if engagement.freelancer_id is None:
        return False
    profile = session.scalar(select(Freelancer).where(Freelancer.id == engagement.freelancer_id))
    # access ends with the engagement: after its end date the freelancer no longer sees it
    return profile.user_id == actor.user_id and engagement.end_date >= org_today(session, actor)


def _acts_for(session: Session, actor: Actor, engagement: Engagement, on: date) -> bool:
    """Who acts on an engagement: procurement (engagements.manage) on any; a hiring manager
    only on the engagements they manage on that day (the terms in effect then say who), or
    stand in for on that day under a delegation."""
    if actor.can("engagements.manage"):
        return True
    if not actor.can("engagements.end"):
        return False
    terms = terms_on(session, engagement.id, on)
    if terms is None:
        return False
    if terms.hiring_manager_user_id == actor.user_id:
        return True
    return queries.stands_in_for(session, actor.user_id, terms.hiring_manager_user_id, on)


acts_for = _acts_for  # public: timesheets asks who reviews an engagement's time on a day


def org_today(session: Session, actor: Actor) -> date:
    from fms.identity.models import Organization

    return today_in(session.get(Organization, actor.org_id).timezone)


def terms_on(session: Session, engagement_id: int, on: date) -> EngagementTerms | None:
    """The terms in effect on a date (the earliest terms before the start)."""
    rows = session.scalars(
        select(EngagementTerms)
        .where(EngagementTerms.engagement_id == engagement_id)
        .order_by(EngagementTerms.effective_from)
    ).all()
    current = rows[0] if rows else None
    for row in rows:
        if row.effective_from <= on:
            current = row
    return current


def terms_history(session: Session, engagement_id: int) -> list[EngagementTerms]:
    return list(
        session.scalars(
            select(EngagementTerms)
            .where(EngagementTerms.engagement_id == engagement_id)
            .order_by(EngagementTerms.effective_from)
        )
    )


def _check_manager(session: Session, user_id) -> int:
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        user_id = 0
    if not 0 < user_id <= MAX_ID:
        raise InvalidInput(
            "Choose the hiring manager.", errors={"hiring_manager_user_id": ["Required."]}
        )
    member = session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.is_active.is_(True))
    )
    if member is None or not ({"hiring_manager", "org_admin"} & set(member.roles)):
        raise InvalidInput(
            "The hiring manager must be an active member with the hiring manager role.",
            errors={"hiring_manager_user_id": ["Not a hiring manager of this organization."]},
        )
    return user_id


def _supplier_name(session: Session, supplier_id) -> str:
    if supplier_id is None:
        return "no supplier (direct)"
    return session.scalar(select(Supplier.name).where(Supplier.id == supplier_id)) or "—"


def supplier_mismatch(session: Session, freelancer: Freelancer, supplier_id) -> str:
    """Why `supplier_id` is not the freelancer's own supplier, in words ("" if it is)."""
    if supplier_id == freelancer.supplier_id:
        return ""
    return (
        f"{freelancer.display_name} comes through "
        f"{_supplier_name(session, freelancer.supplier_id)}, not "
        f"{_supplier_name(session, supplier_id)}."
    )


def _check_party(session: Session, freelancer_id, supplier_id, confirm_supplier: bool) -> tuple:
    """The engagement's freelancer and supplier. Choosing a freelancer never changes the
    supplier silently: none given takes the freelancer's own (the page names it); another
    one than theirs needs `confirm_supplier`."""
    freelancer = supplier = None
    if freelancer_id not in (None, ""):
        freelancer = get_in_org(session, Freelancer, freelancer_id, what="freelancer")
    if supplier_id not in (None, ""):
        supplier = get_in_org(session, Supplier, supplier_id, what="supplier")
    if freelancer and supplier is None:
        return freelancer.id, freelancer.supplier_id
    if freelancer and not confirm_supplier:
        problem = supplier_mismatch(session, freelancer, supplier.id)
        if problem:
            raise InvalidInput(
                "Check the supplier.",
                errors={"supplier_id": [f"{problem} Confirm, or leave it empty to use theirs."]},
            )
    return (freelancer.id if freelancer else None), (supplier.id if supplier else None)


# --- activation guards and checklist providers ----------------------------------------------

# Activation guards (DESIGN.md, "Hooks between areas"): a higher area says why an engagement
# may not become active yet, as `guard(session, engagement)` -> a list of reasons (empty: it
# may). Compliance refuses while a required document, signature or classification decision
# is missing.
ActivationGuard = Callable[[Session, Engagement], "list[str]"]
_ACTIVATION_GUARDS: list[ActivationGuard] = []

# Checklist providers: a higher area adds onboarding steps when the engagement starts
# onboarding (the freelancer, and so their country, is known then), as
# `provider(session, engagement)` -> [(key, title, kind)]. A provided step carries its key
# and is completed by `complete_provided_step`, when the providing area says it is done.
# A fourth element, when given, names the titles of manual template steps the provided step
# stands for ("NDA signed"): an open manual step of the same kind with such a title is
# removed, so the same item is never ticked by hand beside the provider's own step.
ChecklistProvider = Callable[[Session, Engagement], "list[tuple[str, str, str]]"]
_CHECKLIST_PROVIDERS: list[ChecklistProvider] = []


def register_activation_guard(guard: ActivationGuard) -> ActivationGuard:
    if guard not in _ACTIVATION_GUARDS:
        _ACTIVATION_GUARDS.append(guard)
    return guard


def register_checklist_provider(provider: ChecklistProvider) -> ChecklistProvider:
    if provider not in _CHECKLIST_PROVIDERS:
        _CHECKLIST_PROVIDERS.append(provider)
    return provider


# Ending listeners: a higher area hears that an engagement is ending, as
# `listener(session, engagement, actor=actor, event=event)` with event "notice_given" (either
# side gave notice; the end date is set) or "ended" (the last day passed). Compliance opens
# the offboarding checklist. A listener may be told both for one engagement: it is its own
# business to act once.
EndingListener = Callable[..., None]
_ENDING_LISTENERS: list[EndingListener] = []


def register_ending_listener(listener: EndingListener) -> EndingListener:
    if listener not in _ENDING_LISTENERS:
        _ENDING_LISTENERS.append(listener)
    return listener


def _announce_ending(session: Session, engagement: Engagement, actor: Actor, event: str) -> None:
    for listener in _ENDING_LISTENERS:
        listener(session, engagement, actor=actor, event=event)


def activation_problems(session: Session, engagement: Engagement) -> list[str]:
    """Why the engagement may not become active, from every registered guard."""
    problems: list[str] = []
    for guard in _ACTIVATION_GUARDS:
        problems.extend(guard(session, engagement) or [])
    return problems


def _add_provided_steps(session: Session, engagement: Engagement) -> None:
    """The providers' steps, after the template's; a key already on the checklist is kept,
    and an open manual step a provided one stands for is removed."""
    existing = onboarding_steps(session, engagement.id)
    keys = {s.provider_key for s in existing if s.provider_key}
    position = max((s.position for s in existing), default=0)
    replaced: set[tuple[str, str]] = set()
    for provider in _CHECKLIST_PROVIDERS:
        for key, title, kind, *rest in provider(session, engagement) or []:
            replaced.update((kind, t.casefold()) for t in (rest[0] if rest else ()))
            if key in keys:
                continue
            keys.add(key)
            position += 1
            session.add(
                OnboardingStep(
                    org_id=engagement.org_id,
                    engagement_id=engagement.id,
                    position=position,
                    title=title,
                    kind=kind,
                    provider_key=key,
                )
            )
    for step in existing:
        if (
            step.provider_key is None
            and step.done_at is None
            and (step.kind, step.title.casefold()) in replaced
        ):
            session.delete(step)
    session.flush()


# public: the compliance demo adds the providers' steps to an engagement the workforce demo
# put straight into onboarding
add_provided_steps = _add_provided_steps


def complete_provided_step(
    session: Session, *, actor: Actor, engagement_id: int, key: str
) -> OnboardingStep | None:
    """Tick the provided step with this key (the providing area decided it is done); None
    when the checklist has no such step or it is done already."""
    step = session.scalar(
        select(OnboardingStep).where(
            OnboardingStep.engagement_id == engagement_id, OnboardingStep.provider_key == key
        )
    )
    if step is None:
        return None
    changed = session.execute(
        update(OnboardingStep)
        .where(OnboardingStep.id == step.id, OnboardingStep.done_at.is_(None))
        .values(done_at=utcnow(), done_by_user_id=actor.user_id)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed != 1:
        return None
    audit.record(
        session,
        actor,
        "onboarding_step.completed",
        step,
        after={"engagement_id": engagement_id, "title": step.title, "by": key},
    )
    return step


def _onboarding_from_template(session: Session, engagement: Engagement) -> None:
    template = session.scalars(
        select(OnboardingTemplateStep).order_by(OnboardingTemplateStep.position)
    ).all()
    steps = [(t.position, t.title, t.kind) for t in template] or rules.DEFAULT_ONBOARDING
    for position, title, kind in steps:
        session.add(
            OnboardingStep(
                org_id=engagement.org_id,
                engagement_id=engagement.id,
                position=position,
                title=title,
                kind=kind,
            )
        )


def create_engagement(session: Session, *, actor: Actor, **fields) -> Engagement:
    """Procurement drafts an engagement directly (e.g. a known freelancer, a renewal)."""
    require(actor, "engagements.manage")
    errors: dict[str, list[str]] = {}
    values = check_terms(session, fields, errors)
    title = (fields.get("title") or "").strip()
    if not title or len(title) > 200:
        errors["title"] = ["Give the engagement a title (at most 200 characters)."]
    budget = amount_in(fields.get("budget_cap"))
    if budget is None:
        errors["budget_cap"] = ["A positive amount."]
    overtime = optional_rate_in(fields.get("overtime_rate"), errors, "overtime_rate")
    po_number = (fields.get("po_number") or "").strip() or None
    if po_number and len(po_number) > 40:
        errors["po_number"] = ["At most 40 characters."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    manager = _check_manager(session, fields.get("hiring_manager_user_id"))
    freelancer_id, supplier_id = _check_party(
        session,
        fields.get("freelancer_id"),
        fields.get("supplier_id"),
        bool(fields.get("confirm_supplier")),
    )
    engagement = Engagement(
        org_id=actor.org_id,
        title=title,
        kind=values["kind"],
        state="draft",
        freelancer_id=freelancer_id,
        supplier_id=supplier_id,
        currency=values["currency"],
        po_number=po_number,
        start_date=values["start_date"],
        end_date=values["end_date"],
        created_by_user_id=actor.user_id,
    )
    session.add(engagement)
    session.flush()
    terms = EngagementTerms(
        org_id=actor.org_id,
        engagement_id=engagement.id,
        effective_from=engagement.start_date,
        rate=values["rate"],
        overtime_rate=overtime,
        budget_cap=money.round_half_up(budget, values["currency"]),
        hiring_manager_user_id=manager,
        department_id=values["department_id"],
        cost_centre_id=values["cost_centre_id"],
        location_id=values["location_id"],
        weekly_minutes=values["weekly_minutes"],
    )
    session.add(terms)
    session.flush()
    snapshot = {"title": title, **{k: getattr(terms, k) for k in TERMS_FIELDS}}
    audit.record(session, actor, "engagement.created", engagement, after=snapshot)
    return engagement


def engagement_from_requisition(
    session: Session, *, actor: Actor, requisition: Requisition
) -> Engagement:
    """An approved requisition becomes an engagement in state approved."""
    engagement = Engagement(
        org_id=requisition.org_id,
        title=requisition.title,
        kind=requisition.kind,
        state="approved",
        currency=requisition.currency,
        requisition_id=requisition.id,
        start_date=requisition.start_date,
        end_date=requisition.end_date,
        created_by_user_id=requisition.requester_user_id,
    )
    session.add(engagement)
    session.flush()
    session.add(
        EngagementTerms(
            org_id=requisition.org_id,
            engagement_id=engagement.id,
            effective_from=requisition.start_date,
            rate=requisition.rate_max,
            budget_cap=requisition.budget,
            hiring_manager_user_id=requisition.requester_user_id,
            department_id=requisition.department_id,
            cost_centre_id=requisition.cost_centre_id,
            location_id=requisition.location_id,
            weekly_minutes=requisition.weekly_minutes,
        )
    )
    _onboarding_from_template(session, engagement)
    session.flush()
    audit.record(
        session,
        actor,
        "engagement.created",
        engagement,
        after={"from_requisition": requisition.id, "state": "approved"},
    )
    return engagement


def submit_engagement(
    session: Session, *, actor: Actor, engagement_id: int, today: date
) -> Engagement:
    """Submit a drafted engagement for a second procurement approver.

    Direct drafts may skip a requisition only while their budget needs no more than one
    procurement approval under the organization's chain; larger ones go through a
    requisition, so finance (and any second approver) cannot be bypassed.
    """

    require(actor, "engagements.manage")
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    terms = terms_on(session, engagement.id, engagement.start_date)
    budget_base = to_base_currency(
        session, actor=actor, amount=terms.budget_cap, currency=engagement.currency, on=today
    )
    if engagement.kind == "trial":
        problem = trial_budget_problem(session, actor, budget_base)
        if problem:
            raise RuleViolation(problem)
    chain = rules.chain_for(queries.approval_rules(session), budget_base)
    if len(chain) > 1 or any(step.role != "procurement" for step in chain):
        raise RuleViolation(
            "A budget this size needs the full approval chain "
            f"({', '.join(step.label for step in chain)}): raise a requisition instead."
        )
    return _move(session, engagement, "pending_approval", actor)


def decide_engagement(
    session: Session, *, actor: Actor, engagement_id: int, approve: bool, comment: str = ""
) -> Engagement:
    """Approve or reject a drafted engagement; never by the person who drafted it."""
    require(actor, "engagements.manage")
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    if engagement.created_by_user_id == actor.user_id:
        raise NotAllowed("You cannot approve an engagement you drafted.")
    if not approve and not (comment or "").strip():
        raise InvalidInput("Say why you reject it.", errors={"comment": ["Required."]})
    _move(
        session,
        engagement,
        "approved" if approve else "rejected",
        actor,
        after={"comment": (comment or "").strip() or None},
    )
    if approve:
        _onboarding_from_template(session, engagement)
        session.flush()
    return engagement


def start_onboarding(
    session: Session,
    *,
    actor: Actor,
    engagement_id: int,
    freelancer_id: int | None = None,
    confirm_supplier: bool = False,
) -> Engagement:
    """Procurement starts onboarding once the freelancer is known (chosen here, or an
    invitation redeemed — that path moves the engagement itself).

    An engagement without a supplier takes the chosen freelancer's (the page says so);
    one whose supplier differs from theirs keeps it only with `confirm_supplier`.
    """
    require(actor, "engagements.manage")
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    if freelancer_id is not None:
        freelancer = get_in_org(session, Freelancer, freelancer_id, what="freelancer")
        if engagement.supplier_id is None:
            engagement.supplier_id = freelancer.supplier_id
        elif not confirm_supplier:
            problem = supplier_mismatch(session, freelancer, engagement.supplier_id)
            if problem:
                raise InvalidInput(
                    "Check the supplier.",
                    errors={
                        "freelancer_id": [
                            f"{problem} Confirm to keep the engagement's supplier, "
                            "or choose another freelancer."
                        ]
                    },
                )
        engagement.freelancer_id = freelancer.id
    if engagement.freelancer_id is None:
        raise InvalidInput("Choose the freelancer first.", errors={"freelancer_id": ["Required."]})
    # bookings of one freelancer queue on their profile row: two at once cannot both pass
    lock(session, session.get(Freelancer, engagement.freelancer_id))
    if _overlaps(session, engagement):
        raise RuleViolation("This freelancer already has an engagement in these dates.")
    _move(
        session,
        engagement,
        "onboarding",
        actor,
        values={"freelancer_id": engagement.freelancer_id, "supplier_id": engagement.supplier_id},
        after={"freelancer_id": engagement.freelancer_id},
    )
    _add_provided_steps(session, engagement)
    return engagement


def _overlaps(
    session: Session, engagement: Engagement, *, start: date | None = None, end: date | None = None
) -> bool:
    """Same freelancer, overlapping dates (the engagement's own, or the days given), another
    engagement that is booked or worked."""
    start, end = start or engagement.start_date, end or engagement.end_date
    return (
        session.scalar(
            select(func.count(Engagement.id)).where(
                Engagement.freelancer_id == engagement.freelancer_id,
                Engagement.id != engagement.id,
                Engagement.state.in_(rules.BOOKED_STATES),
                Engagement.start_date <= end,
                Engagement.end_date >= start,
            )
        )
        > 0
    )


def onboarding_steps(session: Session, engagement_id: int) -> list[OnboardingStep]:
    return list(
        session.scalars(
            select(OnboardingStep)
            .where(OnboardingStep.engagement_id == engagement_id)
            .order_by(OnboardingStep.position)
        )
    )


def complete_step(
    session: Session, *, actor: Actor, step_id: int, engagement_id: int | None = None
) -> OnboardingStep:
    """Freelancers tick their own steps; reviews are ticked by procurement or compliance.
    With `engagement_id` (the page's and the API's address) the step must be one of its."""
    step = get_in_org(session, OnboardingStep, step_id, what="onboarding step")
    if engagement_id is not None and step.engagement_id != engagement_id:
        raise NotAllowed("That step belongs to another engagement.")
    engagement = get_engagement(session, actor=actor, engagement_id=step.engagement_id)
    if engagement.state != "onboarding":
        raise RuleViolation("Steps can be completed while the engagement is onboarding.")
    if step.provider_key is not None:
        raise RuleViolation("This step completes itself when its item is done and reviewed.")
    own = engagement.freelancer_id is not None and _is_own(session, actor, engagement)
    if step.kind in rules.FREELANCER_STEP_KINDS:
        # signing, answering, uploading: the freelancer's own act, nobody else's
        if not own:
            raise NotAllowed("Only the freelancer completes this step.")
    elif not actor.can("onboarding.complete"):
        raise NotAllowed("This step is completed by procurement or compliance.")
    changed = session.execute(
        update(OnboardingStep)
        .where(OnboardingStep.id == step.id, OnboardingStep.done_at.is_(None))
        .values(done_at=utcnow(), done_by_user_id=actor.user_id)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed != 1:
        raise RuleViolation("This step is already done.")
    audit.record(
        session,
        actor,
        "onboarding_step.completed",
        step,
        after={"engagement_id": engagement.id, "title": step.title},
    )
    return step


def activate(session: Session, *, actor: Actor, engagement_id: int) -> Engagement:
    """Onboarding ends when every step is done; the engagement becomes active."""
    if not (actor.can("onboarding.complete") or actor.can("engagements.manage")):
        raise NotAllowed("Procurement or compliance activates engagements.")
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    # provided steps are the activation guards' to judge (an optional one may stay open)
    left = [
        s.title
        for s in onboarding_steps(session, engagement.id)
        if s.done_at is None and s.provider_key is None
    ]
    if engagement.state == "onboarding" and left:
        raise RuleViolation(f"Onboarding is not complete: {', '.join(left)}.")
    if engagement.state == "onboarding" and (problems := activation_problems(session, engagement)):
        raise RuleViolation(f"Not ready to activate: {' '.join(problems)}")
    _move(session, engagement, "active", actor)
    hooks.record_event.send("engagement.activated", session=session, ids=[engagement.id])
    return engagement


def cancel(session: Session, *, actor: Actor, engagement_id: int, reason: str) -> Engagement:
    """An engagement that never started work can be cancelled, with a reason."""
    require(actor, "engagements.manage")
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason.", errors={"reason": ["Required."]})
    return _move(
        session,
        engagement,
        "cancelled",
        actor,
        values={"end_reason": reason},
        after={"reason": reason},
    )


def notice_period_days(session: Session) -> int:
    return queries.workforce_settings(session).notice_period_days


def _notice_refused(engagement: Engagement):
    if engagement.state != "active":
        raise RuleViolation("Only an active engagement can be ended; cancel it instead.")
    raise RuleViolation("Notice has already been given for this engagement.")


def give_notice(
    session: Session, *, actor: Actor, engagement_id: int, end_date, reason: str, today: date
) -> Engagement:
    """Either side ends an active engagement at will: reason, and an end date after notice."""
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    own = _is_own(session, actor, engagement)
    if not (own or _acts_for(session, actor, engagement, today)):
        raise NotAllowed(
            "Only the engagement's hiring manager, procurement or the freelancer can end it."
        )
    if engagement.state != "active" or engagement.notice_given_at is not None:
        _notice_refused(engagement)
    end = date_in(end_date)
    reason = (reason or "").strip()
    errors = {}
    earliest = today + timedelta(days=notice_period_days(session))
    if end is None:
        errors["end_date"] = ["A date such as 2027-01-31."]
    elif end < earliest:
        errors["end_date"] = [f"The notice period ends {earliest.isoformat()}; pick that or later."]
    elif end > engagement.end_date:
        errors["end_date"] = ["After the planned end date: extend the engagement instead."]
    if not reason:
        errors["reason"] = ["Say why the engagement ends."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    before = {"end_date": engagement.end_date}
    ended_by = "freelancer" if own else "organization"
    changed = session.execute(
        update(Engagement)
        .where(
            Engagement.id == engagement.id,
            Engagement.state == "active",
            Engagement.notice_given_at.is_(None),
        )
        .values(end_date=end, end_reason=reason, ended_by=ended_by, notice_given_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:  # someone gave notice (or ended it) a moment ago: one change, one entry
        session.refresh(engagement)
        _notice_refused(engagement)
    session.refresh(engagement)
    audit.record(
        session,
        actor,
        "engagement.notice_given",
        engagement,
        before=before,
        after={"end_date": end, "reason": reason, "by": engagement.ended_by},
    )
    _announce_ending(session, engagement, actor, "notice_given")
    return engagement


def end_due_engagements(session: Session, *, actor: Actor, today: date) -> int:
    """Active engagements whose end date has passed become ended (the daily sweep)."""
    due = session.scalars(
        select(Engagement).where(Engagement.state == "active", Engagement.end_date < today)
    ).all()
    for engagement in due:
        _move(session, engagement, "ended", actor)
        _announce_ending(session, engagement, actor, "ended")
    hooks.record_event.send("engagement.ended", session=session, ids=[e.id for e in due])
    return len(due)


# --- amendments ----------------------------------------------------------------------------

# Amendment guards (DESIGN.md, "Hooks between areas"): a higher area says whether a change
# may take effect from a date, as `guard(session, engagement, kind, effective_from)` -> a
# message or None. Timesheets refuses a rate change over time already submitted or approved
# (that time keeps the rate it was recorded under; a correction is an adjustment).
AmendmentGuard = Callable[[Session, Engagement, str, date], "str | None"]
_AMENDMENT_GUARDS: list[AmendmentGuard] = []


def register_amendment_guard(guard: AmendmentGuard) -> AmendmentGuard:
    if guard not in _AMENDMENT_GUARDS:
        _AMENDMENT_GUARDS.append(guard)
    return guard


def _guard_problem(session: Session, engagement: Engagement, kind: str, effective) -> str | None:
    for guard in _AMENDMENT_GUARDS:
        problem = guard(session, engagement, kind, effective)
        if problem:
            return problem
    return None


def request_amendment(
    session: Session,
    *,
    actor: Actor,
    engagement_id: int,
    kind: str,
    effective_from,
    reason: str,
    new_rate=None,
    new_end_date=None,
    new_budget_cap=None,
    new_hiring_manager_user_id=None,
) -> Amendment:
    """Propose an effective-dated change to an approved engagement. Procurement, or whoever
    acts for the engagement's hiring manager today (the manager, or their delegate), may.

    Its approval chain is fixed now, like a requisition's: a budget increase goes through
    the steps its new cap reaches in the base currency (finance above its threshold); other
    changes through the steps that always apply.
    """
    if not (actor.can("engagements.manage") or actor.can("engagements.end")):
        raise NotAllowed("Procurement or the hiring manager proposes amendments.")
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    today = org_today(session, actor)
    if not _acts_for(session, actor, engagement, today):
        raise NotAllowed("Only the engagement's hiring manager or procurement proposes changes.")
    if engagement.state not in ("approved", "onboarding", "active"):
        raise RuleViolation("Only approved, onboarding or active engagements can be amended.")
    errors: dict[str, list[str]] = {}
    if kind not in rules.AMENDMENT_KINDS:
        errors["kind"] = ["Choose the kind of change."]
    effective = date_in(effective_from)
    if effective is None:
        errors["effective_from"] = ["A date such as 2027-01-01."]
    elif not engagement.start_date <= effective <= engagement.end_date:
        errors["effective_from"] = ["Within the engagement's dates."]
    elif kind in rules.AMENDMENT_KINDS and (
        problem := _guard_problem(session, engagement, kind, effective)
    ):
        errors["effective_from"] = [problem]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["Say why."]
    values = {}
    current = terms_on(session, engagement.id, effective or engagement.start_date)
    if kind == "rate_change":
        values["new_rate"] = amount_in(new_rate)
        if values["new_rate"] is None:
            errors["new_rate"] = ["A positive rate."]
        elif values["new_rate"] == current.rate:
            errors["new_rate"] = ["That is the current rate."]
    elif kind == "extension":
        if engagement.notice_given_at is not None:
            raise RuleViolation("Notice has been given on this engagement; it cannot be extended.")
        values["new_end_date"] = date_in(new_end_date)
        if values["new_end_date"] is None or values["new_end_date"] <= engagement.end_date:
            errors["new_end_date"] = [f"After the current end, {engagement.end_date.isoformat()}."]
        else:
            errors.update(_extension_problems(session, engagement, values["new_end_date"]))
    elif kind == "budget_increase":
        values["new_budget_cap"] = amount_in(new_budget_cap)
        if values["new_budget_cap"] is None or values["new_budget_cap"] <= current.budget_cap:
            errors["new_budget_cap"] = [f"More than the current cap, {current.budget_cap}."]
        else:
            values["new_budget_cap"] = money.round_half_up(
                values["new_budget_cap"], engagement.currency
            )
    elif kind == "manager_transfer":
        if errors:
            raise InvalidInput("Check the highlighted fields.", errors=errors)
        values["new_hiring_manager_user_id"] = _check_manager(session, new_hiring_manager_user_id)
        if values["new_hiring_manager_user_id"] == current.hiring_manager_user_id:
            errors["new_hiring_manager_user_id"] = ["That is the current manager."]
        elif values["new_hiring_manager_user_id"] == actor.user_id and not actor.can(
            "engagements.manage"
        ):
            # a delegate stands in for the manager; taking the engagement over is procurement's
            errors["new_hiring_manager_user_id"] = ["Procurement transfers an engagement to you."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    amount_base = money.Decimal(0)
    if kind == "budget_increase":
        amount_base = to_base_currency(
            session,
            actor=actor,
            amount=values["new_budget_cap"],
            currency=engagement.currency,
            on=today,
        )
        values["budget_base"] = amount_base
        if engagement.kind == "trial":
            problem = trial_budget_problem(session, actor, amount_base)
            if problem:
                raise InvalidInput(problem, errors={"new_budget_cap": [problem]})
    chain = approvals.chain_for(session, amount_base, unless_no_rules=approvals.PROCUREMENT_ONLY)
    amendment = Amendment(
        org_id=actor.org_id,
        engagement_id=engagement.id,
        kind=kind,
        effective_from=effective,
        reason=reason,
        state="pending",
        requested_by_user_id=actor.user_id,
        **values,
    )
    session.add(amendment)
    session.flush()
    approvals.open_chain(session, chain, org_id=actor.org_id, amendment_id=amendment.id)
    audit.record(
        session,
        actor,
        "amendment.requested",
        amendment,
        after={
            "engagement_id": engagement.id,
            "kind": kind,
            **values,
            "chain": [r.label for r in chain],
        },
    )
    return amendment


def trial_budget_problem(session: Session, actor: Actor, amount_base) -> str | None:
    """A trial engagement's budget stays within the organization's trial limit (base
    currency); None when it does."""
    from fms.identity.models import Organization

    limit = queries.workforce_settings(session).trial_max_budget
    if amount_base > limit:
        base = session.get(Organization, actor.org_id).base_currency
        return f"A trial engagement's budget is at most {limit:,.2f} {base}."
    return None


# Extension guards: a higher area says whether an engagement may run until a new end date,
# as `guard(session, engagement, new_end)` -> a message or None (Compliance: tenure limits).
# Checked when an extension is proposed and again at its last approval.
ExtensionGuard = Callable[[Session, Engagement, date], "str | None"]
_EXTENSION_GUARDS: list[ExtensionGuard] = []


def register_extension_guard(guard: ExtensionGuard) -> ExtensionGuard:
    if guard not in _EXTENSION_GUARDS:
        _EXTENSION_GUARDS.append(guard)
    return guard


def _extension_problems(session: Session, engagement: Engagement, new_end: date) -> dict:
    """An extension keeps a trial within its day limit, must not double-book the
    freelancer over the added days, and passes the registered extension guards."""
    errors = {}
    for guard in _EXTENSION_GUARDS:
        problem = guard(session, engagement, new_end)
        if problem:
            errors["new_end_date"] = [problem]
            return errors
    if engagement.kind == "trial":
        limit = queries.workforce_settings(session).trial_max_days
        if (new_end - engagement.start_date).days + 1 > limit:
            errors["new_end_date"] = [f"A trial engagement lasts at most {limit} days."]
    if engagement.freelancer_id is not None and _overlaps(
        session, engagement, start=engagement.end_date + timedelta(days=1), end=new_end
    ):
        errors["new_end_date"] = ["The freelancer has another engagement in the added days."]
    return errors


def amendment_steps(session: Session, amendment_ids) -> dict[int, list]:
    """The approval steps of many amendments, in chain order."""
    from fms.workforce.models import ApprovalStep

    ids = list(amendment_ids)
    steps: dict[int, list] = {i: [] for i in ids}
    if ids:
        for step in session.scalars(
            select(ApprovalStep)
            .where(ApprovalStep.amendment_id.in_(ids))
            .order_by(ApprovalStep.amendment_id, ApprovalStep.position)
        ):
            steps[step.amendment_id].append(step)
    return steps


def amendment_decision_problem(session: Session, actor: Actor, amendment: Amendment):
    """Why the actor may not decide the amendment's current step (None: they may)."""
    if amendment.state != "pending":
        return RuleViolation("This amendment has already been decided.")
    return approvals.decision_problem(
        actor,
        approvals.steps_of(session, amendment_id=amendment.id),
        requester_user_id=amendment.requested_by_user_id,
        what="amendment",
    )


def decide_amendment(
    session: Session, *, actor: Actor, amendment_id: int, approve: bool, comment: str = ""
) -> Amendment:
    """Decide the amendment's current step: in order, each by a different person with the
    step's role, never the requester. A rejection ends it; the last approval applies the
    change from its date on — re-checked against the engagement as it is then."""
    amendment = get_in_org(session, Amendment, amendment_id, what="amendment")
    engagement = get_engagement(session, actor=actor, engagement_id=amendment.engagement_id)
    problem = amendment_decision_problem(session, actor, amendment)
    if problem:
        raise problem
    comment = (comment or "").strip()
    if not approve and not comment:
        raise InvalidInput("Say why you reject it.", errors={"comment": ["Required."]})
    chain = approvals.steps_of(session, amendment_id=amendment.id)
    approvals.decide(
        session,
        actor=actor,
        step=approvals.first_pending(chain),
        approve=approve,
        comment=comment,
        after={"amendment_id": amendment.id, "engagement_id": engagement.id},
    )
    if approve and approvals.first_pending(chain) is not None:
        return amendment
    if not approve:
        approvals.skip_rest(session, chain)
    else:
        # the engagement's row lock orders approvals of its amendments one after the other,
        # so two extensions or two rate changes approved at once compose instead of racing
        lock(session, engagement)
        _check_still_applies(session, engagement, amendment)
    transition(
        session,
        amendment,
        to="approved" if approve else "rejected",
        table=rules.AMENDMENT_TRANSITIONS,
        actor=actor,
        values={
            "decided_by_user_id": actor.user_id,
            "decided_at": utcnow(),
            "decision_comment": comment or None,
        },
        after={"engagement_id": engagement.id, "comment": comment or None},
    )
    if approve:
        _apply(session, engagement, amendment)
    return amendment


def _check_still_applies(session: Session, engagement: Engagement, amendment: Amendment):
    """What was true when the amendment was proposed may not be by its last approval."""
    if engagement.state not in ("approved", "onboarding", "active"):
        raise RuleViolation("The engagement is no longer open to changes; reject the amendment.")
    # time may have been submitted or approved since it was proposed
    problem = _guard_problem(session, engagement, amendment.kind, amendment.effective_from)
    if problem:
        raise RuleViolation(f"{problem} Reject this amendment.")
    if amendment.kind == "budget_increase":
        # another increase approved since may already have raised the cap past this one
        cap = terms_on(session, engagement.id, amendment.effective_from).budget_cap
        if amendment.new_budget_cap <= cap:
            raise RuleViolation(
                f"The cap from {amendment.effective_from.isoformat()} is already {cap}: "
                "this is no longer an increase; reject it."
            )
    if amendment.kind != "extension":
        return
    if engagement.notice_given_at is not None:
        raise RuleViolation("Notice has been given on this engagement; reject the extension.")
    if engagement.freelancer_id is not None:
        # bookings of one freelancer queue on their profile row (as in start_onboarding)
        lock(session, session.get(Freelancer, engagement.freelancer_id))
    if amendment.new_end_date > engagement.end_date:
        problems = _extension_problems(session, engagement, amendment.new_end_date)
        if problems:
            raise RuleViolation(problems["new_end_date"][0])


def _apply(session: Session, engagement: Engagement, amendment: Amendment) -> None:
    """Compose the approved change with the others, whatever the order of approval.

    An extension moves the end to the latest approved extension's date. A change of rate,
    cap or manager holds from its date until the next approved change of the same kind
    (later terms rows, created by other kinds of change, take the new value too).
    """
    if amendment.kind == "extension":
        if amendment.new_end_date > engagement.end_date:
            session.execute(
                update(Engagement)
                .where(Engagement.id == engagement.id)
                .values(end_date=amendment.new_end_date)
                .execution_options(synchronize_session="fetch")
            )
        return
    field, value = {
        "rate_change": ("rate", amendment.new_rate),
        "budget_increase": ("budget_cap", amendment.new_budget_cap),
        "manager_transfer": ("hiring_manager_user_id", amendment.new_hiring_manager_user_id),
    }[amendment.kind]
    until = session.scalar(
        select(func.min(Amendment.effective_from)).where(
            Amendment.engagement_id == engagement.id,
            Amendment.kind == amendment.kind,
            Amendment.state == "approved",
            Amendment.id != amendment.id,
            # a later date, or the same date asked for later: that one holds from there,
            # whichever was approved first
            or_(
                Amendment.effective_from > amendment.effective_from,
                and_(
                    Amendment.effective_from == amendment.effective_from,
                    Amendment.id > amendment.id,
                ),
            ),
        )
    )
    rows = terms_history(session, engagement.id)
    if not any(row.effective_from == amendment.effective_from for row in rows):
        base = terms_on(session, engagement.id, amendment.effective_from)
        row = EngagementTerms(
            org_id=engagement.org_id,
            engagement_id=engagement.id,
            effective_from=amendment.effective_from,
            **{k: getattr(base, k) for k in TERMS_FIELDS},
        )
        session.add(row)
        rows.append(row)
    for row in rows:
        if row.effective_from < amendment.effective_from:
            continue
        if until is not None and row.effective_from >= until:
            continue
        setattr(row, field, value)
        if row.effective_from == amendment.effective_from:
            row.amendment_id = amendment.id
    session.flush()


def amendments(session: Session, engagement_id: int) -> list[Amendment]:
    return list(
        session.scalars(
            select(Amendment)
            .where(Amendment.engagement_id == engagement_id)
            .order_by(Amendment.created_at.desc(), Amendment.id.desc())
        )
    )


# --- reviews -------------------------------------------------------------------------------


def write_review(
    session: Session, *, actor: Actor, engagement_id: int, rating, comment: str, today: date
) -> PerformanceReview:
    """At the end, the hiring manager rates the freelancer (1-5) once per engagement."""
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    terms = terms_on(session, engagement.id, today)
    if actor.user_id != terms.hiring_manager_user_id and not actor.can("organization.manage"):
        raise NotAllowed("The engagement's hiring manager writes the review.")
    if engagement.state != "ended" and engagement.notice_given_at is None:
        raise RuleViolation("Reviews are written when the engagement is ending or has ended.")
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise InvalidInput("Rate from 1 to 5.", errors={"rating": ["From 1 to 5."]})
    review = add_unique(
        session,
        PerformanceReview(
            org_id=actor.org_id,
            engagement_id=engagement.id,
            freelancer_id=engagement.freelancer_id,
            rating=rating,
            comment=(comment or "").strip()[:2000],
            reviewer_user_id=actor.user_id,
        ),
        existing=lambda: session.scalar(
            select(PerformanceReview.id).where(PerformanceReview.engagement_id == engagement.id)
        ),
        detail="This engagement has already been reviewed.",
    )
    audit.record(
        session,
        actor,
        "performance_review.written",
        review,
        after={"engagement_id": engagement.id, "rating": rating},
    )
    return review


# --- inviting the freelancer ---------------------------------------------------------------


def invite_freelancer(
    session: Session,
    *,
    actor: Actor,
    engagement_id: int,
    email: str,
    allow_other_email: bool = False,
):
    """Procurement invites the freelancer to an approved engagement (a single-use link).

    Redeeming it through the organization's freelancer sign-in links the identity to a
    freelancer profile and moves the engagement to onboarding.
    """
    from fms.identity.sso import invitations

    require(actor, "engagements.manage")
    engagement = get_engagement(session, actor=actor, engagement_id=engagement_id)
    if engagement.state != "approved":
        raise RuleViolation("Invite the freelancer once the engagement is approved.")
    invitation, token = invitations.create_invitation(
        session,
        actor=actor,
        email=email,
        roles=["freelancer"],
        allow_other_email=allow_other_email,
        subject_type="engagement",
        subject_id=engagement.id,
    )
    audit.record(
        session,
        actor,
        "engagement.freelancer_invited",
        engagement,
        after={"invitation_id": invitation.id, "email": invitation.email},
    )
    return invitation, token


def onboard_from_invitation(
    session: Session,
    *,
    org_id: int,
    engagement_id: int,
    user_id: int,
    invited_email: str | None = None,
) -> Engagement | None:
    """The invited freelancer signed in: link (or create) their profile, start onboarding."""
    from fms.identity.models import Organization, User
    from fms.tenancy import scope_session, session_org_id

    previous = session_org_id(session)
    scope_session(session, org_id)
    try:
        engagement = session.scalar(select(Engagement).where(Engagement.id == engagement_id))
        if engagement is None or engagement.state != "approved":
            return engagement  # cancelled meanwhile, or already onboarding: nothing to do
        user = session.get(User, user_id)
        profile = session.scalar(select(Freelancer).where(Freelancer.user_id == user_id))
        if profile is None:
            # the address the IdP verified; a profile already linked to someone else stays theirs
            profile = session.scalar(select(Freelancer).where(Freelancer.email == user.email))
            if profile is not None and profile.user_id not in (None, user_id):
                audit.record(
                    session,
                    Actor(user_id=user_id, org_id=org_id),
                    "engagement.onboarding_blocked",
                    engagement,
                    after={"reason": "profile belongs to another account"},
                )
                return engagement
        actor = Actor(user_id=user_id, org_id=org_id, roles=frozenset({"freelancer"}))
        if profile is None:
            org = session.get(Organization, org_id)
            terms = terms_on(session, engagement.id, engagement.start_date)
            from fms.workforce.models import Location

            location = session.scalar(select(Location).where(Location.id == terms.location_id))
            profile = Freelancer(
                org_id=org_id,
                user_id=user_id,
                legal_name=user.name,
                display_name=user.name,
                email=user.email,
                country=location.country if location else "DE",
                timezone=org.timezone,
                currency=engagement.currency,
            )
            session.add(profile)
            session.flush()
            audit.record(
                session,
                actor,
                "freelancer.created",
                profile,
                after={"email": user.email, "via": "invitation"},
            )
        elif profile.user_id is None:
            profile.user_id = user_id
        engagement.freelancer_id = profile.id
        if _overlaps(session, engagement):
            # leave it approved: procurement sees why on the engagement and its audit trail
            engagement.freelancer_id = None
            audit.record(
                session,
                actor,
                "engagement.onboarding_blocked",
                engagement,
                after={"freelancer_id": profile.id, "reason": "overlapping booking"},
            )
            return engagement
        _move(
            session,
            engagement,
            "onboarding",
            actor,
            values={"freelancer_id": profile.id},
            after={"freelancer_id": profile.id, "via": "invitation"},
        )
        _add_provided_steps(session, engagement)
        return engagement
    finally:
        scope_session(session, previous)


def _on_invitation_redeemed(invitation, *, user_id, **_):
    if invitation.subject_type != "engagement" or invitation.subject_id is None:
        return
    from sqlalchemy.orm import object_session

    onboard_from_invitation(
        object_session(invitation),
        org_id=invitation.org_id,
        engagement_id=invitation.subject_id,
        user_id=user_id,
    )


def _connect_signals() -> None:
    # identity announces redemptions; workforce listens (identity never imports workforce)
    from fms.identity.sso.invitations import invitation_redeemed

    invitation_redeemed.connect(_on_invitation_redeemed)


_connect_signals()
