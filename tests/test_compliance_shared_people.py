"""People shared by organizations meet compliance: one account, a freelancer profile in two
organizations, or a compliance officer in one who is a freelancer in the other. Each
organization sees only the documents, signatures and classifications made in it; a person's
papers in one never satisfy, leak into or get reviewed from the other."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from fms.compliance import documents, services, signing
from fms.compliance.models import ComplianceDocument
from fms.errors import NotAllowed, NotFound
from fms.identity.models import User
from fms.tenancy import scope_session
from tests.factories_compliance import HIGH_US, NDA_TEXT, PDF


@pytest.fixture
def two_orgs(cworld, session, make_org, make_member, make_freelancer, make_engagement, actor_of):
    """Org A is the compliance world (Ada is its freelancer, with a W-9, an NDA and a
    high-risk classification waiting). Org B also works with Ada (her own profile and
    engagement there), and B's compliance officer Bo is a freelancer of A."""
    cworld.policy("nda")
    cworld.policy("tax_form")
    cworld.policy("classification")
    cworld.publish()
    cworld.onboard()
    world = cworld
    world.a_document = cworld.upload("w9")
    world.a_signature = cworld.sign()
    world.a_classification = cworld.assess(HIGH_US)
    world.a_item = session.scalars(select(services.PolicyItem.id)).first()
    session.commit()

    b = make_org(name="Bravo Buyers")
    scope_session(session, b.id)
    ada = session.get(User, cworld.me.user_id)
    ada_b = actor_of(make_member(b, roles=("freelancer",), user=ada))
    profile_b = make_freelancer(b, user_id=ada.id, legal_name="Ada Lovelace", country="US")
    bo = actor_of(make_member(b, roles=("compliance",)))
    manager_b = actor_of(make_member(b, roles=("hiring_manager",)))
    today = cworld.today
    engagement_b = make_engagement(
        b,
        freelancer=profile_b,
        manager_id=manager_b.user_id,
        state="approved",
        start=today - timedelta(days=3),
        end=today + timedelta(days=90),
        title="Bravo analytics",
    )
    services.set_policy_item(session, actor=bo, document_kind="tax_form")
    session.commit()
    # Bo is also a freelancer of org A
    scope_session(session, cworld.org.id)
    bo_user = session.get(User, bo.user_id)
    make_member(cworld.org, roles=("freelancer",), user=bo_user)
    make_freelancer(cworld.org, user_id=bo_user.id, legal_name="Bo Brandt", country="DE")
    session.commit()
    world.b = b
    world.ada_b = ada_b
    world.profile_b = profile_b
    world.engagement_b = engagement_b
    world.bo = bo
    return world


def _client(app, sign_in, session, actor, org):
    client = app.test_client()
    sign_in(client, session.get(User, actor.user_id), org)
    return client


def test_a_freelancer_signed_in_elsewhere_reaches_none_of_her_other_papers(
    two_orgs, app, session, sign_in
):
    w = two_orgs
    in_b = _client(app, sign_in, session, w.ada_b, w.b)
    a_engagement = w.engagement.id
    for path in (
        f"/compliance/my/{a_engagement}",
        f"/compliance/my/{a_engagement}/documents/{w.a_document.id}",
        f"/compliance/my/{a_engagement}/signatures/{w.a_signature.id}",
        f"/compliance/my/{a_engagement}/signatures/{w.a_signature.id}/pdf",
        f"/compliance/my/{a_engagement}/classification",
        f"/api/v1/compliance/documents/{w.a_document.id}",
        f"/api/v1/compliance/documents/{w.a_document.id}/file",
        f"/api/v1/signatures/{w.a_signature.id}",
        f"/api/v1/signatures/{w.a_signature.id}/pdf",
        f"/api/v1/classifications/{w.a_classification.id}",
        f"/api/v1/engagements/{a_engagement}/compliance",
    ):
        assert in_b.get(path).status_code == 404, path
    assert in_b.get("/api/v1/compliance/documents").get_json()["total"] == 0
    # her own engagement in B is hers to complete
    assert in_b.get(f"/compliance/my/{w.engagement_b.id}").status_code == 200


