"""The compliance API end to end: a whole onboarding (policy, upload, review, sign,
questionnaire, officer decision, activation); refused uploads and signatures store nothing;
another organization's ids and another freelancer's documents are 404; lists in a fixed
number of statements."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from fms import storage
from fms.compliance import tenure
from fms.compliance.models import (
    Classification,
    ComplianceDocument,
    PolicyItem,
    Signature,
)
from fms.identity.models import User
from fms.tenancy import scope_session
from fms.workforce.models import Engagement, OnboardingStep
from tests.factories import as_org
from tests.factories_compliance import HIGH_US, LOW_US, NDA_TEXT, PDF, PNG

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
PROBLEM = "application/problem+json"


@pytest.fixture
def api(app, session, cworld, sign_in):
    """A client that signs in as one of the world's people: `api.as_(cworld.officer)`."""
    client = app.test_client()

    def as_(actor):
        sign_in(client, session.get(User, actor.user_id), cworld.org)
        return client

    client.as_ = as_
    return client


def _problem(response, status):
    assert response.status_code == status, (response.status_code, response.get_data()[:400])
    assert response.content_type.startswith(PROBLEM)
    return response.get_json()


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_data()[:400])
    return response.get_json()


def _upload(client, data=PDF, filename="w9.pdf", kind="w9", content_type=None, **form):
    file = (io.BytesIO(data), filename) + ((content_type,) if content_type else ())
    return client.post(
        "/api/v1/compliance/documents",
        data={"kind": kind, "file": file, **form},
        content_type="multipart/form-data",
    )


def _stored(session, app):
    root = storage.storage_root() / "files"
    on_disk = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
    rows = session.scalar(select(func.count()).select_from(storage.StoredFile))
    docs = session.scalar(select(func.count()).select_from(ComplianceDocument))
    return on_disk, rows, docs


def _tick_template_steps(session, engagement_id):
    """The organization's own (non-compliance) checklist steps, ticked."""
    session.execute(
        update(OnboardingStep)
        .where(
            OnboardingStep.engagement_id == engagement_id,
            OnboardingStep.provider_key.is_(None),
        )
        .values(done_at=func.now())
    )
    session.commit()


# --- the whole onboarding --------------------------------------------------------------------


