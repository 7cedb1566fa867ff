"""Compliance services: policies into checklists, activation, documents, signatures,
classification, tenure, the sweep and the timesheet block."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from fms import storage
from fms.audit.models import AuditEntry
from fms.compliance import classification, documents, rules, services, signing, tenure
from fms.compliance.models import (
    Classification,
    ComplianceDocument,
    EngagementCompliance,
    Signature,
)
from fms.compliance.sweep import sweep
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import system_actor
from fms.notifications.models import Notification
from fms.tenancy import scope_session
from fms.workforce import engagements as workforce
from fms.workforce.models import OnboardingStep
from tests.factories_compliance import HIGH_US, LOW_US, PDF, PNG


def steps(world, engagement=None):
    return {
        s.provider_key: s
        for s in workforce.onboarding_steps(world.session, (engagement or world.engagement).id)
        if s.provider_key
    }


def actions(world, action):
    return world.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    )


def complete_template_steps(world):
    """Tick the organization's own (non-compliance) checklist steps."""
    world.session.execute(
        update(OnboardingStep)
        .where(
            OnboardingStep.engagement_id == world.engagement.id,
            OnboardingStep.provider_key.is_(None),
        )
        .values(done_at=func.now())
    )


# --- policies and the checklist ------------------------------------------------------------


def test_onboarding_steps_come_from_the_policy_for_the_freelancers_country(cworld):
    cworld.policy("nda")
    cworld.policy("tax_form")
    cworld.policy("insurance", requirement="optional")
    cworld.policy("right_to_work", country="GB")
    cworld.onboard()
    provided = steps(cworld)
    assert set(provided) == {"compliance:nda", "compliance:w9", "compliance:insurance"}
    assert provided["compliance:w9"].kind == "upload"
    assert provided["compliance:nda"].kind == "sign"
    assert "optional" in provided["compliance:insurance"].title
    # a German freelancer's engagement asks for the W-8BEN instead
    other = cworld.make_engagement(
        cworld.org,
        freelancer=cworld.make_freelancer(cworld.org, country="DE"),
        state="approved",
        start=cworld.today + timedelta(days=400),
        end=cworld.today + timedelta(days=500),
    )
    cworld.onboard(other)
    assert set(steps(cworld, other)) == {
        "compliance:nda",
        "compliance:w8ben",
        "compliance:insurance",
    }


def test_a_provided_step_is_not_ticked_by_hand(cworld):
    cworld.policy("tax_form")
    cworld.onboard()
    step = steps(cworld)["compliance:w9"]
    with pytest.raises(RuleViolation, match="completes itself"):
        workforce.complete_step(cworld.session, actor=cworld.me, step_id=step.id)


def test_only_compliance_officers_set_policies(cworld):
    with pytest.raises(NotAllowed):
        services.set_policy_item(cworld.session, actor=cworld.procurement, document_kind="nda")
    with pytest.raises(InvalidInput):
        cworld.policy("passport")
    with pytest.raises(InvalidInput):
        cworld.policy("insurance", validity="months", validity_months="1.5")
    item = cworld.policy("insurance", validity="months", validity_months=12)
    again = cworld.policy("insurance", validity="typed")
    with pytest.raises(InvalidInput):
        services.update_settings(cworld.session, actor=cworld.officer, non_compliance_mode="stop")
    with pytest.raises(NotAllowed):
        services.update_settings(cworld.session, actor=cworld.manager, non_compliance_mode="block")
    assert again.id == item.id and again.validity == "typed"
    assert actions(cworld, "compliance_policy_item.updated") == 1


def test_policy_resolution_service_reads_the_organizations_items(cworld):
    cworld.policy("tax_form")
    cworld.policy("background_check", engagement_kind="trial", requirement="exempt")
    cworld.policy("background_check")
    assert [
        i.kind
        for i in services.resolve_policy(cworld.session, country="US", engagement_kind="trial")
    ] == ["w9"]
    assert [
        i.kind
        for i in services.resolve_policy(cworld.session, country="FR", engagement_kind="hourly")
    ] == [
        "w8ben",
        "background_check",
    ]


# --- activation ----------------------------------------------------------------------------


def test_activation_waits_for_every_required_item_done_and_reviewed(cworld):
    cworld.policy("nda")
    cworld.policy("tax_form", validity="months", validity_months=12)
    cworld.policy("classification")
    cworld.policy("insurance", requirement="optional")
    cworld.publish()
    cworld.onboard()
    complete_template_steps(cworld)

    def activate():
        return workforce.activate(
            cworld.session, actor=cworld.procurement, engagement_id=cworld.engagement.id
        )

    with pytest.raises(RuleViolation) as refused:
        activate()
    assert "Non-disclosure agreement is missing" in refused.value.detail
    assert "W-9" in refused.value.detail
    cworld.sign()
    document = cworld.upload("w9")
    with pytest.raises(RuleViolation, match="waits for review"):
        activate()
    cworld.approve(document)
    with pytest.raises(RuleViolation, match="classification"):
        activate()
    cworld.assess(LOW_US)
    assert all(s.done_at for s in steps(cworld).values() if "optional" not in s.title)
    # the optional insurance is not needed
    assert activate().state == "active"


