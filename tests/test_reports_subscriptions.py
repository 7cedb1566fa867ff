"""The monthly spend pack: finance subscribes on a page (audited), `flask fms reports
send-monthly` queues one mail per subscriber through the outbox with a link that needs a
sign-in and answers only in the subscriber's organization, and a month is never sent twice
(run again, or two runs at once on PostgreSQL)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.errors import InvalidInput, NotAllowed
from fms.identity.actor import system_actor
from fms.identity.models import Membership, User
from fms.notifications.models import OutboxMessage
from fms.reports import subscriptions
from fms.reports.models import SpendPackDelivery, SpendPackSubscription
from fms.tenancy import scope_session
from tests.test_reports_exports import fake_spend, november  # noqa: F401 - fixtures


def _user(session, actor):
    return session.get(User, actor.user_id)


def _mails(session):
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == subscriptions.MAIL_KIND)
        .order_by(OutboxMessage.recipient)
    ).all()


def test_months_are_parsed_strictly_and_the_default_is_the_previous_month():
    assert subscriptions.parse_month("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert subscriptions.previous_month(date(2026, 1, 1)) == "2025-12"
    assert subscriptions.previous_month(date(2026, 3, 31)) == "2026-02"
    for bad in ("2026-13", "2026-1", "26-01", "", "2026-01-01"):
        with pytest.raises(InvalidInput):
            subscriptions.parse_month(bad)


def test_finance_subscribes_and_unsubscribes_on_the_page_audited(client, sign_in, session, bill):
    sign_in(client, _user(session, bill.finance))
    page = client.get("/reports/subscriptions")
    assert page.status_code == 200 and b"You are not subscribed" in page.data
    client.post_form(
        "/reports/subscriptions", {"action": "subscribe"}, page="/reports/subscriptions"
    )
    client.post_form(
        "/reports/subscriptions", {"action": "subscribe"}, page="/reports/subscriptions"
    )
    scope_session(session, bill.org.id)
    rows = session.scalars(select(SpendPackSubscription)).all()
    assert [r.user_id for r in rows] == [bill.finance.user_id]  # once, however often asked
    assert b"You are subscribed" in client.get("/reports/subscriptions").data
    client.post_form("/reports/subscriptions", {"action": "unsubscribe"})
    assert session.scalar(select(func.count()).select_from(SpendPackSubscription)) == 0
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.like("reports.spend_pack%"))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["reports.spend_pack_subscribed", "reports.spend_pack_unsubscribed"]


def test_only_people_who_may_read_spend_subscribe(client, sign_in, session, bill):
    with pytest.raises(NotAllowed):
        subscriptions.subscribe(session, actor=bill.world.manager)
    sign_in(client, _user(session, bill.world.manager))
    assert client.get("/reports/subscriptions").status_code == 403


def _subscribe_all(session, bill):
    for actor in (bill.finance, bill.finance2):
        subscriptions.subscribe(session, actor=actor)


def test_send_monthly_mails_each_subscriber_once_with_a_link(app, session, bill):
    _subscribe_all(session, bill)
    # finance2 moves to hiring management: no more packs for them
    session.execute(
        Membership.__table__.update()
        .where(Membership.user_id == bill.finance2.user_id)
        .values(roles=["hiring_manager"])
    )
    runner = app.test_cli_runner()
    first = runner.invoke(args=["fms", "reports", "send-monthly", "--month", "2026-11"])
    assert first.exit_code == 0, first.output
    assert "1 spend pack mail(s) queued." in first.output
    again = runner.invoke(args=["fms", "reports", "send-monthly", "--month", "2026-11"])
    assert again.exit_code == 0 and "0 spend pack mail(s) queued." in again.output
    [mail] = _mails(session)
    assert mail.recipient == _user(session, bill.finance).email
    assert mail.subject == "Spend pack for 2026-11" and mail.org_id == bill.org.id
    scope_session(session, bill.org.id)
    [delivery] = session.scalars(select(SpendPackDelivery)).all()
    assert (delivery.month, delivery.user_id) == ("2026-11", bill.finance.user_id)
    assert f"/reports/packs/{delivery.id}" in mail.body_text
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "reports.spend_pack_sent")
        )
        == 1
    )
    # another month is another pack
    other = runner.invoke(args=["fms", "reports", "send-monthly", "--month", "2026-10"])
    assert "1 spend pack mail(s) queued." in other.output
    bad = runner.invoke(args=["fms", "reports", "send-monthly", "--month", "2026-13"])
    assert bad.exit_code != 0 and "A month looks like 2026-11." in bad.output


def test_the_pack_link_needs_a_sign_in_and_the_organization(
    client,
    sign_in,
    session,
    november,  # noqa: F811 - the fixture imported above
    fake_spend,  # noqa: F811
    make_org,
    make_member,
):
    bill, _ = november
    _subscribe_all(session, bill)
    subscriptions.send_monthly(session, actor=system_actor(bill.org.id), month="2026-11")
    session.commit()
    pack_id = session.scalars(select(SpendPackDelivery.id)).first()
    url = f"/reports/packs/{pack_id}"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    sign_in(client, _user(session, bill.finance))
    answer = client.get(url)
    assert answer.status_code == 200 and answer.data[:2] == b"PK"
    book = load_workbook(io.BytesIO(answer.data))
    assert book["Detail"].max_row == 5  # header and November's four items
    assert book["Cover"]["B4"].value.date() == date(2026, 11, 1)
    # the same person in another organization, signed in there: not found
    other = make_org()
    stranger = make_member(other, roles=("finance",))
    sign_in(client, session.get(User, stranger.user_id), org=other)
    assert client.get(url).status_code == 404


@pytest.mark.postgres
def test_two_runs_at_once_send_a_month_once(app, committed):
    """Two send-monthly runs racing on PostgreSQL: the unique delivery row lets one win."""
    from fms.identity.models import Organization
    from tests.test_timesheet_concurrency import _race

    session = committed
    org = Organization(slug="packs-race", name="Packs", base_currency="EUR", timezone="UTC")
    session.add(org)
    session.flush()
    for n in range(3):
        user = User(email=f"pack{n}@example.com", name=f"Finance {n}")
        session.add(user)
        session.flush()
        session.add(Membership(org_id=org.id, user_id=user.id, roles=["finance"]))
        session.add(SpendPackSubscription(org_id=org.id, user_id=user.id))
    session.commit()
    org_id = org.id
    sent = []

    def run(s):
        sent.append(subscriptions.send_monthly(s, actor=system_actor(org_id), month="2026-11"))

    outcomes = _race(app, org_id, ("a", run), ("b", run))
    assert outcomes == {"a": "done", "b": "done"}
    assert sorted(sent) == [0, 3]
    scope_session(session, org_id)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SpendPackDelivery)) == 3
    assert len(_mails(session)) == 3
