"""What the OpenAPI document promises beyond the routes' own schemas.

- Errors: every error answer is RFC 9457 `application/problem+json` (`fms.errors`), so
  every error response is documented with that content type and the `Problem` schema.
- Security: an API token (`Authorization: Bearer`, fms.api.auth), or the signed-in
  session cookie plus the `X-CSRFToken` header on writes; declared once and applied to
  every operation (the API has no public operation; the document and the reference page
  are served outside the documented paths). Too many requests answer 429.
- Decimals (rates, FTE) are exact strings, never JSON numbers.
- PATCH needs a body (an empty one is refused, see `fms.api`): documented as required.
- Money POSTs take an optional `Idempotency-Key` header (fms.api.idempotency), and
  records edited concurrently answer an `ETag` and take `If-Match` (fms.api.etag): both
  declared on exactly the operations that honour them, from the routes' decorators.
- Ids are 64-bit (`format: int64`): path ids, and integer fields named `id`, `..._id` or
  `..._ids` (a list's items), in bodies, answers and query parameters.
"""

from __future__ import annotations

import http

from apispec import BasePlugin
from marshmallow import INCLUDE, Schema, fields

# What `fms.errors` sends; the pattern documents the exact-decimal strings we answer.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})


class FieldError(Schema):
    """One field's error: a JSON pointer into the body, or a named parameter."""

    pointer = fields.String(
        metadata={"description": "RFC 6901 JSON pointer into the request body, e.g. /roles/0."}
    )
    parameter = fields.String(metadata={"description": "A query or path parameter's name."})
    # `in` is a Python keyword: declared under its JSON name
    in_ = fields.String(data_key="in", metadata={"description": "query, path or header"})
    detail = fields.String(required=True)


class Problem(Schema):
    """An RFC 9457 problem detail, as every error of this API answers."""

    class Meta:
        unknown = INCLUDE  # RFC 9457 allows extension members

    type = fields.String(
        required=True, metadata={"description": "about:blank unless a specific type applies."}
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(metadata={"description": "What went wrong, for a person."})
    instance = fields.String(metadata={"description": "The request path."})
    request_id = fields.String(metadata={"description": "Quote it when reporting a problem."})
    errors = fields.List(
        fields.Nested(FieldError), metadata={"description": "Field errors (400 and 422)."}
    )


def decimal_string(converter, field, **kwargs) -> dict:
    """marshmallow Decimal fields dumped as strings: documented as such, with a pattern."""
    if isinstance(field, fields.Decimal) and field.as_string:
        return {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}
    return {}


def id_format(converter, field, **kwargs) -> dict:
    """Integer ids (by the one naming rule of our schemas) documented as int64."""
    name = field.name or ""
    if isinstance(field, fields.Integer) and (
        name == "id" or name.endswith("_id") or name.endswith("_ids")
    ):
        return {"format": "int64"}
    return {}


class ContractPlugin(BasePlugin):
    """Adds security and the documented error answers to each operation."""

    def __init__(self, *, session_cookie: str):
        self.session_cookie = session_cookie
        self.spec = None

    def init_spec(self, spec):
        from fms.api import etag

        self.spec = spec
        spec.components.header(
            "IdempotentReplayed",
            {
                "description": "`true` when this is the kept answer of an earlier request "
                "with the same `Idempotency-Key`; absent otherwise.",
                "schema": {"type": "string", "enum": ["true"]},
            },
        )
        etag.register_components(spec)
        spec.components.security_scheme(
            "bearer",
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token: `fms_it_...` (an integration of the "
                "organization) or `fms_pt_...` (a person's own). The request works in the "
                "token's organization; each route needs its area's read or write scope "
                "(insufficient scope: 403), and the token's principal the permission.",
            },
        )
        spec.components.security_scheme(
            "session",
            {
                "type": "apiKey",
                "in": "cookie",
                "name": self.session_cookie,
                "description": "The signed-in browser session (sign in through the web pages).",
            },
        )
        spec.components.security_scheme(
            "csrf",
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-CSRFToken",
                "description": "The `csrf_token` of `GET /api/v1/me`; required on writes "
                "made with the session cookie.",
            },
        )

    def operation_helper(self, path=None, operations=None, **kwargs):
        from fms.api import etag, idempotency

        for method, operation in (operations or {}).items():
            if operation.pop(idempotency.DOC_MARKER, False):
                _declare_idempotency(operation)
            etag.declare(operation, operation.pop(etag.DOC_MARKER, None))
            write = method in WRITE_METHODS
            session = {"session": [], "csrf": []} if write else {"session": []}
            operation["security"] = [{"bearer": _token_scopes(kwargs.get("rule"), method)}, session]
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", "UNAUTHORIZED")
            responses.setdefault("403", "FORBIDDEN")
            responses.setdefault("429", "TOO_MANY_REQUESTS")
            if write:
                responses.setdefault("400", "BAD_REQUEST")  # CSRF, unreadable JSON
            if "{" in (path or ""):
                responses.setdefault("404", "NOT_FOUND")


def idempotency_parameter() -> dict:
    """The `Idempotency-Key` header of the money POSTs (fms.api.idempotency)."""
    from fms.api import idempotency

    return {
        "name": idempotency.HEADER,
        "in": "header",
        "required": False,
        "description": (
            "Optional. A key of your choosing (a UUID is a good one) that makes a retry "
            "safe: the same key with the same request, from the same user in the same "
            "organization, is answered with the first answer (header `Idempotent-Replayed: "
            "true`) for 24 hours instead of being run again. The same key with a different "
            "request is a 409 problem; while the first request still runs, a 409 problem "
            "with `Retry-After`. 1-255 printable ASCII characters, no spaces at either end "
            "(else 400)."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": idempotency.MAX_KEY_LENGTH,
            "pattern": idempotency.KEY_PATTERN,
        },
    }


def _declare_idempotency(operation: dict) -> None:
    # inline, not a $ref: the reference page reads parameters as they stand
    operation.setdefault("parameters", []).append(idempotency_parameter())
    responses = operation.setdefault("responses", {})
    responses.setdefault("409", "CONFLICT")  # key reused, or its request still running
    for status, response in responses.items():
        if str(status).startswith("2") and isinstance(response, dict) and "$ref" not in response:
            response.setdefault("headers", {})["Idempotent-Replayed"] = {
                "$ref": "#/components/headers/IdempotentReplayed"
            }


def _token_scopes(rule, method: str) -> list[str]:
    """The scope a token needs for this operation (fms.api.auth's table), listed in the
    bearer requirement as OpenAPI 3.1 allows for any scheme; [] when none is needed."""
    from fms.api.auth import scope_of

    scope = scope_of(getattr(rule, "endpoint", None), method)
    needed = scope.needed(method) if scope is not None else None
    return [needed] if needed else []


def error_responses() -> dict[str, dict]:
    """A problem+json response component for every error status, and DEFAULT_ERROR."""
    problem = {"$ref": "#/components/schemas/Problem"}
    content = {"application/problem+json": {"schema": problem}}
    out = {
        status.name: {"description": status.phrase, "content": content}
        for status in http.HTTPStatus
        if status >= 400
    }
    out["DEFAULT_ERROR"] = {"description": "Any other error", "content": content}
    return out
