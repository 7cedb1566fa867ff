"""Audit that explains itself: actions in words, links to records, a record's history with
its children, filters (action, who, type, dates), and a CSV export of what they match."""

import csv
import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from fms.audit import hooks
from fms.audit import services as audit
from fms.identity.models import Organization, User
from fms.workforce import rules
from fms.workforce.models import Amendment, ApprovalStep, OnboardingStep
from tests.factories import as_org

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def admin_client(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


@pytest.fixture
def trail(session, org, org_admin, actor_of, make_engagement, make_member, make_user):
    """An engagement with a checklist step, an amendment and its approval step, each with
    an entry; and another engagement's entry that is not part of its history."""
    actor = actor_of(org_admin)
    clerk = make_member(org, roles=("procurement",), user=make_user(name="=Clerk Kent"))
    engagement = make_engagement(org, state="onboarding")
    other = make_engagement(org)
    with as_org(session, org.id):
        step = OnboardingStep(
            org_id=org.id, engagement_id=engagement.id, position=1, title="NDA", kind="sign"
        )
        change = Amendment(
            org_id=org.id,
            engagement_id=engagement.id,
            kind="rate_change",
            effective_from=date(2026, 3, 1),
            new_rate=Decimal("95"),
            reason="Market",
        )
        session.add_all([step, change])
        session.flush()
        approval = ApprovalStep(
            org_id=org.id,
            amendment_id=change.id,
            round=1,
            position=1,
            role="procurement",
            label="Procurement review",
        )
        session.add(approval)
        session.flush()
        audit.record(session, actor, "engagement.approved", engagement)
        audit.record(session, actor_of(clerk), "onboarding_step.completed", step)
        audit.record(session, actor, "amendment.requested", change)
        audit.record(session, actor, "approval_step.approved", approval)
        audit.record(session, actor, "engagement.active", other)
    session.commit()
    return {
        "engagement": engagement,
        "other": other,
        "step": step,
        "change": change,
        "approval": approval,
        "clerk": clerk,
    }


def test_actions_in_words_and_records_linked(admin_client, trail):
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "Onboarding step done" in page and "Amendment proposed" in page
    assert "Engagement approved" in page
    engagement_id = trail["engagement"].id
    assert f'<a href="/engagements/{engagement_id}">Engagement #{engagement_id}</a>' in page
    # a checklist step links to its engagement's page
    assert f'<a href="/engagements/{engagement_id}">Onboarding step #{trail["step"].id}</a>' in page


def test_an_engagements_history_includes_its_children(admin_client, trail):
    engagement_id = trail["engagement"].id
    page = admin_client.get(
        f"/admin/audit?entity_type=engagement&entity_id={engagement_id}"
    ).get_data(as_text=True)
    assert "4 entries" in page
    for words in (
        "Engagement approved",
        "Onboarding step done",
        "Amendment proposed",
        "Approval step approved",
    ):
        assert f"<td>{words}<div" in page
    assert "<td>Engagement activated<div" not in page  # the other engagement
    alone = admin_client.get(
        f"/admin/audit?entity_type=engagement&entity_id={engagement_id}&children=0"
    ).get_data(as_text=True)
    assert "1 entry" in alone


def test_the_engagement_page_shows_its_history(admin_client, trail):
    page = admin_client.get(f"/engagements/{trail['engagement'].id}").get_data(as_text=True)
    assert ">History<" in page and "Onboarding step done" in page and "Amendment proposed" in page


def test_filters_by_who_action_and_dates(admin_client, trail):
    clerk_id = trail["clerk"].user_id
    by_id = admin_client.get(f"/admin/audit?actor_user_id={clerk_id}").get_data(as_text=True)
    assert "1 entry" in by_id and "<td>Onboarding step done<div" in by_id
    by_name = admin_client.get("/admin/audit?who=clerk").get_data(as_text=True)
    assert "1 entry" in by_name
    nobody = admin_client.get("/admin/audit?who=nobody-at-all").get_data(as_text=True)
    assert "matches nobody" in nobody
    by_action = admin_client.get("/admin/audit?action=amendment.").get_data(as_text=True)
    assert "1 entry" in by_action
    future = admin_client.get("/admin/audit?date_from=2099-01-01").get_data(as_text=True)
    assert "No entries match" in future
    assert admin_client.get("/admin/audit?date_from=2026-13-01").status_code == 422


def test_csv_export_holds_what_the_filters_match(admin_client, trail):
    engagement_id = trail["engagement"].id
    response = admin_client.get(
        f"/admin/audit.csv?entity_type=engagement&entity_id={engagement_id}"
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["Number", "When (UTC)", "Who", "Action", "Action code"]
    assert len(rows) == 5
    assert {r[4] for r in rows[1:]} == {
        "engagement.approved",
        "onboarding_step.completed",
        "amendment.requested",
        "approval_step.approved",
    }
    assert "'=Clerk Kent" in [r[2] for r in rows]  # a formula-like name is neutralised
    assert "Onboarding step done" in [r[3] for r in rows]


def test_audit_pages_need_audit_read(client, session, org, make_member, sign_in, trail):
    manager = make_member(org, roles=("hiring_manager",))
    session.commit()
    sign_in(client, session.get(User, manager.user_id), org)
    assert client.get("/admin/audit.csv").status_code == 403
    page = client.get(f"/engagements/{trail['engagement'].id}").get_data(as_text=True)
    assert "Full history" not in page


def test_an_unregistered_action_is_spelled_out():
    assert hooks.action_words("widget.colour_changed") == "Widget colour changed"


def _written_actions(*packages):
    """Action codes written by audit.record(...) calls with a literal action."""
    found = set()
    for package in packages:
        for path in (ROOT / "fms" / package).rglob("*.py"):
            text = path.read_text()
            for call in re.finditer(r"audit\.record\((.{0,200}?)\)", text, re.S):
                found.update(re.findall(r'"([a-z_]+\.[a-z_]+)"', call.group(1)))
    return found


def test_every_action_workforce_and_identity_write_has_words(app):
    words = hooks.known_actions()
    missing = {a for a in _written_actions("workforce", "identity") if a not in words}
    for table, entity in (
        (rules.REQUISITION_TRANSITIONS, "requisition"),
        (rules.ENGAGEMENT_TRANSITIONS, "engagement"),
        (rules.AMENDMENT_TRANSITIONS, "amendment"),
    ):
        reached = set().union(*table.values())  # transitions write "<entity>.<to>"
        missing |= {f"{entity}.{state}" for state in reached if f"{entity}.{state}" not in words}
    assert not missing, sorted(missing)


def test_every_literal_action_any_area_writes_has_words(app):
    """Whatever area writes an entry, the audit log shows it in words, not as a code."""
    areas = [p.name for p in (ROOT / "fms").iterdir() if p.is_dir() and p.name != "__pycache__"]
    words = hooks.known_actions()
    missing = {a for a in _written_actions(*areas) if a not in words}
    assert not missing, sorted(missing)