def test_high_risk_classification_blocks_until_a_decision_with_rationale(cworld):
    cworld.onboard()
    complete_template_steps(cworld)
    result = cworld.assess(HIGH_US)
    with pytest.raises(RuleViolation, match="waits"):  # answering again escapes nothing
        cworld.assess(LOW_US)
    assert result.risk == "high" and result.state == "decision_needed"
    assert result.drivers[0]["question"] in ("instructions", "benefits")
    with pytest.raises(RuleViolation, match="decision"):
        workforce.activate(
            cworld.session, actor=cworld.procurement, engagement_id=cworld.engagement.id
        )
    with pytest.raises(NotAllowed):
        classification.decide(
            cworld.session,
            actor=cworld.procurement,
            classification_id=result.id,
            accept=True,
            rationale="fine",
        )
    with pytest.raises(InvalidInput):
        classification.decide(
            cworld.session,
            actor=cworld.officer,
            classification_id=result.id,
            accept=True,
            rationale=" ",
        )
    classification.decide(
        cworld.session,
        actor=cworld.officer,
        classification_id=result.id,
        accept=True,
        rationale="Fixed deliverables; own equipment.",
    )
    with pytest.raises(RuleViolation):
        classification.decide(
            cworld.session,
            actor=cworld.officer2,
            classification_id=result.id,
            accept=False,
            rationale="No",
        )
    engagement = workforce.activate(
        cworld.session, actor=cworld.procurement, engagement_id=cworld.engagement.id
    )
    assert engagement.state == "active"
    assert actions(cworld, "classification.accepted") == 1


def test_refused_classification_keeps_blocking(cworld):
    cworld.onboard()
    complete_template_steps(cworld)
    ca = cworld.assess(
        {
            "prong_a_free_from_control": "yes",
            "prong_b_outside_usual_course": "no",
            "prong_c_independent_business": "yes",
        },
        jurisdiction="us_ca",
    )
    assert ca.risk == "high"
    classification.decide(
        cworld.session,
        actor=cworld.officer,
        classification_id=ca.id,
        accept=False,
        rationale="Core business work.",
    )
    with pytest.raises(RuleViolation, match="refused"):
        workforce.activate(
            cworld.session, actor=cworld.procurement, engagement_id=cworld.engagement.id
        )
    with pytest.raises(RuleViolation, match="refused"):
        cworld.assess(LOW_US)
    # the officer may record a new assessment (say, after the terms were rewritten)
    assert cworld.assess(LOW_US, actor=cworld.officer).state == "assessed"


def test_questionnaire_must_fit_the_country_and_be_complete(cworld):
    cworld.onboard()
    with pytest.raises(InvalidInput):
        cworld.assess(jurisdiction="uk_ir35")
    with pytest.raises(InvalidInput):
        cworld.assess({"instructions": "no"})
    assert (
        cworld.assess(
            jurisdiction="generic",
            answers={
                q: "no"
                for q in (
                    "control",
                    "integration",
                    "personal_service",
                    "single_client",
                    "continuity",
                )
            }
            | {"own_tools": "yes"},
        ).risk
        == "low"
    )


# --- documents -----------------------------------------------------------------------------


def _stored_count(world):
    root = storage.storage_root() / "files"
    on_disk = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
    rows = world.session.scalar(select(func.count()).select_from(storage.StoredFile))
    docs = world.session.scalar(select(func.count()).select_from(ComplianceDocument))
    return on_disk, rows, docs


@pytest.mark.parametrize(
    ("case", "upload"),
    [
        ("oversize", {"data": PDF + b"0" * 2048}),
        ("empty", {"data": b""}),
        (
            "executable named .pdf",
            {"data": b"MZ\x90\x00\x03" + b"\x00" * 100, "filename": "form.pdf"},
        ),
        ("script named .pdf", {"data": b"#!/bin/sh\nrm -rf /\n", "filename": "form.pdf"}),
        ("pdf declared as png", {"data": PDF, "declared_type": "image/png"}),
        ("png declared as pdf", {"data": PNG, "declared_type": "application/pdf"}),
        ("path traversal", {"data": PDF, "filename": "../../etc/passwd.pdf"}),
        ("windows path traversal", {"data": PDF, "filename": "..\\..\\boot.pdf"}),
        ("absolute path", {"data": PDF, "filename": "/etc/form.pdf"}),
    ],
)
def test_refused_uploads_store_nothing(cworld, app, monkeypatch, case, upload):
    monkeypatch.setitem(app.config, "FMS_COMPLIANCE_MAX_UPLOAD_BYTES", 1024)
    before = _stored_count(cworld)
    with pytest.raises(InvalidInput):
        cworld.upload("w9", **upload)
    assert _stored_count(cworld) == before


def test_an_accepted_upload_is_stored_under_a_generated_name_with_its_hash(cworld):
    document = cworld.upload("w9", data=PNG, filename="my scan.png", declared_type="image/png")
    stored = storage.get_file(cworld.session, document.file_id)
    assert stored.media_type == "image/png"
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
    assert stored.original_name == "my scan.png"
    assert "my scan" not in str(storage.path_of(stored))
    assert document.version == 1 and document.state == "pending_review"


