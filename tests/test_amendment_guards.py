"""A rate change never reaches back over time already put before a reviewer.

The rule (DESIGN.md money rules; issue "Timesheets": approved records never change, a
correction is an adjustment): time submitted or approved was priced and reviewed at the rate
of its day, so a rate amendment takes effect after the last such day — checked when it is
proposed and again at its last approval (time may have been submitted meanwhile).
"""

import pytest

from fms.errors import InvalidInput, RuleViolation
from fms.timesheets import services as ts
from fms.workforce import engagements as workforce


def _propose_rate(world, effective_from, rate="120"):
    return workforce.request_amendment(
        world.session,
        actor=world.procurement,
        engagement_id=world.engagement.id,
        kind="rate_change",
        effective_from=effective_from,
        reason="Market rate",
        new_rate=rate,
    )


def test_a_rate_change_cannot_reach_back_over_approved_time(session, world):
    sheet = world.fill(minutes=(480, 480))  # Mon 2 and Tue 3 March
    world.submit(sheet)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    with pytest.raises(InvalidInput) as refused:
        _propose_rate(world, "2026-03-03")
    [message] = refused.value.errors["effective_from"]
    assert "2026-03-03" in message and "2026-03-04" in message and "adjustment" in message
    # the day after the last recorded day is fine
    assert _propose_rate(world, "2026-03-04").state == "pending"


def test_submitted_time_counts_too_but_a_draft_does_not(session, world):
    draft = world.fill(minutes=(480,))
    assert _propose_rate(world, "2026-03-02").state == "pending"  # a draft is not recorded
    world.submit(draft)
    with pytest.raises(InvalidInput):
        _propose_rate(world, "2026-03-02", rate="130")


def test_time_submitted_after_the_proposal_stops_its_last_approval(session, world):
    amendment = _propose_rate(world, "2026-03-02")
    world.submit(world.fill(minutes=(480,)))
    with pytest.raises(RuleViolation, match="already submitted or approved"):
        workforce.decide_amendment(
            session, actor=world.procurement2, amendment_id=amendment.id, approve=True
        )
    assert amendment.state == "pending"


def test_other_changes_may_start_on_recorded_days(session, world):
    world.submit(world.fill(minutes=(480,)))
    increase = workforce.request_amendment(
        session,
        actor=world.procurement,
        engagement_id=world.engagement.id,
        kind="budget_increase",
        effective_from="2026-03-02",
        reason="More work",
        new_budget_cap="999999",
    )
    assert increase.state == "pending"


def test_time_rounding_is_fixed_once_time_is_recorded(session, world):
    """Rounding prices the billable minutes of approved weeks: changing it afterwards would
    re-price them, so it is set before time is submitted and then refused."""
    from fms.timesheets import pricing

    ts.set_time_rounding(
        session, actor=world.procurement, engagement_id=world.engagement.id, mode="up_15"
    )
    sheet = world.fill(minutes=(50,))  # 50 min, billed as 60 under up_15
    ts.set_time_rounding(  # a draft is not recorded time yet
        session, actor=world.procurement, engagement_id=world.engagement.id, mode="up_15"
    )
    world.submit(sheet)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    with pytest.raises(RuleViolation, match="can no longer change"):
        ts.set_time_rounding(
            session, actor=world.procurement, engagement_id=world.engagement.id, mode="none"
        )
    [item] = pricing.sheet_items(session, [sheet.id])[sheet.id]
    assert item.minutes == 60
