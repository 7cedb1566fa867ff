"""Outbox rows for tests, made through the real `queue_mail`."""

from __future__ import annotations

from fms.notifications.services import queue_mail

_seq = iter(range(1, 1_000_000))


def outbox_message(session, org_id, **overrides):
    n = next(_seq)
    values = {
        "org_id": org_id,
        "kind": "invitation",
        "to": f"person{n}@example.com",
        "subject": f"You are invited ({n})",
        "body_text": f"Accept here: https://fms.example.com/invitations/token-{n}\n",
    }
    values.update(overrides)
    return queue_mail(session, **values)


# for tests/test_tenancy_routes.py: another organization's message answers 404
ID_FACTORIES = {"message_id": lambda f, org: outbox_message(f.session, org.id).id}


def notification(session, org_id, user_id, **overrides):
    """One inbox notification for a person (a member of the organization), through `notify`."""
    from fms.notifications.kinds import register_kind
    from fms.notifications.services import notify
    from tests.factories import as_org

    register_kind("test.notice", label="Test notices", default="inbox")
    n = next(_seq)
    values = {
        "kind": "test.notice",
        "title": f"Something happened ({n})",
        "body": "Details.",
        "url": "/inbox",
        "dedupe_key": f"test:{n}",
    }
    values.update(overrides)
    with as_org(session, org_id):
        (note,) = notify(session, org_id=org_id, user_ids=[user_id], **values)
    return note


def _own_notification(f, org):
    """A notification of the organization's first member (the signed-in admin in the route
    walk), so the walk's own request finds it."""
    from sqlalchemy import select

    from fms.identity.models import Membership
    from tests.factories import as_org

    with as_org(f.session, org.id):
        user_id = f.session.scalar(
            select(Membership.user_id)
            .where(Membership.org_id == org.id)
            .order_by(Membership.id)
            .limit(1)
        )
    if user_id is None:
        user_id = f.make_member(org).user_id
    return notification(f.session, org.id, user_id).id


ID_FACTORIES["notification_id"] = _own_notification