def test_a_whole_onboarding_through_the_api(api, session, cworld):
    engagement_id = cworld.engagement.id
    officer = api.as_(cworld.officer)
    for item in (
        {"document_kind": "nda"},
        {"document_kind": "tax_form", "validity": "months", "validity_months": 12},
        {"document_kind": "classification"},
        {"document_kind": "insurance", "requirement": "optional"},
    ):
        _ok(officer.post("/api/v1/compliance/policy-items", json=item), 201)
    listed = _ok(officer.get("/api/v1/compliance/policy-items?sort=-document_kind"))
    assert listed["total"] == 4 and listed["items"][0]["document_kind"] == "tax_form"
    template = _ok(
        officer.post(
            "/api/v1/compliance/signing-templates",
            json={"kind": "nda", "title": "Mutual NDA", "body": NDA_TEXT},
        ),
        201,
    )
    assert template["version"] == 1 and [v["version"] for v in template["versions"]] == [1]
    settings = officer.put("/api/v1/compliance/settings", json={"non_compliance_mode": "block"})
    assert _ok(settings)["non_compliance_mode"] == "block"

    procurement = api.as_(cworld.procurement)
    onboard = {"action": "onboard", "freelancer_id": cworld.freelancer.id}
    _ok(procurement.post(f"/api/v1/engagements/{engagement_id}/actions", json=onboard))
    _tick_template_steps(session, engagement_id)

    me = api.as_(cworld.me)
    status = _ok(me.get(f"/api/v1/engagements/{engagement_id}/compliance"))
    assert {i["kind"]: i["status"] for i in status["items"]} == {
        "nda": "missing",
        "w9": "missing",
        "classification": "missing",
        "insurance": "missing",
    }
    assert len(status["activation_problems"]) == 3
    uploaded = _ok(_upload(me), 201)
    assert uploaded["state"] == "pending_review" and uploaded["media_type"] == "application/pdf"
    again = _upload(me)
    _problem(again, 409)  # the first waits for review

    text = _ok(me.get(f"/api/v1/engagements/{engagement_id}/signing?kind=nda"))
    assert "Ada Lovelace" in text["text"] and "Data platform" in text["text"]
    sign = {"kind": "nda", "typed_name": "Ada Lovelace", "text_sha256": text["text_sha256"]}
    signatures = f"/api/v1/engagements/{engagement_id}/signatures"
    _problem(me.post(signatures, json=sign | {"typed_name": "Grace Hopper"}), 422)
    _problem(me.post(signatures, json=sign | {"text_sha256": "0" * 64}), 409)
    _problem(me.post(signatures, json=sign | {"text_sha256": "not a hash"}), 422)
    _problem(me.post(signatures, json=sign | {"extra": 1}), 422)
    assert session.scalar(select(func.count()).select_from(Signature)) == 0
    signed = _ok(me.post(signatures, json=sign | {"typed_name": " ada  lovelace "}), 201)
    assert signed["text_sha256"] == text["text_sha256"] and signed["signed_text"] == text["text"]
    pdf = me.get(f"/api/v1/signatures/{signed['id']}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    _problem(me.post(signatures, json=sign), 409)  # signed once

    officer = api.as_(cworld.officer)
    queue = _ok(officer.get("/api/v1/compliance/review-queue"))
    assert [row["document_id"] for row in queue] == [uploaded["id"]]
    assert officer.get(f"/api/v1/compliance/documents/{uploaded['id']}/file").data == PDF
    assert _ok(officer.get(f"/api/v1/signatures/{signed['id']}"))["typed_name"] == "ada lovelace"
    approved = _ok(officer.post(f"/api/v1/compliance/documents/{uploaded['id']}/approve", json={}))
    assert approved["state"] == "approved" and approved["expires_on"]
    _problem(officer.post(f"/api/v1/compliance/documents/{uploaded['id']}/approve", json={}), 409)

    me = api.as_(cworld.me)
    asked = _ok(me.get(f"/api/v1/engagements/{engagement_id}/classification/questionnaire"))
    assert [q["jurisdiction"] for q in asked["questionnaires"]] == [
        "us_federal",
        "us_ca",
        "generic",
    ]
    ids = {q["id"] for q in asked["questionnaires"][0]["questions"]}
    assert ids == set(HIGH_US)
    classifications = f"/api/v1/engagements/{engagement_id}/classifications"
    incomplete = {"jurisdiction": "us_federal", "answers": {"instructions": "yes"}}
    _problem(me.post(classifications, json=incomplete), 422)
    _problem(me.post(classifications, json={"jurisdiction": "uk_ir35", "answers": LOW_US}), 422)
    result = _ok(
        me.post(classifications, json={"jurisdiction": "us_federal", "answers": HIGH_US}), 201
    )
    assert result["risk"] == "high" and result["state"] == "decision_needed"
    assert result["drivers"][0]["question"] in ("instructions", "benefits")

    procurement = api.as_(cworld.procurement)
    activate = {"action": "activate"}
    refused = procurement.post(f"/api/v1/engagements/{engagement_id}/actions", json=activate)
    assert "decision" in _problem(refused, 409)["detail"]
    decision = f"/api/v1/classifications/{result['id']}/decision"
    _problem(procurement.post(decision, json={"accept": True, "rationale": "ok"}), 403)

    officer = api.as_(cworld.officer)
    waiting = _ok(officer.get("/api/v1/compliance/decisions"))
    assert [c["id"] for c in waiting] == [result["id"]]
    _problem(officer.post(decision, json={"accept": True, "rationale": ""}), 422)
    decided = officer.post(decision, json={"accept": True, "rationale": "Fixed deliverables."})
    assert _ok(decided)["state"] == "accepted"
    dashboard = _ok(officer.get("/api/v1/compliance/dashboard"))
    assert dashboard["risk_distribution"]["high"] == 1 and dashboard["decisions_waiting"] == 0

    procurement = api.as_(cworld.procurement)
    active = procurement.post(f"/api/v1/engagements/{engagement_id}/actions", json=activate)
    assert _ok(active)["state"] == "active"
    status = _ok(api.as_(cworld.officer).get(f"/api/v1/engagements/{engagement_id}/compliance"))
    assert status["activation_problems"] == [] and status["status"] == "compliant"
    assert status["classification"]["state"] == "accepted"
    assert [s["kind"] for s in status["signatures"]] == ["nda"]
    counts = _ok(api.get("/api/v1/compliance/dashboard"))["status_counts"]
    assert counts["compliant"] == 1
    rows = _ok(api.get("/api/v1/compliance/engagements?status=compliant"))
    assert [r["engagement_id"] for r in rows["items"]] == [engagement_id]


def test_a_rejected_document_is_replaced_by_a_new_version(api, session, cworld):
    me = api.as_(cworld.me)
    first = _ok(_upload(me, data=PNG, filename="scan.png", kind="insurance"), 201)
    officer = api.as_(cworld.officer)
    reject = f"/api/v1/compliance/documents/{first['id']}/reject"
    _problem(officer.post(reject, json={}), 422)
    _problem(officer.post(reject, json={"reason": "x" * 2001}), 422)
    rejected = _ok(officer.post(reject, json={"reason": "Unreadable scan"}))
    assert rejected["state"] == "rejected" and rejected["review_reason"] == "Unreadable scan"
    second = _ok(_upload(api.as_(cworld.me), kind="insurance"), 201)
    assert second["version"] == 2
    listed = _ok(api.get("/api/v1/compliance/documents?kind=insurance&sort=uploaded_at"))
    assert [d["version"] for d in listed["items"]] == [1, 2]


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "upload"),
    [
        ("oversize", {"data": PDF + b"0" * 2048}),
        ("empty", {"data": b""}),
        ("executable named .pdf", {"data": EXE, "filename": "form.pdf"}),
        ("pdf declared as png", {"data": PDF, "content_type": "image/png"}),
        ("path traversal", {"filename": "../../etc/passwd.pdf"}),
        ("unknown kind", {"kind": "passport"}),
        ("unknown field", {"note": "hello"}),
        ("another org's freelancer id", {"freelancer_id": "99999999"}),
        ("freelancer id too big", {"freelancer_id": str(2**63)}),
    ],
)
def test_refused_uploads_are_4xx_and_store_nothing(
    app, api, session, cworld, monkeypatch, case, upload
):
    monkeypatch.setitem(app.config, "FMS_COMPLIANCE_MAX_UPLOAD_BYTES", 1024)
    before = _stored(session, app)
    response = _upload(api.as_(cworld.me), **upload)
    assert 400 <= response.status_code < 500, (case, response.status_code)
    assert response.content_type.startswith(PROBLEM)
    assert _stored(session, app) == before, case


