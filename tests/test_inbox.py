"""The in-app inbox: delivered once, to the inbox and by mail per preference; the bell,
the page and the API; reminders sent once; approvals waiting reach the step's role."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from fms.errors import InvalidInput, NotFound
from fms.identity.models import Organization, User
from fms.notifications import services
from fms.notifications.models import Notification, NotificationPreference, OutboxMessage
from fms.notifications.sender import send_due
from fms.tenancy import scope_session
from fms.workforce import requisitions
from fms.workforce.models import Engagement
from tests.factories import as_org
from tests.factories_notifications import notification
from tests.test_outbox import Mailbox, smtp_server  # noqa: F401  - the loopback SMTP fixture

TODAY = date(2026, 11, 23)


@pytest.fixture
def org(session, make_org):
    return make_org()


@pytest.fixture
def person(org, make_member):
    return make_member(org, roles=("finance",))


def _notify(session, org, user_ids, key="event:1", kind="requisition.waiting", **kw):
    values = {"title": "Requisition REQ-1 waits", "body": "Decide it.", "url": "/requisitions/1"}
    values.update(kw)
    with as_org(session, org.id):
        return services.notify(
            session, org_id=org.id, user_ids=user_ids, kind=kind, dedupe_key=key, **values
        )


def _mails(session, to=None):
    query = select(OutboxMessage)
    if to:
        query = query.where(OutboxMessage.recipient == to)
    return session.scalars(query).all()


def _rows(session, org, user_id=None):
    with as_org(session, org.id):
        query = select(Notification).where(Notification.org_id == org.id)
        if user_id:
            query = query.where(Notification.user_id == user_id)
        return session.scalars(query.order_by(Notification.id)).all()


# --- the service ---------------------------------------------------------------------------


def test_the_same_event_is_delivered_once_to_the_inbox_and_by_mail(session, org, person):
    user = session.get(User, person.user_id)
    assert len(_notify(session, org, [person.user_id])) == 1
    assert _notify(session, org, [person.user_id]) == []  # same key: nothing again
    assert len(_rows(session, org, person.user_id)) == 1
    mails = _mails(session, user.email)
    assert len(mails) == 1 and mails[0].subject == "Requisition REQ-1 waits"
    assert "/requisitions/1" in mails[0].body_text and mails[0].org_id == org.id
    assert len(_notify(session, org, [person.user_id], key="event:2")) == 1  # a new event


def test_inbox_only_people_get_no_mail(session, org, person, make_member, actor_of):
    other = make_member(org, roles=("finance",))
    with as_org(session, org.id):
        services.set_preferences(
            session, actor=actor_of(person), choices={"requisition.waiting": "inbox"}
        )
    delivered = _notify(session, org, [person.user_id, other.user_id])
    assert {n.user_id for n in delivered} == {person.user_id, other.user_id}
    assert _mails(session, session.get(User, person.user_id).email) == []
    assert len(_mails(session, session.get(User, other.user_id).email)) == 1


def test_only_active_members_of_the_organization_are_notified(
    session, org, person, make_member, make_org, make_user
):
    gone = make_member(org, roles=("finance",), is_active=False)
    stranger = make_member(make_org(), roles=("finance",))
    nobody = make_user()
    delivered = _notify(session, org, [person.user_id, gone.user_id, stranger.user_id, nobody.id])
    assert [n.user_id for n in delivered] == [person.user_id]


def test_a_lost_race_answers_nothing(session, org, person, monkeypatch):
    """Another transaction delivered the event after this one looked: the unique constraint
    refuses the second row, and notify skips that person instead of failing."""
    _notify(session, org, [person.user_id])
    monkeypatch.setattr(services, "_delivered", lambda *a, **k: set())
    assert _notify(session, org, [person.user_id]) == []
    assert len(_rows(session, org, person.user_id)) == 1
    assert len(_mails(session)) == 1


def test_unknown_kinds_and_outside_links_are_programming_errors(session, org, person):
    with pytest.raises(ValueError, match="unregistered"):
        _notify(session, org, [person.user_id], kind="nope")
    with pytest.raises(ValueError, match="inside FMS"):
        _notify(session, org, [person.user_id], url="https://evil.example.com/")


def test_mail_reaches_a_real_smtp_server_once(app, session, org, person, smtp_server):  # noqa: F811
    box = smtp_server(Mailbox())
    _notify(session, org, [person.user_id])
    _notify(session, org, [person.user_id])
    session.commit()
    send_due(session)
    assert len(box.accepted) == 1
    _sender, recipients, mail = box.accepted[0]
    assert recipients == [session.get(User, person.user_id).email]
    assert mail["Subject"] == "Requisition REQ-1 waits"
    assert "https://fms.example.com/requisitions/1" in mail.get_body(("plain",)).get_content()


def test_many_events_are_delivered_once_in_a_fixed_number_of_statements(
    session, org, make_member, actor_of, query_counter
):
    people = [make_member(org, roles=("finance",)) for _ in range(3)]
    with as_org(session, org.id):
        services.set_preferences(
            session, actor=actor_of(people[0]), choices={"requisition.waiting": "inbox"}
        )
    counts = []
    for size in (10, 500):
        notices = [
            services.Notice(p.user_id, "requisition.waiting", f"Event {i}", f"many:{size}:{i}")
            for i in range(size)
            for p in people
        ]
        with as_org(session, org.id), query_counter() as statements:
            assert services.notify_many(session, org_id=org.id, notices=notices) == 3 * size
        counts.append(len(statements))
        with as_org(session, org.id):  # the same events again: nothing
            assert services.notify_many(session, org_id=org.id, notices=notices[:5]) == 0
    # people, their choices, one INSERT ... RETURNING, one executemany of the mail
    assert counts == [4, 4]
    assert len(_rows(session, org, people[0].user_id)) == 510
    assert _mails(session, session.get(User, people[0].user_id).email) == []  # inbox only
    assert len(_mails(session, session.get(User, people[1].user_id).email)) == 510


# --- pages, bell and API -------------------------------------------------------------------


@pytest.fixture
def signed_in(client, session, org, person, sign_in):
    sign_in(client, session.get(User, person.user_id), org)
    return client


def test_the_bell_counts_unread_and_mark_read_clears_it(signed_in, session, org, person):
    first = notification(session, org.id, person.user_id, title="First thing")
    notification(session, org.id, person.user_id, title="Second thing")
    session.commit()
    page = signed_in.get("/inbox").get_data(as_text=True)
    assert 'aria-label="Inbox, 2 unread"' in page
    assert page.index("Second thing") < page.index("First thing")  # newest first
    assert 'class="fw-bold">First thing' in page  # unread is bold
    answer = signed_in.post(f"/inbox/{first.id}/read", data={"page": "1"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/inbox")
    page = signed_in.get("/inbox").get_data(as_text=True)
    assert 'aria-label="Inbox, 1 unread"' in page
    assert 'class="fw-bold">First thing' not in page
    assert signed_in.post("/inbox/read-all").status_code == 302
    assert 'aria-label="Inbox, 0 unread"' in signed_in.get("/inbox").get_data(as_text=True)
    # the bell is on every page, not only the inbox
    assert 'aria-label="Inbox, 0 unread"' in signed_in.get("/").get_data(as_text=True)


def test_the_empty_inbox_says_so(signed_in):
    page = signed_in.get("/inbox").get_data(as_text=True)
    assert "Your inbox is empty" in page


def test_another_persons_or_organizations_notification_is_not_found(
    signed_in, session, org, person, make_member, make_org
):
    colleague = make_member(org, roles=("finance",))
    theirs = notification(session, org.id, colleague.user_id)
    other_org = make_org()
    elsewhere = notification(session, other_org.id, make_member(other_org).user_id)
    session.commit()
    for note in (theirs, elsewhere):
        assert signed_in.post(f"/inbox/{note.id}/read").status_code == 404
        assert signed_in.post(f"/api/v1/notifications/{note.id}/read", json={}).status_code == 404
    listed = signed_in.get("/api/v1/notifications").get_json()
    assert listed["total"] == 0
    session.expire_all()
    assert session.get(Notification, theirs.id).read_at is None


def test_page_and_api_agree(signed_in, session, org, person):
    notes = [notification(session, org.id, person.user_id) for _ in range(3)]
    with as_org(session, org.id):
        session.execute(
            update(Notification).where(Notification.id == notes[0].id).values(read_at=func.now())
        )
    session.commit()
    body = signed_in.get("/api/v1/notifications").get_json()
    assert [item["id"] for item in body["items"]] == [n.id for n in reversed(notes)]
    assert body["total"] == 3
    unread = signed_in.get("/api/v1/notifications?unread=true").get_json()
    assert [item["id"] for item in unread["items"]] == [notes[2].id, notes[1].id]
    page = signed_in.get("/inbox?show=unread").get_data(as_text=True)
    assert notes[2].title in page and notes[1].title in page and notes[0].title not in page
    assert 'aria-label="Inbox, 2 unread"' in page
    read = signed_in.post(f"/api/v1/notifications/{notes[1].id}/read", json={})
    assert read.status_code == 200 and read.get_json()["read_at"]
    assert signed_in.post("/api/v1/notifications/read-all", json={}).get_json() == {"marked": 1}
    assert 'aria-label="Inbox, 0 unread"' in signed_in.get("/inbox").get_data(as_text=True)


def test_preferences_page_and_api(signed_in, session, org, person):
    page = signed_in.get("/inbox/preferences").get_data(as_text=True)
    assert "A requisition waits for your approval" in page
    answer = signed_in.post("/inbox/preferences", data={"channel-requisition.waiting": "inbox"})
    assert answer.status_code == 302
    prefs = {p["kind"]: p for p in signed_in.get("/api/v1/notification-preferences").get_json()}
    assert prefs["requisition.waiting"]["channel"] == "inbox"
    assert prefs["engagement.ending"]["channel"] == prefs["engagement.ending"]["default"]
    put = signed_in.put(
        "/api/v1/notification-preferences",
        json={"preferences": [{"kind": "requisition.waiting", "channel": "mail"}]},
    )
    assert put.status_code == 200
    assert {p["kind"]: p["channel"] for p in put.get_json()}["requisition.waiting"] == "mail"
    bad = signed_in.put(
        "/api/v1/notification-preferences",
        json={"preferences": [{"kind": "no.such.kind", "channel": "mail"}]},
    )
    assert bad.status_code == 422
    with as_org(session, org.id):
        rows = session.scalars(
            select(NotificationPreference.channel).where(
                NotificationPreference.kind == "requisition.waiting"
            )
        ).all()
    assert rows == ["mail"]  # one row per person and kind, changed in place


def test_set_preferences_refuses_unknown_channels(session, org, person, actor_of):
    with pytest.raises(InvalidInput), as_org(session, org.id):
        services.set_preferences(
            session, actor=actor_of(person), choices={"requisition.waiting": "pigeon"}
        )
    with pytest.raises(NotFound), as_org(session, org.id):
        services.mark_read(session, actor=actor_of(person), notification_id=10**30)


@pytest.mark.parametrize("path", ["/inbox", "/api/v1/notifications?per_page=200"])
def test_statement_count_is_fixed_for_10_and_500(
    signed_in, session, org, person, query_counter, path
):
    def add(n):
        with as_org(session, org.id):
            start = session.scalar(select(func.count(Notification.id))) or 0
            session.add_all(
                Notification(
                    org_id=org.id,
                    user_id=person.user_id,
                    kind="requisition.waiting",
                    title=f"Event {start + i}",
                    body="",
                    url="/inbox",
                    dedupe_key=f"bulk:{start + i}",
                )
                for i in range(n)
            )
        session.commit()

    counts = []
    for n in (10, 490):
        add(n)
        signed_in.get(path)  # warm: the first request after sign-in loads the user
        with query_counter() as statements:
            assert signed_in.get(path).status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], f"{path}: {counts}"


# --- events --------------------------------------------------------------------------------


def test_the_remind_command_twice_sends_once_and_an_extension_rearms_it(
    app, session, org, make_engagement, make_member
):
    manager = make_member(org, roles=("hiring_manager",))
    ending = make_engagement(
        org, start=date(2026, 1, 1), end=TODAY + timedelta(days=20), manager_id=manager.user_id
    )
    make_engagement(org, end=TODAY + timedelta(days=45), manager_id=manager.user_id)  # later
    session.commit()
    runner = app.test_cli_runner()
    args = ["fms", "notifications", "remind", "--today", TODAY.isoformat()]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert "1 reminder(s) sent." in first.output
    assert "0 reminder(s) sent." in runner.invoke(args=args).output
    (note,) = _rows(session, org, manager.user_id)
    assert note.kind == "engagement.ending" and note.url == f"/engagements/{ending.id}"
    assert "in 20 days" in note.title
    # an extension moves the end date: the reminder comes again for the new date
    with as_org(session, org.id):
        session.execute(
            update(Engagement)
            .where(Engagement.id == ending.id)
            .values(end_date=TODAY + timedelta(days=25))
        )
    session.commit()
    assert "1 reminder(s) sent." in runner.invoke(args=args).output
    assert len(_rows(session, org, manager.user_id)) == 2


def test_a_requisition_reaching_finance_notifies_the_finance_members(
    session, make_org, approval_chain, make_member, actor_of, org_structure
):
    org = make_org(base_currency="EUR")
    approval_chain(org)
    scope_session(session, org.id)
    manager = actor_of(make_member(org, roles=("hiring_manager",)))
    procurement = actor_of(make_member(org, roles=("procurement",)))
    finance = [actor_of(make_member(org, roles=("finance",))) for _ in range(2)]
    make_member(org, roles=("finance",), is_active=False)  # gone: hears nothing
    req = requisitions.create_requisition(
        session,
        actor=manager,
        title="Senior data engineer",
        kind="hourly",
        start_date="2026-12-01",
        end_date="2027-05-31",
        weekly_minutes=2400,
        currency="EUR",
        rate_min="80",
        rate_max="100",
        budget="60000",
        justification="Grid analytics backlog",
        **org_structure(org),
    )
    requisitions.submit_requisition(session, actor=manager, requisition_id=req.id, today=TODAY)

    def waiting():
        return {
            (n.user_id, n.title) for n in _rows(session, org) if n.kind == "requisition.waiting"
        }

    title = f"Requisition REQ-{req.id} “Senior data engineer” waits for your approval"
    assert waiting() == {(procurement.user_id, title)}
    requisitions.decide_step(
        session, actor=procurement, requisition_id=req.id, approve=True, today=TODAY
    )
    assert waiting() == {(procurement.user_id, title)} | {(f.user_id, title) for f in finance}
    finance_mail = _mails(session, session.get(User, finance[0].user_id).email)
    assert len(finance_mail) == 1 and f"/requisitions/{req.id}" in finance_mail[0].body_text
    requisitions.decide_step(
        session, actor=finance[0], requisition_id=req.id, approve=True, today=TODAY
    )
    assert len(waiting()) == 3  # the chain is done: nobody else is asked
    session.expire_all()
    # a decided step waits for nobody: its notifications are read, for the other finance
    # member too, so nobody is asked for what is done
    assert [n.read_at is not None for n in _rows(session, org)] == [True, True, True]


def test_a_rejection_settles_the_skipped_steps_too(
    session, make_org, approval_chain, make_member, actor_of, make_requisition
):
    org = make_org(base_currency="EUR")
    approval_chain(org)
    scope_session(session, org.id)
    manager = make_member(org, roles=("hiring_manager",))
    procurement = actor_of(make_member(org, roles=("procurement",)))
    req = make_requisition(org, requester=manager, budget=60000)
    requisitions.submit_requisition(
        session, actor=actor_of(manager), requisition_id=req.id, today=TODAY
    )
    (waiting,) = _rows(session, org)
    assert waiting.read_at is None
    requisitions.decide_step(
        session,
        actor=procurement,
        requisition_id=req.id,
        approve=False,
        comment="Not this year",
        today=TODAY,
    )
    session.expire_all()
    assert [n.read_at is not None for n in _rows(session, org)] == [True]


def test_a_withdrawn_requisition_waits_for_nobody(
    session, make_org, approval_chain, make_member, actor_of, make_requisition
):
    """Cancelled while waiting: its steps are skipped and the approvers' notice is read."""
    from fms.workforce.models import ApprovalStep

    org = make_org(base_currency="EUR")
    approval_chain(org)
    scope_session(session, org.id)
    manager = make_member(org, roles=("hiring_manager",))
    make_member(org, roles=("procurement",))
    req = make_requisition(org, requester=manager, budget=60000)
    requisitions.submit_requisition(
        session, actor=actor_of(manager), requisition_id=req.id, today=TODAY
    )
    (waiting,) = _rows(session, org)
    assert waiting.read_at is None
    requisitions.cancel_requisition(session, actor=actor_of(manager), requisition_id=req.id)
    session.expire_all()
    assert [n.read_at is not None for n in _rows(session, org)] == [True]
    states = session.scalars(
        select(ApprovalStep.state).where(ApprovalStep.requisition_id == req.id)
    ).all()
    assert states == ["skipped", "skipped"]


