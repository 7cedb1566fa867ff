"""Finance's invoicing pages: billing settings with inline errors, the close preview that
agrees with the drafts it makes, an invoice with its lines grouped by cost centre and its
actions per state (issue, four eyes, payment, credit note, discard), and the freelancer's
billed work — nobody else's."""

from __future__ import annotations

import html
from datetime import date

import pytest
from sqlalchemy import func, select

from fms.identity.models import User
from fms.invoicing import services
from fms.invoicing.models import BillToEntity, Invoice, VatRate
from tests.factories import as_org


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


NOV_2 = date(2026, 11, 2)  # a Monday; the world's rate is 90.00 EUR an hour


@pytest.fixture
def web(app, session, sign_in, bill):
    def client(actor):
        c = app.test_client()
        sign_in(c, session.get(User, actor.user_id), bill.org)
        return c

    session.commit()
    return client


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_billing_settings_save_and_refuse_bad_input_inline(web, bill, session):
    finance = web(bill.finance)
    page = _text(finance.get("/invoicing/settings"))
    assert "FMS Services GmbH" in page and "Client GmbH" in page and "19 %" in page
    bad = finance.post(
        "/invoicing/settings",
        data={
            "billing_period": "monthly",
            "issuer_legal_name": "FMS Services GmbH",
            "issuer_country": "DE",
            "issuer_iban": "not an iban",
            "payment_terms_days": "30",
            "invoice_prefix": "INV-",
            "credit_note_prefix": "CN-",
        },
    )
    assert bad.status_code == 422 and "An IBAN, such as" in _text(bad)
    same_prefix = finance.post(
        "/invoicing/settings",
        data={
            "billing_period": "monthly",
            "issuer_legal_name": "FMS Services GmbH",
            "issuer_country": "DE",
            "payment_terms_days": "14",
            "invoice_prefix": "X-",
            "credit_note_prefix": "X-",
        },
    )
    assert same_prefix.status_code == 422 and "Same as the invoice prefix." in _text(same_prefix)
    good = finance.post(
        "/invoicing/settings",
        data={
            "billing_period": "monthly",
            "issuer_legal_name": "FMS Services GmbH",
            "issuer_country": "DE",
            "issuer_iban": "DE89370400440532013000",
            "payment_terms_days": "14",
            "invoice_prefix": "INV-",
            "credit_note_prefix": "CN-",
        },
    )
    assert good.status_code == 302
    nameless = finance.post_form(
        "/invoicing/settings/bill-to", {"name": "", "country": "FR"}, page="/invoicing/settings"
    )
    assert nameless.status_code == 422 and "Name the legal entity." in _text(nameless)
    assert _count(session, BillToEntity) == 1
    bad_rate = finance.post_form(
        "/invoicing/settings/vat-rates",
        {"country": "FR", "category": "standard", "rate": "twenty", "effective_from": "2020-01-01"},
        page="/invoicing/settings",
    )
    assert bad_rate.status_code == 422
    assert _count(session, VatRate) == 1
    added = finance.post_form(
        "/invoicing/settings/bill-to",
        {"name": "Client SAS", "country": "FR", "vat_id": "FR12345678901"},
        page="/invoicing/settings",
    )
    assert added.status_code == 302 and _count(session, BillToEntity) == 2


