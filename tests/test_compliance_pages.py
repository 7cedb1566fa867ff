"""The compliance officer's pages as an officer uses them: sets policies (a bad one is an
inline error and changes nothing), reviews documents (a rejection needs a reason), decides
a high-risk classification with a rationale, publishes a text to sign, sets tenure limits
and overrides, exports the engagements by status — and nobody else's data shows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from fms.compliance import documents
from fms.compliance.models import (
    Classification,
    ComplianceDocument,
    PolicyItem,
    SigningTemplate,
    TenureOverride,
    TenureRule,
)
from fms.identity.models import User
from fms.tenancy import scope_session
from tests.factories import as_org
from tests.factories_compliance import HIGH_US, NDA_TEXT, PDF


@pytest.fixture
def web(app, session, sign_in, cworld):
    """Test clients signed in as the compliance world's people: web('officer'), web('me')."""

    def client(who: str):
        actor = getattr(cworld, who)
        c = app.test_client()
        sign_in(c, session.get(User, actor.user_id), cworld.org)
        scope_session(session, cworld.org.id)
        return c

    session.commit()
    return client


def _text(response) -> str:
    return response.get_data(as_text=True)


def _items(session):
    return session.scalars(select(PolicyItem).where(PolicyItem.is_active.is_(True))).all()


POLICY = {
    "document_kind": "nda",
    "country": "",
    "engagement_kind": "",
    "requirement": "required",
    "validity": "none",
    "validity_months": "",
    "reviewer_role": "compliance",
}


def test_an_officer_sets_changes_and_removes_a_policy(web, cworld, session):
    officer = web("officer")
    page = _text(officer.get("/compliance/"))
    assert "Set your first policy" in page
    response = officer.post_form("/compliance/policies", POLICY)
    assert response.status_code == 302, _text(response)[:2000]
    shown = _text(officer.get(response.headers["Location"]))
    assert "Policy saved" in shown and "Non-disclosure agreement" in shown
    [item] = _items(session)
    assert (item.document_kind, item.country, item.requirement) == ("nda", "", "required")

    # a country-specific tax form, valid 12 months, reviewed by procurement
    response = officer.post_form(
        "/compliance/policies",
        dict(
            POLICY,
            document_kind="tax_form",
            country="us",
            validity="months",
            validity_months="12",
            reviewer_role="procurement",
        ),
    )
    assert response.status_code == 302
    tax = session.scalar(select(PolicyItem).where(PolicyItem.document_kind == "tax_form"))
    assert (tax.country, tax.validity_months, tax.reviewer_role) == ("US", 12, "procurement")

    # change it on its own page: the key stays, the rule changes
    response = officer.post(
        f"/compliance/policies/{tax.id}",
        data=dict(
            POLICY, document_kind="nda", country="DE", validity="typed", reviewer_role="compliance"
        ),
    )
    assert response.status_code == 302
    session.refresh(tax)
    assert (tax.document_kind, tax.country, tax.validity) == ("tax_form", "US", "typed")

    response = officer.post(f"/compliance/policies/{item.id}/remove")
    assert response.status_code == 302
    assert [i.document_kind for i in _items(session)] == ["tax_form"]
    audit = _text(officer.get("/admin/audit"))
    assert "Compliance policy item removed" in audit and "Compliance policy item added" in audit


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"validity": "months", "validity_months": "0"}, "From 1 to 120 months."),
        ({"validity": "months", "validity_months": "twelve"}, "A whole number"),
        ({"country": "USA"}, "A two-letter country code"),
        (
            {"validity": "months", "validity_months": "6"},
            "Signatures and questionnaires do not expire.",
        ),
        ({"document_kind": "passport"}, "Not a valid choice"),
    ],
)
def test_a_bad_policy_is_an_inline_error_and_changes_nothing(web, session, bad, message):
    officer = web("officer")
    response = officer.post_form("/compliance/policies", dict(POLICY, **bad))
    assert response.status_code == 422
    page = _text(response)
    assert message in page and "is-invalid" in page
    assert _items(session) == []


