"""The freelancer's self-billing statement: per billing period, a PDF of their lines on
issued invoices, what was billed for their work and what they will be paid; only ever
their own, on the page and the API.

The billing world (tests/factories_invoicing.py): the freelancer's engagement at 90.00 EUR
an hour, billed to "Client GmbH" at 19 % VAT. Figures below are worked out by hand."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
import time_machine
from pypdf import PdfReader

from fms.identity.models import User

NOV_2 = date(2026, 11, 2)  # a Monday
URL = "/invoicing/my/statements/2026-11.pdf"
API = "/api/v1/me/statements/2026-11"


def flat_pdf(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages
    )


@pytest.fixture
def web(app, session, sign_in, bill):
    def client(actor, org=None):
        c = app.test_client()
        sign_in(c, session.get(User, actor.user_id), org or bill.org)
        return c

    return client


@pytest.fixture
def issued(session, bill):
    """23:30 h (480 + 480 + 450 minutes) at 90.00 = 2,115.00 and a 500.00 milestone:
    2,615.00 billed for the freelancer's work, 3,111.85 with the client's VAT."""
    bill.approved_week(NOV_2, (480, 480, 450))
    bill.milestone("500", date(2026, 11, 20))
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    session.commit()
    return invoice


def test_the_freelancer_downloads_the_statement_of_a_period_from_the_page_and_the_api(
    web, bill, issued, session
):
    # on 10 December, before the invoice falls due (3 January): "not paid yet"
    with time_machine.travel(datetime(2026, 12, 10, 9, tzinfo=UTC)):
        _the_statement_of_november(web, bill, issued)


def _the_statement_of_november(web, bill, issued):
    me = web(bill.world.me)
    page = me.get("/invoicing/my").get_data(as_text=True)
    assert URL in page  # the period's download link
    response = me.get(URL)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "statement-2026-11.pdf" in response.headers["Content-Disposition"]
    text = flat_pdf(response.data)
    for expected in (
        "Self-billing statement",
        bill.world.freelancer.legal_name,
        "Period Nov 1, 2026 – Nov 30, 2026",
        issued.number,
        "23:30 h €90.00 €2,115.00",
        "€500.00",
        "Billed for your work (EUR) €2,615.00",
        "To be paid to you (EUR) €2,615.00",
        "Invoiced, not paid yet",
    ):
        assert expected in text, expected
    assert "€3,111.85" not in text and "€496.85" not in text  # the client's VAT is not theirs
    api = me.get(API)
    assert api.status_code == 200 and api.mimetype == "application/pdf"
    assert "To be paid to you (EUR) €2,615.00" in flat_pdf(api.data)


def test_a_credit_note_counts_negative_on_the_statement(web, bill, issued, session):
    note = bill.credit(issued, mode="full", reason="Wrong entity")
    bill.issue(note)
    session.commit()
    text = flat_pdf(web(bill.world.me).get(URL).data)
    assert "-€2,115.00" in text and "-€500.00" in text
    assert "(credit note)" in text
    # 2,615.00 billed, 2,615.00 credited
    assert "To be paid to you (EUR) €0.00" in text


def test_nobody_else_gets_a_statement_and_a_period_must_be_one(
    web, bill, issued, session, make_org, make_member, make_user, make_freelancer
):
    assert web(bill.finance).get(URL).status_code == 404  # staff have no statement
    assert web(bill.finance).get(API).status_code == 404
    colleague = make_member(bill.org, roles=("freelancer",), user=make_user())
    make_freelancer(bill.org, user_id=colleague.user_id)
    session.commit()
    assert web(colleague).get(URL).status_code == 404  # nothing billed for them
    # the same person in another organization: nothing of the first one's
    other = make_org()
    make_member(other, roles=("freelancer",), user=session.get(User, bill.world.me.user_id))
    session.commit()
    elsewhere = web(bill.world.me, org=other)
    assert elsewhere.get(URL).status_code == 404
    assert elsewhere.get(API).status_code == 404
    me = web(bill.world.me)
    assert me.get("/invoicing/my/statements/2026-10.pdf").status_code == 404  # none then
    bad = me.get("/api/v1/me/statements/2026-13")
    assert bad.status_code == 422
    assert bad.mimetype == "application/problem+json"
    assert me.get("/invoicing/my/statements/2026-13.pdf").status_code in (400, 422)


def test_a_draft_is_on_no_statement(web, bill, session):
    bill.approved_week(NOV_2, (480,))
    bill.close()
    session.commit()
    assert web(bill.world.me).get(URL).status_code == 404
