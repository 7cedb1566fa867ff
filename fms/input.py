"""The first gate of the one input layer: text FMS cannot store or show is refused before
any view reads it, for pages and the API alike.

Refused, with a clear 422 that changes nothing: NUL and other control characters (C0
except tab, line feed and carriage return; DEL; C1), lone UTF-16 surrogates (not text:
PostgreSQL and UTF-8 refuse them), and JSON nested deeper than MAX_JSON_DEPTH (Python's
parser would recurse until it fails). Field-level rules (lengths, numbers, dates) stay with
the schemas and services.
"""

from __future__ import annotations

import re

from flask import request

from fms.errors import InvalidInput

MAX_JSON_DEPTH = 32
_UNREADABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _bad_text(value: str) -> bool:
    return bool(_UNREADABLE.search(value))


def _json_depth_exceeds(raw: bytes, limit: int) -> bool:
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _walk(value, where: str):
    if isinstance(value, str):
        if _bad_text(value):
            raise InvalidInput(
                f"{where} holds characters that are not text (control characters or "
                "broken Unicode).",
                errors={where.lstrip("/") or "body": ["Not text."]},
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(str(key), where)
            _walk(item, f"{where}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{where}/{index}")


def check_request_text() -> None:
    """Refuse unreadable text anywhere in the request: path, query, form fields, JSON."""
    _walk(request.path, "path")
    for key, values in request.args.lists():
        _walk(key, "query")
        for value in values:
            _walk(value, f"query {key}")
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            raw = request.get_data(cache=True)
            if _json_depth_exceeds(raw, MAX_JSON_DEPTH):
                raise InvalidInput(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.")
            body = request.get_json(silent=True)
            if body is not None:
                _walk(body, "")
        else:
            for key, values in request.form.lists():
                _walk(key, "form")
                for value in values:
                    _walk(value, key)


def guard_page_request() -> None:
    """The same gate for pages, forms and SCIM (the API's own guard calls it after
    authentication, so a request without a session still answers 401 first)."""
    if request.path.startswith("/api/") or request.endpoint == "static":
        return
    check_request_text()
