"""Compliance onboarding in a real browser: on a 390-px phone a freelancer signs the NDA,
uploads their tax form and answers the classification questionnaire; a compliance officer
approves the document and the engagement can be activated.

Headless Debian Chromium through Playwright, on a live server over committed data. Set
FMS_SCREENSHOTS=<folder> to keep a screenshot of every page at 390 and 1440 px.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from fms.compliance.models import ComplianceDocument
from fms.identity import services as identity
from fms.identity.models import User
from fms.identity.web_session import TOKEN_KEY
from fms.workforce import engagements as workforce
from fms.workforce.models import Engagement, OnboardingStep
from tests.factories import as_org
from tests.factories_compliance import LOW_US, PDF

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def session(committed):
    """The factories write committed rows, so the live server's threads see them."""
    return committed


def _page(app, browser, session, base, org, user_id, viewport):
    user = session.get(User, user_id)
    with as_org(session, org.id):
        started = identity.start_session(
            session, user=user, method="password", ip="127.0.0.1", user_agent="pw", org_id=org.id
        )
    session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps({TOKEN_KEY: started.token})
    context = browser.new_context(viewport=viewport, locale="en-US")
    context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": base}])
    page = context.new_page()
    page.fms_errors = []
    page.on("pageerror", lambda exc: page.fms_errors.append(str(exc)))
    return page


def _shot(page, name: str) -> None:
    folder = os.environ.get("FMS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=f"{folder}/{name}-{width}.png", full_page=True)


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_a_freelancer_completes_onboarding_on_a_phone(
    app, live_fms, cworld, session, chromium, tmp_path
):
    world = cworld
    world.policy("nda")
    world.policy("classification")
    world.policy("insurance", requirement="optional")
    world.publish()
    session.commit()
    # the compliance officer asks US freelancers for a tax form, in the browser
    officer = _page(app, chromium, session, live_fms, world.org, world.officer.user_id, WIDE)
    try:
        officer.goto(f"{live_fms}/compliance/policies")
        officer.select_option("#document_kind", "tax_form")
        officer.fill("#country", "US")
        officer.select_option("#requirement", "required")
        officer.click("button:has-text('Save policy item')")
        officer.wait_for_url("**/compliance/policies")
        assert "Tax form" in officer.inner_text("main")
        _shot(officer, "officer-policies")
        assert not officer.fms_errors
    finally:
        officer.context.close()
    world.onboard()
    # the organization's own checklist steps (not compliance's) are ticked elsewhere
    session.execute(
        update(OnboardingStep)
        .where(
            OnboardingStep.engagement_id == world.engagement.id,
            OnboardingStep.provider_key.is_(None),
        )
        .values(done_at=func.now())
    )
    engagement_id = world.engagement.id
    session.commit()
    tax_form = tmp_path / "w9.pdf"
    tax_form.write_bytes(PDF)
    page = _page(app, chromium, session, live_fms, world.org, world.me.user_id, PHONE)
    mine = f"{live_fms}/compliance/my/{engagement_id}"
    try:
        page.goto(f"{live_fms}/engagements/{engagement_id}")
        _shot(page, "engagement")
        page.click("text=My compliance")
        page.wait_for_url(mine)
        assert "0 of 4 done" in page.content()
        _fits(page)
        _shot(page, "mine-start")

        # sign: the next step is the NDA
        page.click(".cob-next a")
        page.wait_for_url("**/sign/**")
        assert "Ada Lovelace" in page.inner_text(".cob-document")
        _fits(page)
        _shot(page, "sign")
        page.fill("#typed_name", "Ada Byron")
        page.click(".cob-sign-form button[type=submit]")
        assert "Your name on record is Ada Lovelace." in page.content()
        _shot(page, "sign-refused")
        page.fill("#typed_name", "ada lovelace")
        page.click(".cob-sign-form button[type=submit]")
        page.wait_for_url("**/signatures/**")
        assert "Download the signed PDF" in page.content()
        _fits(page)
        _shot(page, "signed")

        # upload the tax form
        page.goto(mine)
        page.click("a:has-text('Upload'):has-text('W-9')")
        page.wait_for_url("**/upload/w9")
        _shot(page, "upload")
        page.set_input_files("#file", str(tax_form))
        page.click("main form button[type=submit]")
        page.wait_for_url("**/upload/w9")
        assert "waits for review" in page.content()
        _fits(page)
        _shot(page, "uploaded")

        # the questionnaire
        page.goto(mine)
        page.click("a:has-text('Answer')")
        page.wait_for_url("**/classification")
        _fits(page)
        _shot(page, "questionnaire")
        for question, answer in LOW_US.items():
            page.check(f"input[name={question}][value={answer}]")
        page.click("button:has-text('Send my answers')")
        page.wait_for_url("**/classification")
        assert "Low risk" in page.content()
        _shot(page, "result")

        page.goto(mine)
        content = page.content()
        assert "2 of 4 done" in content and "Waiting for review" in content
        _shot(page, "mine-waiting")
        assert not page.fms_errors
    finally:
        page.context.close()

    # a compliance officer approves the tax form in the browser; the engagement can now
    # become active, and every step is in the audit log
    session.expire_all()
    with as_org(session, world.org.id):
        document_id = session.scalar(select(ComplianceDocument.id))
    session.commit()  # end the read: SQLite's live server must be able to write
    officer = _page(app, chromium, session, live_fms, world.org, world.officer.user_id, WIDE)
    try:
        officer.goto(f"{live_fms}/compliance/reviews")
        officer.click(f"a[href$='/compliance/reviews/documents/{document_id}']")
        officer.wait_for_url(f"**/compliance/reviews/documents/{document_id}")
        _shot(officer, "officer-review")
        officer.check("input[name=decision][value=approve]")
        officer.click("button:has-text('Record review')")
        officer.wait_for_load_state()
        assert not officer.fms_errors
    finally:
        officer.context.close()
    session.expire_all()
    with as_org(session, world.org.id):
        assert session.get(ComplianceDocument, document_id).state == "approved"
        workforce.activate(session, actor=world.procurement, engagement_id=engagement_id)
        session.commit()
        assert session.get(Engagement, engagement_id).state == "active"
    admin = _page(app, chromium, session, live_fms, world.org, world.admin.user_id, WIDE)
    try:
        admin.goto(f"{live_fms}/admin/audit?per_page=100")
        log = admin.inner_text("main")
        for words in (
            "Compliance policy item added",
            "Document signed",
            "Compliance document uploaded",
            "Worker classification assessed",
            "Compliance document approved",
        ):
            assert words in log, words
        _shot(admin, "audit")
    finally:
        admin.context.close()

    if os.environ.get("FMS_SCREENSHOTS"):  # the same pages at 1440 px, for a look
        wide = _page(app, chromium, session, live_fms, world.org, world.me.user_id, WIDE)
        try:
            wide.goto(mine)
            assert "3 of 4 done" in wide.content()
            _shot(wide, "mine-done")
            wide.click("a:has-text('See the signed copy')")
            _shot(wide, "signed")
            wide.goto(f"{mine}/upload/w9")
            _shot(wide, "upload-approved")
            wide.goto(f"{mine}/classification?again=1")
            _shot(wide, "questionnaire")
            wide.goto(f"{mine}/upload/insurance")
            _shot(wide, "upload")
        finally:
            wide.context.close()
