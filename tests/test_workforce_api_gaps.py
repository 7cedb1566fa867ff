"""Workforce actions the pages had and the API lacked: editing, cancelling and reopening a
requisition, approving several at once, ticking an onboarding step, a supplier's contacts
and a freelancer's skill levels. Each calls the page's service: the same rules, the same
audit entries; bad input is a 422 problem with a pointer and changes nothing; another
organization's ids are 404; a read-only token cannot write."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.identity.tokens import services as tokens
from fms.workforce.models import (
    FreelancerSkill,
    OnboardingStep,
    Requisition,
    SupplierContact,
)
from tests.factories import as_org
from tests.test_api_idempotency import _problem, signed_in_client


@pytest.fixture
def api(app, session, world, sign_in, approval_chain):
    approval_chain(world.org)
    session.commit()
    return signed_in_client(app, session, world, sign_in)


@pytest.fixture
def other_org(make_org):
    return make_org()


def _pointers(body) -> set[str]:
    return {e["pointer"] for e in body.get("errors", [])}


def _audit(session, action, entity_id):
    session.expire_all()
    return session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.seq)
    ).all()


def _read_token(session, actor) -> dict:
    """A personal token of `actor` that may only read workforce records."""
    _, secret = tokens.create_personal_token(
        session, actor=actor, name="read only", scopes=["workforce:read"]
    )
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _stored(session, model, row_id):
    session.expire_all()
    return session.get(model, row_id)


# --- requisitions: edit a draft (with ETag) ----------------------------------------------------


@pytest.fixture
def draft(session, world, make_requisition):
    req = make_requisition(world.org, requester=world.manager, title="Data engineer")
    session.commit()
    return req


def _tag(response) -> str:
    assert response.status_code == 200, response.get_json()
    return response.headers["ETag"]


def test_the_requester_edits_a_draft_with_its_etag(api, session, world, draft):
    manager = api.as_(world.manager)
    url = f"/api/v1/requisitions/{draft.id}"
    read = _tag(manager.get(url))
    changed = manager.patch(
        url, json={"title": "Senior data engineer", "budget": "70000"}, headers={"If-Match": read}
    )
    new = _tag(changed)
    assert new != read
    body = changed.get_json()
    assert body["title"] == "Senior data engineer"
    assert body["budget"] == {"amount": "70000.00", "currency": "EUR"}
    # what was left out stays as it was
    assert body["rate_max"] == {"amount": "100.00", "currency": "EUR"}
    stored = _stored(session, Requisition, draft.id)
    assert (stored.title, stored.budget, stored.justification) == (
        "Senior data engineer",
        Decimal("70000"),
        "Backlog",
    )
    [entry] = _audit(session, "requisition.updated", draft.id)
    assert entry.before["title"] == "Data engineer"
    assert entry.after["title"] == "Senior data engineer"
    # the tag read before the change is stale now
    stale = manager.patch(url, json={"title": "Lost update"}, headers={"If-Match": read})
    _problem(stale, 412)
    assert _stored(session, Requisition, draft.id).title == "Senior data engineer"
    assert _tag(manager.get(url)) == new
    # saving without a change answers the draft and writes no second entry
    same = manager.patch(url, json={}, headers={"If-Match": new})
    assert _tag(same) == new
    assert len(_audit(session, "requisition.updated", draft.id)) == 1


def test_bad_edits_are_422_with_pointers_and_change_nothing(api, session, world, draft):
    manager = api.as_(world.manager)
    url = f"/api/v1/requisitions/{draft.id}"
    # the schema: time per week from 1 minute
    body = _problem(manager.patch(url, json={"weekly_minutes": 0, "title": "X"}), 422)
    assert "/weekly_minutes" in _pointers(body)
    # the service's rule: the maximum rate is not below the stored minimum (80)
    body = _problem(manager.patch(url, json={"rate_max": "79.99", "title": "Y"}), 422)
    assert _pointers(body) == {"/rate_max"}
    stored = _stored(session, Requisition, draft.id)
    assert (stored.title, stored.weekly_minutes, stored.rate_max) == (
        "Data engineer",
        2400,
        Decimal("100"),
    )
    assert _audit(session, "requisition.updated", draft.id) == []


def test_only_the_requester_edits_and_a_submitted_one_is_not_a_draft(
    api, session, world, draft, make_requisition
):
    url = f"/api/v1/requisitions/{draft.id}"
    other_manager = api.as_(world.manager2)
    # refused for who they are, before versions are compared
    _problem(other_manager.patch(url, json={"title": "Z"}, headers={"If-Match": '"old"'}), 403)
    submitted = make_requisition(world.org, requester=world.manager, state="submitted")
    session.commit()
    manager = api.as_(world.manager)
    _problem(manager.patch(f"/api/v1/requisitions/{submitted.id}", json={"title": "Z"}), 409)
    assert _stored(session, Requisition, draft.id).title == "Data engineer"


def test_a_read_only_token_cannot_edit_cancel_or_reopen(app, api, session, world, draft):
    headers = _read_token(session, world.manager)
    client = app.test_client()
    url = f"/api/v1/requisitions/{draft.id}"
    assert client.get(url, headers=headers).status_code == 200
    assert client.patch(url, json={"title": "Z"}, headers=headers).status_code == 403
    assert client.post(f"{url}/cancellation", headers=headers).status_code == 403
    assert client.post(f"{url}/reopening", headers=headers).status_code == 403
    stored = _stored(session, Requisition, draft.id)
    assert (stored.title, stored.state) == ("Data engineer", "draft")


def test_another_organizations_requisition_is_404_even_with_a_bad_body(
    api, session, world, other_org, make_requisition
):
    theirs = make_requisition(other_org)
    session.commit()
    manager = api.as_(world.manager)
    url = f"/api/v1/requisitions/{theirs.id}"
    assert manager.patch(url, json={"weekly_minutes": "lots"}).status_code == 404
    assert manager.post(f"{url}/cancellation").status_code == 404
    assert manager.post(f"{url}/reopening").status_code == 404
    with as_org(session, other_org.id):
        assert _stored(session, Requisition, theirs.id).state == "draft"


# --- requisitions: cancel and reopen -------------------------------------------------------------


def test_the_requester_cancels_and_nobody_else_but_procurement(
    api, session, world, draft, make_requisition
):
    url = f"/api/v1/requisitions/{draft.id}/cancellation"
    _problem(api.as_(world.manager2).post(url), 403)
    assert _stored(session, Requisition, draft.id).state == "draft"
    cancelled = api.as_(world.manager).post(url)
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["state"] == "cancelled"
    assert _stored(session, Requisition, draft.id).state == "cancelled"
    [entry] = _audit(session, "requisition.cancelled", draft.id)
    assert (entry.before, entry.after) == ({"state": "draft"}, {"state": "cancelled"})
    # cancelled is final
    _problem(api.as_(world.manager).post(url), 409)
    # procurement may withdraw someone else's
    other = make_requisition(world.org, requester=world.manager)
    session.commit()
    by_procurement = api.as_(world.procurement).post(
        f"/api/v1/requisitions/{other.id}/cancellation"
    )
    assert by_procurement.status_code == 200
    assert _stored(session, Requisition, other.id).state == "cancelled"


def test_the_requester_reopens_a_rejected_requisition(api, session, world, draft, make_requisition):
    rejected = make_requisition(world.org, requester=world.manager, state="rejected")
    session.commit()
    url = f"/api/v1/requisitions/{rejected.id}/reopening"
    _problem(api.as_(world.procurement).post(url), 403)  # not the requester
    reopened = api.as_(world.manager).post(url)
    assert reopened.status_code == 200, reopened.get_json()
    assert reopened.get_json()["state"] == "draft"
    assert _stored(session, Requisition, rejected.id).state == "draft"
    [entry] = _audit(session, "requisition.draft", rejected.id)
    assert (entry.before, entry.after) == ({"state": "rejected"}, {"state": "draft"})
    # a draft is not rejected: nothing to reopen
    _problem(api.as_(world.manager).post(f"/api/v1/requisitions/{draft.id}/reopening"), 409)


# --- requisitions: bulk approval -----------------------------------------------------------------


def _submitted(client, org_structure, world, title) -> int:
    """A requisition submitted through the API: 40,000 EUR, so one procurement step."""
    body = {
        "title": title,
        "kind": "hourly",
        "start_date": "2027-02-01",
        "end_date": "2027-07-31",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate_min": "80",
        "rate_max": "100",
        "budget": "40000",
        "justification": "Backlog",
        "submit": True,
        **org_structure(world.org),
    }
    created = client.post("/api/v1/requisitions", json=body)
    assert created.status_code == 201, created.get_json()
    assert [s["role"] for s in created.get_json()["steps"]] == ["procurement"]
    return created.get_json()["id"]


def _states(session, ids):
    session.expire_all()
    return [session.get(Requisition, i).state for i in ids]


def test_procurement_approves_several_at_once(api, session, world, org_structure):
    manager = api.as_(world.manager)
    ids = [_submitted(manager, org_structure, world, t) for t in ("A", "B")]
    approved = api.as_(world.procurement).post(
        "/api/v1/requisitions/approvals", json={"requisition_ids": ids, "comment": "Fine"}
    )
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json() == {"approved": sorted(ids)}
    assert _states(session, ids) == ["approved", "approved"]
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "approval_step.approved")
    ).all()
    assert len(entries) == 2
    assert {e.after["comment"] for e in entries} == {"Fine"}
    assert _audit(session, "requisition.approved", ids[0])


def test_bulk_approval_is_all_or_nothing(api, session, world, org_structure):
    manager = api.as_(world.manager)
    first = _submitted(manager, org_structure, world, "A")
    second = _submitted(manager, org_structure, world, "B")
    procurement = api.as_(world.procurement)
    decided = procurement.post(
        f"/api/v1/requisitions/{second}/decision", json={"decision": "approve"}
    )
    assert decided.status_code == 200
    refused = procurement.post(
        "/api/v1/requisitions/approvals", json={"requisition_ids": [first, second]}
    )
    body = _problem(refused, 409)
    assert f"Requisition {second} (B)" in body["detail"]
    assert _states(session, [first, second]) == ["submitted", "approved"]


def test_bulk_approval_refuses_the_requester_bad_lists_and_other_organizations(
    api, session, world, org_structure, other_org, make_requisition
):
    manager = api.as_(world.manager)
    mine = _submitted(manager, org_structure, world, "A")
    # the requester never approves their own (and a hiring manager holds no step)
    _problem(manager.post("/api/v1/requisitions/approvals", json={"requisition_ids": [mine]}), 403)
    procurement = api.as_(world.procurement)
    for ids, pointer in (([], "/requisition_ids"), (["x"], "/requisition_ids/0")):
        body = _problem(
            procurement.post("/api/v1/requisitions/approvals", json={"requisition_ids": ids}), 422
        )
        assert pointer in _pointers(body), body
    theirs = make_requisition(other_org, state="submitted")
    session.commit()
    refused = procurement.post(
        "/api/v1/requisitions/approvals", json={"requisition_ids": [mine, theirs.id]}
    )
    assert refused.status_code == 404
    assert _states(session, [mine]) == ["submitted"]


def test_a_read_only_token_cannot_approve(app, api, session, world, org_structure):
    mine = _submitted(api.as_(world.manager), org_structure, world, "A")
    headers = _read_token(session, world.procurement)
    refused = app.test_client().post(
        "/api/v1/requisitions/approvals", json={"requisition_ids": [mine]}, headers=headers
    )
    assert refused.status_code == 403
    assert _states(session, [mine]) == ["submitted"]


# --- onboarding steps ----------------------------------------------------------------------------


@pytest.fixture
def onboarding(session, world, make_engagement):
    """The world's freelancer onboarding on a new engagement: a sign step and a review."""
    engagement = make_engagement(world.org, state="onboarding", freelancer=world.freelancer)
    steps = {}
    for position, kind in enumerate(("sign", "review"), start=1):
        step = OnboardingStep(
            org_id=world.org.id,
            engagement_id=engagement.id,
            position=position,
            title=kind.title(),
            kind=kind,
        )
        session.add(step)
        steps[kind] = step
    session.flush()
    session.commit()
    return engagement, steps


