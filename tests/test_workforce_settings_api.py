"""The workforce settings page's sections through the API: the notice period and trial
limits, the approval chain and the onboarding checklist template. Each calls the page's
service (org admins change them, audited); bad input is a 422 problem with a pointer and
changes nothing; other roles get 403; one organization never sees another's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.audit.models import AuditEntry
from fms.identity.models import User
from fms.identity.tokens import services as tokens
from tests.factories import as_org
from tests.test_api_idempotency import _problem, signed_in_client


@pytest.fixture
def api(app, session, world, sign_in, make_member, actor_of):
    client = signed_in_client(app, session, world, sign_in)
    client.admin = actor_of(make_member(world.org, roles=("org_admin",)))
    session.commit()
    return client


def _pointers(body) -> set[str]:
    return {e["pointer"] for e in body.get("errors", [])}


def _actions(session, org_id) -> list[str]:
    session.expire_all()
    with as_org(session, org_id):
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_the_notice_period_and_trial_limits(api, session, world):
    admin = api.as_(api.admin)
    # an organization that never changed them has the defaults
    assert admin.get("/api/v1/workforce-settings").get_json() == {
        "notice_period_days": 14,
        "trial_max_days": 30,
        "trial_max_budget": {"amount": "5000.00", "currency": "EUR"},
    }
    body = {"notice_period_days": 30, "trial_max_days": 60, "trial_max_budget": "7500.5"}
    saved = admin.put("/api/v1/workforce-settings", json=body)
    assert saved.status_code == 200, saved.get_json()
    expected = {
        "notice_period_days": 30,
        "trial_max_days": 60,
        "trial_max_budget": {"amount": "7500.50", "currency": "EUR"},
    }
    assert saved.get_json() == expected
    assert admin.get("/api/v1/workforce-settings").get_json() == expected
    assert "workforce_settings.updated" in _actions(session, world.org.id)

    bad = admin.put(
        "/api/v1/workforce-settings", json={"notice_period_days": 400, "trial_max_days": 0}
    )
    assert _pointers(_problem(bad, 422)) == {"/notice_period_days", "/trial_max_days"}
    assert admin.get("/api/v1/workforce-settings").get_json() == expected  # unchanged
    refused = api.as_(world.procurement).put("/api/v1/workforce-settings", json=body)
    assert refused.status_code == 403


def test_the_approval_chain_is_replaced_with_labels_made_from_the_rule(api, session, world):
    admin = api.as_(api.admin)
    steps = [{"role": "procurement"}, {"role": "finance", "min_budget": "50000"}]
    saved = admin.put("/api/v1/approval-chain", json={"steps": steps})
    assert saved.status_code == 200, saved.get_json()
    chain = admin.get("/api/v1/approval-chain").get_json()["steps"]
    assert chain == saved.get_json()["steps"]
    assert [(s["position"], s["role"], s["min_budget"]) for s in chain] == [
        (1, "procurement", {"amount": "0.00", "currency": "EUR"}),
        (2, "finance", {"amount": "50000.00", "currency": "EUR"}),
    ]
    assert all(s["label"] for s in chain)
    assert "approval_rules.replaced" in _actions(session, world.org.id)

    bad = admin.put("/api/v1/approval-chain", json={"steps": [{"role": "janitor"}]})
    assert "/steps/0/role" in _pointers(_problem(bad, 422))
    empty = admin.put("/api/v1/approval-chain", json={"steps": []})
    assert "/steps" in _pointers(_problem(empty, 422))
    assert admin.get("/api/v1/approval-chain").get_json()["steps"] == chain  # unchanged
    manager = api.as_(world.manager)
    assert manager.put("/api/v1/approval-chain", json={"steps": steps}).status_code == 403


def test_steps_are_added_to_the_onboarding_template(api, session, world):
    admin = api.as_(api.admin)
    assert admin.get("/api/v1/onboarding-template").get_json() == {"items": []}
    added = admin.post(
        "/api/v1/onboarding-template", json={"title": "Sign the NDA", "kind": "sign"}
    )
    assert added.status_code == 201, added.get_json()
    second = admin.post(
        "/api/v1/onboarding-template", json={"title": "Security review", "kind": "review"}
    )
    listed = admin.get("/api/v1/onboarding-template").get_json()["items"]
    assert [(s["position"], s["title"], s["kind"]) for s in listed] == [
        (1, "Sign the NDA", "sign"),
        (2, "Security review", "review"),
    ]
    assert listed[1]["id"] == second.get_json()["id"]
    assert "onboarding_template_step.created" in _actions(session, world.org.id)

    bad = admin.post("/api/v1/onboarding-template", json={"title": "Dance", "kind": "dance"})
    assert "/kind" in _pointers(_problem(bad, 422))
    assert len(admin.get("/api/v1/onboarding-template").get_json()["items"]) == 2
    manager = api.as_(world.manager)
    refused = manager.post("/api/v1/onboarding-template", json={"title": "X", "kind": "sign"})
    assert refused.status_code == 403


def test_a_read_token_reads_and_another_organization_sees_its_own(
    api, app, session, world, make_org, make_member, actor_of, sign_in
):
    admin = api.as_(api.admin)
    admin.post("/api/v1/onboarding-template", json={"title": "Sign the NDA", "kind": "sign"})
    _, secret = tokens.create_personal_token(
        session, actor=api.admin, name="read only", scopes=["workforce:read"]
    )
    session.commit()
    bearer = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert bearer.get("/api/v1/onboarding-template", headers=headers).status_code == 200
    written = bearer.put(
        "/api/v1/workforce-settings",
        json={"notice_period_days": 1, "trial_max_days": 1},
        headers=headers,
    )
    assert written.status_code == 403

    other = make_org()
    outsider = actor_of(make_member(other, roles=("org_admin",)))
    session.commit()
    theirs = app.test_client()
    sign_in(theirs, session.get(User, outsider.user_id), other)
    assert theirs.get("/api/v1/onboarding-template").get_json() == {"items": []}


def _tag(response) -> str:
    assert response.status_code == 200, response.get_json()
    tag = response.headers.get("ETag")
    assert tag and tag.startswith('"'), tag
    return tag


@pytest.mark.parametrize(
    "url, first, second, field",
    [
        (
            "/api/v1/workforce-settings",
            {"notice_period_days": 30, "trial_max_days": 60, "trial_max_budget": "7500"},
            {"notice_period_days": 21, "trial_max_days": 45, "trial_max_budget": "6000"},
            "notice_period_days",
        ),
        (
            "/api/v1/approval-chain",
            {"steps": [{"role": "procurement"}]},
            {"steps": [{"role": "finance", "min_budget": "50000"}]},
            "steps",
        ),
    ],
)
def test_two_admins_saving_settings_at_once_the_stale_one_gets_412(
    api, session, world, url, first, second, field
):
    """Both read the settings; the first saves with the tag it read; the second, still
    holding that tag, gets a 412 problem and changes nothing; without If-Match the last
    write wins as before; a hiring manager gets 403 whatever tag they send."""
    admin = api.as_(api.admin)
    read = _tag(admin.get(url))
    assert _tag(admin.get(url)) == read  # stable while nothing changes
    saved = admin.put(url, json=first, headers={"If-Match": read})
    new = _tag(saved)
    assert new != read
    late = admin.put(url, json=second, headers={"If-Match": read})
    assert late.status_code == 412
    assert late.headers["Content-Type"].startswith("application/problem+json")
    assert admin.get(url).get_json()[field] == saved.get_json()[field]
    assert _tag(admin.get(url)) == new
    blind = admin.put(url, json=second)
    assert blind.status_code == 200
    assert blind.get_json()[field] != saved.get_json()[field]
    manager = api.as_(world.manager)
    assert manager.put(url, json=first, headers={"If-Match": '"stale"'}).status_code == 403