def test_an_upload_in_one_organization_is_not_a_document_of_the_other(
    two_orgs, app, session, sign_in
):
    w = two_orgs
    in_b = _client(app, sign_in, session, w.ada_b, w.b)
    created = in_b.post(
        "/api/v1/compliance/documents",
        data={"kind": "w9", "file": (io.BytesIO(PDF), "w9.pdf")},
        content_type="multipart/form-data",
    )
    assert created.status_code == 201, created.get_data()[:300]
    b_document = created.get_json()
    # uploading onto A's profile of the same person, from B, is not possible
    onto_a = in_b.post(
        "/api/v1/compliance/documents",
        data={
            "kind": "w9",
            "file": (io.BytesIO(PDF), "w9.pdf"),
            "freelancer_id": str(w.freelancer.id),
        },
        content_type="multipart/form-data",
    )
    assert onto_a.status_code == 404
    scope_session(session, w.org.id)
    a_versions = session.scalars(
        select(ComplianceDocument).where(ComplianceDocument.freelancer_id == w.freelancer.id)
    ).all()
    assert [d.id for d in a_versions] == [w.a_document.id]
    assert session.get(ComplianceDocument, b_document["id"]) is None  # A's scope cannot see it
    # A's officer finds B's document nowhere
    in_a = _client(app, sign_in, session, w.officer, w.org)
    assert in_a.get(f"/api/v1/compliance/documents/{b_document['id']}").status_code == 404
    assert in_a.get(f"/compliance/documents/{b_document['id']}/file").status_code == 404
    assert in_a.get(f"/compliance/reviews/documents/{b_document['id']}").status_code == 404


def test_an_approved_paper_in_one_organization_satisfies_nothing_in_the_other(two_orgs, session):
    w = two_orgs
    w.approve(w.a_document)
    session.commit()
    scope_session(session, w.b.id)
    statuses = services.item_statuses(session, w.engagement_b, today=w.today)
    tax = [s for s in statuses if s.item.kind in ("tax_form", "w9")]
    assert tax and not tax[0].done
    assert services.activation_problems(session, w.engagement_b)


def test_an_officer_of_one_organization_reviews_nothing_of_the_other(
    two_orgs, app, session, sign_in
):
    w = two_orgs
    bo = _client(app, sign_in, session, w.bo, w.b)
    for path in (
        f"/compliance/reviews/documents/{w.a_document.id}",
        f"/compliance/reviews/classifications/{w.a_classification.id}",
        f"/compliance/documents/{w.a_document.id}/file",
        f"/compliance/signatures/{w.a_signature.id}/pdf",
        f"/compliance/engagements/{w.engagement.id}",
        f"/compliance/policies/{w.a_item}",
        f"/compliance/templates/{w.a_signature.template_id}",
    ):
        assert bo.get(path).status_code == 404, path
    for path, form in (
        (f"/compliance/reviews/documents/{w.a_document.id}", {"decision": "approve"}),
        (
            f"/compliance/reviews/classifications/{w.a_classification.id}",
            {"decision": "accept", "rationale": "fine"},
        ),
        (f"/compliance/policies/{w.a_item}/remove", {}),
        (
            f"/compliance/engagements/{w.engagement.id}/tenure-override",
            {"allowed_until": (w.today + timedelta(days=400)).isoformat(), "reason": "x"},
        ),
    ):
        assert bo.post(path, data=form).status_code in (400, 404), path
    scope_session(session, w.org.id)
    session.expire_all()
    assert session.get(ComplianceDocument, w.a_document.id).state == "pending_review"
    assert services.latest_classification(session, w.engagement.id).state == "decision_needed"
    # and as a freelancer of A, the same person reviews nothing there either
    bo_in_a = services.Actor(
        user_id=w.bo.user_id, org_id=w.org.id, roles=frozenset({"freelancer"}), ip="127.0.0.1"
    )
    with pytest.raises((NotAllowed, NotFound)):
        documents.review_document(session, actor=bo_in_a, document_id=w.a_document.id, approve=True)


def test_a_signature_belongs_to_the_organization_whose_text_was_signed(two_orgs, session):
    """Ada signs B's NDA in B; A's signature record and text are untouched, and B's record
    carries B's text."""
    w = two_orgs
    scope_session(session, w.b.id)
    services.set_policy_item(session, actor=w.bo, document_kind="nda")
    b_text = NDA_TEXT.replace("confidential", "strictly confidential")
    signing.publish_template(session, actor=w.bo, kind="nda", title="Bravo NDA", body=b_text)
    session.commit()
    b_signature = signing.sign(
        session,
        actor=w.ada_b,
        engagement_id=w.engagement_b.id,
        kind="nda",
        typed_name="Ada Lovelace",
        user_agent="pytest",
    )
    session.commit()
    assert b_signature.org_id == w.b.id and "strictly" in b_signature.signed_text
    scope_session(session, w.org.id)
    session.expire_all()
    a_signature = session.get(signing.Signature, w.a_signature.id)
    assert a_signature.org_id == w.org.id and "strictly" not in a_signature.signed_text
    # signing A's engagement from B is not possible
    scope_session(session, w.b.id)
    with pytest.raises(NotFound):
        signing.sign(
            session,
            actor=w.ada_b,
            engagement_id=w.engagement.id,
            kind="nda",
            typed_name="Ada Lovelace",
            user_agent="pytest",
        )
