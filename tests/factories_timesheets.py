"""A small timesheet world: an organization, a freelancer with an engagement, its manager,
a second manager, a stand-in and procurement; plus sheets built directly for bulk tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from fms.identity.actor import Actor
from fms.tenancy import scope_session
from fms.timesheets import services as ts
from fms.timesheets.models import Timesheet, TimesheetEntry
from fms.workforce import engagements as workforce
from fms.workforce.models import EngagementTerms

MONDAY = date(2026, 3, 2)  # a Monday; weeks start on Monday by default


@dataclass
class World:
    org: object
    engagement: object
    freelancer: object  # the profile
    me: Actor  # the freelancer
    manager: Actor
    manager2: Actor
    stand_in: Actor
    procurement: Actor
    procurement2: Actor
    session: object
    make_engagement: object

    def fill(self, week_start=MONDAY, minutes=(480,), engagement=None, actor=None, **kw):
        """Open the week's sheet and enter minutes from its first day on."""
        engagement = engagement or self.engagement
        sheet = ts.open_timesheet(
            self.session, actor=actor or self.me, engagement_id=engagement.id, week_start=week_start
        )
        entries = [
            {"work_date": (week_start + timedelta(days=i)).isoformat(), "minutes": m, **kw}
            for i, m in enumerate(minutes)
        ]
        ts.save_entries(
            self.session, actor=actor or self.me, timesheet_id=sheet.id, entries=entries
        )
        return sheet

    def submit(self, sheet, actor=None, today=date(2026, 3, 20)):
        return ts.submit_timesheet(
            self.session, actor=actor or self.me, timesheet_id=sheet.id, today=today
        )

    def fixed_engagement(self, budget_cap=None):
        """A fixed-fee engagement of the freelancer, managed by the manager, in 2026."""
        fixed = self.make_engagement(
            self.org,
            freelancer=self.freelancer,
            kind="fixed",
            rate="1",
            manager_id=self.manager.user_id,
        )
        if budget_cap is not None:
            self.set_terms(engagement=fixed, budget_cap=budget_cap)
        return fixed

    def set_terms(self, engagement=None, **values):
        engagement = engagement or self.engagement
        for terms in workforce.terms_history(self.session, engagement.id):
            for key, value in values.items():
                setattr(terms, key, value)
        self.session.flush()

    def amend(self, kind, effective_from, engagement=None, **values):
        engagement = engagement or self.engagement
        amendment = workforce.request_amendment(
            self.session,
            actor=self.procurement,
            engagement_id=engagement.id,
            kind=kind,
            effective_from=effective_from,
            reason="Because",
            **values,
        )
        workforce.decide_amendment(
            self.session, actor=self.procurement2, amendment_id=amendment.id, approve=True
        )
        return amendment


@pytest.fixture
def world(session, make_org, make_member, make_user, make_freelancer, make_engagement, actor_of):
    org = make_org()
    scope_session(session, org.id)
    people = {}
    for name, roles in {
        "manager": ("hiring_manager",),
        "manager2": ("hiring_manager",),
        "stand_in": ("hiring_manager",),
        "procurement": ("procurement",),
        "procurement2": ("procurement",),
    }.items():
        people[name] = actor_of(make_member(org, roles=roles))
    user = make_user()
    member = make_member(org, roles=("freelancer",), user=user)
    profile = make_freelancer(org, user_id=user.id)
    engagement = make_engagement(
        org, freelancer=profile, manager_id=people["manager"].user_id, rate="90"
    )
    return World(
        org=org,
        engagement=engagement,
        freelancer=profile,
        me=actor_of(member),
        session=session,
        make_engagement=make_engagement,
        **people,
    )


def delegate(session, world, starts, ends):
    """The world's manager names the stand-in for `starts`..`ends` (inclusive)."""
    from fms.workforce.models import Delegation

    session.add(
        Delegation(
            org_id=world.org.id,
            manager_user_id=world.manager.user_id,
            delegate_user_id=world.stand_in.user_id,
            starts_on=starts,
            ends_on=ends,
            created_by_user_id=world.manager.user_id,
        )
    )
    session.flush()


def add_submitted_sheets(session, world, count, *, engagement=None, minutes=480):
    """`count` submitted sheets (consecutive weeks from 2026-01-05) with one 8-hour day
    each, built as rows (what the services would store), for bulk and query tests."""
    engagement = engagement or world.engagement
    sheets = []
    first = date(2026, 1, 5)
    for week in range(count):
        start = first + timedelta(weeks=week % 50)
        # more than 50 weeks: further engagements of the same freelancer and manager
        if week and week % 50 == 0:
            engagement = world.make_engagement(
                world.org, freelancer=world.freelancer, manager_id=world.manager.user_id
            )
        sheets.append(
            Timesheet(
                org_id=world.org.id,
                engagement_id=engagement.id,
                freelancer_id=world.freelancer.id,
                week_start=start,
                week_end=start + timedelta(days=6),
                state="submitted",
            )
        )
    session.add_all(sheets)
    session.flush()
    session.add_all(
        TimesheetEntry(
            org_id=world.org.id,
            timesheet_id=sheet.id,
            engagement_id=sheet.engagement_id,
            work_date=sheet.week_start,
            minutes=minutes,
        )
        for sheet in sheets
    )
    session.flush()
    return sheets


def terms_rows(session, engagement_id):
    from sqlalchemy import select

    return session.scalars(
        select(EngagementTerms).where(EngagementTerms.engagement_id == engagement_id)
    ).all()
