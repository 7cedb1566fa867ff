"""Optimistic concurrency for records people edit at the same time: `ETag` and `If-Match`.

A record's GET (and its update's answer) carries an `ETag`: a strong tag hashed from the
record's API representation as the caller sees it (the output schema's dump, canonical
JSON), so no table needs a version column. An update sent with `If-Match` runs only if the
record still has one of the tags given (`*`: any); otherwise it is a 412 problem and
nothing changes. An update without `If-Match` is accepted as before (last write wins).

The check holds against a concurrent writer: it locks the record's row first
(`fms.statemachine.lock`, which takes the organization's audit head before it, the one lock
order), renders the record as it is now inside that transaction, compares, and only then
lets the route call its service and commit. A second writer with the same tag waits on the
lock, then sees the new representation and gets its 412.

A route takes part with `@documented` (declares the headers in the OpenAPI document) and
two calls:

    @documented
    @blp.response(200, FreelancerOut)
    def get(self, freelancer_id): ...
        return tagged(body, FreelancerOut)

    @documented
    @blp.arguments(FreelancerPatchIn)
    @blp.response(200, FreelancerOut)
    def patch(self, data, freelancer_id): ...
        check_if_match(lambda: body_of(profile), FreelancerOut, lock=profile)
        ...
        return tagged(body, FreelancerOut)
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

from flask import request

from fms.errors import DomainError
from fms.extensions import db

DOC_MARKER = "x-fms-etag"


class PreconditionFailed(DomainError):
    """The record changed since the caller read it (its `If-Match` no longer matches)."""

    status = 412
    title = "Precondition failed"


def etag_of(body, schema) -> str:
    """The strong tag (unquoted) of a representation: sha256 of its canonical JSON dump."""
    dumper = schema() if isinstance(schema, type) else schema
    data = dumper.dump(body)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def tagged(body, schema):
    """A view's return value: the body with its `ETag` header."""
    return body, {"ETag": f'"{etag_of(body, schema)}"'}


def check_if_match(render: Callable[[], object], schema, *, lock=None) -> None:
    """When the request has `If-Match`: lock `lock`'s row, render the record now and refuse
    with 412 unless one of the given tags is its current one. Call it before the write."""
    if "If-Match" not in request.headers:
        return
    if lock is not None:
        from fms.statemachine import lock as lock_row

        lock_row(db.session, lock)
    wanted = request.if_match
    if wanted.star_tag:
        return
    if not wanted.contains(etag_of(render(), schema)):
        raise PreconditionFailed(
            "The record changed since you read it (If-Match no longer matches its ETag). "
            "Read it again, reapply your change and send it with the new ETag."
        )


def documented(view):
    """Declare in the OpenAPI document: a GET answers an `ETag`; an update takes
    `If-Match` (optional) and may answer 412."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    apidoc = dict(getattr(wrapper, "_apidoc", {}))
    apidoc["manual_doc"] = {**apidoc.get("manual_doc", {}), DOC_MARKER: True}
    wrapper._apidoc = apidoc
    return wrapper


# --- the OpenAPI document (called by fms.api.contract) ------------------------------------


def register_components(spec) -> None:
    spec.components.header(
        "ETag",
        {
            "description": "The record's current version (a strong entity tag). Send it back "
            "as `If-Match` with an update to make sure nobody changed the record meanwhile.",
            "schema": {"type": "string"},
        },
    )


def if_match_parameter() -> dict:
    return {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "Optional. The `ETag` you read: the update runs only if the "
        "record still has it (`*`: any version), otherwise 412 and nothing changes. "
        "Without it the update is accepted as it is (the last write wins).",
        "schema": {"type": "string", "maxLength": 2000},
    }


def declare(operation: dict, marked) -> None:
    """Add the ETag header to the answer, and If-Match and 412 to an update."""
    if not marked:
        return
    responses = operation.setdefault("responses", {})
    for status, response in responses.items():
        if str(status).startswith("2") and isinstance(response, dict) and "$ref" not in response:
            response.setdefault("headers", {})["ETag"] = {"$ref": "#/components/headers/ETag"}
    if "requestBody" in operation:  # an update (GETs have no body)
        operation.setdefault("parameters", []).append(if_match_parameter())
        responses.setdefault("412", "PRECONDITION_FAILED")