def test_the_virus_scanner_hook_refuses_and_removes_the_file(cworld):
    def scanner(path):
        return "Eicar-Test-Signature FOUND" if path.read_bytes() == PDF else None

    documents.register_scanner(scanner)
    try:
        before = _stored_count(cworld)
        with pytest.raises(InvalidInput, match="virus"):
            cworld.upload("w9")
        assert _stored_count(cworld) == before
        assert cworld.upload("w9", data=PNG, filename="a.png").version == 1
    finally:
        documents.unregister_scanner(scanner)


def test_versions_replace_rejected_documents_and_keep_the_old_ones(cworld):
    first = cworld.upload("w9")
    with pytest.raises(RuleViolation, match="waiting for review"):
        cworld.upload("w9")
    with pytest.raises(InvalidInput, match="why"):
        documents.review_document(
            cworld.session, actor=cworld.officer, document_id=first.id, approve=False
        )
    documents.review_document(
        cworld.session,
        actor=cworld.officer,
        document_id=first.id,
        approve=False,
        reason="Unsigned form.",
    )
    # the freelancer is told why, once, with the way to replace it
    from fms.notifications.models import Notification

    [told] = cworld.session.scalars(
        select(Notification).where(Notification.kind == "compliance.document_reviewed")
    ).all()
    assert told.user_id == cworld.freelancer.user_id
    assert "rejected" in told.title and "Unsigned form." in told.body
    second = cworld.upload("w9")
    assert second.version == 2
    cworld.approve(second)
    with pytest.raises(RuleViolation, match="still valid"):
        cworld.upload("w9")
    kept = documents.versions(
        cworld.session, actor=cworld.officer, freelancer_id=cworld.freelancer.id, kind="w9"
    )
    assert [(d.version, d.state) for d in kept] == [(2, "approved"), (1, "rejected")]
    assert actions(cworld, "compliance_document.rejected") == 1
    assert actions(cworld, "compliance_document.approved") == 1


def test_review_rules_role_own_upload_and_expiry(cworld):
    cworld.policy("tax_form", validity="typed", reviewer_role="procurement")
    cworld.policy("insurance", validity="months", validity_months=12)
    w9 = cworld.upload("w9")
    with pytest.raises(NotAllowed):  # the policy names procurement for tax forms
        cworld.approve(w9, actor=cworld.officer)
    with pytest.raises(InvalidInput, match="expiry"):
        cworld.approve(w9, actor=cworld.procurement)
    with pytest.raises(InvalidInput, match="expired"):
        cworld.approve(w9, actor=cworld.procurement, expires_on=cworld.today.isoformat())
    typed = (cworld.today + timedelta(days=200)).isoformat()
    assert (
        cworld.approve(w9, actor=cworld.procurement, expires_on=typed).expires_on.isoformat()
        == typed
    )
    own = cworld.upload("insurance", actor=cworld.officer)
    with pytest.raises(NotAllowed, match="uploaded"):
        cworld.approve(own, actor=cworld.officer)
    approved = cworld.approve(own, actor=cworld.officer2)
    # twelve months from approval: the day before the same date a year later
    assert approved.expires_on == rules.add_months(cworld.today, 12) - timedelta(days=1)


def test_downloads_for_owner_reviewers_and_admins_only(cworld, make_member, actor_of, make_user):
    cworld.policy("tax_form", reviewer_role="procurement")
    document = cworld.upload("w9")
    for actor in (cworld.me, cworld.officer, cworld.admin, cworld.procurement):
        assert documents.may_download(cworld.session, actor=actor, document=document)
        assert (
            documents.download_file(cworld.session, actor=actor, document_id=document.id).id
            == document.file_id
        )
    stranger_user = make_user()
    stranger = actor_of(make_member(cworld.org, roles=("freelancer",), user=stranger_user))
    cworld.make_freelancer(cworld.org, user_id=stranger_user.id)
    for actor in (stranger, cworld.manager):
        assert not documents.may_download(cworld.session, actor=actor, document=document)
        with pytest.raises(NotFound):
            documents.download_file(cworld.session, actor=actor, document_id=document.id)
    with pytest.raises(NotFound):  # another freelancer cannot upload onto this profile
        cworld.upload("w9", actor=stranger)


def test_another_tenants_document_is_not_found(cworld, make_org, make_member, actor_of):
    document = cworld.upload("w9")
    other = make_org()
    outsider = actor_of(make_member(other, roles=("compliance", "org_admin")))
    scope_session(cworld.session, other.id)
    try:
        for call in (
            lambda: documents.get_document(cworld.session, actor=outsider, document_id=document.id),
            lambda: documents.download_file(
                cworld.session, actor=outsider, document_id=document.id
            ),
            lambda: documents.review_document(
                cworld.session, actor=outsider, document_id=document.id, approve=True
            ),
        ):
            with pytest.raises(NotFound):
                call()
    finally:
        scope_session(cworld.session, cworld.org.id)


# --- signatures ----------------------------------------------------------------------------