def test_close_preview_agrees_with_the_draft_and_the_invoice_is_issued_paid_and_credited(
    web, bill, session
):
    bill.approved_week(NOV_2, (480, 480))  # 16 h at 90.00 = 1,440.00 net
    session.commit()
    finance = web(bill.finance)
    preview = _text(finance.get("/invoicing/close?period=2026-11"))
    # 1,440.00 + 19 % VAT 273.60 = 1,713.60 (worked out by hand)
    for figure in ("€1,440.00", "€273.60", "€1,713.60", "Client GmbH · EUR", "16:00 h"):
        assert figure in preview, figure
    assert "Close 2026-11 and make 1 draft" in preview
    assert _count(session, Invoice) == 0  # a preview changes nothing
    closed = finance.post("/invoicing/close", data={"period": "2026-11"})
    assert closed.status_code == 302
    (draft,) = session.scalars(select(Invoice)).all()
    listed = _text(finance.get("/invoicing/?state=draft"))
    assert f"/invoicing/{draft.id}" in listed and "€1,713.60" in listed
    page = _text(finance.get(f"/invoicing/{draft.id}"))
    for figure in ("€1,440.00", "€273.60", "€1,713.60", "Issue with the next number"):
        assert figure in page, figure
    issued = finance.post(f"/invoicing/{draft.id}/issue")
    assert issued.status_code == 302
    session.expire_all()
    number = session.get(Invoice, draft.id).number
    assert number and number.startswith("INV-")
    page = _text(finance.get(f"/invoicing/{draft.id}"))
    assert f"Invoice {number}" in page and "Record a payment" in page
    csv = finance.get(f"/invoicing/{draft.id}/lines.csv")
    assert csv.status_code == 200 and "1440.00" in csv.get_data(as_text=True)
    assert finance.get("/invoicing/lines.xlsx").status_code == 200
    pdf = finance.get(f"/invoicing/{draft.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert web(bill.world.manager).get(f"/invoicing/{draft.id}/pdf").status_code == 403
    late = finance.post(
        f"/invoicing/{draft.id}/payment", data={"paid_on": "2026-13-01", "reference": "x"}
    )
    assert late.status_code == 422
    assert session.get(Invoice, draft.id).state == "issued"
    issued_on = session.get(Invoice, draft.id).issue_date.isoformat()  # issued today
    paid = finance.post(
        f"/invoicing/{draft.id}/payment", data={"paid_on": issued_on, "reference": "BANK-77"}
    )
    assert paid.status_code == 302
    session.expire_all()
    assert session.get(Invoice, draft.id).payment_reference == "BANK-77"
    page = f"/invoicing/{draft.id}"
    reasonless = finance.post_form(
        f"/invoicing/{draft.id}/credit-notes", {"mode": "full", "reason": ""}, page=page
    )
    assert reasonless.status_code == 422 and "Say why" in _text(reasonless)
    credited = finance.post_form(
        f"/invoicing/{draft.id}/credit-notes",
        {"mode": "full", "reason": "Wrong rate", "release_items": "y"},
        page=page,
    )
    assert credited.status_code == 302
    note = session.scalar(select(Invoice).where(Invoice.kind == "credit_note"))
    assert credited.headers["Location"].endswith(f"/invoicing/{note.id}")
    assert "Draft credit note" in _text(finance.get(f"/invoicing/{note.id}"))


def test_four_eyes_needs_a_second_finance_user_on_the_page(web, bill, session):
    from fms.invoicing import settings as billing

    billing.update_billing_settings(session, actor=bill.finance, four_eyes=True)
    bill.approved_week(NOV_2, (480,))
    draft = bill.close(today=date(2026, 12, 2)).invoices[0]
    session.commit()
    asker = web(bill.finance)
    assert "Ask a second finance user to issue" in _text(asker.get(f"/invoicing/{draft.id}"))
    assert asker.post(f"/invoicing/{draft.id}/issue").status_code == 302
    page = _text(asker.get(f"/invoicing/{draft.id}"))
    assert "Waiting for a second finance user" in page and "Approve and issue" not in page
    assert asker.post(f"/invoicing/{draft.id}/approve").status_code == 403
    second = web(bill.finance2)
    assert "Approve and issue" in _text(second.get(f"/invoicing/{draft.id}"))
    assert second.post(f"/invoicing/{draft.id}/approve").status_code == 302
    session.expire_all()
    assert session.get(Invoice, draft.id).state == "issued"


def test_others_see_no_invoices(web, bill, session, make_org, make_member, sign_in, app):
    bill.approved_week(NOV_2, (480,))
    draft = bill.close(today=date(2026, 12, 2)).invoices[0]
    session.commit()
    for actor in (bill.world.manager, bill.world.me, bill.world.procurement):
        client = web(actor)
        assert client.get(f"/invoicing/{draft.id}").status_code in (403, 404)
        assert client.get("/invoicing/").status_code == 403
        assert client.post(f"/invoicing/{draft.id}/issue").status_code in (403, 404)
        assert client.get("/invoicing/settings").status_code == 403
    other = make_org()
    stranger = make_member(other, roles=("finance",))
    session.commit()
    outsider = app.test_client()
    sign_in(outsider, session.get(User, stranger.user_id), other)
    assert outsider.get(f"/invoicing/{draft.id}").status_code == 404
    assert outsider.post(f"/invoicing/{draft.id}/issue").status_code == 404
    assert f"/invoicing/{draft.id}" not in _text(outsider.get("/invoicing/"))
    session.expire_all()
    assert session.get(Invoice, draft.id).state == "draft"


def test_the_freelancer_sees_what_was_billed_for_their_work_and_whether_it_was_paid(
    web, bill, session, make_user, make_member, make_freelancer
):
    bill.approved_week(NOV_2, (480, 240))  # 12 h at 90.00 = 1,080.00
    draft = bill.close(today=date(2026, 12, 2)).invoices[0]
    session.commit()
    me = web(bill.world.me)
    assert "Nothing billed yet" in _text(me.get("/invoicing/my"))  # a draft is not billed
    services.issue_invoice(session, actor=bill.finance, invoice_id=draft.id)
    session.commit()
    page = _text(me.get("/invoicing/my"))
    assert "€1,080.00" in page and "Invoiced, not paid yet" in page
    assert "€1,285.20" not in page  # the client's gross (with VAT) is not theirs
    issued_on = session.get(Invoice, draft.id).issue_date  # issued today, paid the same day
    services.record_payment(
        session, actor=bill.finance, invoice_id=draft.id, paid_on=issued_on, reference="B-1"
    )
    session.commit()
    assert "Paid by the client" in _text(me.get("/invoicing/my"))
    other_user = make_user()
    member = make_member(bill.org, roles=("freelancer",), user=other_user)
    make_freelancer(bill.org, user_id=other_user.id)
    session.commit()
    other = web(member)
    assert "Nothing billed yet" in _text(other.get("/invoicing/my"))
    assert web(bill.finance).get("/invoicing/my").status_code == 404


def test_the_issuers_logo_is_a_small_png_or_jpeg_by_content(web, bill, session):
    import io

    from fms.invoicing.settings import billing_settings
    from fms.storage import StoredFile
    from tests.factories_compliance import PDF, PNG

    finance = web(bill.finance)
    files = _count(session, StoredFile)
    wrong = finance.post(
        "/invoicing/settings/logo",
        data={"logo": (io.BytesIO(PDF), "logo.png")},
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 422 and "not an allowed type" in _text(wrong)
    missing = finance.post("/invoicing/settings/logo", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "Choose a file." in _text(missing)
    assert _count(session, StoredFile) == files
    saved = finance.post(
        "/invoicing/settings/logo",
        data={"logo": (io.BytesIO(PNG), "logo.png")},
        content_type="multipart/form-data",
    )
    assert saved.status_code == 302
    session.expire_all()
    assert billing_settings(session).logo_file_id is not None
    shown = finance.get("/invoicing/settings/logo")
    assert shown.status_code == 200 and shown.data == PNG
    assert web(bill.world.manager).get("/invoicing/settings/logo").status_code == 403


def test_a_bill_to_entity_is_changed_on_its_page_and_through_the_api(web, bill, session):
    from fms.audit import hooks as audit_hooks
    from fms.audit.models import AuditEntry

    finance = web(bill.finance)
    url = f"/invoicing/settings/bill-to/{bill.entity.id}"
    page = _text(finance.get(url))
    assert "Client GmbH" in page
    bad = finance.post(url, data={"name": "Client GmbH", "country": "Germany"})
    assert bad.status_code == 422
    moved = finance.post(
        url, data={"name": "Client GmbH", "country": "DE", "address": "Neue Str. 2, Köln"}
    )
    assert moved.status_code == 302
    session.expire_all()
    assert session.get(BillToEntity, bill.entity.id).address == "Neue Str. 2, Köln"
    patched = finance.patch(
        f"/api/v1/bill-to-entities/{bill.entity.id}", json={"default_po": "PO-77"}
    )
    assert patched.status_code == 200 and patched.get_json()["default_po"] == "PO-77"
    assert (
        finance.patch(
            f"/api/v1/bill-to-entities/{bill.entity.id}", json={"tax_category": "cheap"}
        ).status_code
        == 422
    )
    with as_org(session, bill.org.id):
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("bill_to_entity.updated") == 2
    words = audit_hooks._WORDS
    unknown = {
        a
        for a in actions
        if a.split(".")[0]
        in (
            "invoice",
            "credit_note",
            "bill_to_entity",
            "billing_settings",
            "vat_rate",
            "invoicing",
            "cost_centre_billing",
        )
        and a not in words
    }
    assert not unknown


def test_a_rename_that_loses_the_race_for_a_name_is_a_conflict_not_a_500(
    bill, session, monkeypatch
):
    """Another finance user names a second entity the same at the same moment: the check
    before the write sees nothing (simulated), the database's unique name refuses."""
    from fms.errors import AlreadyExists
    from fms.invoicing import settings as billing

    with as_org(session, bill.org.id):
        other = billing.add_bill_to_entity(
            session, actor=bill.finance, name="Client SAS", country="FR"
        )
        real_scalar = session.scalar
        monkeypatch.setattr(
            session,
            "scalar",
            lambda q, *a, **k: (
                None if "bill_to_entity.id !=" in str(q) else real_scalar(q, *a, **k)
            ),
        )
        with pytest.raises(AlreadyExists):
            billing.update_bill_to_entity(
                session, actor=bill.finance, bill_to_entity_id=other.id, name="Client GmbH"
            )
        monkeypatch.undo()
        assert session.get(BillToEntity, other.id).name == "Client SAS"
