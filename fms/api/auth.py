"""Who calls /api/v1, and what a token may reach: bearer tokens and the scope table.

A request carries either the signed-in browser session (writes with the CSRF header) or
`Authorization: Bearer <token>` (no CSRF: no cookie is used, so there is nothing to
forge). A token request works in the token's organization.

The scope table: every /api/v1 route belongs to one area, read for GET and write for any
other method, unless an entry below says otherwise. `BLUEPRINT_SCOPES` gives each API
blueprint its area; `ENDPOINT_SCOPES` overrides single endpoints (optionally per method).
A route that is in neither is closed to tokens (and tests/test_api_tokens_scopes.py
fails), so a new area's blueprint must be added here when it is registered.

The scope is the first gate only: the service behind the route still checks the
principal's permission (fms.identity.permissions) from its roles at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request
from werkzeug.exceptions import Forbidden, Unauthorized

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "fms"


@dataclass(frozen=True)
class Scope:
    """What a route needs of a token. `area` None: no area scope (the person's own
    account, inbox and tokens). `access` None: read for GET, write otherwise. `person`:
    only a person may call it (the session, or a personal token), never an integration."""

    area: str | None
    access: str | None = None
    person: bool = False

    def needed(self, method: str) -> str | None:
        if self.area is None:
            return None
        access = self.access or ("read" if method.upper() in READ_METHODS else "write")
        return f"{self.area}:{access}"


PERSON = Scope(None, person=True)  # about the caller themselves: any personal token
ANY_TOKEN = Scope(None)  # about the calling token itself

BLUEPRINT_SCOPES: dict[str, Scope] = {
    "identity_api": Scope("admin"),
    "sso_api": Scope("admin"),
    "audit_api": Scope("admin"),
    "tokens_api": Scope("admin"),
    "workforce_api": Scope("workforce"),
    "timesheets_api": Scope("timesheets"),
    "compliance_api": Scope("compliance"),
    "invoicing_api": Scope("invoicing"),
    "reports_api": Scope("reports"),
    "webhooks_api": Scope("admin"),
    # export jobs a person asked for (their progress and retry)
    "jobs_api": Scope("reports", person=True),
    # the person's own inbox and mail choices
    "notifications_api": PERSON,
    # a person's saved views of lists (each list still checks its own permission)
    "saved_views_api": PERSON,
}

ENDPOINT_SCOPES: dict[str, Scope | dict[str, Scope]] = {
    "identity_api.Me": PERSON,
    "identity_api.Organizations": PERSON,
    "identity_api.OrganizationById": {"GET": PERSON, "PATCH": Scope("admin", person=True)},
    # colleagues picked in workforce forms (hiring manager, stand-in)
    "identity_api.PeopleLookup": Scope("workforce"),
    "workforce_api.Headcount": Scope("reports"),
    "workforce_api.HeadcountTrend": Scope("reports"),
    "workforce_api.OwnEngagements": Scope("workforce", person=True),
    "workforce_api.OwnProfile": Scope("workforce", person=True),
    # a freelancer's own statement: their personal token, never an integration's
    "invoicing_api.MyStatement": Scope("invoicing", "read", person=True),
    # a preview changes nothing
    "timesheets_api.BulkPreview": Scope("timesheets", "read"),
    # the monthly spend pack goes to a person's mail: subscriptions are a person's own
    "reports_api.Subscriptions": Scope("reports", person=True),
    "reports_api.SubscriptionById": Scope("reports", person=True),
    # a SCIM token provisions people: minted by a person, never by an integration
    "sso_api.ScimTokens": {"GET": Scope("admin"), "POST": Scope("admin", person=True)},
    "tokens_api.CurrentToken": ANY_TOKEN,
    "tokens_api.PersonalTokens": PERSON,
    "tokens_api.PersonalTokenRevocation": PERSON,
    # the organization's integrations and their tokens: BLUEPRINT_SCOPES (admin)
}


def scope_of(endpoint: str | None, method: str) -> Scope | None:
    """The scope a route needs, from the table; None when the table does not know it."""
    if not endpoint:
        return None
    entry = ENDPOINT_SCOPES.get(endpoint)
    if isinstance(entry, dict):
        return entry.get(method.upper()) or (
            entry.get("GET") if method.upper() in READ_METHODS else None
        )
    if entry is not None:
        return entry
    return BLUEPRINT_SCOPES.get(endpoint.partition(".")[0])


# --- answers -----------------------------------------------------------------------------------


def challenge(**values: str) -> str:
    """A `WWW-Authenticate: Bearer` value with quoted parameters, as RFC 6750 writes them."""
    params = {"realm": REALM, **values}
    return "Bearer " + ", ".join(f'{k}="{v}"' for k, v in params.items())


class TokenRequired(Unauthorized):
    """401 with `WWW-Authenticate: Bearer` (RFC 6750), answered as problem+json."""

    def __init__(self, detail: str, *, error: str | None = None):
        super().__init__(detail)
        self.error = error

    def get_headers(self, environ=None, scope=None):
        values = {"error": self.error} if self.error else {}
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", challenge(**values))]


def unauthorized(detail: str, *, error: str | None = None) -> TokenRequired:
    return TokenRequired(detail, error=error)


class InsufficientScope(Forbidden):
    """403: the token lacks the route's scope (RFC 6750 `insufficient_scope`)."""

    def __init__(self, detail: str, scope: str | None = None):
        super().__init__(detail)
        self.scope = scope

    def get_headers(self, environ=None, scope=None):
        values = {"error": "insufficient_scope"}
        if self.scope:
            values["scope"] = self.scope
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", challenge(**values))]


# --- the request -------------------------------------------------------------------------------


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header ("" when the header is empty)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def load_token_actor(bearer: str) -> None:
    """Authenticate the token and make its Actor this request's, in its organization."""
    from fms.extensions import db
    from fms.identity.models import User
    from fms.identity.tokens.services import InvalidToken, authenticate
    from fms.identity.web_session import client_ip
    from fms.jobs import ACTOR_KEY
    from fms.tenancy import scope_session

    try:
        actor = authenticate(
            db.session, bearer=bearer, ip=client_ip(), request_id=g.get("request_id")
        )
    except InvalidToken as exc:
        db.session.rollback()
        raise unauthorized(exc.detail, error="invalid_token") from None
    db.session.commit()  # the token's last use, when it was due
    g.actor = actor
    g.user = db.session.get(User, actor.user_id) if actor.user_id is not None else None
    g.api_token_id = actor.token_id
    scope_session(db.session, actor.org_id)
    db.session.info[ACTOR_KEY] = actor


def authorize(actor, endpoint: str | None, method: str) -> None:
    """Refuse a token request the token's scopes (or kind) do not cover; sessions pass."""
    if actor.scopes is None:
        return
    scope = scope_of(endpoint, method)
    if scope is None:
        raise InsufficientScope("API tokens cannot use this route.")
    if scope.person and actor.user_id is None:
        raise InsufficientScope(
            "This route is about a person: use a personal token or the signed-in session."
        )
    needed = scope.needed(method)
    if needed is not None and needed not in actor.scopes:
        raise InsufficientScope(f"This token lacks the scope {needed}.", needed)