def test_signature_holds_the_exact_text_and_its_hash(cworld):
    cworld.policy("nda")
    cworld.publish()
    cworld.onboard()
    shown = signing.render_for_signing(
        cworld.session, actor=cworld.me, engagement_id=cworld.engagement.id, kind="nda"
    )
    assert "between Northwind Compliance and Ada Lovelace" in shown.text
    assert "90.00 EUR" in shown.text
    with pytest.raises(InvalidInput, match="full name"):
        cworld.sign(name="A. Lovelace")
    signature = cworld.sign(
        name="  ada   LOVELACE", template_id=shown.template.id, seen_sha256=shown.sha256
    )
    assert signature.signed_text == shown.text
    assert signature.text_sha256 == hashlib.sha256(signature.signed_text.encode()).hexdigest()
    assert signature.template_version == 1
    assert signature.ip == "127.0.0.1" and signature.user_agent == "pytest-browser/1.0"
    pdf = storage.get_file(cworld.session, signature.pdf_file_id)
    data = storage.path_of(pdf).read_bytes()
    assert data.startswith(b"%PDF-") and pdf.sha256 == hashlib.sha256(data).hexdigest()
    assert steps(cworld)["compliance:nda"].done_at is not None
    with pytest.raises(RuleViolation, match="already"):
        cworld.sign()
    assert actions(cworld, "signature.signed") == 1
    for reader in (cworld.me, cworld.officer, cworld.admin, cworld.procurement):
        assert (
            signing.signature_pdf(cworld.session, actor=reader, signature_id=signature.id).id
            == signature.pdf_file_id
        )
    with pytest.raises(NotFound):
        signing.signature_pdf(cworld.session, actor=cworld.manager, signature_id=signature.id)


def test_a_new_template_version_leaves_past_signatures_alone(cworld):
    first = cworld.publish()
    cworld.onboard()
    signature = cworld.sign()
    kept = (signature.signed_text, signature.text_sha256, signature.template_id)
    second = cworld.publish(body="Version two for {{ freelancer_name }}.")
    assert (first.version, second.version) == (1, 2)
    cworld.session.expire_all()
    again = cworld.session.get(Signature, signature.id)
    assert (again.signed_text, again.text_sha256, again.template_id) == kept
    assert again.template_version == 1
    # a signature never changes
    again.typed_name = "Someone Else"
    with pytest.raises(RuleViolation, match="never changes"):
        cworld.session.flush()
    cworld.session.rollback()


def test_a_stale_page_or_newer_template_asks_to_read_again(cworld):
    first = cworld.publish()
    cworld.onboard()
    cworld.publish(body="Changed terms for {{ freelancer_name }}.")
    with pytest.raises(RuleViolation, match="newer version"):
        cworld.sign(template_id=first.id)
    with pytest.raises(RuleViolation, match="changed"):
        cworld.sign(seen_sha256="0" * 64)


def test_templates_accept_known_placeholders_only_and_only_from_officers(cworld):
    with pytest.raises(InvalidInput, match="Check"):
        cworld.publish(body="Hello {{ config.SECRET_KEY }} {{ password }}")
    with pytest.raises(NotAllowed):
        signing.publish_template(cworld.session, actor=cworld.me, kind="nda", title="x", body="x")


def test_another_freelancer_cannot_sign_or_read(cworld, make_member, make_user, actor_of):
    cworld.publish()
    cworld.onboard()
    user = make_user(name="Ada Lovelace")
    twin = actor_of(make_member(cworld.org, roles=("freelancer",), user=user))
    cworld.make_freelancer(cworld.org, user_id=user.id, legal_name="Ada Lovelace")
    with pytest.raises(NotFound):
        signing.render_for_signing(
            cworld.session, actor=twin, engagement_id=cworld.engagement.id, kind="nda"
        )
    with pytest.raises(NotFound):
        signing.sign(
            cworld.session,
            actor=twin,
            engagement_id=cworld.engagement.id,
            kind="nda",
            typed_name="Ada Lovelace",
        )


def test_pdf_fetcher_fetches_nothing_but_our_static_files(app):
    with app.test_request_context():
        fetcher = signing.StaticOnlyFetcher(signing.static_root())
        pdf = signing.html_to_pdf(
            '<link rel="stylesheet" href="css/fms.css">'
            '<p>x<img src="http://198.51.100.7/pixel.png">'
            '<img src="file:///etc/passwd"><img src="https://example.com/a.png">'
            '<img src="../../../../etc/hostname"></p>',
            fetcher=fetcher,
        )
        assert pdf.startswith(b"%PDF-")
        assert "http://198.51.100.7/pixel.png" in fetcher.refused
        assert "file:///etc/passwd" in fetcher.refused
        assert "https://example.com/a.png" in fetcher.refused
        assert any(u.endswith("/etc/hostname") for u in fetcher.refused)
        assert not any(u.endswith("fms.css") for u in fetcher.refused)


def test_template_text_is_never_markup_in_the_pdf(app):
    from flask import render_template

    with app.test_request_context():
        html = render_template(
            "compliance/pdf/signed.html",
            signature={"title": "NDA", "typed_name": "<b>x</b>"},
            paragraphs=['<img src="http://198.51.100.7/x.png">', "{{ config }}"],
        )
    assert "<img" not in html and "&lt;img" in html
    assert "{{ config }}" in html and "<b>x</b>" not in html


