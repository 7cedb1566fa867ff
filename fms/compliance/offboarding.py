"""Offboarding: the checklist an ending engagement gets from the organization's policy.

The checklist opens when the engagement starts to end, so that the handover, the return of
equipment and the final timesheet happen before the last day: when either side gives notice
(Workforce announces it through its ending listeners; workforce never imports compliance),
when the daily sweep finds the planned last day OFFBOARDING_LEAD_DAYS away, or at the
latest when Workforce ends the engagement (announced too). Opening twice adds nothing.

Each item names the party that ticks it (rules.OFFBOARDING_PARTIES): the engagement's
hiring manager (or their stand-in that day), the freelancer themselves, or a compliance
officer. Nobody ticks another party's item; every tick is audited. The "documents" item
says what the organization's retention setting says (kept or deleted); when compliance ticks
it under "delete", the freelancer's uploaded documents lose their bytes (documents.erase_departed:
the records stay; nothing goes while another engagement of theirs still needs them). The
end-of-engagement review stays Workforce's (`workforce.engagements.write_review`).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.compliance import documents, rules
from fms.compliance.models import OffboardingPolicyItem, OffboardingStep
from fms.compliance.services import org_today, require_officer, settings
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.records import add_unique
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.workforce.models import Engagement, Freelancer

# an engagement's offboarding opens once it is ending: notice given, or ended
ENDING_EVENTS = ("notice_given", "ended")
# ... or when its planned last day is this close (the sweep opens it)
OFFBOARDING_LEAD_DAYS = 14
MAX_TITLE = 200


# --- the policy ----------------------------------------------------------------------------


def policy(session: Session) -> list[rules.OffboardingItem]:
    """The organization's offboarding items in order (the default policy until it sets its
    own), the documents item worded by the retention setting."""
    rows = session.execute(
        select(OffboardingPolicyItem.key, OffboardingPolicyItem.title, OffboardingPolicyItem.party)
        .where(OffboardingPolicyItem.is_active.is_(True))
        .order_by(OffboardingPolicyItem.position, OffboardingPolicyItem.id)
    ).all()
    return rules.offboarding_items(
        [tuple(r) for r in rows], retention=settings(session).document_retention or "keep"
    )


def set_offboarding_item(
    session: Session,
    *,
    actor: Actor,
    key: str,
    title: str,
    party: str,
    position=None,
    is_active: bool = True,
) -> OffboardingPolicyItem:
    """A compliance officer adds or changes an item of the offboarding policy: what is done
    and which party ticks it. Setting the first item replaces the default policy, so an
    organization that sets its own lists every item it wants. Checklists already open keep
    the items they opened with."""
    require_officer(actor)
    key = (key or "").strip()
    title = " ".join((title or "").split())
    errors: dict[str, list[str]] = {}
    if not rules.OFFBOARDING_KEY.match(key):
        errors["key"] = ["Lower-case letters, digits and _ (at most 30), starting with a letter."]
    if not title or len(title) > MAX_TITLE:
        errors["title"] = [f"What is done, at most {MAX_TITLE} characters."]
    if party not in rules.OFFBOARDING_PARTIES:
        errors["party"] = ["The hiring manager, the freelancer or compliance."]
    pos = None
    if position not in (None, ""):
        try:
            pos = int(position)
            if not 1 <= pos <= 1000:
                raise ValueError
        except (TypeError, ValueError):
            errors["position"] = ["From 1 to 1000."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    row = session.scalar(select(OffboardingPolicyItem).where(OffboardingPolicyItem.key == key))
    values = {"title": title, "party": party, "is_active": bool(is_active)}
    if row is None:
        last = session.scalars(select(OffboardingPolicyItem.position)).all()
        row = add_unique(
            session,
            OffboardingPolicyItem(
                org_id=actor.org_id, key=key, position=pos or max(last, default=0) + 1, **values
            ),
            existing=lambda: session.scalar(
                select(OffboardingPolicyItem.id).where(OffboardingPolicyItem.key == key)
            ),
            detail="Someone added this offboarding item a moment ago; reload and try again.",
        )
        before = None
    else:
        before = {k: getattr(row, k) for k in (*values, "position")}
        for k, v in values.items():
            setattr(row, k, v)
        if pos is not None:
            row.position = pos
        session.flush()
    audit.record(
        session,
        actor,
        "offboarding_policy_item.set",
        row,
        before=before,
        after={"key": key, "position": row.position, **values},
    )
    return row


# --- the checklist -------------------------------------------------------------------------


def steps_of(session: Session, engagement_id: int) -> list[OffboardingStep]:
    """An engagement's offboarding checklist in order (empty until it opens)."""
    return list(
        session.scalars(
            select(OffboardingStep)
            .where(OffboardingStep.engagement_id == engagement_id)
            .order_by(OffboardingStep.position, OffboardingStep.id)
        )
    )


