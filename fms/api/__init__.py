"""/api/v1: assembly, the OpenAPI document and its reference page.

Each domain defines a flask-smorest `Blueprint` in its own `api.py`; `register_api`
plugs them in. Errors are answered as RFC 9457 problem+json by `fms.errors`, not by
flask-smorest's own error format.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request
from flask_smorest import Api
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from fms.api import contract
from fms.api.common import API_PREFIX, ID_RANGE
from fms.input import check_request_text


class FMSApi(Api):
    ERROR_SCHEMA = contract.Problem

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guarded_blueprints: set[str] = set()
        # `<int:...>` ids in paths: the databases' BIGINT ids (larger ones answer 404)
        id_schema = {
            "type": "integer",
            "format": "int64",
            "minimum": ID_RANGE.min,
            "maximum": ID_RANGE.max,
        }
        self.register_converter(IntegerConverter, lambda _converter: dict(id_schema))

    def init_app(self, app, *, spec_kwargs=None):
        plugin = contract.ContractPlugin(session_cookie=app.config["SESSION_COOKIE_NAME"])
        super().init_app(app, spec_kwargs={**(spec_kwargs or {}), "extra_plugins": [plugin]})
        self.ma_plugin.converter.add_attribute_function(contract.decimal_string)
        self.ma_plugin.converter.add_attribute_function(contract.id_format)

    def _openapi_json(self):
        """The document as served, with its links (fms.api.links: computed from the
        finished document, so every area's routes are in it)."""
        import copy

        from flask import json

        from fms.api import links

        document = links.declare(copy.deepcopy(self.spec.to_dict()))
        return current_app.response_class(
            json.dumps(document, indent=2, sort_keys=False), mimetype="application/json"
        )

    def _register_error_handlers(self):
        """fms.errors answers every error, for pages and API alike."""

    def _register_responses(self):
        """Every error is problem+json (fms.errors): document it so, with `Problem`."""
        self.spec.components.schema("Problem", schema=contract.Problem)
        for name, response in contract.error_responses().items():
            self.spec.components.response(name, response, lazy=True)

    def register_blueprint(self, blp, **options):
        """Routes of a domain: every one needs a session or a token (`guard_api_request`),
        which checks CSRF (sessions) or scopes (tokens) itself, after authentication."""
        from fms.extensions import csrf

        super().register_blueprint(blp, **options)
        self.guarded_blueprints.add(blp.name)
        csrf.exempt(blp)


api = FMSApi(
    spec_kwargs={
        "info": {
            "description": (
                "The FMS JSON API. Authentication: an API token "
                "(`Authorization: Bearer fms_it_...` or `fms_pt_...`; the request works in "
                "the token's organization, within the token's scopes and its principal's "
                "roles), or the signed-in browser session (send the `X-CSRFToken` header "
                "from `GET /api/v1/me` on writes). Too many requests answer 429 with "
                "`Retry-After`. "
                "Errors are RFC 9457 `application/problem+json`. Money is "
                '`{"amount": "12.34", "currency": "EUR"}`; dates are ISO 8601. '
                "Lists take `page` and `per_page` (at most 200) and answer "
                "`{items, page, per_page, total}`. Objects of other organizations "
                "answer 404."
            )
        },
        "servers": [{"url": "/"}],
    }
)

reference_bp = Blueprint("api_reference", __name__)


@reference_bp.get(f"{API_PREFIX}/docs")
def reference():
    """A readable reference of the API, rendered from the OpenAPI document."""
    from fms.api.reference import build_reference, inline_code

    return render_template(
        "api/reference.html", ref=build_reference(api.spec.to_dict()), code=inline_code
    )


def guard_api_request():
    """Before an API route runs: who, then CSRF or scope, then the rate limit, then input.

    Authentication comes first, so a request without credentials answers 401 whatever it
    sends. A bearer token (fms.api.auth) needs no CSRF token and must hold the route's
    scope; a request the session cookie authenticated is checked for CSRF, as flask-wtf
    checks pages. Both count against the rate limit (fms.api.ratelimit).
    """
    if request.blueprint not in api.guarded_blueprints:
        return
    from fms.api import auth, ratelimit

    bearer = auth.bearer_token()
    if bearer is not None:
        auth.load_token_actor(bearer)
    elif g.get("actor") is None:
        raise auth.unauthorized(
            "Sign in first, or send `Authorization: Bearer <token>` (an API token)."
        )
    elif current_app.config.get("WTF_CSRF_ENABLED", True):
        from fms.extensions import csrf

        csrf.protect()
    auth.authorize(g.actor, request.endpoint, request.method)
    ratelimit.check(g.actor)
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not ID_RANGE.min <= value <= ID_RANGE.max:
            raise NotFound()  # no row has that id; the database would refuse the number
    check_request_text()
    if request.method == "PATCH":
        _refuse_empty_patch()


def _refuse_empty_patch() -> None:
    """A PATCH without a body changes nothing; saying so beats a 200 that looks like
    success. (`{}` is a body, read as "change nothing", like any partial update.)"""
    from fms.errors import InvalidInput

    if not request.get_data(cache=True).strip():
        raise InvalidInput("The body is empty: send the fields to change as JSON.")


def register_api(app) -> None:
    from fms.audit.api import blp as audit_blp
    from fms.compliance.api import blp as compliance_blp
    from fms.identity.api import blp as identity_blp
    from fms.identity.tokens.api import blp as tokens_blp
    from fms.invoicing.api import blp as invoicing_blp
    from fms.jobs_api import blp as jobs_blp
    from fms.notifications.api import blp as notifications_blp
    from fms.reports.api import blp as reports_blp
    from fms.saved_views_api import blp as saved_views_blp
    from fms.timesheets.api import blp as timesheets_blp
    from fms.workforce.api import blp as workforce_blp

    api.init_app(app)
    for blueprint in (
        identity_blp,
        workforce_blp,
        timesheets_blp,
        compliance_blp,
        invoicing_blp,
        audit_blp,
        jobs_blp,
        notifications_blp,
        tokens_blp,
        reports_blp,
        saved_views_blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(reference_bp)
