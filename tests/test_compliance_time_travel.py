"""Expiry and tenure as the calendar really moves: the clock is travelled (time-machine), the
daily command runs without a date, and what people see follows — warnings before the
expiry date, the document expired and the engagement non-compliant the day after, and under
the block setting the freelancer's week refused; tenure warnings 90 days before the limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import time_machine
from sqlalchemy import select

from fms.compliance import services, tenure
from fms.compliance.models import ComplianceDocument, EngagementCompliance
from fms.extensions import db
from fms.identity.models import User
from fms.notifications.models import Notification
from fms.tenancy import scope_session
from fms.timesheets import services as ts
from fms.workforce import engagements as workforce
from tests.test_compliance import complete_template_steps


def _at(day: date):
    # 09:00 UTC is the same calendar day in the world's organization
    return time_machine.travel(datetime(day.year, day.month, day.day, 9, tzinfo=UTC), tick=False)


def _sweep(app, org_id):
    result = app.test_cli_runner().invoke(args=["fms", "compliance", "sweep"])
    assert result.exit_code == 0, result.output
    scope_session(db.session, org_id)  # the command walked every organization
    return result.output


def _told(world, kind):
    world.session.expire_all()
    return sorted(
        world.session.scalars(select(Notification.user_id).where(Notification.kind == kind))
    )


def test_a_document_expires_as_the_days_pass_and_blocks_the_week(cworld, app, sign_in):
    world = cworld
    services.update_settings(world.session, actor=world.officer, non_compliance_mode="block")
    world.policy("tax_form", validity="months", validity_months=12)
    world.onboard()
    complete_template_steps(world)
    document = world.approve(world.upload("w9"))
    workforce.activate(world.session, actor=world.procurement, engagement_id=world.engagement.id)
    world.engagement.end_date = document.expires_on + timedelta(days=60)
    world.session.commit()
    expires = document.expires_on
    people = sorted([world.me.user_id, world.manager.user_id])

    with _at(expires - timedelta(days=31)):
        _sweep(app, world.org.id)
    assert _told(world, "compliance.document_expiring") == []
    with _at(expires - timedelta(days=30)):
        _sweep(app, world.org.id)
        _sweep(app, world.org.id)  # run twice: told once
    assert _told(world, "compliance.document_expiring") == people
    with _at(expires):
        _sweep(app, world.org.id)
    world.session.expire_all()
    assert world.session.get(ComplianceDocument, document.id).state == "approved"

    day_after = expires + timedelta(days=1)
    week = day_after - timedelta(days=day_after.weekday())
    with _at(day_after):
        _sweep(app, world.org.id)
        world.session.expire_all()
        assert world.session.get(ComplianceDocument, document.id).state == "expired"
        status = world.session.scalar(select(EngagementCompliance))
        assert status.state == "non_compliant"
        assert _told(world, "compliance.non_compliant") == people
        sheet = ts.open_timesheet(
            world.session, actor=world.me, engagement_id=world.engagement.id, week_start=week
        )
        ts.save_entries(
            world.session,
            actor=world.me,
            timesheet_id=sheet.id,
            entries=[{"work_date": week.isoformat(), "minutes": 480}],
        )
        world.session.commit()
        client = app.test_client()
        sign_in(client, world.session.get(User, world.me.user_id), world.org)
        refused = client.post(f"/api/v1/timesheets/{sheet.id}/submit", json={})
        assert refused.status_code == 409, refused.get_data()[:300]
        assert "not compliant" in refused.get_json()["detail"]
        mine = client.get(f"/compliance/my/{world.engagement.id}").get_data(as_text=True)
        assert "Expired" in mine


def test_tenure_warnings_arrive_as_the_limit_nears(cworld, app):
    world = cworld
    tenure.set_rule(world.session, actor=world.officer, max_months=6)
    world.onboard()
    complete_template_steps(world)
    workforce.activate(world.session, actor=world.procurement, engagement_id=world.engagement.id)
    world.session.commit()
    limit = tenure.tenure_of(world.session, world.engagement).limit
    people = sorted([world.me.user_id, world.manager.user_id])
    told = []
    for days_left in (91, 90, 89, 60, 30):
        with _at(limit - timedelta(days=days_left)):
            _sweep(app, world.org.id)
        told.append(len(_told(world, "compliance.tenure_warning")))
    assert told == [0, 2, 2, 4, 6]
    assert sorted(set(_told(world, "compliance.tenure_warning"))) == people
