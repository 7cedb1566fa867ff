"""Signed, single-use links (invitations, password links): one mechanism for both.

A link carries a row id and a random secret, signed with FMS_SECRET_KEY (a tampered link
fails before the database is asked). Only the secret's SHA-256 is stored, so a database
dump reveals no usable link; the row says when it expires and whether it was used.
"""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"fms-{purpose}")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    """A fresh secret and the hash to store."""
    secret = secrets.token_urlsafe(32)
    return secret, secret_hash(secret)


def token_for(purpose: str, row_id: int, secret: str) -> str:
    return _serializer(purpose).dumps({"i": row_id, "s": secret})


def read_token(purpose: str, token: str) -> tuple[int, str] | None:
    """The row id and secret of a genuine link of this purpose, or None."""
    try:
        data = _serializer(purpose).loads(token or "")
        return int(data["i"]), str(data["s"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def matches(stored_hash: str, secret: str) -> bool:
    return secrets.compare_digest(stored_hash, secret_hash(secret))


def absolute_url(path: str) -> str:
    """The link as mailed: FMS_BASE_URL plus the path (mail has no request to ask)."""
    return current_app.config["FMS_BASE_URL"].rstrip("/") + path