def test_an_upload_without_a_file_is_422(api, cworld):
    me = api.as_(cworld.me)
    data = {"kind": "w9"}
    _problem(me.post("/api/v1/compliance/documents", data=data), 422)
    # staff without a freelancer profile say whose it is
    officer = api.as_(cworld.officer)
    _problem(_upload(officer), 422)


def test_another_organizations_ids_are_not_found(
    api, session, cworld, make_org, make_member, sign_in
):
    cworld.policy("classification")
    cworld.publish()
    document = cworld.upload("w9")
    signature = cworld.sign()
    assessed = cworld.assess(HIGH_US)
    template_id = signature.template_id
    items = session.scalars(select(PolicyItem.id)).all()
    rule = tenure.set_rule(session, actor=cworld.officer, max_months=18)
    session.commit()
    other = make_org()
    stranger = make_member(other, roles=("org_admin",))
    sign_in(api, session.get(User, stranger.user_id), other)
    engagement = cworld.engagement.id
    for path in (
        f"/api/v1/compliance/documents/{document.id}",
        f"/api/v1/compliance/documents/{document.id}/file",
        f"/api/v1/signatures/{signature.id}",
        f"/api/v1/signatures/{signature.id}/pdf",
        f"/api/v1/classifications/{assessed.id}",
        f"/api/v1/compliance/signing-templates/{template_id}",
        f"/api/v1/engagements/{engagement}/compliance",
        f"/api/v1/engagements/{engagement}/classification/questionnaire",
    ):
        _problem(api.get(path), 404)
    for path, body in (
        (f"/api/v1/compliance/documents/{document.id}/approve", {}),
        (f"/api/v1/compliance/documents/{document.id}/reject", {"reason": "no"}),
        (f"/api/v1/classifications/{assessed.id}/decision", {"accept": True, "rationale": "x"}),
        (f"/api/v1/engagements/{engagement}/tenure-overrides", {}),
        (f"/api/v1/engagements/{engagement}/signatures", {}),
    ):
        _problem(api.post(path, json=body), 404)
    _problem(api.delete(f"/api/v1/compliance/policy-items/{items[0]}"), 404)
    _problem(api.patch(f"/api/v1/compliance/policy-items/{items[0]}", json={}), 404)
    _problem(api.put(f"/api/v1/compliance/tenure-rules/{rule.id}", json={"max_months": 9}), 404)
    _problem(api.delete(f"/api/v1/compliance/tenure-rules/{rule.id}"), 404)
    assert _ok(api.get("/api/v1/compliance/documents"))["total"] == 0
    assert _ok(api.get("/api/v1/compliance/policy-items"))["total"] == 0
    scope_session(session, cworld.org.id)
    assert session.get(ComplianceDocument, document.id).state == "pending_review"
    assert session.get(Classification, assessed.id).state == "decision_needed"