# --- amendments: re-assessment and tenure ---------------------------------------------------


def _extend(world, new_end, actor=None):
    return workforce.request_amendment(
        world.session,
        actor=actor or world.procurement,
        engagement_id=world.engagement.id,
        kind="extension",
        effective_from=world.engagement.start_date.isoformat(),
        new_end_date=new_end.isoformat(),
        reason="More work",
    )


def test_an_extension_asks_for_a_fresh_classification(cworld):
    cworld.onboard()
    assessed = cworld.assess(LOW_US)
    cworld.session.execute(
        update(Classification)
        .where(Classification.id == assessed.id)
        .values(assessed_at=assessed.assessed_at - timedelta(days=45))
    )
    cworld.session.expire_all()
    with pytest.raises(InvalidInput) as refused:
        _extend(cworld, cworld.engagement.end_date + timedelta(days=30))
    assert "Re-assess" in str(refused.value.errors)
    cworld.assess(LOW_US)
    assert _extend(cworld, cworld.engagement.end_date + timedelta(days=30)).state == "pending"


def test_no_classification_no_reassessment_gate(cworld):
    cworld.onboard()
    assert _extend(cworld, cworld.engagement.end_date + timedelta(days=30)).state == "pending"


def test_extension_past_the_tenure_limit_needs_an_override(cworld):
    tenure.set_rule(cworld.session, actor=cworld.officer, max_months=7, break_days=60)
    cworld.onboard()
    span = tenure.tenure_of(cworld.session, cworld.engagement)
    assert span.run_start == cworld.engagement.start_date
    with pytest.raises(InvalidInput) as refused:
        _extend(cworld, span.limit + timedelta(days=1))
    assert "tenure limit" in str(refused.value.errors)
    assert _extend(cworld, span.limit).state == "pending"
    with pytest.raises(NotAllowed):
        tenure.grant_override(
            cworld.session,
            actor=cworld.procurement,
            engagement_id=cworld.engagement.id,
            allowed_until=span.limit + timedelta(days=60),
            reason="x",
        )
    with pytest.raises(InvalidInput):
        tenure.grant_override(
            cworld.session,
            actor=cworld.officer,
            engagement_id=cworld.engagement.id,
            allowed_until=span.limit + timedelta(days=60),
            reason="",
        )
    tenure.grant_override(
        cworld.session,
        actor=cworld.officer,
        engagement_id=cworld.engagement.id,
        allowed_until=span.limit + timedelta(days=60),
        reason="Migration must finish; counsel agreed.",
    )
    assert _extend(cworld, span.limit + timedelta(days=60)).state == "pending"
    with pytest.raises(InvalidInput):
        _extend(cworld, span.limit + timedelta(days=61))


def test_a_country_rule_beats_the_organization_rule(cworld):
    tenure.set_rule(cworld.session, actor=cworld.officer, max_months=24)
    tenure.set_rule(cworld.session, actor=cworld.officer, max_months=6, country="us")
    assert tenure.tenure_of(cworld.session, cworld.engagement).max_months == 6
    assert actions(cworld, "tenure_rule.set") == 2


# --- the sweep -----------------------------------------------------------------------------


def _inbox(world, kind):
    return world.session.scalars(
        select(Notification.user_id).where(Notification.kind == kind).order_by(Notification.id)
    ).all()


def _activate_with_w9(world, months=12):
    world.policy("tax_form", validity="months", validity_months=months)
    world.onboard()
    complete_template_steps(world)
    document = world.approve(world.upload("w9"))
    workforce.activate(world.session, actor=world.procurement, engagement_id=world.engagement.id)
    return document


def test_sweep_warns_of_expiry_marks_non_compliant_and_is_idempotent(cworld):
    document = _activate_with_w9(cworld)
    expires = document.expires_on
    system = system_actor(cworld.org.id)
    people = sorted([cworld.me.user_id, cworld.manager.user_id])

    def run(day):
        return sweep(cworld.session, actor=system, today=day)

    assert run(expires - timedelta(days=31)).notified == 0
    assert run(expires - timedelta(days=30)).notified == 2
    assert sorted(_inbox(cworld, "compliance.document_expiring")) == people
    assert run(expires - timedelta(days=30)).notified == 0  # twice: nothing twice
    assert run(expires - timedelta(days=29)).notified == 0  # same threshold
    assert run(expires - timedelta(days=14)).notified == 2
    assert run(expires - timedelta(days=7)).notified == 2
    assert run(expires).notified == 0
    # the day after expiry: expired, and the engagement is non-compliant
    report = run(expires + timedelta(days=1))
    assert (report.expired, report.non_compliant) == (1, 1)
    assert cworld.session.get(ComplianceDocument, document.id).state == "expired"
    status = cworld.session.scalar(select(EngagementCompliance))
    assert status.state == "non_compliant" and "W-9" in status.reason
    assert sorted(_inbox(cworld, "compliance.non_compliant")) == people
    again = run(expires + timedelta(days=1))
    assert (again.expired, again.non_compliant, again.notified) == (0, 0, 0)
    assert actions(cworld, "compliance_document.expired") == 1
    assert actions(cworld, "engagement_compliance.non_compliant") == 1
    # a new version approved: compliant again at the next sweep
    # a replacement waiting for review does not make it compliant yet
    renewed = cworld.upload("w9")
    assert run(expires + timedelta(days=2)).compliant_again == 0
    assert cworld.session.scalar(select(EngagementCompliance.state)) == "non_compliant"
    cworld.approve(renewed)
    # approved "today" (the real one): valid a year from the day the sweep now runs
    cworld.session.execute(
        update(ComplianceDocument)
        .where(ComplianceDocument.id == renewed.id)
        .values(expires_on=expires + timedelta(days=365))
    )
    assert run(expires + timedelta(days=2)).compliant_again == 1