def test_settings_are_saved_and_a_bad_number_is_refused(web, session):
    from fms.compliance import services

    officer = web("officer")
    response = officer.post(
        "/compliance/policies/settings",
        data={"non_compliance_mode": "block", "reassess_within_days": "400"},
    )
    assert response.status_code == 422 and "from 1 to 366" in _text(response)
    assert services.settings(session).non_compliance_mode == "warn"
    response = officer.post(
        "/compliance/policies/settings",
        data={"non_compliance_mode": "block", "reassess_within_days": "45"},
    )
    assert response.status_code == 302
    assert services.settings(session).non_compliance_mode == "block"
    assert "10.0 MB" in _text(officer.get("/compliance/policies"))


def test_a_reviewer_rejects_with_a_reason_and_approves_with_the_typed_expiry(web, cworld, session):
    cworld.policy("tax_form")
    cworld.policy("insurance", validity="typed")
    w9 = cworld.upload("w9")
    insurance = cworld.upload("insurance")
    session.commit()
    officer = web("officer")
    queue = _text(officer.get("/compliance/reviews"))
    assert "Tax form W-9" in queue and "Certificate of insurance" in queue
    assert queue.index("Tax form W-9") < queue.index("Certificate of insurance")  # oldest first

    page = _text(officer.get(f"/compliance/reviews/documents/{w9.id}"))
    assert f"/compliance/documents/{w9.id}/file" in page
    file = officer.get(f"/compliance/documents/{w9.id}/file")
    assert file.status_code == 200 and file.data == PDF

    response = officer.post(f"/compliance/reviews/documents/{w9.id}", data={"decision": "reject"})
    assert response.status_code == 422
    assert 'id="reason"' in _text(response) and "Required." in _text(response)
    session.refresh(w9)
    assert w9.state == "pending_review"
    response = officer.post(
        f"/compliance/reviews/documents/{w9.id}",
        data={"decision": "reject", "reason": "The signature is missing."},
    )
    assert response.status_code == 302
    session.refresh(w9)
    assert (w9.state, w9.review_reason) == ("rejected", "The signature is missing.")

    # the policy says the reviewer types the expiry from the document
    page = _text(officer.get(f"/compliance/reviews/documents/{insurance.id}"))
    assert 'name="expires_on"' in page
    response = officer.post(
        f"/compliance/reviews/documents/{insurance.id}", data={"decision": "approve"}
    )
    assert response.status_code == 422 and "is-invalid" in _text(response)
    response = officer.post(
        f"/compliance/reviews/documents/{insurance.id}",
        data={"decision": "approve", "expires_on": "2026-13-01"},
    )
    assert response.status_code == 422
    until = cworld.today + timedelta(days=200)
    response = officer.post(
        f"/compliance/reviews/documents/{insurance.id}",
        data={"decision": "approve", "expires_on": until.isoformat()},
    )
    assert response.status_code == 302
    session.refresh(insurance)
    assert (insurance.state, insurance.expires_on) == ("approved", until)
    assert "Nothing waits for your review" in _text(officer.get("/compliance/reviews"))


def test_a_high_risk_classification_is_decided_with_a_rationale(web, cworld, session):
    cworld.onboard()
    row = cworld.assess(HIGH_US)
    assert row.state == "decision_needed"
    session.commit()
    officer = web("officer")
    queue = _text(officer.get("/compliance/reviews"))
    assert f"/compliance/reviews/classifications/{row.id}" in queue
    page = _text(officer.get(f"/compliance/reviews/classifications/{row.id}"))
    assert "What drove the score" in page and "towards employment" in page
    assert "Does the organization decide how, when or where the work is done" in page

    response = officer.post(
        f"/compliance/reviews/classifications/{row.id}", data={"decision": "accept"}
    )
    assert response.status_code == 422 and "Required, at most 4000 characters." in _text(response)
    session.refresh(row)
    assert row.state == "decision_needed"
    response = officer.post(
        f"/compliance/reviews/classifications/{row.id}",
        data={"decision": "accept", "rationale": "Fixed deliverables; own tools; counsel agreed."},
    )
    assert response.status_code == 302
    session.refresh(row)
    assert (row.state, row.rationale[:14]) == ("accepted", "Fixed delivera")
    shown = _text(officer.get(f"/compliance/engagements/{cworld.engagement.id}"))
    assert "Fixed deliverables" in shown


