"""Budget vs actual per engagement, PO and cost centre, with a forecast to the engagement's
end at the burn rate of the last four approved weeks, and the alerts that follow.

- Budget: the engagement's budget cap in the terms in effect today (amendments included);
  a PO's and a cost centre's budget is the sum of the caps of their engagements (there is no
  separate PO or cost-centre budget in FMS), per currency.
- Actual: approved (accrued) spend to date, priced exactly as `fms.reports.spend` prices
  it (the same SQL), in the engagement's currency.
- Burn rate: approved spend with work dates in the four whole weeks before this week,
  divided by four; forecast = actual + burn rate x the weeks left until the end date.
- Alerts: 80 % of the budget consumed (warning), 100 % (over), or a forecast above the
  budget while still under it (forecast over).
Three statements whatever the number of engagements.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms import money
from fms.identity.models import Organization
from fms.identity.permissions import require
from fms.reports import rollup, spend
from fms.workforce import rules as wf_rules
from fms.workforce.models import CostCentre, Engagement, EngagementTerms, Freelancer
from fms.workforce.queries import terms_in_effect

WARNING = Decimal("0.8")
BURN_WEEKS = 4
# an ended engagement stays on the page this long after its end
RECENTLY_ENDED_DAYS = 90


@dataclass
class BudgetLine:
    key: object
    label: str
    currency: str
    budget: Decimal
    actual: Decimal
    burn_per_week: Decimal
    forecast: Decimal
    end_date: date | None = None
    engagements: int = 1
    detail: str = ""

    @cached_property  # read for every sort and alert: computed once per line
    def consumed(self) -> Decimal | None:
        """The share of the budget spent, as a percentage (None without a budget)."""
        if not self.budget:
            return None
        return (self.actual * 100 / self.budget).quantize(Decimal("0.1"))

    @cached_property
    def level(self) -> str:
        """over | warning | forecast_over | ok (exact comparisons)."""
        if self.budget and self.actual > self.budget:
            return "over"
        if self.budget and self.actual >= self.budget * WARNING:
            return "warning"
        if self.budget and self.forecast > self.budget:
            return "forecast_over"
        return "ok"


ALERT_WORDS = {
    "over": "Over budget",
    "warning": "80 % of budget used",
    "forecast_over": "Forecast over budget",
    "ok": "On track",
}


@dataclass
class BudgetReport:
    today: date
    burn_from: date
    burn_to: date
    engagements: list[BudgetLine] = field(default_factory=list)
    purchase_orders: list[BudgetLine] = field(default_factory=list)
    cost_centres: list[BudgetLine] = field(default_factory=list)

    @property
    def alerts(self) -> list[BudgetLine]:
        order = {"over": 0, "warning": 1, "forecast_over": 2}
        flagged = [line for line in self.engagements if line.level in order]
        return sorted(flagged, key=lambda line: (order[line.level], -(line.consumed or 0)))


def _quantize(value: Decimal, currency: str) -> Decimal:
    return money.round_half_up(value, currency)


def budget_report(session: Session, *, actor, today: date, roll_ups: bool = True) -> BudgetReport:
    """Budget, actual, burn rate, forecast and alert level of the engagements running (or
    ended in the last 90 days), and (`roll_ups`) the same rolled up per PO and per cost
    centre (the alerts need only the engagements)."""
    require(actor, "reports.spend")
    spend.without_jit(session)
    org = session.get(Organization, actor.org_id)
    dialect = session.get_bind().dialect.name
    this_week = today - timedelta(days=today.weekday())
    burn_from, burn_to = this_week - timedelta(weeks=BURN_WEEKS), this_week - timedelta(days=1)
    rows = session.execute(
        select(
            Engagement.id,
            Engagement.title,
            Engagement.currency,
            Engagement.po_number,
            Engagement.end_date,
            EngagementTerms.budget_cap,
            EngagementTerms.cost_centre_id,
            CostCentre.name,
            Freelancer.display_name,
        )
        .select_from(Engagement)
        .join(EngagementTerms, terms_in_effect(today))
        .join(CostCentre, CostCentre.id == EngagementTerms.cost_centre_id)
        .outerjoin(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(
            Engagement.org_id == actor.org_id,
            Engagement.state.in_(wf_rules.COUNTED_STATES),
            Engagement.start_date <= today,
            Engagement.end_date >= today - timedelta(days=RECENTLY_ENDED_DAYS),
        )
        .order_by(Engagement.id)
    ).all()
    if not rows:
        return BudgetReport(today, burn_from, burn_to)
    earliest = date(2000, 1, 1)
    actual = _approved_by_engagement(session, org, dialect, earliest, today)
    burn = _approved_by_engagement(session, org, dialect, burn_from, burn_to)
    report = BudgetReport(today, burn_from, burn_to)
    by_po: dict = defaultdict(list)
    by_centre: dict = defaultdict(list)
    for row in rows:
        (eid, title, currency, po, end, cap, centre_id, centre_name, person) = row
        spent = actual.get((eid, currency), Decimal(0))
        per_week = _quantize(burn.get((eid, currency), Decimal(0)) / BURN_WEEKS, currency)
        weeks_left = Decimal(max((end - today).days, 0)) / 7 if end else Decimal(0)
        forecast = _quantize(spent + per_week * weeks_left, currency)
        line = BudgetLine(
            key=eid,
            label=f"{wf_rules.display_number('engagement', eid)} · {title}",
            currency=currency,
            budget=cap or Decimal(0),
            actual=spent,
            burn_per_week=per_week,
            forecast=forecast,
            end_date=end,
            detail=person or "",
        )
        report.engagements.append(line)
        if roll_ups:
            by_po[(po or "", currency)].append(line)
            by_centre[(centre_id, centre_name, currency)].append(line)
    report.purchase_orders = [
        _roll_up(po or "(no PO)", po or None, currency, lines)
        for (po, currency), lines in sorted(by_po.items())
    ]
    report.cost_centres = [
        _roll_up(name, centre_id, currency, lines)
        for (centre_id, name, currency), lines in sorted(
            by_centre.items(), key=lambda kv: kv[0][1:]
        )
    ]
    if not roll_ups:  # the alerts: they order what they flag themselves
        return report
    # most consumed first, everywhere: the page shows the top of each list
    report.engagements.sort(key=lambda line: (-(line.consumed or 0), line.key))
    report.purchase_orders.sort(key=lambda line: (-(line.consumed or 0), line.label))
    report.cost_centres.sort(key=lambda line: (-(line.consumed or 0), line.label))
    return report


def _roll_up(label, key, currency, lines) -> BudgetLine:
    return BudgetLine(
        key=key,
        label=label,
        currency=currency,
        budget=sum((line.budget for line in lines), Decimal(0)),
        actual=sum((line.actual for line in lines), Decimal(0)),
        burn_per_week=sum((line.burn_per_week for line in lines), Decimal(0)),
        forecast=sum((line.forecast for line in lines), Decimal(0)),
        end_date=max((line.end_date for line in lines if line.end_date), default=None),
        engagements=len(lines),
    )


def _approved_by_engagement(session, org, dialect, start: date, end: date) -> dict:
    """(engagement id, currency) -> approved spend with work dates in start..end."""
    query = spend.SpendQuery(
        start=start, end=end, grain="all", group_by=("engagement",), currency="original"
    )
    kept = rollup.kept_lines(session, org.id)
    stmt = spend._approved_statement(org.id, query, org.base_currency, dialect, kept=kept)
    result: dict = {}
    for _period, engagement_id, currency, amount, _minutes, _missing in session.execute(stmt):
        value = spend._amount(amount, currency)
        key = (engagement_id, currency)
        result[key] = result.get(key, Decimal(0)) + value
    return result
