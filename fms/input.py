"""The one input layer: what FMS accepts from a person, for pages and the API alike.

The gate (`check_request_text`, before any view reads the request) refuses, with a clear
422 that changes nothing: NUL and other control characters (C0 except tab, line feed and
carriage return; DEL; C1), lone UTF-16 surrogates (not text: PostgreSQL and UTF-8 refuse
them), and JSON nested deeper than MAX_JSON_DEPTH (Python's parser would recurse until it
fails). It then hands the views every text in NFC, so "é" typed as e + combining accent
and as one character is one name for uniqueness checks and searches.

The parsers below are the field-level rules every API field, form field and service uses
(they need no request; only the gate reads Flask's):
- dates are ISO `YYYY-MM-DD` within the business range MIN_DATE..MAX_DATE;
- whole numbers are exact: a JSON integer or ASCII digits, never 1.5 (nor 1.0) truncated;
- amounts are ASCII decimals (`fms.money.to_decimal`), never NaN, infinities or
  Arabic-Indic digits (which Python's int() and Decimal() would otherwise read).
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime

from fms.errors import InvalidInput

MAX_JSON_DEPTH = 32
_UNREADABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# The business date range. Birth dates and every contract, timesheet and invoice date fall
# inside it; outside it, dates are typos (0001 for 2001, 9999 as "no end"), and the
# arithmetic around them (a month back from year 1, a year after 9999) overflows Python's
# date, while SQLite and PostgreSQL disagree about years before 1 and beyond 9999.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
DATE_RANGE_TEXT = f"between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}"
DATE_MESSAGE = f"A date {DATE_RANGE_TEXT}, written as 2026-12-01."
# The same range as a pattern, for the OpenAPI document (years 1900-2199, format: date).
DATE_PATTERN = r"^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_WHOLE = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)
WHOLE_MESSAGE = "A whole number in ASCII digits, such as 42."


def nfc(text: str) -> str:
    """Text in Unicode normal form C (one code point for "é" however it was typed)."""
    return unicodedata.normalize("NFC", text)


def parse_date(value) -> date:
    """A date within the business range, from a date or `YYYY-MM-DD` text in ASCII digits.

    Raises ValueError with DATE_MESSAGE for anything else (other ISO forms such as
    20261201 or 2026-W49-2, other digits, years outside MIN_DATE..MAX_DATE)."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(DATE_MESSAGE) from None
    if not isinstance(value, date) or not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(DATE_MESSAGE)
    return value


def parse_int(value) -> int:
    """An exact whole number: an int (never a bool or a float, even 1.0), or ASCII digits
    with an optional sign. Raises ValueError with WHOLE_MESSAGE for anything else."""
    if isinstance(value, bool):
        raise ValueError(WHOLE_MESSAGE)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(WHOLE_MESSAGE)


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


def _clean(value, where: str):
    """A copy of the value with every text checked (InvalidInput naming `where`) and in NFC."""
    if isinstance(value, str):
        if _bad_text(value):
            raise InvalidInput(
                f"{where} holds characters that are not text (control characters or "
                "broken Unicode).",
                errors={where.lstrip("/") or "body": ["Not text."]},
            )
        return nfc(value)
    if isinstance(value, dict):
        return {
            (_clean(key, where) if isinstance(key, str) else key): _clean(item, f"{where}/{key}")
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_clean(item, f"{where}/{index}") for index, item in enumerate(value)]
    return value


def _clean_pairs(multidict, where: str, prefix: str) -> list[tuple[str, str]] | None:
    """A query's or form's (key, value) pairs checked and in NFC; None when already so."""
    pairs = list(multidict.items(multi=True))
    cleaned = [(_clean(key, where), _clean(value, f"{prefix}{key}")) for key, value in pairs]
    return None if cleaned == pairs else cleaned


def check_request_text() -> None:
    """Refuse unreadable text anywhere in the request (path, query, form fields, JSON), and
    hand the views the query, form and JSON with every text in NFC."""
    from flask import request

    _clean(request.path, "path")
    args = _clean_pairs(request.args, "query", "query ")
    if args is not None:
        request.args = request.parameter_storage_class(args)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            raw = request.get_data(cache=True)
            if _json_depth_exceeds(raw, MAX_JSON_DEPTH):
                raise InvalidInput(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.")
            body = request.get_json(silent=True)
            if body is not None:
                cleaned_body = _clean(body, "")
                if cleaned_body != body:
                    # every reader (flask's get_json, webargs' parser of the raw body) sees NFC
                    request._cached_json = (cleaned_body, cleaned_body)
                    request._cached_data = json.dumps(cleaned_body).encode()
        else:
            form = _clean_pairs(request.form, "form", "")
            if form is not None:
                request.form = request.parameter_storage_class(form)


def guard_page_request() -> None:
    """The same gate for pages, forms and SCIM (the API's own guard calls it after
    authentication, so a request without a session still answers 401 first)."""
    from flask import request

    if request.path.startswith("/api/") or request.endpoint == "static":
        return
    check_request_text()
