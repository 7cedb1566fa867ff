"""/api/v1: assembly, the OpenAPI document and its reference page.

Each domain defines a flask-smorest `Blueprint` in its own `api.py`; `register_api`
plugs them in. Errors are answered as RFC 9457 problem+json by `fms.errors`, not by
flask-smorest's own error format.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_smorest import Api

from fms.api import contract
from fms.api.common import API_PREFIX


class FMSApi(Api):
    ERROR_SCHEMA = contract.Problem

    def init_app(self, app, *, spec_kwargs=None):
        plugin = contract.ContractPlugin(session_cookie=app.config["SESSION_COOKIE_NAME"])
        super().init_app(app, spec_kwargs={**(spec_kwargs or {}), "extra_plugins": [plugin]})
        self.ma_plugin.converter.add_attribute_function(contract.decimal_string)

    def _register_error_handlers(self):
        """fms.errors answers every error, for pages and API alike."""

    def _register_responses(self):
        """Every error is problem+json (fms.errors): document it so, with `Problem`."""
        self.spec.components.schema("Problem", schema=contract.Problem)
        for name, response in contract.error_responses().items():
            self.spec.components.response(name, response, lazy=True)


api = FMSApi(
    spec_kwargs={
        "info": {
            "description": (
                "The FMS JSON API. Authentication: the signed-in browser session "
                "(send the `X-CSRFToken` header from `GET /api/v1/me` on writes). "
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
    return render_template("api/reference.html")


def register_api(app) -> None:
    from fms.audit.api import blp as audit_blp
    from fms.identity.api import blp as identity_blp
    from fms.jobs_api import blp as jobs_blp
    from fms.workforce.api import blp as workforce_blp

    api.init_app(app)
    for blueprint in (identity_blp, workforce_blp, audit_blp, jobs_blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(reference_bp)