def is_ending(engagement: Engagement, today: date) -> bool:
    """Ended, or active with notice given or its last day within OFFBOARDING_LEAD_DAYS."""
    return engagement.state == "ended" or (
        engagement.state == "active"
        and (
            engagement.notice_given_at is not None
            or engagement.end_date <= today + timedelta(days=OFFBOARDING_LEAD_DAYS)
        )
    )


def open_offboarding(
    session: Session, *, actor: Actor, engagement: Engagement, today: date | None = None
) -> list:
    """Open the engagement's offboarding checklist from the policy, once: an engagement
    that is ending (`is_ending`) gets one step per policy item (audited on the engagement);
    opening it again, or by a concurrent transaction, adds nothing."""
    if not is_ending(engagement, today or org_today(session, engagement.org_id)):
        raise RuleViolation(
            "Offboarding opens when notice is given, when the last day is "
            f"{OFFBOARDING_LEAD_DAYS} days away, or when the engagement ends."
        )
    existing = steps_of(session, engagement.id)
    if existing:
        return existing
    items = policy(session)
    try:
        with session.begin_nested():
            session.add_all(
                OffboardingStep(
                    org_id=engagement.org_id,
                    engagement_id=engagement.id,
                    key=item.key,
                    title=item.title,
                    party=item.party,
                    position=item.position,
                )
                for item in items
            )
            session.flush()
    except IntegrityError:  # a concurrent transaction opened it first
        return steps_of(session, engagement.id)
    audit.record(
        session,
        actor,
        "offboarding.opened",
        engagement,
        after={"items": [f"{i.key}:{i.party}" for i in items]},
    )
    return steps_of(session, engagement.id)


def open_due(session: Session, *, actor: Actor, engagements: list, today: date) -> int:
    """The sweep's part: open the checklist of every active engagement whose last day is
    OFFBOARDING_LEAD_DAYS away or closer and has none yet, in a fixed number of statements
    (one INSERT ... ON CONFLICT DO NOTHING for all, one batch of audit entries). How many
    opened now."""
    due = [e for e in engagements if e.state == "active" and is_ending(e, today)]
    if not due:
        return 0
    have = set(
        session.scalars(
            select(OffboardingStep.engagement_id)
            .where(OffboardingStep.engagement_id.in_([e.id for e in due]))
            .distinct()
        )
    )
    todo = [e for e in due if e.id not in have]
    if not todo:
        return 0
    items = policy(session)
    now = utcnow()
    rows = [
        {
            "org_id": e.org_id,
            "engagement_id": e.id,
            "key": item.key,
            "title": item.title,
            "party": item.party,
            "position": item.position,
            "opened_at": now,
        }
        for e in todo
        for item in items
    ]
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    opened = set(
        session.scalars(
            insert(OffboardingStep)
            .on_conflict_do_nothing(index_elements=["engagement_id", "key"])
            .returning(OffboardingStep.engagement_id)
            .execution_options(insertmanyvalues_page_size=5000),
            rows,
        )
    )
    summary = [f"{i.key}:{i.party}" for i in items]
    audit.record_many(
        session,
        actor,
        [
            audit.Change(
                action="offboarding.opened",
                entity_type="engagement",
                entity_id=engagement_id,
                after={"items": summary},
            )
            for engagement_id in sorted(opened)
        ],
    )
    return len(opened)


