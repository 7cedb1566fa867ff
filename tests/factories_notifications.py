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
