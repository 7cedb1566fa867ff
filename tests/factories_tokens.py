"""Id factories of the token routes, for tests/test_tenancy_routes.py."""

from __future__ import annotations

from fms.identity.actor import Actor
from fms.identity.tokens import services as tokens
from tests.factories import as_org

WALK_NAME = "Tenancy walk"


def _admin_actor(f, org) -> Actor:
    """The test's own org admin in their organization; a fresh admin in any other."""
    mine = f.org_admin
    membership = mine if mine.org_id == org.id else f.make_member(org, roles=("org_admin",))
    return Actor(user_id=membership.user_id, org_id=org.id, roles=frozenset(membership.roles))


def _service_account(f, org):
    """One integration per organization, so a route's integration and token match."""
    from sqlalchemy import select

    from fms.identity.tokens.models import ServiceAccount

    with as_org(f.session, org.id):
        account = f.session.scalar(select(ServiceAccount).where(ServiceAccount.name == WALK_NAME))
        if account is None:
            account = tokens.create_service_account(
                f.session, actor=_admin_actor(f, org), name=WALK_NAME, roles=["finance"]
            )
    return account


def _integration_token(f, org):
    account = _service_account(f, org)
    with as_org(f.session, org.id):
        row, _ = tokens.create_integration_token(
            f.session,
            actor=_admin_actor(f, org),
            service_account_id=account.id,
            name="walk",
            scopes=["workforce:read"],
        )
    return row


def _personal_token(f, org):
    with as_org(f.session, org.id):
        row, _ = tokens.create_personal_token(
            f.session, actor=_admin_actor(f, org), name="walk", scopes=["workforce:read"]
        )
    return row


ID_FACTORIES: dict = {
    "service_account_id": lambda f, org: _service_account(f, org).id,
    "integration_token_id": lambda f, org: _integration_token(f, org).id,
    "personal_token_id": lambda f, org: _personal_token(f, org).id,
}