def test_a_freelancer_cannot_see_another_freelancers_document(
    api, session, cworld, make_user, make_member, make_freelancer, actor_of
):
    document = _ok(_upload(api.as_(cworld.me)), 201)
    user = make_user()
    colleague = actor_of(make_member(cworld.org, roles=("freelancer",), user=user))
    make_freelancer(cworld.org, user_id=user.id)
    session.commit()
    other = api.as_(colleague)
    _problem(other.get(f"/api/v1/compliance/documents/{document['id']}/file"), 404)
    _problem(other.get(f"/api/v1/compliance/documents/{document['id']}"), 404)
    assert _ok(other.get("/api/v1/compliance/documents"))["total"] == 0
    _problem(other.get(f"/api/v1/engagements/{cworld.engagement.id}/compliance"), 404)
    # uploading for someone else is not theirs either
    _problem(_upload(other, freelancer_id=str(cworld.freelancer.id)), 404)
    # the owner still downloads it
    assert api.as_(cworld.me).get(f"/api/v1/compliance/documents/{document['id']}/file").data == PDF


def test_staff_do_not_sign_and_freelancers_do_not_set_policy(api, session, cworld):
    cworld.publish()
    session.commit()
    engagement = cworld.engagement.id
    officer = api.as_(cworld.officer)
    _problem(officer.get(f"/api/v1/engagements/{engagement}/signing?kind=nda"), 403)
    me = api.as_(cworld.me)
    _problem(me.get(f"/api/v1/engagements/{engagement}/signing?kind=letter"), 422)
    for path, body in (
        ("/api/v1/compliance/policy-items", {"document_kind": "nda"}),
        ("/api/v1/compliance/tenure-rules", {"max_months": 18}),
        ("/api/v1/compliance/signing-templates", {"kind": "nda", "title": "x", "body": "y"}),
    ):
        _problem(me.post(path, json=body), 403)
    _problem(me.get("/api/v1/compliance/dashboard"), 403)
    assert session.scalar(select(func.count()).select_from(PolicyItem)) == 0


