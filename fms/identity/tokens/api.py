"""Token routes of /api/v1: the calling token, a person's own tokens, and integrations.

What a token may do here is bounded like everywhere (fms.api.auth): integrations need
`admin` scopes and the `integrations.manage` permission; a person's own tokens need none.
A token never creates a token with scopes (or a lifetime) beyond its own, and an
integration token cannot revoke itself nor change its own integration.
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from fms.api import etag
from fms.api.common import API_PREFIX
from fms.errors import NotFound
from fms.extensions import db
from fms.identity.tokens import schemas, services
from fms.identity.tokens.models import ApiToken
from fms.identity.web_session import current_actor

blp = Blueprint(
    "tokens_api",
    __name__,
    url_prefix=API_PREFIX,
    description="API tokens: integrations (service accounts) and personal tokens",
)


@blp.before_request
def _objects_first():
    """Another organization's integration is a 404 before the body is even looked at."""
    args = request.view_args or {}
    if "service_account_id" in args:
        services.get_service_account(
            db.session, actor=current_actor(), service_account_id=args["service_account_id"]
        )


def token_body(token: ApiToken, secret: str | None = None) -> dict:
    body = {
        "id": token.id,
        "kind": token.kind,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes or []),
        "status": services.status(token),
        "service_account_id": token.service_account_id,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
        "last_used_ip": token.last_used_ip,
    }
    if secret is not None:
        body["token"] = secret
    return body


@blp.route("/tokens/current")
class CurrentToken(MethodView):
    @blp.response(200, schemas.CurrentTokenOut)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self):
        """The token this request is made with: its kind, scopes, organization and the
        roles its principal holds now (404 for the browser session)."""
        actor = current_actor()
        if actor.scopes is None or actor.token_id is None:
            raise NotFound("This request is not made with an API token.")
        token = db.session.get(ApiToken, actor.token_id)
        return token_body(token) | {"org_id": actor.org_id, "roles": sorted(actor.roles)}


@blp.route("/my/tokens")
class PersonalTokens(MethodView):
    @blp.response(200, schemas.TokenOut(many=True))
    def get(self):
        """The signed-in person's own tokens in the current organization, newest first."""
        return [token_body(t) for t in services.personal_tokens(db.session, actor=current_actor())]

    @blp.arguments(schemas.TokenIn)
    @blp.response(201, schemas.TokenCreatedOut)
    def post(self, data: dict):
        """A personal token acting as the signed-in person; the answer holds its secret,
        shown this once."""
        token, secret = services.create_personal_token(db.session, actor=current_actor(), **data)
        db.session.commit()
        return token_body(token, secret)


@blp.route("/my/tokens/<int:personal_token_id>/revocation")
class PersonalTokenRevocation(MethodView):
    @blp.response(200, schemas.TokenOut)
    def post(self, personal_token_id: int):
        """Revoke one of the person's own tokens: refused from the next request on."""
        actor = current_actor()
        token = services.get_token(db.session, actor=actor, token_id=personal_token_id)
        if token.kind != "personal":
            raise NotFound("No such token.")
        token = services.revoke_token(db.session, actor=actor, token_id=token.id)
        db.session.commit()
        return token_body(token)


@blp.route("/integrations")
class ServiceAccounts(MethodView):
    @blp.response(200, schemas.ServiceAccountOut(many=True))
    def get(self):
        """The organization's integrations (org admins)."""
        return services.list_service_accounts(db.session, actor=current_actor())

    @blp.arguments(schemas.ServiceAccountIn)
    @blp.response(201, schemas.ServiceAccountOut)
    def post(self, data: dict):
        """Add an integration with roles (409 when the name is taken)."""
        account = services.create_service_account(db.session, actor=current_actor(), **data)
        db.session.commit()
        return account


@blp.route("/integrations/<int:service_account_id>")
class ServiceAccountById(MethodView):
    @etag.documented
    @blp.response(200, schemas.ServiceAccountOut)
    def get(self, service_account_id: int):
        account = services.get_service_account(
            db.session, actor=current_actor(), service_account_id=service_account_id
        )
        return etag.tagged(account, schemas.ServiceAccountOut)

    @etag.documented
    @blp.arguments(schemas.ServiceAccountPatchIn)
    @blp.response(200, schemas.ServiceAccountOut)
    def patch(self, data: dict, service_account_id: int):
        """Rename, set roles, or (de)activate: a deactivated integration's tokens are
        refused until it is reactivated. With `If-Match` (the integration's ETag) only if
        nobody changed it meanwhile."""
        actor = current_actor()
        account = services.get_service_account(
            db.session, actor=actor, service_account_id=service_account_id
        )
        etag.check_if_match(lambda: account, schemas.ServiceAccountOut, lock=account)
        account = services.update_service_account(
            db.session, actor=actor, service_account_id=service_account_id, **data
        )
        db.session.commit()
        return etag.tagged(account, schemas.ServiceAccountOut)


@blp.route("/integrations/<int:service_account_id>/tokens")
class IntegrationTokens(MethodView):
    @blp.response(200, schemas.TokenOut(many=True))
    def get(self, service_account_id: int):
        """An integration's tokens, newest first, with their last use."""
        rows = services.integration_tokens(
            db.session, actor=current_actor(), service_account_id=service_account_id
        )
        return [token_body(t) for t in rows]

    @blp.arguments(schemas.TokenIn)
    @blp.response(201, schemas.TokenCreatedOut)
    def post(self, data: dict, service_account_id: int):
        """A token for the integration; the answer holds its secret, shown this once."""
        token, secret = services.create_integration_token(
            db.session, actor=current_actor(), service_account_id=service_account_id, **data
        )
        db.session.commit()
        return token_body(token, secret)


@blp.route("/integrations/<int:service_account_id>/tokens/<int:integration_token_id>/revocation")
class IntegrationTokenRevocation(MethodView):
    @blp.response(200, schemas.TokenOut)
    def post(self, service_account_id: int, integration_token_id: int):
        """Revoke an integration's token (409 for the token making the request)."""
        actor = current_actor()
        token = services.get_token(db.session, actor=actor, token_id=integration_token_id)
        if token.service_account_id != service_account_id:
            raise NotFound("No such token.")
        token = services.revoke_token(db.session, actor=actor, token_id=token.id)
        db.session.commit()
        return token_body(token)
