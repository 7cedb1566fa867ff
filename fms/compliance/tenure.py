"""Tenure limits: how long a freelancer may work for the organization without a break,
per organization and optionally per country, and overrides that let one engagement run
past the limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.compliance import rules
from fms.compliance.models import TenureOverride, TenureRule
from fms.compliance.services import require_officer
from fms.errors import InvalidInput, NotFound
from fms.identity.actor import Actor
from fms.input import parse_date, parse_int
from fms.records import add_unique
from fms.tenancy import get_in_org
from fms.workforce.models import Engagement, Freelancer

# engagements that count towards tenure: worked, booked, or ended after working
COUNTED_STATES = ("approved", "onboarding", "active", "ended")
MAX_TENURE_MONTHS = 120
MAX_REASON = 2000


def set_rule(
    session: Session, *, actor: Actor, max_months, break_days=90, country: str = ""
) -> TenureRule:
    """Set the maximum continuous tenure (months) for freelancers of a country, or of every
    country when empty, and the break (days without an engagement) that restarts it."""
    require_officer(actor)
    country = (country or "").strip().upper()
    errors: dict[str, list[str]] = {}
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = ["A two-letter country code, or empty for all."]
    try:
        months = parse_int(max_months)
        if not 1 <= months <= MAX_TENURE_MONTHS:
            raise ValueError
    except ValueError:
        errors["max_months"] = [f"From 1 to {MAX_TENURE_MONTHS} months."]
    try:
        gap = parse_int(break_days)
        if not 1 <= gap <= 3660:
            raise ValueError
    except ValueError:
        errors["break_days"] = ["From 1 to 3660 days."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    rule = session.scalar(select(TenureRule).where(TenureRule.country == country))
    before = None
    if rule is None:
        rule = add_unique(
            session,
            TenureRule(org_id=actor.org_id, country=country, max_months=months, break_days=gap),
            existing=lambda: session.scalar(
                select(TenureRule.id).where(TenureRule.country == country)
            ),
            detail="Someone set this tenure rule a moment ago; reload and try again.",
        )
    else:
        before = {"max_months": rule.max_months, "break_days": rule.break_days}
        if before == {"max_months": months, "break_days": gap}:
            return rule  # saved unchanged: nothing to audit
        rule.max_months, rule.break_days = months, gap
        session.flush()
    audit.record(
        session,
        actor,
        "tenure_rule.set",
        rule,
        before=before,
        after={"country": country, "max_months": months, "break_days": gap},
    )
    return rule


def remove_rule(session: Session, *, actor: Actor, tenure_rule_id: int) -> TenureRule:
    """Lift a tenure limit: freelancers of its country fall back to the organization-wide
    rule (or none). Overrides already granted stay on record."""
    require_officer(actor)
    rule = get_in_org(session, TenureRule, tenure_rule_id, what="tenure rule")
    gone = session.execute(
        delete(TenureRule)
        .where(TenureRule.id == rule.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not gone:  # removed by someone else a moment ago
        raise NotFound("No such tenure rule.")
    audit.record(
        session,
        actor,
        "tenure_rule.removed",
        rule,
        before={
            "country": rule.country,
            "max_months": rule.max_months,
            "break_days": rule.break_days,
        },
    )
    return rule


def rule_for(session: Session, country: str) -> TenureRule | None:
    """The country's rule, or the organization-wide one."""
    rules_by_country = {r.country: r for r in session.scalars(select(TenureRule))}
    return rules_by_country.get(country.upper()) or rules_by_country.get("")


@dataclass(frozen=True)
class Tenure:
    run_start: date
    limit: date  # the last day the freelancer may work in this run
    max_months: int


def tenure_of(session: Session, engagement: Engagement) -> Tenure | None:
    """The continuous run the engagement belongs to and the last day it may reach (None when
    no rule applies)."""
    if engagement.freelancer_id is None:
        return None
    freelancer = session.scalar(select(Freelancer).where(Freelancer.id == engagement.freelancer_id))
    rule = rule_for(session, freelancer.country)
    if rule is None:
        return None
    spans = [
        (start, end)
        for start, end in session.execute(
            select(Engagement.start_date, Engagement.end_date).where(
                Engagement.freelancer_id == freelancer.id,
                Engagement.state.in_(COUNTED_STATES),
            )
        )
    ]
    return tenure_from(rule, spans, engagement)


def tenure_from(rule: TenureRule, spans: list[tuple[date, date]], engagement) -> Tenure:
    """The engagement's run and limit from the freelancer's counted engagements' spans."""
    spans = [*spans, (engagement.start_date, engagement.end_date)]
    start = rules.continuous_start(spans, engagement.start_date, rule.break_days)
    return Tenure(start, rules.tenure_limit(start, rule.max_months), rule.max_months)


def override_until(session: Session, engagement_id: int) -> date | None:
    """The latest day an override lets the engagement run to, if any."""
    rows = session.scalars(
        select(TenureOverride.allowed_until).where(TenureOverride.engagement_id == engagement_id)
    ).all()
    return max(rows) if rows else None


def grant_override(
    session: Session, *, actor: Actor, engagement_id, allowed_until, reason: str
) -> TenureOverride:
    """A compliance officer lets an engagement be extended past the tenure limit, up to a
    date, and says why."""
    require_officer(actor)
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    errors: dict[str, list[str]] = {}
    try:
        until = parse_date(allowed_until)
    except ValueError as exc:
        errors["allowed_until"] = [str(exc)]
        until = None
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        errors["reason"] = [f"Say why (at most {MAX_REASON} characters)."]
    if until is not None and until <= engagement.end_date:
        errors["allowed_until"] = [f"After the engagement's end, {engagement.end_date}."]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    override = TenureOverride(
        org_id=engagement.org_id,
        engagement_id=engagement.id,
        allowed_until=until,
        reason=reason,
        created_by_user_id=actor.user_id,
    )
    session.add(override)
    session.flush()
    audit.record(
        session,
        actor,
        "tenure_override.granted",
        override,
        after={"engagement_id": engagement.id, "allowed_until": until, "reason": reason},
    )
    return override


def extension_past_limit(session: Session, engagement: Engagement, new_end: date) -> str | None:
    """An extension guard: an engagement may not be extended past the freelancer's tenure
    limit without a compliance override reaching the new end."""
    tenure = tenure_of(session, engagement)
    if tenure is None or new_end <= tenure.limit:
        return None
    allowed = override_until(session, engagement.id)
    if allowed is not None and new_end <= allowed:
        return None
    return (
        f"The freelancer reaches the {tenure.max_months}-month tenure limit on "
        f"{tenure.limit.isoformat()}; an extension past it needs a compliance override."
    )


def activation_past_limit(session: Session, engagement: Engagement) -> list[str]:
    """An activation guard: an engagement that would run past the freelancer's tenure limit
    (booked straight after earlier work, say) becomes active only with a compliance
    override reaching its end."""
    problem = extension_past_limit(session, engagement, engagement.end_date)
    return [problem.replace("an extension past it", "running past it")] if problem else []