def on_engagement_ending(session: Session, engagement: Engagement, *, actor, event: str) -> None:
    """Workforce's ending listener: notice given, or the engagement ended."""
    if event in ENDING_EVENTS:
        open_offboarding(session, actor=actor, engagement=engagement)


def party_of(session: Session, actor: Actor, engagement: Engagement, *, today: date) -> set[str]:
    """The parties the actor ticks for on this engagement today: the freelancer themselves;
    its hiring manager (on the last day once it has ended) or their stand-in that day; a
    compliance officer."""
    from fms.workforce import queries as workforce_queries
    from fms.workforce.engagements import terms_on

    parties: set[str] = set()
    if actor.user_id is None:
        return parties
    owner = session.scalar(
        select(Freelancer.user_id).where(Freelancer.id == engagement.freelancer_id)
    )
    if owner is not None and owner == actor.user_id:
        parties.add("freelancer")
    day = min(today, engagement.end_date)
    terms = terms_on(session, engagement.id, day)
    if terms is not None and (actor.can("engagements.end") or actor.can("engagements.manage")):
        manager = terms.hiring_manager_user_id
        if manager == actor.user_id or workforce_queries.stands_in_for(
            session, actor.user_id, manager, day
        ):
            parties.add("hiring_manager")
    if actor.can("compliance.manage"):
        parties.add("compliance")
    return parties


def checklist(session: Session, *, actor: Actor, engagement_id) -> list[OffboardingStep]:
    """The offboarding checklist, for staff who read engagements and the freelancer
    themselves (after the last day too); anyone else, or another organization's id:
    NotFound."""
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    if not actor.can("engagements.read") and "freelancer" not in party_of(
        session, actor, engagement, today=org_today(session, engagement.org_id)
    ):
        raise NotFound("No such engagement.")
    return steps_of(session, engagement.id)


def complete_offboarding_step(session: Session, *, actor: Actor, step_id) -> OffboardingStep:
    """Tick one offboarding item: only its party may (the freelancer their items, the
    hiring manager or their stand-in theirs, compliance its own); each is ticked once and
    audited. The other party gets NotAllowed; someone who cannot see the engagement,
    NotFound."""
    step = get_in_org(session, OffboardingStep, step_id, what="offboarding item")
    engagement = get_in_org(session, Engagement, step.engagement_id, what="engagement")
    parties = party_of(session, actor, engagement, today=org_today(session, engagement.org_id))
    if not parties and not actor.can("engagements.read"):
        raise NotFound("No such offboarding item.")
    if step.party not in parties:
        raise NotAllowed(
            f"{rules.OFFBOARDING_PARTIES[step.party]} ticks “{step.title}”, nobody else."
        )
    changed = session.execute(
        update(OffboardingStep)
        .where(OffboardingStep.id == step.id, OffboardingStep.done_at.is_(None))
        .values(done_at=utcnow(), done_by_user_id=actor.user_id)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed != 1:
        raise RuleViolation("This item is already done.")
    after = {"engagement_id": engagement.id, "key": step.key, "party": step.party}
    if step.key == "documents" and settings(session).document_retention == "delete":
        erased, still_needed_by = documents.erase_departed(
            session, freelancer_id=engagement.freelancer_id, leaving_engagement_id=engagement.id
        )
        after |= {"documents_erased": erased, "kept_for_engagement_id": still_needed_by}
        step.retention_note = (
            f"The documents stay: engagement {still_needed_by} of the same freelancer still "
            "needs them."
            if still_needed_by
            else f"{erased} uploaded document file(s) deleted; their records stay."
        )
    audit.record(session, actor, "offboarding_step.completed", step, after=after)
    return step


def offboarding_done(session: Session, engagement_id: int) -> bool:
    """Every item of an open checklist is ticked (False while it is not open)."""
    steps = steps_of(session, engagement_id)
    return bool(steps) and all(s.done_at is not None for s in steps)
