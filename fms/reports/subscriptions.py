"""The monthly spend pack: finance subscribes, `flask fms reports send-monthly` mails it.

A subscriber is a person of the organization who may read spend (`reports.spend`). Each
month (cron, early on the 1st; README) `send_monthly` queues one mail per subscriber through
the outbox with a link to the month's workbook (`/reports/packs/<delivery_id>`: sign-in
required, the organization's own deliveries only, built when opened from the same builder
as the export page). A month is never sent twice: the delivery row (unique per organization
x month x person) is inserted with ON CONFLICT DO NOTHING in the transaction that queues the
mail, so a second run, or a concurrent one waiting on the unique index, sends nothing more.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, NotFound
from fms.identity.actor import Actor
from fms.identity.models import Membership, User
from fms.identity.permissions import has_permission, require
from fms.reports.models import SpendPackDelivery, SpendPackSubscription
from fms.tenancy import get_in_org

MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
MAIL_KIND = "report:spend_pack"


def parse_month(text: str) -> tuple[date, date]:
    """A month "YYYY-MM" as its first and last day; anything else is InvalidInput."""
    match = MONTH.fullmatch((text or "").strip())
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise InvalidInput("A month looks like 2026-11.", errors={"month": ["Use YYYY-MM."]})
    first = date(int(match.group(1)), int(match.group(2)), 1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def previous_month(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def is_subscribed(session: Session, *, actor: Actor) -> bool:
    return actor.user_id is not None and (
        session.scalar(
            select(SpendPackSubscription.id).where(SpendPackSubscription.user_id == actor.user_id)
        )
        is not None
    )


def subscribe(session: Session, *, actor: Actor) -> SpendPackSubscription:
    """Subscribe the actor to the monthly spend pack (already subscribed: unchanged)."""
    require(actor, "reports.spend")
    if actor.user_id is None:
        raise NotAllowed("Only a person can subscribe.")
    existing = session.scalar(
        select(SpendPackSubscription).where(SpendPackSubscription.user_id == actor.user_id)
    )
    if existing is not None:
        return existing
    row = SpendPackSubscription(org_id=actor.org_id, user_id=actor.user_id)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent click subscribed first
        return session.scalar(
            select(SpendPackSubscription).where(SpendPackSubscription.user_id == actor.user_id)
        )
    audit.record(session, actor, "reports.spend_pack_subscribed", row)
    return row


def own_subscriptions(session: Session, *, actor: Actor) -> list[SpendPackSubscription]:
    """The actor's own subscriptions (at most one): nobody sees another person's, as on the
    subscriptions page."""
    require(actor, "reports.spend")
    if actor.user_id is None:
        raise NotAllowed("Only a person has subscriptions.")
    return list(
        session.scalars(
            select(SpendPackSubscription).where(SpendPackSubscription.user_id == actor.user_id)
        )
    )


def _own(session: Session, actor: Actor, subscription_id) -> SpendPackSubscription:
    row = get_in_org(session, SpendPackSubscription, subscription_id, what="subscription")
    if actor.user_id is None or row.user_id != actor.user_id:
        raise NotFound("No such subscription.")
    return row


def get_own_subscription(
    session: Session, *, actor: Actor, subscription_id
) -> SpendPackSubscription:
    """One of the actor's own subscriptions; another person's, or another organization's,
    is not found."""
    require(actor, "reports.spend")
    return _own(session, actor, subscription_id)


def _cancel(session: Session, actor: Actor, row: SpendPackSubscription) -> bool:
    audit.record(session, actor, "reports.spend_pack_unsubscribed", row)
    deleted = session.execute(
        delete(SpendPackSubscription).where(SpendPackSubscription.id == row.id)
    ).rowcount
    return deleted == 1


def unsubscribe(session: Session, *, actor: Actor) -> bool:
    """Stop the actor's monthly spend pack; whether there was one."""
    if actor.user_id is None:
        raise NotAllowed("Only a person can unsubscribe.")
    row = session.scalar(
        select(SpendPackSubscription).where(SpendPackSubscription.user_id == actor.user_id)
    )
    if row is None:
        return False
    return _cancel(session, actor, row)


def cancel_subscription(session: Session, *, actor: Actor, subscription_id) -> None:
    """Cancel one of the actor's own subscriptions (no permission needed: stopping one's
    own mail, as on the page); one cancelled meanwhile is not found."""
    row = _own(session, actor, subscription_id)
    if not _cancel(session, actor, row):
        raise NotFound("No such subscription.")


def subscribers(session: Session, *, org_id: int) -> list[tuple[int, str]]:
    """(user id, email) of the subscribers who are active members still allowed to read
    spend (a person who left finance gets no more packs)."""
    rows = session.execute(
        select(User.id, User.email, Membership.roles)
        .join(SpendPackSubscription, SpendPackSubscription.user_id == User.id)
        .join(
            Membership,
            (Membership.user_id == User.id) & (Membership.org_id == SpendPackSubscription.org_id),
        )
        .where(
            SpendPackSubscription.org_id == org_id,
            User.is_active.is_(True),
            Membership.is_active.is_(True),
        )
        .order_by(User.id)
    ).all()
    return [
        (user_id, email)
        for user_id, email, roles in rows
        if email and has_permission(roles or (), "reports.spend")
    ]


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def send_monthly(session: Session, *, actor: Actor, month: str) -> int:
    """Queue the month's spend pack mail for each subscriber not yet sent that month, each
    with its delivery row and audit entry in this transaction; how many were queued."""
    from fms.notifications.services import path_for, queue_mail

    require(actor, "reports.spend")
    first, last = parse_month(month)
    people = subscribers(session, org_id=actor.org_id)
    if not people:
        return 0
    emails = dict(people)
    insert = _insert(session)
    sent = session.execute(
        insert(SpendPackDelivery)
        .values([{"org_id": actor.org_id, "month": month, "user_id": uid} for uid in emails])
        .on_conflict_do_nothing(index_elements=["org_id", "month", "user_id"])
        .returning(SpendPackDelivery.id, SpendPackDelivery.user_id)
    ).all()
    base = (current_app.config.get("FMS_BASE_URL") or "").rstrip("/")
    for delivery_id, user_id in sorted(sent, key=lambda r: r[1]):
        link = base + path_for("report_exports.pack", pack_id=delivery_id)
        queue_mail(
            session,
            org_id=actor.org_id,
            kind=MAIL_KIND,
            to=emails[user_id],
            subject=f"Spend pack for {month}",
            body_text=(
                f"The spend pack for {month} ({first.isoformat()} to {last.isoformat()}) is "
                f"ready: summary, every approved item and headcount, as a workbook.\n\n"
                f"Open it in FMS (sign-in required): {link}\n\n"
                f"You get this because you subscribed to the monthly spend pack; stop it on "
                f"{base}{path_for('report_exports.subscriptions_page')}.\n"
            ),
        )
        audit.record(
            session,
            actor,
            "reports.spend_pack_sent",
            entity_type="spend_pack_delivery",
            entity_id=delivery_id,
            after={"month": month, "user_id": user_id},
        )
    return len(sent)


def get_delivery(session: Session, *, actor: Actor, delivery_id) -> SpendPackDelivery:
    """A pack sent in the actor's organization, for someone who may read spend there."""
    require(actor, "reports.spend")
    delivery = get_in_org(session, SpendPackDelivery, delivery_id, what="spend pack")
    if delivery is None:
        raise NotFound("No such spend pack.")
    return delivery
