"""Encryption of secrets stored in the database (identity-provider client secrets).

Secrets are Fernet tokens under a key derived from FMS_SECRET_KEY with HKDF, so a
database dump alone does not reveal them; rotating FMS_SECRET_KEY means entering them again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode()
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"fms-sso", info=b"sso-connection-secrets"
    ).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        # FMS_SECRET_KEY changed since the secret was saved: the admin enters it again
        return None