# --- policy items, templates, tenure ---------------------------------------------------------


def test_policy_items_change_and_are_removed(api, session, cworld):
    officer = api.as_(cworld.officer)
    made = _ok(
        officer.post(
            "/api/v1/compliance/policy-items", json={"document_kind": "insurance", "country": "us"}
        ),
        201,
    )
    assert made["country"] == "US" and made["label"] == "Certificate of insurance"
    path = f"/api/v1/compliance/policy-items/{made['id']}"
    changed = _ok(
        officer.patch(path, json={"requirement": "optional", "reviewer_role": "procurement"})
    )
    assert changed["requirement"] == "optional" and changed["reviewer_role"] == "procurement"
    for bad in (
        {"requirement": "sometimes"},
        {"validity": "months", "validity_months": 0},
        {"validity": "months", "validity_months": 1.5},
        {"validity": "months"},  # months without a number
        {"document_kind": "nda"},  # not changeable
    ):
        _problem(officer.patch(path, json=bad), 422)
    _problem(
        officer.post(
            "/api/v1/compliance/policy-items", json={"document_kind": "nda", "country": "USA"}
        ),
        422,
    )
    assert officer.delete(path).status_code == 204
    _problem(officer.delete(path), 409)
    assert _ok(officer.get("/api/v1/compliance/policy-items?active=1"))["total"] == 0
    assert _ok(officer.get("/api/v1/compliance/policy-items?active=0"))["total"] == 1
    again = officer.post(
        "/api/v1/compliance/policy-items", json={"document_kind": "insurance", "country": "US"}
    )
    assert _ok(again, 201)["id"] == made["id"] and again.get_json()["is_active"] is True


def test_templates_are_versioned(api, cworld):
    officer = api.as_(cworld.officer)
    body = {"kind": "contract", "title": "Terms", "body": "Between {{ organization_name }}."}
    first = _ok(officer.post("/api/v1/compliance/signing-templates", json=body), 201)
    second = _ok(
        officer.post("/api/v1/compliance/signing-templates", json=body | {"title": "Terms 2"}), 201
    )
    assert second["version"] == 2
    one = _ok(officer.get(f"/api/v1/compliance/signing-templates/{first['id']}"))
    assert one["title"] == "Terms" and [v["version"] for v in one["versions"]] == [2, 1]
    assert len(_ok(officer.get("/api/v1/compliance/signing-templates"))) == 2
    unknown = body | {"body": "Hello {{ salary }}"}
    assert "salary" in str(
        _problem(officer.post("/api/v1/compliance/signing-templates", json=unknown), 422)
    )


def test_tenure_rules_and_overrides(api, session, cworld):
    officer = api.as_(cworld.officer)
    rule = _ok(officer.post("/api/v1/compliance/tenure-rules", json={"max_months": 18}), 201)
    path = f"/api/v1/compliance/tenure-rules/{rule['id']}"
    assert _ok(officer.put(path, json={"max_months": 24, "break_days": 120}))["max_months"] == 24
    _problem(officer.put(path, json={"max_months": 0}), 422)
    _problem(officer.post("/api/v1/compliance/tenure-rules", json={"max_months": "x"}), 422)
    overrides = f"/api/v1/engagements/{cworld.engagement.id}/tenure-overrides"
    end = cworld.engagement.end_date
    _problem(officer.post(overrides, json={"allowed_until": end.isoformat(), "reason": "x"}), 422)
    _problem(officer.post(overrides, json={"allowed_until": "2026-02-30", "reason": "x"}), 422)
    later = (end + timedelta(days=60)).isoformat()
    made = _ok(officer.post(overrides, json={"allowed_until": later, "reason": "Handover"}), 201)
    assert made["allowed_until"] == later
    status = _ok(officer.get(f"/api/v1/engagements/{cworld.engagement.id}/compliance"))
    assert [o["id"] for o in status["tenure"]["overrides"]] == [made["id"]]
    assert status["tenure"]["max_months"] == 24 and status["tenure"]["override_until"] == later