def test_sweep_tenure_warnings_at_90_60_30_days(cworld):
    tenure.set_rule(cworld.session, actor=cworld.officer, max_months=6)
    cworld.onboard()
    complete_template_steps(cworld)
    workforce.activate(cworld.session, actor=cworld.procurement, engagement_id=cworld.engagement.id)
    limit = tenure.tenure_of(cworld.session, cworld.engagement).limit
    system = system_actor(cworld.org.id)
    sent = []
    for days in (91, 90, 89, 60, 45, 30, 30, 1):
        sent.append(
            sweep(cworld.session, actor=system, today=limit - timedelta(days=days)).notified
        )
    assert sent == [0, 2, 0, 2, 0, 2, 0, 0]


@pytest.mark.parametrize(("mode", "blocked"), [("block", True), ("warn", False)])
def test_non_compliant_engagements_cannot_submit_under_block(cworld, mode, blocked):
    from fms.timesheets import services as ts

    document = _activate_with_w9(cworld)
    services.update_settings(cworld.session, actor=cworld.officer, non_compliance_mode=mode)
    sweep(
        cworld.session,
        actor=system_actor(cworld.org.id),
        today=document.expires_on + timedelta(days=1),
    )
    week = cworld.engagement.start_date - timedelta(days=cworld.engagement.start_date.weekday())
    week = week + timedelta(days=7)
    sheet = ts.open_timesheet(
        cworld.session, actor=cworld.me, engagement_id=cworld.engagement.id, week_start=week
    )
    ts.save_entries(
        cworld.session,
        actor=cworld.me,
        timesheet_id=sheet.id,
        entries=[{"work_date": week.isoformat(), "minutes": 480}],
    )
    submit = lambda: ts.submit_timesheet(  # noqa: E731
        cworld.session, actor=cworld.me, timesheet_id=sheet.id, today=cworld.today
    )
    if blocked:
        with pytest.raises(RuleViolation, match="not compliant"):
            submit()
    else:
        submit()


def test_sweep_command_runs_for_every_organization(cworld, app):
    _activate_with_w9(cworld, months=1)
    cworld.session.commit()
    day = (cworld.today + timedelta(days=60)).isoformat()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["fms", "compliance", "sweep", "--today", day])
    assert result.exit_code == 0, result.output
    assert f"organization {cworld.org.id}: 1 expired" in result.output
    again = runner.invoke(args=["fms", "compliance", "sweep", "--today", day])
    assert f"organization {cworld.org.id}: 0 expired, 0 notified" in again.output
    bad = runner.invoke(args=["fms", "compliance", "sweep", "--today", "0001-01-01"])
    assert bad.exit_code != 0


# --- audit words ---------------------------------------------------------------------------


def test_every_action_compliance_writes_has_words(app):
    import re
    from pathlib import Path

    from fms.audit import hooks
    from fms.compliance import documents as d

    root = Path(__file__).parent.parent / "fms" / "compliance"
    found = set()
    for path in root.glob("*.py"):
        text = path.read_text()
        for call in re.finditer(r"audit\.record\((.{0,120})", text, re.S):
            found.update(re.findall(r'"([a-z_]+\.[a-z_]+)"', call.group(1)))
        found.update(re.findall(r'action="([a-z_]+\.[a-z_]+)"', text))
    assert "signature.signed" in found and "compliance_document.expired" in found
    found |= {f"compliance_document.{s}" for s in set().union(*d.DOCUMENT_TRANSITIONS.values())}
    found |= {
        f"classification.{s}"
        for s in set().union(*classification.CLASSIFICATION_TRANSITIONS.values())
    }
    found |= {f"engagement_compliance.{s}" for s in services.STATUS_TRANSITIONS}
    words = hooks.known_actions()
    assert not {a for a in found if a not in words}


