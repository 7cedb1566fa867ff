"""`flask fms seed-scale`: a small load (20 freelancers x 3 weeks) on SQLite (executemany)
and on PostgreSQL (COPY), read back through the app's own queries, pricing and services."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from fms.audit import services as audit
from fms.identity.actor import Actor
from fms.identity.models import Organization, User
from fms.tenancy import scope_session
from fms.timesheets import pricing, queries, scale
from fms.timesheets import services as ts
from fms.timesheets.models import Milestone, Timesheet, TimesheetEntry
from fms.workforce.models import Amendment, Engagement, EngagementTerms, Freelancer

SLUG = "scale-test"


def _seed(app, *extra):
    args = ["fms", "seed-scale", "--freelancers", "20", "--weeks", "3", "--org", SLUG, *extra]
    return app.test_cli_runner().invoke(args=args)


def _reviewer(session, email_prefix: str) -> Actor:
    org_id = session.scalar(select(Organization.id).where(Organization.slug == SLUG))
    scope_session(session, org_id)
    user_id = session.scalar(select(User.id).where(User.email.startswith(email_prefix)))
    return Actor(user_id=user_id, org_id=org_id, roles=frozenset({"hiring_manager"}))


def test_seed_scale_builds_a_tenant_the_app_reads_and_refuses_a_second_run(app, session):
    result = _seed(app)
    assert result.exit_code == 0, result.output
    assert "timesheets:" in result.output and "committed" in result.output
    manager = _reviewer(session, "queue.manager@")
    # the dashboards read the seeded tenant's spend from its roll-up (COPY passes no flush)
    from fms.reports.models import SpendRollupCell, SpendRollupState

    assert session.get(SpendRollupState, manager.org_id) is not None
    assert session.scalar(select(func.count(SpendRollupCell.org_id))) > 0

    assert session.scalar(select(func.count(Freelancer.id))) == 20
    assert len(set(session.scalars(select(Freelancer.country)))) == 20  # one each: 60 in all
    assert session.scalar(select(func.count(Timesheet.id))) == 20 * 3
    assert session.scalar(select(func.count(TimesheetEntry.id))) == 20 * 3 * 5
    states = dict(
        session.execute(select(Timesheet.state, func.count()).group_by(Timesheet.state)).all()
    )
    assert set(states) == {"draft", "submitted", "approved", "rejected"}, states
    rejected = session.scalars(select(Timesheet).where(Timesheet.state == "rejected")).all()
    assert all(s.decision_comment and s.decided_by_user_id for s in rejected)
    # amendment-approved terms rows: rate changes and a manager transfer
    kinds = set(session.scalars(select(Amendment.kind).where(Amendment.state == "approved")))
    assert kinds == {"rate_change", "manager_transfer"}
    assert session.scalar(
        select(func.count(EngagementTerms.id)).where(EngagementTerms.amendment_id.is_not(None))
    ) == session.scalar(select(func.count(Amendment.id)))
    assert {"hourly", "daily", "fixed"} <= set(session.scalars(select(Engagement.kind)))
    states = set(session.scalars(select(Milestone.state)))
    assert states == {"accepted", "delivered", "draft"}  # one fixed-fee engagement

    # the manager's queue holds exactly the sheets waiting for them (20 x 3 / 4 = 15)
    queue = queries.review_queue(session, actor=manager, today=date.today())  # noqa: DTZ011
    assert len(queue) == 15
    assert all(row.sheet.state == "submitted" and row.amounts for row in queue)
    assert all(sum(row.amounts.values()) > 0 for row in queue)
    # every approved sheet prices through the money rules
    approved = session.scalars(select(Timesheet.id).where(Timesheet.state == "approved")).all()
    items = pricing.sheet_items(session, approved)
    assert all(items[i] and all(item.amount > 0 for item in items[i]) for i in approved)

    # the services take the rows as they are: the manager approves the whole queue at once
    done = ts.bulk_approve(session, actor=manager, timesheet_ids=[r.sheet.id for r in queue])
    assert len(done.approved) == 15 and not done.changed_meanwhile and not done.not_allowed
    # and rows the app inserts later take ids after the loaded block
    biggest = session.scalar(select(func.max(Freelancer.id)))
    later = Freelancer(
        legal_name="Late Joiner",
        display_name="Late Joiner",
        email="late@scale-test.example",
        country="DE",
        timezone="Europe/Berlin",
        currency="EUR",
    )
    session.add(later)
    session.flush()
    assert later.id > biggest

    # the load itself is one entry of an intact audit chain
    assert audit.verify_chain(session, manager.org_id).ok

    again = _seed(app)
    assert again.exit_code != 0 and "already holds" in again.output
    assert session.scalar(select(func.count(Timesheet.id))) == 20 * 3


@pytest.mark.postgres
def test_seed_scale_copies_on_postgresql_and_moves_the_sequences(app, session):
    writer = scale.BulkWriter(session)
    assert writer.copy
    result = _seed(app)
    assert result.exit_code == 0, result.output
    assert "(postgresql)" in result.output
    manager = _reviewer(session, "queue.manager@")
    loaded = session.scalar(select(func.max(Timesheet.id)))
    # a sheet the app itself opens later takes the sequence's next id, after the block
    sheet = Timesheet(
        engagement_id=session.scalar(select(func.min(Engagement.id))),
        freelancer_id=session.scalar(select(func.min(Freelancer.id))),
        week_start=date(2020, 1, 6),
        week_end=date(2020, 1, 12),
        state="draft",
    )
    session.add(sheet)
    session.flush()
    assert sheet.id > loaded
    queue = queries.review_queue(session, actor=manager, today=date.today())  # noqa: DTZ011
    assert len(queue) == 15