def _actions(session, org_id, entity_type):
    from fms.audit.models import AuditEntry

    with as_org(session, org_id):
        return session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_type == entity_type)
            .order_by(AuditEntry.id)
        ).all()


def test_removals_are_audited_and_an_unchanged_save_is_not(api, session, cworld):
    officer = api.as_(cworld.officer)
    item = _ok(officer.post("/api/v1/compliance/policy-items", json={"document_kind": "nda"}), 201)
    item_path = f"/api/v1/compliance/policy-items/{item['id']}"
    _ok(officer.patch(item_path, json={"requirement": "required"}))  # what it already says
    assert officer.delete(item_path).status_code == 204
    assert _actions(session, cworld.org.id, "compliance_policy_item") == [
        "compliance_policy_item.created",
        "compliance_policy_item.removed",
    ]
    rule = _ok(officer.post("/api/v1/compliance/tenure-rules", json={"max_months": 18}), 201)
    rule_path = f"/api/v1/compliance/tenure-rules/{rule['id']}"
    _ok(officer.put(rule_path, json={"max_months": 18, "break_days": 90}))  # unchanged
    assert api.as_(cworld.manager).delete(rule_path).status_code == 403
    officer = api.as_(cworld.officer)
    assert officer.delete(rule_path).status_code == 204
    _problem(officer.delete(rule_path), 404)
    assert _ok(officer.get("/api/v1/compliance/tenure-rules")) == []
    assert _actions(session, cworld.org.id, "tenure_rule") == [
        "tenure_rule.set",
        "tenure_rule.removed",
    ]
    # the engagement has no limit any more
    status = _ok(officer.get(f"/api/v1/engagements/{cworld.engagement.id}/compliance"))
    assert status["tenure"] is None


# --- statements ------------------------------------------------------------------------------


def _documents(session, cworld, n, start):
    with as_org(session, cworld.org.id):
        stored = storage.store(
            session,
            org_id=cworld.org.id,
            filename="form.pdf",
            allowed_kinds=("pdf",),
            max_bytes=1024,
            data=PDF,
        )
        for version in range(start, start + n):
            session.add(
                ComplianceDocument(
                    org_id=cworld.org.id,
                    freelancer_id=cworld.freelancer.id,
                    kind="insurance",
                    version=version,
                    file_id=stored.id,
                    state="rejected",
                )
            )
        session.flush()


def _policy_items(session, cworld, n, start):
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    with as_org(session, cworld.org.id):
        for i in range(start, start + n):
            country = letters[i // 26] + letters[i % 26]
            session.add(PolicyItem(org_id=cworld.org.id, document_kind="nda", country=country))
        session.flush()


def _engagements(session, cworld, n, start):
    for _ in range(n):
        cworld.make_engagement(cworld.org, state="active")


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/api/v1/compliance/documents?per_page=200", _documents),
        ("/api/v1/compliance/documents?sort=-freelancer&state=rejected&per_page=200", _documents),
        ("/api/v1/compliance/policy-items?per_page=200", _policy_items),
        ("/api/v1/compliance/engagements?per_page=200&status=compliant", _engagements),
    ],
)
def test_lists_run_a_fixed_number_of_statements(api, session, cworld, query_counter, path, make):
    counts = []
    for n, start in ((10, 1), (40, 11)):  # 10 rows, then 50
        make(session, cworld, n, start)
        session.commit()
        client = api.as_(cworld.officer)
        with query_counter() as statements:
            response = client.get(path)
        assert response.status_code == 200, response.get_data()[:300]
        assert response.get_json()["total"] >= start + n - 1
        counts.append(len(statements))
    assert counts[0] == counts[1], f"{path}: {counts[0]} statements for 10, {counts[1]} for 50"


