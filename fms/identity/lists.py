"""Identity's lists (fms.lists specs): the organization's members and its invitations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from fms.identity.models import Membership, User
from fms.identity.sso.models import Invitation
from fms.lists import Column, ListSpec, active_filter, search_filter


def _roles(row) -> str:
    return ", ".join(row.Membership.roles or [])


MEMBERS = ListSpec(
    key="members",
    title="Members",
    permission="members.read",
    endpoint="identity.members",
    statement=lambda session, actor, ctx: (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .options(contains_eager(Membership.user))
    ),
    tiebreak=Membership.id,
    default_sort="name",
    columns=[
        Column("name", "Name", User.name, value=lambda r: r.User.name),
        Column("email", "Email", User.email, value=lambda r: r.User.email),
        Column("roles", "Roles", None, value=_roles),
        Column(
            "active",
            "Status",
            Membership.is_active,
            "state",
            value=lambda r: "active" if r.Membership.is_active else "deactivated",
        ),
        Column(
            "last_sign_in",
            "Last sign-in",
            Membership.last_sign_in_at,
            "date",
            value=lambda r: r.Membership.last_sign_in_at,
        ),
    ],
    filters=[
        search_filter("Name or email", User.name, User.email),
        active_filter(Membership.is_active, no="Deactivated"),
    ],
)


def _status(row) -> str:
    from fms.identity.sso.invitations import status

    return status(row.Invitation)


INVITATIONS = ListSpec(
    key="invitations",
    title="Invitations",
    permission="invitations.manage",
    endpoint="sso.invitations_admin",
    statement=lambda session, actor, ctx: select(Invitation),
    tiebreak=Invitation.id.desc(),
    default_sort="-created",
    columns=[
        Column("email", "Email", Invitation.email, value=lambda r: r.Invitation.email),
        Column("name", "Name", Invitation.name, value=lambda r: r.Invitation.name),
        Column("roles", "Roles", None, value=lambda r: ", ".join(r.Invitation.roles or [])),
        Column("status", "Status", None, "state", value=_status),
        Column(
            "created",
            "Invited",
            Invitation.created_at,
            "date",
            value=lambda r: r.Invitation.created_at,
        ),
        Column(
            "expires",
            "Expires",
            Invitation.expires_at,
            "date",
            value=lambda r: r.Invitation.expires_at,
        ),
    ],
    filters=[search_filter("Email or name", Invitation.email, Invitation.name)],
)
