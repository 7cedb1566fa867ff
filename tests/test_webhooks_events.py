"""Webhook events raised by the real services of workforce and compliance: a requisition's
last approval, an activation, and the daily compliance sweep's expiry warnings (once per
document and threshold, however often the sweep runs)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from fms.compliance.sweep import sweep
from fms.identity.actor import system_actor
from fms.webhooks import services as webhooks
from fms.webhooks.models import WebhookDelivery
from tests.test_compliance import _activate_with_w9
from tests.test_requisitions import _decide, _new, _submit


@pytest.fixture(autouse=True)
def quiet(app, monkeypatch):
    """Deliveries are written, not sent: the rows are the subject here."""
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setitem(app.config, "FMS_WEBHOOK_INLINE_LIMIT", 0)


def _listen(session, org, make_member, actor_of, events):
    admin = actor_of(make_member(org, roles=("org_admin",)))
    endpoint, _ = webhooks.create_endpoint(
        session, actor=admin, url="http://127.0.0.1:9/in", events=events
    )
    session.commit()
    return endpoint


def _sent(session):
    session.expire_all()
    rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    return [(r.event_type, json.loads(r.body)["data"]) for r in rows]


def test_a_requisitions_last_approval_is_an_event(
    session, make_org, make_member, actor_of, approval_chain, org_structure
):
    from fms.tenancy import scope_session

    org = make_org(base_currency="EUR")
    approval_chain(org)
    scope_session(session, org.id)
    _listen(session, org, make_member, actor_of, ["requisition.approved"])
    manager = actor_of(make_member(org, roles=("hiring_manager",)))
    procurement = actor_of(make_member(org, roles=("procurement",)))
    req = _new(session, org_structure, org, manager)
    _submit(session, req, manager)
    session.commit()
    assert _sent(session) == []  # submitted is not approved
    _decide(session, req, procurement)
    session.commit()
    [(kind, data)] = _sent(session)
    assert kind == "requisition.approved"
    assert data["id"] == req.id and data["state"] == "approved"
    assert data["engagement_id"] is not None  # the engagement its approval created


def test_activation_and_the_sweeps_expiry_warnings_are_events(
    session, cworld, make_member, actor_of
):
    _listen(
        session,
        cworld.org,
        make_member,
        actor_of,
        ["engagement.activated", "compliance.document_expiring"],
    )
    document = _activate_with_w9(cworld)
    session.commit()
    system = system_actor(cworld.org.id)
    for days in (31, 30, 30, 29, 14):  # the sweep, daily (and twice on one day)
        sweep(session, actor=system, today=document.expires_on - timedelta(days=days))
        session.commit()
    sent = _sent(session)
    assert [kind for kind, _ in sent] == [
        "engagement.activated",
        "compliance.document_expiring",  # 30 days before
        "compliance.document_expiring",  # 14 days before
    ]
    assert sent[0][1]["id"] == cworld.engagement.id and sent[0][1]["state"] == "active"
    assert {data["id"] for _, data in sent[1:]} == {document.id}
    assert sent[1][1]["expires_on"] == document.expires_on.isoformat()


def test_an_invoice_issued_and_paid_are_events(session, bill, make_member, actor_of):
    from datetime import date

    _listen(session, bill.org, make_member, actor_of, ["invoice.issued", "invoice.paid"])
    bill.approved_week(date(2026, 11, 2), (480,))  # 8 h at 90.00 = 720.00, 19 % VAT
    draft = bill.close(today=date(2026, 12, 2)).invoices[0]
    session.commit()
    assert _sent(session) == []  # a draft is no event
    bill.issue(draft, today=date(2026, 12, 2))
    session.commit()
    from fms.invoicing import services as invoicing

    invoicing.record_payment(
        session,
        actor=bill.finance,
        invoice_id=draft.id,
        paid_on="2026-12-02",
        reference="BANK-9",
        today=date(2026, 12, 2),
    )
    session.commit()
    [(issued, first), (paid, second)] = _sent(session)
    assert (issued, paid) == ("invoice.issued", "invoice.paid")
    assert first["id"] == draft.id and first["gross"] == {"amount": "856.80", "currency": "EUR"}
    assert second["state"] == "paid" and second["payment_reference"] == "BANK-9"
