"""Amendments and delegations as people use them: on the engagement page, the delegations
page and through the API."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from fms.identity.models import Organization, User
from fms.workforce.models import Amendment, Delegation, EngagementTerms

TODAY = date.today()  # noqa: DTZ011 - the services compare with the real date


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def team(session, org, make_member):
    return {
        name: make_member(org, roles=roles)
        for name, roles in {
            "manager": ("hiring_manager",),
            "stand_in": ("hiring_manager",),
            "buyer": ("procurement",),
            "buyer2": ("procurement",),
            "finance": ("finance",),
        }.items()
    }


def _as(app, session, sign_in, org, membership):
    web = app.test_client()
    sign_in(web, session.get(User, membership.user_id), org)
    return web


def test_a_budget_increase_walks_its_chain_on_the_engagement_page(
    app, session, org, team, sign_in, make_engagement, approval_chain
):
    approval_chain(org)
    engagement = make_engagement(org, manager_id=team["manager"].user_id)
    session.commit()
    manager = _as(app, session, sign_in, org, team["manager"])
    response = manager.post_form(
        f"/engagements/{engagement.id}/amendments",
        page=f"/engagements/{engagement.id}",
        data={
            "kind": "budget_increase",
            "effective_from": "2026-06-01",
            "new_budget_cap": "250000",
            "reason": "Phase two",
        },
    )
    assert response.status_code == 302
    page = manager.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    for label in (
        "Procurement review",
        "Finance approval from 50,000.00 EUR",
        "Procurement approval from 200,000.00 EUR",
    ):
        assert label in page
    assert "This step needs someone with the procurement role." in page

    amendment = session.scalar(select(Amendment).where(Amendment.engagement_id == engagement.id))
    steps_done = []
    for who in ("buyer", "finance", "buyer2"):
        web = _as(app, session, sign_in, org, team[who])
        page = web.get(f"/engagements/{engagement.id}").get_data(as_text=True)
        assert f"/amendments/{amendment.id}/decide" in page, who  # their turn: the form shows
        response = web.post(
            f"/engagements/{engagement.id}/amendments/{amendment.id}/decide",
            data={"decision": "approve"},
        )
        assert response.status_code == 302
        steps_done.append(who)
        if who != "buyer2":
            assert "waits for the next approver" in web.get(
                f"/engagements/{engagement.id}"
            ).get_data(as_text=True)
    session.expire_all()
    assert session.get(Amendment, amendment.id).state == "approved"
    caps = session.scalars(
        select(EngagementTerms.budget_cap)
        .where(EngagementTerms.engagement_id == engagement.id)
        .order_by(EngagementTerms.effective_from)
    ).all()
    assert [str(c) for c in caps] == ["100000.0000", "250000.0000"]


def test_the_delegations_page(app, session, org, team, sign_in, make_engagement):
    manager = _as(app, session, sign_in, org, team["manager"])
    page = manager.get("/delegations").get_data(as_text=True)
    assert "No stand-ins" in page and "Name a stand-in" in page
    bad = manager.post_form(
        "/delegations",
        data={
            "delegate_user_id": team["stand_in"].user_id,
            "starts_on": (TODAY - timedelta(days=2)).isoformat(),
            "ends_on": TODAY.isoformat(),
        },
    )
    assert bad.status_code == 422
    assert "Today or later." in bad.get_data(as_text=True)
    assert session.scalar(select(Delegation.id)) is None
    good = manager.post_form(
        "/delegations",
        data={
            "delegate_user_id": team["stand_in"].user_id,
            "starts_on": TODAY.isoformat(),
            "ends_on": (TODAY + timedelta(days=10)).isoformat(),
            "note": "Parental leave",
        },
    )
    assert good.status_code == 302
    stand_in = _as(app, session, sign_in, org, team["stand_in"])
    page = stand_in.get("/delegations").get_data(as_text=True)
    assert "Parental leave" in page and "In force" in page
    finance = _as(app, session, sign_in, org, team["finance"])
    assert finance.get("/delegations").status_code == 403
    delegation = session.scalar(select(Delegation))
    assert manager.post(f"/delegations/{delegation.id}/revoke").status_code == 302
    session.expire_all()
    assert session.get(Delegation, delegation.id).revoked_at is not None
    assert "No stand-ins" in manager.get("/delegations").get_data(as_text=True)


def test_delegations_and_amendment_chains_through_the_api(
    app, session, org, team, sign_in, make_engagement, make_org, make_member, approval_chain
):
    approval_chain(org)
    engagement = make_engagement(org, manager_id=team["manager"].user_id)
    session.commit()
    manager = _as(app, session, sign_in, org, team["manager"])
    created = manager.post(
        "/api/v1/delegations",
        json={
            "delegate_user_id": team["stand_in"].user_id,
            "starts_on": TODAY.isoformat(),
            "ends_on": (TODAY + timedelta(days=5)).isoformat(),
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["manager_user_id"] == team["manager"].user_id
    refused = manager.post(
        "/api/v1/delegations",
        json={
            "delegate_user_id": team["manager"].user_id,
            "starts_on": TODAY.isoformat(),
            "ends_on": TODAY.isoformat(),
        },
    )
    assert refused.status_code == 422
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    listed = manager.get("/api/v1/delegations").json
    assert [d["id"] for d in listed] == [created.json["id"]]

    proposed = manager.post(
        f"/api/v1/engagements/{engagement.id}/amendments",
        json={
            "kind": "budget_increase",
            "effective_from": "2026-06-01",
            "new_budget_cap": "120000",
            "reason": "More scope",
        },
    )
    assert proposed.status_code == 201, proposed.json
    body = proposed.json
    assert [s["label"] for s in body["steps"]] == [
        "Procurement review",
        "Finance approval from 50,000.00 EUR",
    ]
    assert body["new_budget_cap"] == {"amount": "120000.00", "currency": "EUR"}
    assert body["budget_base"] == {"amount": "120000.00", "currency": org.base_currency}

    # another organization knows neither the delegation nor the amendment
    other = make_org()
    outsider = make_member(other, roles=("procurement",))
    session.commit()
    stranger = _as(app, session, sign_in, other, outsider)
    assert stranger.post(f"/api/v1/delegations/{created.json['id']}/revocation").status_code == 404
    assert (
        stranger.post(
            f"/api/v1/amendments/{body['id']}/decision", json={"decision": "approve"}
        ).status_code
        == 404
    )
    revoked = manager.post(f"/api/v1/delegations/{created.json['id']}/revocation")
    assert revoked.status_code == 200 and revoked.json["revoked_at"]


def test_org_admins_set_the_trial_budget_on_the_settings_page(admin_web, session):
    from fms.workforce.models import WorkforceSettings

    page = admin_web.get("/admin/workforce").get_data(as_text=True)
    assert "Trial budget at most (base currency)" in page
    saved = admin_web.post(
        "/admin/workforce",
        data={
            "section": "settings",
            "settings-notice_period_days": "21",
            "settings-trial_max_days": "45",
            "settings-trial_max_budget": "7500",
        },
    )
    assert saved.status_code == 302
    settings = session.scalar(select(WorkforceSettings))
    assert (settings.notice_period_days, settings.trial_max_days) == (21, 45)
    assert str(settings.trial_max_budget) == "7500.0000"
    refused = admin_web.post(
        "/admin/workforce",
        data={
            "section": "settings",
            "settings-notice_period_days": "21",
            "settings-trial_max_days": "45",
            "settings-trial_max_budget": "-1",
        },
    )
    assert refused.status_code == 422
    session.expire_all()
    assert str(session.scalar(select(WorkforceSettings)).trial_max_budget) == "7500.0000"


@pytest.fixture
def admin_web(app, session, org, org_admin, sign_in):
    return _as(app, session, sign_in, org, org_admin)


def test_naming_a_stand_in_twice_with_one_form_creates_one(app, session, org, team, sign_in):
    from tests.conftest import _TOKEN_INPUT

    manager = _as(app, session, sign_in, org, team["manager"])
    page = manager.get("/delegations").get_data(as_text=True)
    data = dict(_TOKEN_INPUT.findall(page))
    data.update(
        delegate_user_id=team["stand_in"].user_id,
        starts_on=TODAY.isoformat(),
        ends_on=(TODAY + timedelta(days=3)).isoformat(),
    )
    first, second = manager.post("/delegations", data=data), manager.post("/delegations", data=data)
    assert (first.status_code, second.status_code) == (302, 302)
    assert len(session.scalars(select(Delegation)).all()) == 1
