"""Reads for the outbox page (one organization's messages) and the inbox (one person's
notifications in one organization), newest first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.errors import NotFound
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.notifications.kinds import all_kinds
from fms.notifications.models import (
    STATES,
    Notification,
    NotificationPreference,
    OutboxMessage,
)


def _of_org(actor: Actor):
    # OutboxMessage is not a tenant model, so the tenancy hook does not scope it: filter
    # here. Messages without an organization (password resets) are nobody's to read.
    if actor.org_id is None:
        raise NotFound("No such message.")
    return OutboxMessage.org_id == actor.org_id


def list_messages(
    session: Session, *, actor: Actor, state: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[OutboxMessage], int]:
    """The actor's organization's messages (optionally in one state), newest first."""
    require(actor, "outbox.read")
    query = select(OutboxMessage).where(_of_org(actor))
    if state in STATES:
        query = query.where(OutboxMessage.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def state_counts(session: Session, *, actor: Actor) -> dict[str, int]:
    """How many of the organization's messages are in each state."""
    require(actor, "outbox.read")
    rows = session.execute(
        select(OutboxMessage.state, func.count())
        .where(_of_org(actor))
        .group_by(OutboxMessage.state)
    ).all()
    counts = dict.fromkeys(STATES, 0)
    counts.update({state: n for state, n in rows})
    return counts


def get_message(session: Session, *, actor: Actor, message_id: int) -> OutboxMessage:
    """One message of the actor's organization; another organization's id is NotFound."""
    require(actor, "outbox.read")
    message = session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id, _of_org(actor))
    )
    if message is None:
        raise NotFound("No such message.")
    return message


# --- the inbox -----------------------------------------------------------------------------


def _mine(actor: Actor):
    if actor.user_id is None or actor.org_id is None:
        raise NotFound("No inbox without an organization.")
    return (Notification.user_id == actor.user_id, Notification.org_id == actor.org_id)


def list_inbox(
    session: Session, *, actor: Actor, unread: bool | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Notification], int]:
    """The actor's own notifications in the current organization, newest first."""
    query = select(Notification).where(*_mine(actor))
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(Notification.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def unread_count(session: Session, *, org_id: int, user_id: int) -> int:
    """The bell's number: one indexed count (ix_notification_inbox)."""
    return session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user_id,
            Notification.org_id == org_id,
            Notification.read_at.is_(None),
        )
    )


def preferences(session: Session, *, actor: Actor) -> list[dict]:
    """Every registered kind with the actor's channel for it (or the kind's default)."""
    if actor.user_id is None or actor.org_id is None:
        raise NotFound("No preferences without an organization.")
    chosen = dict(
        session.execute(
            select(NotificationPreference.kind, NotificationPreference.channel).where(
                NotificationPreference.user_id == actor.user_id,
                NotificationPreference.org_id == actor.org_id,
            )
        ).all()
    )
    return [
        {
            "kind": kind.key,
            "label": kind.label,
            "description": kind.description,
            "default": kind.default,
            "channel": chosen.get(kind.key, kind.default),
        }
        for kind in all_kinds()
    ]