def test_an_amendment_waiting_reaches_procurement_but_not_its_requester(
    session, org, make_member, actor_of, make_engagement
):
    from fms.workforce import engagements

    scope_session(session, org.id)
    proposer = actor_of(make_member(org, roles=("procurement",)))
    colleague = actor_of(make_member(org, roles=("procurement",)))
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 12, 31))
    amendment = engagements.request_amendment(
        session,
        actor=proposer,
        engagement_id=engagement.id,
        kind="extension",
        effective_from="2026-12-31",
        reason="More work",
        new_end_date="2027-06-30",
    )
    waiting = [n for n in _rows(session, org) if n.kind == "amendment.waiting"]
    assert [n.user_id for n in waiting] == [colleague.user_id]
    assert waiting[0].url == f"/engagements/{engagement.id}#amendments"
    assert waiting[0].dedupe_key.startswith("approval_step:") and amendment.id


@pytest.mark.postgres
def test_two_transactions_delivering_one_event_deliver_it_once(app, committed, monkeypatch):
    """Both look (nothing delivered yet), then both insert: PostgreSQL makes the second
    wait for the first and refuses it; notify skips that person, nothing fails."""
    import threading

    from fms.extensions import db

    org = Organization(name="Race", slug="race-inbox")
    committed.add(org)
    committed.flush()
    user = User(email="race-inbox@example.com", name="Racer")
    committed.add(user)
    committed.flush()
    from fms.identity.models import Membership

    with as_org(committed, org.id):
        committed.add(Membership(org_id=org.id, user_id=user.id, roles=["finance"]))
        committed.flush()
    committed.commit()
    org_id, user_id = org.id, user.id
    barrier = threading.Barrier(2)
    looked = services._delivered

    def look_then_wait(*args, **kwargs):
        found = looked(*args, **kwargs)
        barrier.wait(timeout=10)
        return found

    monkeypatch.setattr(services, "_delivered", look_then_wait)
    outcomes, crashes = [], []

    def deliver():
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                outcomes.append(
                    len(
                        services.notify(
                            db.session,
                            org_id=org_id,
                            user_ids=[user_id],
                            kind="requisition.waiting",
                            title="Race",
                            dedupe_key="race:1",
                        )
                    )
                )
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - the test reports it
                crashes.append(repr(exc))
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not crashes and sorted(outcomes) == [0, 1]
    scope_session(committed, org_id)
    committed.expire_all()
    assert committed.scalar(select(func.count(Notification.id))) == 1
    assert committed.scalar(select(func.count(OutboxMessage.id))) == 1
