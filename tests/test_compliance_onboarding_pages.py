"""The freelancer's compliance onboarding pages: their items and progress, signing by typing
their name (a wrong name and a stale page are refused and say why), uploads (refused ones
store nothing), the questionnaire (a missing answer is an inline error), and nobody else's
engagement."""

from __future__ import annotations

import html
import io
import re

import pytest
from sqlalchemy import func, select

from fms.compliance.models import Classification, ComplianceDocument, Signature
from fms.identity.models import User
from fms.storage import StoredFile
from tests.factories_compliance import HIGH_US, LOW_US, PDF, PNG

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


@pytest.fixture
def onboarding(cworld):
    """An engagement in onboarding whose policy asks for an NDA, a tax form, the
    questionnaire (required) and insurance (optional); the NDA text is published."""
    cworld.policy("nda")
    cworld.policy("tax_form")
    cworld.policy("classification")
    cworld.policy("insurance", requirement="optional")
    template = cworld.publish()
    cworld.onboard()
    cworld.template = template
    return cworld


@pytest.fixture
def web(app, session, sign_in, onboarding):
    def client(who: str = "me"):
        actor = getattr(onboarding, who)
        c = app.test_client()
        sign_in(c, session.get(User, actor.user_id), onboarding.org)
        return c

    session.commit()
    return client


def base(world):
    return f"/compliance/my/{world.engagement.id}"


def text(response) -> str:
    return response.get_data(as_text=True)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_my_compliance_shows_items_status_and_progress(onboarding, web):
    me = web()
    page = me.get(base(onboarding))
    assert page.status_code == 200
    body = text(page)
    assert "0 of 4 done" in body
    for label in ("Non-disclosure agreement", "Tax form W-9", "Certificate of insurance"):
        assert label in body
    assert "(optional)" in body
    assert f"/sign/{onboarding.template.id}" in body  # next: read and sign
    assert "/upload/w9" in body and "/classification" in body


_INPUT = re.compile(r"<input[^>]*>")
_ATTR = re.compile(r'([\w-]+)="([^"]*)"')


def sign_post(client, url, data):
    """POST the sign form as the browser sends it: with the page's hidden inputs."""
    shown = text(client.get(url))
    values = {}
    for tag in _INPUT.findall(shown):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get("type") == "hidden":
            values[attrs["name"]] = html.unescape(attrs.get("value", ""))
    values.update(data)
    return client.post(url, data=values)


def test_signing_with_the_wrong_name_is_refused_and_the_right_one_signs(onboarding, web, session):
    me = web()
    url = f"{base(onboarding)}/sign/{onboarding.template.id}"
    page = me.get(url)
    assert page.status_code == 200
    assert "Ada Lovelace" in text(page) and "Data platform" in text(page)
    refused = sign_post(me, url, {"typed_name": "Grace Hopper"})
    assert refused.status_code == 422
    assert "Your name on record is Ada Lovelace." in text(refused)
    assert count(session, Signature) == 0
    shown = text(me.get(url))
    form = {"typed_name": "  ada   lovelace "}
    for name in ("form_token", "seen_sha256"):
        form[name] = html.unescape(re.search(rf'name="{name}"[^>]*value="([^"]+)"', shown).group(1))
    signed = me.post(url, data=form)
    assert signed.status_code == 302
    twice = me.post(url, data=form)  # the same form posted again signs nothing more
    assert twice.status_code == 302 and count(session, Signature) == 1
    confirmation = me.get(signed.headers["Location"])
    assert "Download the signed PDF" in text(confirmation)
    assert "Ada Lovelace" in text(confirmation) and "typed as “ada lovelace”" in text(confirmation)
    pdf_url = re.search(r'href="([^"]+/pdf)"', text(confirmation)).group(1)
    pdf = me.get(pdf_url)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "1 of 4 done" in text(me.get(base(onboarding)))
    # signing again goes to the signed copy
    assert me.get(url).status_code == 302


def test_a_stale_page_asks_to_read_again(onboarding, web, session):
    me = web()
    url = f"{base(onboarding)}/sign/{onboarding.template.id}"
    shown = text(me.get(url))
    token = re.search(r'name="form_token"[^>]*value="([^"]+)"', shown).group(1)
    seen = re.search(r'name="seen_sha256"[^>]*value="([^"]+)"', shown).group(1)
    newer = onboarding.publish(body="A newer NDA for {{ freelancer_name }}.")
    session.commit()
    stale = me.post(
        url, data={"typed_name": "Ada Lovelace", "form_token": token, "seen_sha256": seen}
    )
    assert stale.status_code == 422
    assert "read it again" in text(stale)
    assert "A newer NDA for Ada Lovelace." in text(stale)  # the current text, to read
    assert f"/sign/{newer.id}" in text(stale)
    assert count(session, Signature) == 0
    # the old version's page leads to the current one
    assert me.get(url).headers["Location"].endswith(f"/sign/{newer.id}")
    # changed text under the same version: the hash the page showed no longer matches
    tampered = sign_post(
        me,
        f"{base(onboarding)}/sign/{newer.id}",
        {"typed_name": "Ada Lovelace", "seen_sha256": "0" * 64},
    )
    assert tampered.status_code == 422 and "read it again" in text(tampered)
    assert count(session, Signature) == 0