def _done(session, step_id):
    return _stored(session, OnboardingStep, step_id).done_at is not None


def _completion(engagement_id, step_id) -> str:
    return f"/api/v1/engagements/{engagement_id}/steps/{step_id}/completion"


def test_the_freelancer_signs_and_procurement_reviews(api, session, world, onboarding):
    engagement, steps = onboarding
    sign, review = steps["sign"].id, steps["review"].id
    # signing is the freelancer's own act, reviewing is not
    _problem(api.as_(world.procurement).post(_completion(engagement.id, sign)), 403)
    _problem(api.as_(world.me).post(_completion(engagement.id, review)), 403)
    assert not _done(session, sign) and not _done(session, review)
    signed = api.as_(world.me).post(_completion(engagement.id, sign))
    assert signed.status_code == 200, signed.get_json()
    assert signed.get_json()["id"] == sign and signed.get_json()["done_at"]
    assert _stored(session, OnboardingStep, sign).done_by_user_id == world.me.user_id
    [entry] = _audit(session, "onboarding_step.completed", sign)
    assert entry.after == {"engagement_id": engagement.id, "title": "Sign"}
    _problem(api.as_(world.me).post(_completion(engagement.id, sign)), 409)  # done already
    reviewed = api.as_(world.procurement).post(_completion(engagement.id, review))
    assert reviewed.status_code == 200
    assert _stored(session, OnboardingStep, review).done_by_user_id == world.procurement.user_id


