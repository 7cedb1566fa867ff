"""Finance's month end in a real browser: preview and close November, ask for the issue and
have a second finance user approve it (four eyes), download the PDF, record the payment,
credit a line; the freelancer then sees the work as paid on a phone.

Headless Debian Chromium through Playwright, on a live server over committed data. Set
FMS_SCREENSHOTS=<folder> to keep a screenshot of each page.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from fms.identity import services as identity
from fms.identity.models import User
from fms.identity.web_session import TOKEN_KEY
from fms.invoicing import settings as billing
from fms.invoicing.models import Invoice
from tests.factories import as_org

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
    context = browser.new_context(viewport=viewport, locale="en-US", accept_downloads=True)
    context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": base}])
    page = context.new_page()
    page.fms_errors = []
    page.on("pageerror", lambda exc: page.fms_errors.append(str(exc)))
    return page


def _shot(page, name: str) -> None:
    folder = os.environ.get("FMS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{folder}/{name}-{page.viewport_size['width']}.png", full_page=True)


def test_finance_closes_issues_with_four_eyes_and_the_freelancer_sees_it_paid(
    app, live_fms, bill, session, chromium
):
    billing.update_billing_settings(session, actor=bill.finance, four_eyes=True)
    bill.approved_week(date(2026, 11, 2), (480, 480))  # 16 h at 90.00: 1,440.00 + 19 % VAT
    org = bill.org
    session.commit()

    first = _page(app, chromium, session, live_fms, org, bill.finance.user_id, WIDE)
    try:
        first.goto(f"{live_fms}/invoicing/close?period=2026-11")
        assert "€1,713.60" in first.content()
        _shot(first, "close-preview")
        first.click("button:has-text('Close 2026-11')")
        first.wait_for_url("**/invoicing/?state=draft")
        first.click("table a:has-text('Draft')")
        first.wait_for_url(re.compile(r"/invoicing/\d+$"))
        first.click("button:has-text('Ask a second finance user to issue')")
        first.wait_for_load_state()
        assert "Waiting for a second finance user" in first.content()
        assert not first.fms_errors
    finally:
        first.context.close()

    with as_org(session, org.id):
        invoice_id = session.scalar(select(Invoice.id))
    session.commit()  # end the read: SQLite's live server must be able to write
    second = _page(app, chromium, session, live_fms, org, bill.finance2.user_id, WIDE)
    try:
        second.goto(f"{live_fms}/invoicing/{invoice_id}")
        second.click("button:has-text('Approve and issue')")
        second.wait_for_load_state()
        assert "Invoice INV-" in second.content()
        with second.expect_download() as download:
            second.click("a:has-text('Download PDF')")
        assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
        with as_org(session, org.id):
            session.expire_all()
            issued_on = session.get(Invoice, invoice_id).issue_date  # issued today
        session.commit()
        second.fill("#paid_on", issued_on.isoformat())
        second.fill("#reference", "BANK-2026-12")
        second.click("button:has-text('Mark paid')")
        second.wait_for_load_state()
        assert "BANK-2026-12" in second.content()
        second.check("input[name=mode][value=lines]")
        second.check("input[name=line_ids]")
        second.fill("#reason", "Monday was a public holiday")
        second.click("button:has-text('Draft the credit note')")
        second.wait_for_load_state()
        assert "Draft credit note" in second.content()
        _shot(second, "credit-note")
        assert not second.fms_errors
    finally:
        second.context.close()

    me = _page(app, chromium, session, live_fms, org, bill.world.me.user_id, PHONE)
    try:
        me.goto(f"{live_fms}/invoicing/my")
        content = me.content()
        assert "Paid by the client" in content and "€1,440.00" in content
        assert me.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _shot(me, "billed-work")
        assert not me.fms_errors
    finally:
        me.context.close()
