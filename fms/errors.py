"""Domain errors raised by services, mapped once to pages and problem+json."""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors a service raises on purpose; `status` is the HTTP answer."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        # field name -> list of messages, for forms and problem+json pointers
        self.errors = errors or {}


class NotFound(DomainError):
    status = 404
    title = "Not found"


class NotAllowed(DomainError):
    status = 403
    title = "Forbidden"


class RuleViolation(DomainError):
    """The request is well formed but breaks a business rule (e.g. already decided)."""

    status = 409
    title = "Conflict"


class InvalidInput(DomainError):
    status = 422
    title = "Unprocessable content"


class AlreadyExists(RuleViolation):
    """A record with the same unique key exists — perhaps created a moment ago by a
    concurrent request; the answer names it (problem+json `existing_id`)."""

    title = "Already exists"

    def __init__(self, detail: str, *, existing_id: int | None, errors: dict | None = None):
        super().__init__(detail, errors=errors)
        self.existing_id = existing_id


# --- mapping to HTTP, once for the whole app ----------------------------------------------

PROBLEM_JSON = "application/problem+json"


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/scim/")


def problem(status: int, title: str, detail: str | None = None, **extra):
    """An RFC 9457 problem+json response."""
    from flask import g, jsonify, request

    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM_JSON
    return response


def _pointer_errors(messages, prefix=""):
    """Flatten marshmallow/webargs messages into [{pointer, detail}] (RFC 6901 pointers)."""
    out = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            token = str(key).replace("~", "~0").replace("/", "~1")
            out.extend(_pointer_errors(value, f"{prefix}/{token}"))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out.extend({"pointer": prefix or "/", "detail": m} for m in messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.extend(_pointer_errors(value, f"{prefix}/{index}"))
    else:
        out.append({"pointer": prefix or "/", "detail": str(messages)})
    return out


def _service_pointer_errors(errors: dict) -> list[dict]:
    """A service's errors as pointers: its nested keys ("entries.0.work_date",
    "steps/0/role") name a path into the body, so each part is one pointer token."""
    import re

    out = []
    for key, messages in errors.items():
        tokens = [t.replace("~", "~0") for t in re.split(r"[./]", str(key)) if t]
        out.extend(_pointer_errors(messages, "/" + "/".join(tokens) if tokens else ""))
    return out


def _validation_errors(data) -> list[dict]:
    """webargs puts errors under their location: json body -> pointers, query -> parameters."""
    messages = (data or {}).get("messages") or (data or {}).get("errors") or {}
    errors = []
    for location, fields in messages.items():
        if location in ("json", "form"):
            errors.extend(_pointer_errors(fields))
        else:
            for item in _pointer_errors(fields):
                name = item["pointer"].lstrip("/").split("/")[0]
                errors.append({"parameter": name, "in": location, "detail": item["detail"]})
    return errors


def register_error_handlers(app) -> None:
    import logging

    from flask import flash, redirect, render_template, request
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException, InternalServerError

    log = logging.getLogger("fms.errors")

    def rollback() -> None:
        """A failed flush or statement leaves the session unusable: the error page reads
        the database too (the layout), so it starts from a clean session."""
        from fms.extensions import db

        try:
            db.session.rollback()
        except Exception:  # the connection itself may be gone; the page must still answer
            log.exception("rollback after an error failed")

    def kept_headers(exc: HTTPException) -> list[tuple[str, str]]:
        """The exception's own headers (Allow on 405, Retry-After on 429, ...), without
        its Content-Type: the body is ours."""
        return [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]

    def page(status: int, title: str, detail: str | None):
        return render_template("errors/error.html", status=status, title=title, detail=detail), (
            status
        )

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        from fms.extensions import db

        db.session.rollback()  # bad input changes nothing
        if _wants_json(request):
            extra = {}
            if exc.errors:
                extra["errors"] = _service_pointer_errors(exc.errors)
            if getattr(exc, "existing_id", None) is not None:
                extra["existing_id"] = exc.existing_id
            return problem(exc.status, exc.title, exc.detail, **extra)
        if isinstance(exc, RuleViolation) and request.method == "POST" and request.referrer:
            flash(exc.detail, "danger")
            return redirect(request.referrer)
        return page(exc.status, exc.title, exc.detail)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        detail = "The form expired or came from another site. Reload the page and try again."
        if _wants_json(request):
            return problem(400, "CSRF token missing or invalid", detail)
        return page(400, "Please try again", detail)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if status >= 500:
            rollback()
        response = _http_error_response(exc, status)
        for key, value in kept_headers(exc):
            response.headers.setdefault(key, value)
        return response

    def _http_error_response(exc: HTTPException, status: int):
        from flask import make_response

        if _wants_json(request):
            extra = {}
            data = getattr(exc, "data", None)
            if status in (400, 422) and data:
                extra["errors"] = _validation_errors(data)
            detail = exc.description if status != 422 else "The request has invalid fields."
            response = problem(status, exc.name, detail, **extra)
            for key, value in ((data or {}).get("headers") or {}).items():
                response.headers[key] = value
            return response
        if status == 405:
            return make_response(
                page(405, "Not allowed here", "This page does not accept that request.")
            )
        return make_response(page(status, exc.name, exc.description))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if app.config.get("PROPAGATE_EXCEPTIONS"):
            raise exc
        rollback()
        error = InternalServerError()
        detail = "Something went wrong on our side. It has been logged; please try again."
        if _wants_json(request):
            return problem(500, error.name, detail)
        return page(500, "Something went wrong", detail)