def test_another_freelancer_and_another_engagements_step_are_refused(
    api,
    session,
    world,
    onboarding,
    make_engagement,
    make_member,
    make_user,
    make_freelancer,
    actor_of,
):
    engagement, steps = onboarding
    sign = steps["sign"].id
    user = make_user()
    stranger = actor_of(make_member(world.org, roles=("freelancer",), user=user))
    make_freelancer(world.org, user_id=user.id)
    session.commit()
    _problem(api.as_(stranger).post(_completion(engagement.id, sign)), 404)
    # a step addressed under an engagement it is not part of
    elsewhere = make_engagement(world.org, state="onboarding", freelancer=world.freelancer)
    session.commit()
    _problem(api.as_(world.me).post(_completion(elsewhere.id, sign)), 403)
    assert not _done(session, sign)


def test_another_organizations_step_or_engagement_is_404(
    api, session, world, onboarding, other_org, make_engagement
):
    engagement, steps = onboarding
    theirs = make_engagement(other_org, state="onboarding")
    with as_org(session, other_org.id):
        step = OnboardingStep(
            org_id=other_org.id, engagement_id=theirs.id, position=1, title="Review", kind="review"
        )
        session.add(step)
        session.flush()
        step_id = step.id
    session.commit()
    procurement = api.as_(world.procurement)
    assert procurement.post(_completion(engagement.id, step_id)).status_code == 404
    assert procurement.post(_completion(theirs.id, steps["review"].id)).status_code == 404
    assert not _done(session, steps["review"].id)