@pytest.mark.parametrize(
    "path", ["compliance/documents", "compliance/policy-items", "compliance/engagements"]
)
def test_every_sort_key_and_bad_filter(api, session, cworld, path):
    from fms.compliance.api_lists import DOCUMENTS, ENGAGEMENTS, POLICY_ITEMS

    spec = {"documents": DOCUMENTS, "policy-items": POLICY_ITEMS, "engagements": ENGAGEMENTS}[
        path.split("/")[1]
    ]
    client = api.as_(cworld.officer)
    for key in spec.sort_keys:
        for sort in (key, f"-{key}"):
            response = client.get(f"/api/v1/{path}?sort={sort}")
            assert response.status_code == 200, (sort, response.get_data()[:200])
    _problem(client.get(f"/api/v1/{path}?sort=nothing"), 422)
    for bad in ("state=bogus", "kind=bogus", "status=bogus", "document_kind=x", "active=2"):
        key = bad.split("=")[0]
        if spec.filter(key) is not None:
            _problem(client.get(f"/api/v1/{path}?{bad}"), 422)


def test_engagements_list_reads_statuses(api, session, cworld):
    engagement = cworld.make_engagement(cworld.org, state="active")
    session.commit()
    assert session.get(Engagement, engagement.id).state == "active"
    officer = api.as_(cworld.officer)
    rows = _ok(officer.get("/api/v1/compliance/engagements?sort=title"))
    assert {r["compliance_status"] for r in rows["items"]} == {"compliant"}
    onboarding = _ok(officer.get("/api/v1/compliance/engagements?state=approved"))
    assert [r["engagement_id"] for r in onboarding["items"]] == [cworld.engagement.id]


def test_a_typed_expiry_is_required_and_in_the_future(api, session, cworld):
    cworld.policy("insurance", validity="typed")
    session.commit()
    document = _ok(_upload(api.as_(cworld.me), kind="insurance"), 201)
    approve = f"/api/v1/compliance/documents/{document['id']}/approve"
    officer = api.as_(cworld.officer)
    _problem(officer.post(approve, json={}), 422)
    yesterday = (cworld.today - timedelta(days=1)).isoformat()
    _problem(officer.post(approve, json={"expires_on": yesterday}), 422)
    _problem(officer.post(approve, json={"expires_on": "0001-01-01"}), 422)
    later = (cworld.today + timedelta(days=200)).isoformat()
    approved = _ok(officer.post(approve, json={"expires_on": later, "reason": "Checked"}))
    assert approved["state"] == "approved" and approved["expires_on"] == later


def test_settings_are_read_and_bounded(api, cworld):
    officer = api.as_(cworld.officer)
    assert _ok(officer.get("/api/v1/compliance/settings")) == {
        "non_compliance_mode": "warn",
        "reassess_within_days": 30,
    }
    for bad in (
        {"non_compliance_mode": "maybe"},
        {"non_compliance_mode": "block", "reassess_within_days": 0},
        {"non_compliance_mode": "block", "reassess_within_days": 1.0},
        {"non_compliance_mode": "block", "mode": "x"},
    ):
        _problem(officer.put("/api/v1/compliance/settings", json=bad), 422)
    saved = officer.put(
        "/api/v1/compliance/settings",
        json={"non_compliance_mode": "block", "reassess_within_days": 14},
    )
    assert _ok(saved)["reassess_within_days"] == 14
    assert _ok(officer.get("/api/v1/compliance/settings"))["non_compliance_mode"] == "block"
