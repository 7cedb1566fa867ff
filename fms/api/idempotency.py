"""`Idempotency-Key` on the API's POSTs that create or move money.

A client that may retry (a timeout, a dropped connection) sends a key of its choosing with
the request. The first request with a key is run and its answer kept; the same key with
the same request (method, path, query and canonical body) is answered from what was kept,
with `Idempotent-Replayed: true`, and nothing runs twice. The same key with another request
is a 409 problem; a second request while the first still runs is a 409 problem with
`Retry-After` (it never runs alongside). A key is 1-255 printable ASCII characters, without
spaces at either end; anything else is a 400 problem. Without the header nothing changes.

How it holds under concurrency: the key is reserved first, in its own short transaction, by
an INSERT against a unique constraint on (organization, principal, key); a request that
loses that race reads the winner's row and answers from it. Only then does the request run
(the view commits its own work), and its answer is stored in a third short transaction.
Client errors (4xx) are kept like successes, so a retry gets the same refusal; failures
(5xx, exceptions) delete the reservation, so a retry runs again. A reservation whose request
never finished (a crashed worker) frees its key after FMS_IDEMPOTENCY_LEASE_SECONDS; a kept
answer is replayed for FMS_IDEMPOTENCY_TTL_HOURS (24), after which the key is free again.
`flask fms api purge-idempotency` deletes expired rows.

The reservation, answer and release are Core statements on the session's connection: they
do not flush the ORM session nor take the organization's audit-chain head (fms.audit), so
a key costs no business lock.

A route takes part with one decorator, outermost (above flask-smorest's), so that it sees
the final answer:

    @blp.route("/invoices/<int:invoice_id>/issue")
    class InvoiceIssue(MethodView):
        @idempotent
        @blp.response(200, InvoiceOut)
        def post(self, invoice_id): ...
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import Response, current_app, request
from sqlalchemy import (
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import HTTPException

from fms.database import Id
from fms.errors import DomainError, problem
from fms.extensions import db
from fms.tenancy import TenantMixin
from fms.timekeeping import UTCDateTime, utcnow

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# printable ASCII (0x20-0x7E), no space at either end (servers strip it off headers)
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
_KEY = re.compile(KEY_PATTERN, re.ASCII)
DEFAULT_TTL_HOURS = 24
DEFAULT_LEASE_SECONDS = 300
# the headers of an answer that are part of it and replayed with it
KEPT_HEADERS = ("Content-Type", "Location", "ETag", "Retry-After")
# the OpenAPI marker the decorator leaves for fms.api.contract (which declares the header)
DOC_MARKER = "x-fms-idempotent"
RUNNING, DONE = "running", "done"


class IdempotencyKey(TenantMixin, db.Model):
    """One principal's key in one organization: the reservation, then the kept answer."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("org_id", "principal", "key"),
        Index("ix_idempotency_key_expires_at", "expires_at"),
    )

    id: Mapped[Id] = mapped_column(primary_key=True)
    # who: "user:<id>" today (see _principal_key); room for "token:<id>"
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    # sha256 of method, path, query and canonical body
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[str | None] = mapped_column(Text)  # JSON object
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


_table = IdempotencyKey.__table__


def _principal_key() -> tuple[int, str]:
    """Whose keys these are: (organization id, principal), from the request's Actor: the
    signed-in user, or a token acting as no user ("token:<id>"). API tokens extend this
    one function if a personal token should have keys of its own."""
    from fms.identity.web_session import current_actor

    actor = current_actor()
    if actor.user_id is None and actor.token_id is not None:
        return actor.org_id, f"token:{actor.token_id}"
    return actor.org_id, f"user:{actor.user_id}"


def _canonical_body() -> bytes:
    """The body as a request means it: JSON re-serialised with sorted keys and no spacing
    (after the input gate's NFC), a form as its sorted fields and files' digests, anything
    else as sent."""
    if request.is_json:
        data = request.get_json(silent=True, cache=True)
        if data is not None:
            return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        parts = sorted(request.form.items(multi=True))
        for name, upload in sorted(request.files.items(multi=True), key=lambda i: i[0]):
            digest = hashlib.sha256(upload.stream.read()).hexdigest()
            upload.stream.seek(0)
            parts.append((name, f"{upload.filename}:{digest}"))
        return urlencode(parts).encode()
    return request.get_data(cache=True)


def request_fingerprint() -> str:
    """sha256 over method, path, sorted query and canonical body of the current request."""
    digest = hashlib.sha256()
    query = urlencode(sorted(request.args.items(multi=True)))
    for part in (request.method.encode(), request.path.encode(), query.encode()):
        digest.update(part + b"\n")
    digest.update(_canonical_body())
    return digest.hexdigest()


def _ttl() -> timedelta:
    return timedelta(hours=current_app.config.get("FMS_IDEMPOTENCY_TTL_HOURS", DEFAULT_TTL_HOURS))