def _upload(client, url, data, name="form.pdf", content_type=None):
    file = (io.BytesIO(data), name, content_type) if content_type else (io.BytesIO(data), name)
    return client.post_form(url, {"file": file}, content_type="multipart/form-data")


def test_uploads_refused_store_nothing_and_a_good_one_waits_for_review(
    onboarding, web, session, app, monkeypatch
):
    me = web()
    url = f"{base(onboarding)}/upload/w9"
    page = me.get(url)
    assert page.status_code == 200 and "at most 10 MB" in text(page)
    files_before = count(session, StoredFile)
    exe = _upload(me, url, EXE, "w9.pdf")
    assert exe.status_code == 422
    assert "not an allowed type (PDF, PNG image, JPEG image), whatever its name says" in text(exe)
    nothing = me.post_form(url, {}, content_type="multipart/form-data")
    assert nothing.status_code == 422 and "Choose a PDF, PNG or JPEG file." in text(nothing)
    monkeypatch.setitem(app.config, "FMS_COMPLIANCE_MAX_UPLOAD_BYTES", 1024)
    assert "at most 1 kB" in text(me.get(url))
    big = _upload(me, url, PDF + b"0" * 2048, "w9.pdf")
    assert big.status_code == 422 and "larger than 1 KB" in text(big)
    assert count(session, StoredFile) == files_before
    assert count(session, ComplianceDocument) == 0
    second_tab = re.search(r'name="form_token"[^>]*value="([^"]+)"', text(me.get(url))).group(1)
    good = _upload(me, url, PDF, "w9.pdf")
    assert good.status_code == 302
    shown = text(me.get(url))
    assert "waits for review" in shown and "Version 1" in shown
    assert "Waiting for review" in text(me.get(base(onboarding)))
    download = re.search(r'href="(/compliance/my/\d+/documents/\d+)"', shown).group(1)
    assert me.get(download).data == PDF
    again = me.post(  # a second one, from another tab, while the first waits
        url,
        data={"file": (io.BytesIO(PDF), "w9.pdf"), "form_token": second_tab},
        content_type="multipart/form-data",
    )
    assert again.status_code == 422 and "waiting for review" in text(again)
    assert count(session, ComplianceDocument) == 1


def test_a_rejected_document_is_replaced_and_the_old_version_kept(onboarding, web, session):
    document = onboarding.upload("w9")
    from fms.compliance import documents

    documents.review_document(
        session,
        actor=onboarding.officer,
        document_id=document.id,
        approve=False,
        reason="The signature is missing.",
    )
    session.commit()
    me = web()
    overview = text(me.get(base(onboarding)))
    assert "Rejected" in overview and "The signature is missing." in overview
    url = f"{base(onboarding)}/upload/w9"
    assert "Upload a corrected one" in text(me.get(url))
    assert _upload(me, url, PNG, "w9.png").status_code == 302
    shown = text(me.get(url))
    assert "Version 2" in shown and "Version 1" in shown


def test_the_questionnaire_missing_answer_is_inline_and_the_result_is_explained(
    onboarding, web, session
):
    me = web()
    url = f"{base(onboarding)}/classification"
    page = text(me.get(url))
    assert "Behavioural control" in page and "IRS Publication 15-A" in page
    assert 'type="radio"' in page
    partial = dict(LOW_US)
    del partial["training"]
    missing = me.post_form(url, partial)
    assert missing.status_code == 422
    assert "Answer yes or no." in text(missing)
    assert "1 still needs an answer" in text(missing) and 'href="#q-training"' in text(missing)
    assert count(session, Classification) == 0
    done = me.post_form(url, LOW_US)
    assert done.status_code == 302
    result = text(me.get(url))
    assert "Low risk" in result and "Nothing more to do" in result


def test_high_risk_says_compliance_decides(onboarding, web, session):
    me = web()
    url = f"{base(onboarding)}/classification"
    assert me.post_form(url, HIGH_US).status_code == 302
    result = text(me.get(url))
    assert "High risk" in result and "A compliance officer will decide" in result
    assert "You answered <strong>yes</strong>" in result
    # no answering again to escape the decision
    assert me.post_form(url, LOW_US, page=url).status_code == 302
    assert count(session, Classification) == 1


def test_the_california_questionnaire_can_be_chosen(onboarding, web):
    me = web()
    url = f"{base(onboarding)}/classification"
    page = text(me.get(url + "?jurisdiction=us_ca"))
    assert "California" in page and "A — Control" in page
    answers = {
        "jurisdiction": "us_ca",
        "prong_a_free_from_control": "yes",
        "prong_b_outside_usual_course": "no",
        "prong_c_independent_business": "yes",
    }
    assert me.post_form(url, answers, page=url + "?jurisdiction=us_ca").status_code == 302
    assert "High risk" in text(me.get(url))