def test_the_engagements_by_status_export(web, cworld, session):
    cworld.make_engagement(
        cworld.org, freelancer=cworld.freelancer, title="=HYPERLINK(1)", state="active"
    )
    cworld.policy("insurance")
    cworld.upload("insurance")
    session.commit()
    officer = web("officer")
    page = _text(officer.get("/compliance/"))
    assert "Awaiting review" in page
    response = officer.get("/compliance/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["ID", "Engagement", "Freelancer", "Country", "Compliance status"]
    assert rows[1][1] == "'=HYPERLINK(1)" and rows[1][4] == "awaiting_review"
    assert officer.get("/compliance/export.xlsx").status_code == 200
    assert officer.get("/compliance/?status=nonsense").status_code == 422
    filtered = officer.get("/compliance/export.csv?status=compliant")
    assert len(list(csv.reader(io.StringIO(_text(filtered))))) == 1  # the header only
    assert officer.get("/compliance/documents/export.csv").status_code == 200


def test_a_template_version_is_previewed_and_published(web, cworld, session):
    officer = web("officer")
    assert "Publish the first version" in _text(officer.get("/compliance/templates"))
    form = {"kind": "nda", "title": "Mutual NDA", "body": NDA_TEXT}
    response = officer.post_form("/compliance/templates/new?kind=nda", dict(form, action="preview"))
    assert response.status_code == 200
    assert "between Northwind Compliance and" in _text(response)
    assert session.scalars(select(SigningTemplate)).all() == []
    bad = dict(form, body="Hello {{ salary }}", action="publish")
    response = officer.post_form("/compliance/templates/new?kind=nda", bad)
    assert response.status_code == 422 and "Unknown placeholders: salary" in _text(response)
    response = officer.post_form("/compliance/templates/new?kind=nda", dict(form, action="publish"))
    assert response.status_code == 302
    first = session.scalar(select(SigningTemplate))
    assert first.version == 1
    response = officer.post_form(
        "/compliance/templates/new?kind=nda",
        dict(form, body=NDA_TEXT + "\n\nV2.", action="publish"),
    )
    assert response.status_code == 302
    old = _text(officer.get(f"/compliance/templates/{first.id}"))
    assert "Read-only, replaced" in old and "never alters past signatures" in old


def test_tenure_rules_and_an_override_with_a_reason(web, cworld, session):
    officer = web("officer")
    response = officer.post_form(
        "/compliance/tenure", {"country": "", "max_months": "500", "break_days": "90"}
    )
    assert response.status_code == 422 and "From 1 to 120 months." in _text(response)
    assert session.scalars(select(TenureRule)).all() == []
    response = officer.post_form(
        "/compliance/tenure", {"country": "", "max_months": "3", "break_days": "90"}
    )
    assert response.status_code == 302
    rule = session.scalar(select(TenureRule))
    assert rule.max_months == 3
    engagement = cworld.engagement  # 180 days: past a 3-month limit
    reviews = _text(officer.get("/compliance/reviews"))
    assert f"/compliance/engagements/{engagement.id}#tenure" in reviews
    url = f"/compliance/engagements/{engagement.id}/tenure-override"
    page = f"/compliance/engagements/{engagement.id}"
    response = officer.post_form(url, {"allowed_until": "", "reason": ""}, page=page)
    assert response.status_code == 422
    assert session.scalars(select(TenureOverride)).all() == []
    until = engagement.end_date + timedelta(days=10)
    response = officer.post_form(
        url, {"allowed_until": until.isoformat(), "reason": "Migration cut-over."}, page=page
    )
    assert response.status_code == 302
    [override] = session.scalars(select(TenureOverride)).all()
    assert override.allowed_until == until
    response = officer.post(
        f"/compliance/tenure/{rule.id}", data={"max_months": "24", "break_days": "30"}
    )
    assert response.status_code == 302
    session.refresh(rule)
    assert (rule.max_months, rule.break_days) == (24, 30)
    rule_id = rule.id
    listed = _text(officer.get("/compliance/tenure"))
    assert f"/compliance/tenure/{rule_id}/remove" in listed
    removed = officer.post_form(
        f"/compliance/tenure/{rule_id}/remove", {}, page="/compliance/tenure"
    )
    assert removed.status_code == 302
    assert "Tenure limit for every country removed." in _text(officer.get("/compliance/tenure"))
    assert session.scalars(select(TenureRule)).all() == []
    assert session.scalars(select(TenureOverride)).all() != []  # granted overrides stay
    assert officer.post(f"/compliance/tenure/{rule_id}/remove").status_code == 404


def test_the_engagement_page_shows_signatures_and_documents(web, cworld, session):
    cworld.policy("nda")
    cworld.policy("tax_form")
    cworld.publish()
    cworld.onboard()
    signature = cworld.sign()
    cworld.upload("w9")
    session.commit()
    officer = web("officer")
    page = _text(officer.get(f"/compliance/engagements/{cworld.engagement.id}"))
    assert "Non-disclosure agreement" in page and "Tax form W-9" in page
    assert signature.text_sha256[:12] in page
    pdf = officer.get(f"/compliance/signatures/{signature.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_another_organizations_ids_are_404(
    web, cworld, session, make_org, make_member, make_freelancer, make_engagement, actor_of
):
    other = make_org(name="Elsewhere")
    member = make_member(other, roles=("compliance",))
    freelancer = make_freelancer(other, country="DE")
    engagement = make_engagement(other, freelancer=freelancer)
    with as_org(session, other.id):
        document = documents.upload_document(
            session,
            actor=actor_of(member),
            freelancer_id=freelancer.id,
            kind="insurance",
            filename="other.pdf",
            data=PDF,
        )
    session.commit()
    officer = web("officer")
    for path in (
        f"/compliance/engagements/{engagement.id}",
        f"/compliance/reviews/documents/{document.id}",
        f"/compliance/documents/{document.id}/file",
    ):
        assert officer.get(path).status_code == 404, path
    assert (
        officer.post(
            f"/compliance/reviews/documents/{document.id}",
            data={"decision": "reject", "reason": "x"},
        ).status_code
        == 404
    )
    with as_org(session, other.id):
        assert session.get(ComplianceDocument, document.id).state == "pending_review"


def test_a_freelancer_is_kept_out_of_the_officer_pages(web, cworld, session):
    cworld.onboard()
    cworld.assess(HIGH_US)
    session.commit()
    row = session.scalar(select(Classification))
    me = web("me")
    for path in (
        "/compliance/",
        "/compliance/policies",
        "/compliance/templates",
        "/compliance/tenure",
        "/compliance/reviews",
        "/compliance/documents",
        "/compliance/export.csv",
        f"/compliance/engagements/{cworld.engagement.id}",
        f"/compliance/reviews/classifications/{row.id}",
    ):
        assert me.get(path).status_code in (403, 404), path
    response = me.post(
        f"/compliance/reviews/classifications/{row.id}",
        data={"decision": "accept", "rationale": "Mine."},
    )
    assert response.status_code in (403, 404)
    session.refresh(row)
    assert row.state == "decision_needed"
    assert "Compliance overview" not in _text(me.get("/"))


def _checklist(page: str) -> str:
    start = page.find('id="check"')
    return page[start : page.find("</section>", start)]


def test_an_officer_tries_the_policy_for_a_country_and_kind(web, cworld):
    cworld.policy("nda")
    cworld.policy("tax_form")
    cworld.policy("right_to_work", country="GB")
    cworld.policy("nda", country="GB", engagement_kind="trial", requirement="exempt")
    cworld.session.commit()
    officer = web("officer")
    page = _checklist(_text(officer.get("/compliance/policies?check_country=gb&check_kind=hourly")))
    assert "Tax form W-8BEN" in page and "Right to work" in page
    assert page.count("signed by typing their name") == 1  # the NDA
    trial = _checklist(_text(officer.get("/compliance/policies?check_country=GB&check_kind=trial")))
    assert "signed by typing their name" not in trial  # exempt on trials in GB
    us = _checklist(_text(officer.get("/compliance/policies?check_country=US&check_kind=hourly")))
    assert "Tax form W-9" in us and "Right to work" not in us
    bad = _text(officer.get("/compliance/policies?check_country=Germany&check_kind=hourly"))
    assert "A two-letter country code, such as DE or US." in bad


def test_the_overview_links_its_bars_to_the_filtered_list(web, cworld, session):
    cworld.make_engagement(cworld.org, freelancer=cworld.freelancer, state="active", title="Live")
    session.commit()
    officer = web("officer")
    page = _text(officer.get("/compliance/"))
    assert "/compliance/?status=non_compliant#engagements" in page
    assert "Not assessed" in page and "Set your first policy" in page
    filtered = _text(officer.get("/compliance/?status=non_compliant"))
    assert "No engagement matches" in filtered


def test_procurement_reviews_what_the_policy_gives_it_and_nothing_else(web, cworld, session):
    cworld.policy("tax_form", reviewer_role="procurement")
    w9 = cworld.upload("w9")
    session.commit()
    procurement = web("procurement")
    queue = _text(procurement.get("/compliance/reviews"))
    assert f"/compliance/reviews/documents/{w9.id}" in queue
    assert "High-risk classifications" not in queue  # decisions are the officer's
    assert procurement.get("/compliance/policies").status_code == 403
    response = procurement.post(
        f"/compliance/reviews/documents/{w9.id}", data={"decision": "approve"}
    )
    assert response.status_code == 302
    session.refresh(w9)
    assert w9.state == "approved" and w9.expires_on is None
    officer_queue = _text(web("officer").get("/compliance/reviews"))
    assert f"/compliance/reviews/documents/{w9.id}" not in officer_queue
    assert web("manager").get("/compliance/reviews").status_code == 403


def test_the_overview_links_the_documents_about_to_expire(web, cworld, session):
    cworld.policy("insurance", validity="typed")
    document = cworld.upload("insurance")
    cworld.approve(document, expires_on=(cworld.today + timedelta(days=10)).isoformat())
    cworld.make_engagement(cworld.org, freelancer=cworld.freelancer, state="active", title="Live")
    session.commit()
    officer = web("officer")
    page = _text(officer.get("/compliance/"))
    link = (
        "/compliance/documents?state=approved&amp;expires_before="
        + (cworld.today + timedelta(days=31)).isoformat()
    )
    assert link in page
    listed = _text(officer.get(link.replace("&amp;", "&") + "&sort=expires_on"))
    assert "Certificate of insurance" in listed and "1 document" in listed


def test_the_queue_counts_every_waiting_document_beyond_its_page(web, cworld, session, monkeypatch):
    from fms.compliance import queries

    cworld.policy("tax_form")
    cworld.policy("insurance")
    cworld.policy("background_check")
    for kind in ("w9", "insurance", "background_check"):
        cworld.upload(kind)
    session.commit()
    monkeypatch.setattr(queries, "QUEUE_PAGE", 2)
    officer = web("officer")
    queue = _text(officer.get("/compliance/reviews"))
    assert "The oldest 2 of 3" in queue and queue.count("/compliance/reviews/documents/") == 2
    assert 'fms-count">3<' in queue
    overview = _text(officer.get("/compliance/"))
    tile = overview.split("Documents to review")[1][:80]
    assert 'fms-stat-value">3<' in tile