def test_an_engagement_booked_past_the_tenure_limit_needs_an_override_to_activate(cworld):
    # earlier work ended 30 days before this engagement: with a 60-day break rule it is one
    # continuous run, which this engagement takes past 12 months
    tenure.set_rule(cworld.session, actor=cworld.officer, max_months=12, break_days=60)
    start = cworld.engagement.start_date
    cworld.make_engagement(
        cworld.org,
        freelancer=cworld.freelancer,
        state="ended",
        start=start - timedelta(days=300),
        end=start - timedelta(days=31),
    )
    span = tenure.tenure_of(cworld.session, cworld.engagement)
    assert span.run_start == start - timedelta(days=300)
    assert span.limit < cworld.engagement.end_date
    cworld.onboard()
    complete_template_steps(cworld)
    with pytest.raises(RuleViolation, match="tenure limit"):
        workforce.activate(
            cworld.session, actor=cworld.procurement, engagement_id=cworld.engagement.id
        )
    tenure.grant_override(
        cworld.session,
        actor=cworld.officer,
        engagement_id=cworld.engagement.id,
        allowed_until=cworld.engagement.end_date + timedelta(days=1),
        reason="Project closes in spring; counsel agreed.",
    )
    engagement = workforce.activate(
        cworld.session, actor=cworld.procurement, engagement_id=cworld.engagement.id
    )
    assert engagement.state == "active"
    assert actions(cworld, "tenure_override.granted") == 1


def test_onboarding_from_an_invitation_adds_the_policy_steps(cworld, make_user, make_member):
    cworld.policy("nda")
    cworld.policy("tax_form")
    user = make_user(name="Lin Invited")
    make_member(cworld.org, roles=("freelancer",), user=user)
    cworld.make_freelancer(cworld.org, user_id=user.id, country="GB", email=user.email)
    invited = cworld.make_engagement(
        cworld.org,
        freelancer=cworld.make_freelancer(cworld.org),
        state="approved",
        start=cworld.today + timedelta(days=30),
        end=cworld.today + timedelta(days=90),
    )
    invited.freelancer_id = None
    cworld.session.flush()
    workforce.onboard_from_invitation(
        cworld.session, org_id=cworld.org.id, engagement_id=invited.id, user_id=user.id
    )
    assert invited.state == "onboarding"
    assert set(steps(cworld, invited)) == {"compliance:nda", "compliance:w8ben"}


def test_queries_for_the_pages(cworld):
    from fms.compliance import queries

    cworld.policy("tax_form", validity="months", validity_months=1)
    cworld.policy("insurance", reviewer_role="procurement")
    w9 = cworld.upload("w9")
    insurance = cworld.upload("insurance")
    assert [r.document_id for r in queries.review_queue(cworld.session, actor=cworld.officer)] == [
        w9.id
    ]
    assert [
        r.document_id for r in queries.review_queue(cworld.session, actor=cworld.procurement)
    ] == [insurance.id]
    assert queries.review_queue(cworld.session, actor=cworld.manager) == []
    cworld.onboard()
    high = cworld.assess(HIGH_US)
    assert queries.decisions_waiting(cworld.session, actor=cworld.officer) == [high]
    assert queries.decisions_waiting(cworld.session, actor=cworld.me) == []
    assert queries.risk_distribution(cworld.session) == {"low": 0, "medium": 0, "high": 1}
    cworld.engagement.state = "active"
    cworld.session.flush()
    today = cworld.today
    assert queries.status_counts(cworld.session, today=today)["awaiting_review"] == 1
    cworld.approve(w9)
    documents.review_document(
        cworld.session, actor=cworld.procurement, document_id=insurance.id, approve=True
    )
    assert queries.status_counts(cworld.session, today=today)["expiring"] == 1
    sweep(cworld.session, actor=system_actor(cworld.org.id), today=today + timedelta(days=45))
    assert queries.status_counts(cworld.session, today=today + timedelta(days=45)) == {
        "compliant": 0,
        "expiring": 0,
        "awaiting_review": 0,
        "non_compliant": 1,
    }


def test_a_renewal_waiting_for_review_does_not_undo_the_current_document(cworld):
    cworld.policy("tax_form", validity="typed")
    current = cworld.approve(
        cworld.upload("w9"), expires_on=(cworld.today + timedelta(days=20)).isoformat()
    )
    renewal = cworld.upload("w9")  # within 30 days of expiry: a renewal is accepted
    assert renewal.version == 2
    cworld.onboard()
    statuses = services.item_statuses(cworld.session, cworld.engagement, today=cworld.today)
    assert [(s.item.kind, s.status) for s in statuses] == [("w9", "done")]
    documents.review_document(
        cworld.session,
        actor=cworld.officer,
        document_id=renewal.id,
        approve=False,
        reason="Blurred",
    )
    statuses = services.item_statuses(cworld.session, cworld.engagement, today=cworld.today)
    assert statuses[0].status == "done"
    # once the current one's date passes, it is expired (the rejected renewal does not help)
    later = current.expires_on + timedelta(days=1)
    assert services.item_statuses(cworld.session, cworld.engagement, today=later)[0].status == (
        "rejected"
    )


def test_a_renewed_document_is_not_warned_about(cworld):
    cworld.policy("tax_form", validity="typed")
    old = cworld.approve(
        cworld.upload("w9"), expires_on=(cworld.today + timedelta(days=25)).isoformat()
    )
    system = system_actor(cworld.org.id)
    assert sweep(cworld.session, actor=system, today=old.expires_on - timedelta(days=14)).notified
    renewal = cworld.upload("w9")  # within 30 days of expiry
    cworld.approve(renewal, expires_on=(cworld.today + timedelta(days=400)).isoformat())
    assert (
        sweep(cworld.session, actor=system, today=old.expires_on - timedelta(days=7)).notified == 0
    )