def test_a_read_only_token_cannot_tick_a_step(app, api, session, world, onboarding):
    engagement, steps = onboarding
    headers = _read_token(session, world.procurement)
    refused = app.test_client().post(
        _completion(engagement.id, steps["review"].id), headers=headers
    )
    assert refused.status_code == 403
    assert not _done(session, steps["review"].id)


# --- supplier contacts ---------------------------------------------------------------------------


def _contacts(session, supplier_id) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.scalars(
        select(SupplierContact).where(SupplierContact.supplier_id == supplier_id)
    )
    return [(c.name, c.email) for c in rows]


def test_procurement_adds_a_supplier_contact(api, session, world, make_supplier):
    supplier = make_supplier(world.org)
    session.commit()
    url = f"/api/v1/suppliers/{supplier.id}/contacts"
    procurement = api.as_(world.procurement)
    added = procurement.post(
        url, json={"name": " Ada Byron ", "email": "Ada@Agency.example", "role": "Account lead"}
    )
    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert (body["name"], body["email"], body["role"], body["phone"]) == (
        "Ada Byron",
        "ada@agency.example",
        "Account lead",
        None,
    )
    assert _contacts(session, supplier.id) == [("Ada Byron", "ada@agency.example")]
    [entry] = _audit(session, "supplier_contact.created", body["id"])
    assert entry.after == {
        "supplier_id": supplier.id,
        "name": "Ada Byron",
        "email": "ada@agency.example",
    }
    listed = api.as_(world.manager).get(url)  # any staff reader sees them
    assert [c["email"] for c in listed.get_json()] == ["ada@agency.example"]