def test_nobody_else_sees_a_freelancers_pages(
    onboarding, web, app, session, sign_in, make_user, make_member, make_freelancer
):
    other_user = make_user(name="Grace Hopper")
    make_member(onboarding.org, roles=("freelancer",), user=other_user)
    make_freelancer(onboarding.org, user_id=other_user.id, legal_name="Grace Hopper")
    session.commit()
    stranger = app.test_client()
    sign_in(stranger, other_user, onboarding.org)
    document = onboarding.upload("w9")
    signature = onboarding.sign()
    session.commit()
    paths = [
        base(onboarding),
        f"{base(onboarding)}/sign/{onboarding.template.id}",
        f"{base(onboarding)}/upload/w9",
        f"{base(onboarding)}/classification",
        f"{base(onboarding)}/documents/{document.id}",
        f"{base(onboarding)}/signatures/{signature.id}",
        f"{base(onboarding)}/signatures/{signature.id}/pdf",
    ]
    for path in paths:  # another freelancer finds nothing
        assert stranger.get(path).status_code == 404, path
    for who in ("officer", "manager", "admin"):  # staff: it is the freelancer's to do
        staff = web(who)
        for path in paths:
            assert staff.get(path).status_code == 403, (who, path)
    assert stranger.post(f"{base(onboarding)}/classification", data=LOW_US).status_code == 404
    me = web()
    assert me.get(f"{base(onboarding)}/upload/background_check").status_code == 404
    contract = onboarding.publish(kind="contract", title="Contract terms")  # not in the policy
    session.commit()
    assert me.get(f"{base(onboarding)}/sign/{contract.id}").status_code == 404
    assert me.get(f"/compliance/my/{onboarding.engagement.id + 999}").status_code == 404


def test_the_engagement_page_links_to_my_compliance(onboarding, web):
    me = web()
    page = text(me.get(f"/engagements/{onboarding.engagement.id}"))
    assert f"/compliance/my/{onboarding.engagement.id}" in page
    assert "Complete compliance onboarding" in page
    checklist = page.split("Onboarding checklist")[1].split("</ul>")[0]
    assert "Mark done" not in checklist or "compliance:" not in checklist
    mine = text(me.get("/engagements/mine"))
    assert f"/compliance/my/{onboarding.engagement.id}" in mine


def test_odd_input_is_an_inline_error_never_a_500(onboarding, web, session):
    me = web()
    sign = f"{base(onboarding)}/sign/{onboarding.template.id}"
    for name in ("x" * 5000, "", "Ada\u0000Lovelace", "<script>alert(1)</script>"):
        response = sign_post(me, sign, {"typed_name": name})
        assert response.status_code in (400, 422), (name[:20], response.status_code)
        assert "<script>alert(1)</script>" not in text(response)
    upload = f"{base(onboarding)}/upload/w9"
    for filename in ("../../etc/passwd.pdf", "a/b.pdf"):
        response = _upload(me, upload, PDF, filename)
        assert response.status_code == 422, filename
    questionnaire = f"{base(onboarding)}/classification"
    odd = dict(LOW_US, training="maybe", jurisdiction="nowhere")
    response = me.post_form(questionnaire, odd)
    assert response.status_code == 422 and "Answer yes or no." in text(response)
    assert count(session, Signature) == 0
    assert count(session, ComplianceDocument) == 0
    assert count(session, Classification) == 0


def test_an_expired_document_shows_its_date_and_is_replaced(onboarding, web, session):
    from datetime import timedelta

    from sqlalchemy import update

    onboarding.policy("tax_form", validity="typed")
    document = onboarding.upload("w9")
    tomorrow = onboarding.today + timedelta(days=1)
    onboarding.approve(document, expires_on=tomorrow.isoformat())
    session.commit()
    me = web()
    assert f"Approved until {tomorrow.isoformat()}" in text(me.get(base(onboarding)))
    yesterday = onboarding.today - timedelta(days=1)
    session.execute(
        update(ComplianceDocument)
        .where(ComplianceDocument.id == document.id)
        .values(expires_on=yesterday)
    )
    session.commit()
    assert f"Expired ({yesterday.isoformat()})" in text(me.get(base(onboarding)))
    url = f"{base(onboarding)}/upload/w9"
    assert "has expired" in text(me.get(url))
    assert _upload(me, url, PDF, "w9-2027.pdf").status_code == 302
    shown = text(me.get(url))
    assert "Version 2" in shown and "Version 1" in shown


def test_a_settled_questionnaire_can_be_answered_again(onboarding, web, session):
    me = web()
    url = f"{base(onboarding)}/classification"
    assert me.post_form(url, LOW_US).status_code == 302
    assert 'type="radio"' not in text(me.get(url))
    again = url + "?again=1"
    assert 'type="radio"' in text(me.get(again))
    assert me.post_form(url, dict(LOW_US, again="1"), page=again).status_code == 302
    assert count(session, Classification) == 2