def test_the_signed_pdf_has_an_evidence_page(app):
    from flask import render_template
    from weasyprint import HTML

    evidence = {
        "title": "Mutual NDA",
        "kind": "nda",
        "template_version": 3,
        "organization": "Northwind",
        "engagement": "Data platform",
        "typed_name": "Ada Lovelace",
        "legal_name": "Ada Lovelace",
        "signed_at": "2026-12-02 10:00:00 UTC",
        "ip": "203.0.113.9",
        "user_agent": "Firefox",
        "text_sha256": "ab" * 32,
    }
    with app.test_request_context():
        html = render_template(
            "compliance/pdf/signed.html", signature=evidence, paragraphs=["One.", "Two."]
        )
        pages = (
            HTML(
                string=html,
                url_fetcher=signing.StaticOnlyFetcher(signing.static_root()).weasyprint_fetcher,
            )
            .render()
            .pages
        )
    assert len(pages) == 2  # the text, then the evidence on a page of its own
    for value in ("ab" * 32, "203.0.113.9", "Firefox", "template version 3"):
        assert value in html


# --- the sweep at scale --------------------------------------------------------------------


def _sweep_org(session, n, *, make_org, make_member, make_freelancer, make_engagement, actor_of):
    """An organization with `n` active engagements: a third with a W-9 expiring within 30
    days, a third with one that expired yesterday, a third current; half near the tenure
    limit; a fifth ending in ten days."""
    from fms.compliance.rules import add_months
    from fms.timekeeping import today_in

    org = make_org(name=f"Sweep {n}")
    scope_session(session, org.id)
    officer = actor_of(make_member(org, roles=("compliance",)))
    services.set_policy_item(
        session, actor=officer, document_kind="tax_form", validity="months", validity_months=12
    )
    tenure.set_rule(session, actor=officer, max_months=12)
    today = today_in(org.timezone)
    stored = storage.store(
        session, org_id=org.id, filename="w9.pdf", allowed_kinds=("pdf",), max_bytes=10**6, data=PDF
    )
    manager = make_member(org, roles=("hiring_manager",)).user_id
    for i in range(n):
        user_id = make_member(org, roles=("freelancer",)).user_id
        profile = make_freelancer(org, user_id=user_id, country="US")
        start = add_months(today + timedelta(days=61), -12) if i % 2 == 0 else today - timedelta(30)
        end = today + timedelta(days=10 if i % 5 == 4 else 200)  # a fifth end soon
        make_engagement(org, freelancer=profile, manager_id=manager, start=start, end=end)
        expires = (today + timedelta(days=20), today - timedelta(days=1), today + timedelta(300))
        session.add(
            ComplianceDocument(
                org_id=org.id,
                freelancer_id=profile.id,
                kind="w9",
                version=1,
                file_id=stored.id,
                state="approved",
                expires_on=expires[i % 3],
            )
        )
    session.flush()
    return org


def test_the_sweep_makes_a_fixed_number_of_statements_per_organization(
    session, make_org, make_member, make_freelancer, make_engagement, actor_of, query_counter
):
    from fms.timekeeping import today_in

    counts = {}
    for n in (10, 200):
        org = _sweep_org(
            session,
            n,
            make_org=make_org,
            make_member=make_member,
            make_freelancer=make_freelancer,
            make_engagement=make_engagement,
            actor_of=actor_of,
        )
        system, today = system_actor(org.id), today_in(org.timezone)
        with query_counter() as statements:
            report = sweep(session, actor=system, today=today)
        counts[n] = len(statements)
        expired = len(range(1, n, 3))
        assert (report.expired, report.non_compliant) == (expired, expired)
        # expiring: freelancer and manager; non-compliant: both; tenure (even rows): both
        assert report.notified == 2 * (len(range(0, n, 3)) + expired + len(range(0, n, 2)))
        assert report.offboarding_opened == len(range(4, n, 5))
        again = sweep(session, actor=system, today=today)
        assert (again.expired, again.non_compliant, again.notified) == (0, 0, 0)
        assert again.offboarding_opened == 0
        assert (
            session.scalar(
                select(func.count())
                .select_from(EngagementCompliance)
                .where(EngagementCompliance.state == "non_compliant")
            )
            == expired
        )
    assert counts[10] == counts[200], counts
    assert counts[200] <= 40, counts


def test_compliance_asks_permissions_not_role_names():
    """Services ask `actor.can(...)` (the one permission table); the only role compared by
    name is the reviewing role a policy item names (documents and the reviewers' queue)."""
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent / "fms" / "compliance"
    role_names = "|".join(("org_admin", "procurement", "hiring_manager", "compliance", "finance"))
    for path in root.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.name}:{number}: {line.strip()}"
            if "actor.roles" in line:
                assert re.search(r"(\brole\b|_reviewer_role\(.*\)) (not )?in actor\.roles", line), (
                    where
                )
            assert not re.search(rf"\"({role_names})\" (not )?in ", line), where
            assert "has_role" not in line, where