def test_supplier_contact_refusals(app, api, session, world, make_supplier, other_org):
    supplier = make_supplier(world.org)
    theirs = make_supplier(other_org)
    session.commit()
    url = f"/api/v1/suppliers/{supplier.id}/contacts"
    procurement = api.as_(world.procurement)
    body = _problem(procurement.post(url, json={"name": "Ada", "email": "no-at-sign"}), 422)
    assert _pointers(body) == {"/email"}
    body = _problem(procurement.post(url, json={"email": "ada@agency.example"}), 422)
    assert "/name" in _pointers(body)
    ok = {"name": "Ada", "email": "ada@agency.example"}
    _problem(api.as_(world.manager).post(url, json=ok), 403)
    assert _contacts(session, supplier.id) == []
    other_url = f"/api/v1/suppliers/{theirs.id}/contacts"
    assert api.as_(world.procurement).post(other_url, json={}).status_code == 404
    assert api.as_(world.procurement).get(other_url).status_code == 404
    headers = _read_token(session, world.procurement)
    assert app.test_client().post(url, json=ok, headers=headers).status_code == 403
    assert _contacts(session, supplier.id) == []


# --- freelancer skills ---------------------------------------------------------------------------


def _levels(session, freelancer_id) -> dict[int, int]:
    session.expire_all()
    rows = session.scalars(
        select(FreelancerSkill).where(FreelancerSkill.freelancer_id == freelancer_id)
    )
    return {r.skill_id: r.level for r in rows}


def test_procurement_sets_and_changes_a_skill_level(api, session, world, make_skill):
    skill = make_skill(world.org, name="Kubernetes")
    session.commit()
    url = f"/api/v1/freelancers/{world.freelancer.id}/skills/{skill.id}"
    procurement = api.as_(world.procurement)
    first = procurement.put(url, json={"level": 4})
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"skill_id": skill.id, "name": "Kubernetes", "level": 4}
    changed = procurement.put(url, json={"level": 2})
    assert changed.get_json()["level"] == 2
    assert _levels(session, world.freelancer.id) == {skill.id: 2}
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "freelancer_skill.set")
        .order_by(AuditEntry.seq)
    ).all()
    assert [(e.before, e.after["level"]) for e in entries] == [(None, 4), ({"level": 4}, 2)]
    listed = api.as_(world.manager).get(f"/api/v1/freelancers/{world.freelancer.id}/skills")
    assert listed.get_json() == [{"skill_id": skill.id, "name": "Kubernetes", "level": 2}]


def test_skill_level_refusals(app, api, session, world, make_skill, make_freelancer, other_org):
    skill = make_skill(world.org)
    their_skill = make_skill(other_org)
    their_freelancer = make_freelancer(other_org)
    session.commit()
    mine = world.freelancer.id
    url = f"/api/v1/freelancers/{mine}/skills/{skill.id}"
    procurement = api.as_(world.procurement)
    for level in (0, 6, "expert"):
        body = _problem(procurement.put(url, json={"level": level}), 422)
        assert _pointers(body) == {"/level"}
    _problem(api.as_(world.manager).put(url, json={"level": 3}), 403)
    # the freelancer does not grade themselves either
    _problem(api.as_(world.me).put(url, json={"level": 5}), 403)
    procurement = api.as_(world.procurement)
    assert (
        procurement.put(f"/api/v1/freelancers/{mine}/skills/{their_skill.id}", json={}).status_code
        == 404
    )
    other = f"/api/v1/freelancers/{their_freelancer.id}/skills/{skill.id}"
    assert procurement.put(other, json={"level": 3}).status_code == 404
    assert procurement.get(f"/api/v1/freelancers/{their_freelancer.id}/skills").status_code == 404
    headers = _read_token(session, world.procurement)
    assert app.test_client().put(url, json={"level": 3}, headers=headers).status_code == 403
    assert _levels(session, mine) == {}
    assert session.scalar(select(func.count()).select_from(FreelancerSkill)) == 0