def _lease() -> timedelta:
    seconds = current_app.config.get("FMS_IDEMPOTENCY_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
    return timedelta(seconds=seconds)


def _where(org_id: int, principal: str, key: str):
    return (_table.c.org_id == org_id, _table.c.principal == principal, _table.c.key == key)


def _invalid_key() -> Response:
    detail = (
        f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, without spaces "
        "at either end (a UUID is a good key)."
    )
    errors = [{"parameter": HEADER, "in": "header", "detail": detail}]
    return problem(400, "Invalid Idempotency-Key", detail, errors=errors)


def _in_progress() -> Response:
    response = problem(
        409,
        "Request in progress",
        f"A request with this {HEADER} is still running; retry it in a moment for its answer.",
    )
    response.headers["Retry-After"] = "1"
    return response


def _mismatch() -> Response:
    return problem(
        409,
        "Idempotency-Key reused",
        f"This {HEADER} was used for a different request (another method, path or body). "
        "Use a new key for a new request.",
    )


def _replay(row) -> Response:
    response = Response(row.response_body or b"", status=row.status_code)
    for name, value in json.loads(row.response_headers or "{}").items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _reserve(org_id: int, principal: str, key: str, fingerprint: str) -> int | Response:
    """Insert the reservation in its own short transaction: its id, or the answer for a
    key that is taken (a replay, or a 409)."""
    session = db.session
    now = utcnow()
    # an expired answer, or an abandoned reservation, frees its key
    session.connection().execute(
        delete(_table).where(*_where(org_id, principal, key), _table.c.expires_at <= now)
    )
    try:
        with session.begin_nested():
            row_id = (
                session.connection()
                .execute(
                    insert(_table).values(
                        org_id=org_id,
                        principal=principal,
                        key=key,
                        fingerprint=fingerprint,
                        state=RUNNING,
                        created_at=now,
                        expires_at=now + _lease(),
                    )
                )
                .inserted_primary_key[0]
            )
    except IntegrityError:
        existing = (
            session.connection().execute(select(_table).where(*_where(org_id, principal, key)))
        ).first()
        session.commit()
        if existing is None:  # freed again meanwhile: the other request failed; retry
            return _in_progress()
        if existing.fingerprint != fingerprint:
            return _mismatch()
        if existing.state != DONE:
            return _in_progress()
        return _replay(existing)
    session.commit()
    return row_id


def _keep(row_id: int, response: Response) -> None:
    """Store the answer (status, kept headers, body) and start its time to live.

    The request's own work is committed by now: if storing fails, the caller still gets
    its answer, and the reservation stays until its lease ends (a retry meanwhile is told
    the request is in progress)."""
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    try:
        db.session.connection().execute(
            update(_table)
            .where(_table.c.id == row_id)
            .values(
                state=DONE,
                status_code=response.status_code,
                response_headers=json.dumps(headers),
                response_body=response.get_data(),
                expires_at=utcnow() + _ttl(),
            )
        )
        db.session.commit()
    except Exception:
        log.exception("could not keep the answer of idempotency reservation %r", row_id)
        db.session.rollback()


def _release(row_id: int) -> None:
    """Forget the reservation: the request failed, a retry must run it again."""
    try:
        db.session.rollback()
        db.session.connection().execute(delete(_table).where(_table.c.id == row_id))
        db.session.commit()
    except Exception:  # the database may be what failed; the lease frees the key then
        log.exception("could not release idempotency reservation %r", row_id)
        db.session.rollback()


def _client_error(exc: Exception) -> bool:
    if isinstance(exc, DomainError):
        return exc.status < 500
    return isinstance(exc, HTTPException) and (exc.code or 500) < 500


def idempotent(view):
    """Honour `Idempotency-Key` on this route (put it above flask-smorest's decorators)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.fullmatch(key):
            return _invalid_key()
        org_id, principal = _principal_key()
        reserved = _reserve(org_id, principal, key, request_fingerprint())
        if isinstance(reserved, Response):
            return reserved
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception as exc:
            if not _client_error(exc):
                _release(reserved)
                raise
            # the problem the app answers for it (its handler rolls the request back)
            response = current_app.make_response(current_app.handle_user_exception(exc))
        if response.status_code >= 500 or response.is_streamed or response.direct_passthrough:
            _release(reserved)
        else:
            _keep(reserved, response)
        return response

    apidoc = dict(getattr(wrapper, "_apidoc", {}))
    apidoc["manual_doc"] = {**apidoc.get("manual_doc", {}), DOC_MARKER: True}
    wrapper._apidoc = apidoc
    return wrapper


def purge_expired(session, *, now: datetime | None = None) -> int:
    """Delete expired answers and abandoned reservations of every organization; how many."""
    result = session.connection().execute(
        delete(_table).where(_table.c.expires_at <= (now or utcnow()))
    )
    return result.rowcount or 0
