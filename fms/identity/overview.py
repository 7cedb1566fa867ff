"""Identity's items for the Overview: single sign-on and SCIM health, pending invitations.

Registered with Reports' overview hook by the app factory. One statement (scalar
subqueries) whatever the number of connections, tokens or invitations.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.identity.sso.models import Invitation, ScimToken, SsoConnection, SsoDomain
from fms.overview import ATTENTION, TODO, OverviewItem, summary
from fms.timekeeping import utcnow

# a SCIM token that has not called in this long is probably no longer syncing
SCIM_QUIET_DAYS = 7
EXPIRING_WITHIN_DAYS = 3
STAFF = "staff"


def items(session: Session, *, actor, today: date) -> list[OverviewItem]:
    out: list[OverviewItem] = []
    if actor.can("sso.manage"):
        out += _sso(session)
    if actor.can("invitations.manage") and actor.can("members.manage"):
        out += _invitations(session)
    return out


def _count(model, *where):
    return select(func.count(model.id)).where(*where).scalar_subquery()


def _sso(session: Session) -> list[OverviewItem]:
    now = utcnow()
    live_token = ScimToken.revoked_at.is_(None)
    staff = (SsoConnection.is_active.is_(True), SsoConnection.audience == STAFF)
    staff_on, off, unverified, verified, tokens, quiet = session.execute(
        select(
            _count(SsoConnection, *staff),
            _count(SsoConnection, SsoConnection.is_active.is_(False)),
            _count(SsoDomain, SsoDomain.verified_at.is_(None)),
            _count(SsoDomain, SsoDomain.verified_at.is_not(None)),
            _count(ScimToken, live_token),
            _count(
                ScimToken,
                live_token,
                func.coalesce(ScimToken.last_used_at, ScimToken.created_at)
                < now - timedelta(days=SCIM_QUIET_DAYS),
            ),
        )
    ).one()
    settings = url_for("sso.settings")
    out = [
        OverviewItem(
            key="identity.sso_missing",
            title="Single sign-on is not set up for staff",
            count=int(staff_on == 0),
            url=settings,
            detail="Add your identity provider so staff sign in with their company account",
            section=ATTENTION,
            tone="warning",
        ),
        OverviewItem(
            key="identity.sso_off",
            title="Sign-in connections switched off",
            count=off,
            url=settings,
            detail="People of these connections cannot sign in through them",
            section=ATTENTION,
            tone="warning",
        ),
        OverviewItem(
            key="identity.domains_unverified",
            title="Email domains to verify",
            count=unverified,
            url=settings + "#domains",
            detail="Publish the DNS TXT record, then verify",
            section=TODO,
        ),
        OverviewItem(
            key="identity.scim_quiet",
            title="SCIM tokens quiet",
            count=quiet,
            url=settings + "#scim",
            detail=f"Not used in {SCIM_QUIET_DAYS} days: is provisioning still running?",
            section=ATTENTION,
            tone="warning",
        ),
    ]
    out += summary(
        "Sign-in",
        [
            ("identity.sso_connections", "Staff connections on", staff_on, settings),
            ("identity.domains_verified", "Verified domains", verified, settings + "#domains"),
            ("identity.scim_tokens", "SCIM tokens", tokens, settings + "#scim"),
        ],
    )
    return out


def _invitations(session: Session) -> list[OverviewItem]:
    now = utcnow()
    pending = (Invitation.redeemed_at.is_(None), Invitation.revoked_at.is_(None))
    open_, expiring = session.execute(
        select(
            _count(Invitation, *pending, Invitation.expires_at > now),
            _count(
                Invitation,
                *pending,
                Invitation.expires_at > now,
                Invitation.expires_at <= now + timedelta(days=EXPIRING_WITHIN_DAYS),
            ),
        )
    ).one()
    page = url_for("sso.invitations_admin")
    return [
        OverviewItem(
            key="identity.invitations_expiring",
            title="Invitations expiring soon",
            count=expiring,
            url=page,
            detail=f"Not accepted; they expire within {EXPIRING_WITHIN_DAYS} days",
            section=ATTENTION,
            tone="warning",
        ),
        *summary("Sign-in", [("identity.invitations_pending", "Invitations pending", open_, page)]),
    ]
