"""Secrets and signatures, in the style of the Standard Webhooks specification (no I/O).

A secret is "whsec_" + base64 of 32 random bytes; the HMAC key is those bytes. Each
attempt is signed over "<webhook-id>.<webhook-timestamp>.<body>" with HMAC-SHA256, and
`webhook-signature` carries "v1,<base64 signature>" per secret, space-separated: two
during a rotation's overlap (the new secret's first), so a receiver holding either one
verifies. The README's recipe is the receiver's side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random

PREFIX = "whsec_"
VERSION = "v1"


def new_secret() -> str:
    """A fresh signing secret, shown once to the admin."""
    return PREFIX + base64.b64encode(random.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("not a webhook secret") from None


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    """One signature: "v1," + base64(HMAC-SHA256(key, "id.timestamp.body"))."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def headers(secrets: list[str], *, message_id: str, timestamp: int, body: bytes) -> dict:
    """The headers of one attempt: id, timestamp and a signature per secret."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            sign(s, message_id=message_id, timestamp=timestamp, body=body) for s in secrets
        ),
    }
