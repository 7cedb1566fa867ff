"""Rate benchmarking: average, median and range of the rates the organization pays, per
skill, level and country (the freelancer's), per currency and unit (hourly or daily).

The rates are those of the terms in effect today of the engagements at work today; a
freelancer counts under each of their skills, at its level. The median is computed in
SQL with window functions (row_number and count over each group, the middle one or two
rows), which PostgreSQL and SQLite both run, so both databases give the same exact figure;
averages and medians are exact (integer sums divided in Decimal). One statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, and_, case, func, select, type_coerce
from sqlalchemy.orm import Session

from fms import money
from fms.identity.permissions import require
from fms.workforce import rules as wf_rules
from fms.workforce.models import Engagement, EngagementTerms, Freelancer, FreelancerSkill, Skill
from fms.workforce.queries import terms_in_effect

_UNITS = Decimal(10) ** money.RATE_SCALE


@dataclass(frozen=True)
class RateBenchmark:
    skill: str
    level: int
    country: str
    currency: str
    unit: str  # "hour" or "day"
    count: int
    average: Decimal
    median: Decimal
    low: Decimal
    high: Decimal


def rate_benchmarks(
    session: Session,
    *,
    actor,
    today: date,
    skill_id: int | None = None,
    country: str | None = None,
    limit: int = 500,
) -> list[RateBenchmark]:
    """Per skill x level x country x currency x unit: how many engagements, and the average,
    median, lowest and highest rate, of the engagements at work today."""
    require(actor, "reports.spend")
    rate = type_coerce(EngagementTerms.rate, BigInteger)
    unit = case((Engagement.kind == "daily", "day"), else_="hour")
    keys = [
        Skill.name.label("skill"),
        FreelancerSkill.level.label("level"),
        Freelancer.country.label("country"),
        Engagement.currency.label("currency"),
        unit.label("unit"),
    ]
    partition = [Skill.id, FreelancerSkill.level, Freelancer.country, Engagement.currency, unit]
    inner = (
        select(
            *keys,
            rate.label("rate"),
            func.row_number().over(partition_by=partition, order_by=rate).label("rn"),
            func.count().over(partition_by=partition).label("n"),
        )
        .select_from(Engagement)
        .join(EngagementTerms, terms_in_effect(today))
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .join(FreelancerSkill, FreelancerSkill.freelancer_id == Freelancer.id)
        .join(Skill, Skill.id == FreelancerSkill.skill_id)
        .where(
            Engagement.org_id == actor.org_id,
            Engagement.state.in_(wf_rules.COUNTED_STATES),
            Engagement.kind != "fixed",
            Engagement.start_date <= today,
            Engagement.end_date >= today,
        )
    )
    if skill_id is not None:
        inner = inner.where(Skill.id == skill_id)
    if country:
        inner = inner.where(Freelancer.country == country)
    inner = inner.subquery("rated")
    middle = and_(inner.c.rn >= (inner.c.n + 1) // 2, inner.c.rn <= (inner.c.n + 2) // 2)
    group = [inner.c.skill, inner.c.level, inner.c.country, inner.c.currency, inner.c.unit]
    rows = session.execute(
        select(
            *group,
            func.count().label("count"),
            func.sum(inner.c.rate).label("total"),
            func.min(inner.c.rate).label("low"),
            func.max(inner.c.rate).label("high"),
            func.sum(case((middle, inner.c.rate), else_=0)).label("middle_sum"),
            func.sum(case((middle, 1), else_=0)).label("middle_n"),
        )
        .group_by(*group)
        .order_by(*group)
        .limit(limit)
    ).all()
    return [
        RateBenchmark(
            skill=row.skill,
            level=int(row.level),
            country=row.country,
            currency=row.currency,
            unit=row.unit,
            count=int(row.count),
            average=_rate(Decimal(int(row.total)) / int(row.count)),
            median=_rate(Decimal(int(row.middle_sum)) / int(row.middle_n)),
            low=_rate(Decimal(int(row.low))),
            high=_rate(Decimal(int(row.high))),
        )
        for row in rows
    ]


def _rate(units: Decimal) -> Decimal:
    """Rate units (10**-6) as a rate shown to the cent."""
    return (units / _UNITS).quantize(Decimal("0.01"))
