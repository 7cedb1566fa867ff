"""Encryption of secrets stored in the database (IdP client secrets, TOTP secrets).

Secrets are Fernet tokens under the keys of FMS_ENCRYPTION_KEYS (comma-separated, newest
first): the newest encrypts, every key decrypts (MultiFernet), so a key is rotated by
putting a new one in front and running `flask fms secrets rotate`, which re-encrypts every
stored secret under it; the old key can then be dropped. A database dump alone reveals
nothing, and FMS_SECRET_KEY can change without losing the secrets.

In development and test, without FMS_ENCRYPTION_KEYS, a key derived from FMS_SECRET_KEY
(HKDF) is used; elsewhere `check_settings` refuses to start without FMS_ENCRYPTION_KEYS.
The derived key always stays readable as the last resort, so secrets saved before
FMS_ENCRYPTION_KEYS existed still decrypt, and `secrets rotate` moves them over.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fms.config import split_keys
from fms.tenancy import ALL_TENANTS


def _derived_key(secret_key: str) -> bytes:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"fms-sso", info=b"sso-connection-secrets"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(key)


def keys_for(config) -> list[Fernet]:
    """The configured keys, newest first, then the key derived from SECRET_KEY."""
    configured = [Fernet(key) for key in split_keys(config.get("FMS_ENCRYPTION_KEYS"))]
    return [*configured, Fernet(_derived_key(config["SECRET_KEY"]))]


def _fernet() -> MultiFernet:
    return MultiFernet(keys_for(current_app.config))


def encrypt(value: str) -> str:
    """Encrypt under the newest key."""
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str | None) -> str | None:
    """The plain value, or None when no key we hold opens it (the admin enters it again)."""
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def rotate(token: str) -> str | None:
    """The same secret re-encrypted under the newest key; None when no key opens it."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        return None


@dataclass
class RotationReport:
    rotated: int = 0
    # "table.column #id" of values no key opens: left as they are, to be entered again
    unreadable: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.rotated} secret(s) re-encrypted under the newest key"
        if self.unreadable:
            text += f"; {len(self.unreadable)} no key opens: " + ", ".join(self.unreadable)
        return text


def rotate_column(session: Session, column, report: RotationReport, *, batch: int = 500) -> None:
    """Re-encrypt one encrypted column of every row, with plain UPDATEs (no ORM events).

    Each UPDATE is conditional on the old token, so a value changed meanwhile is kept.
    """
    model = column.class_
    key = model.__mapper__.primary_key[0]
    everyone = {ALL_TENANTS: True}
    last = None
    while True:
        query = select(key, column).where(column.is_not(None)).order_by(key).limit(batch)
        if last is not None:
            query = query.where(key > last)
        rows = session.execute(query.execution_options(**everyone)).all()
        if not rows:
            return
        for ident, token in rows:
            last = ident
            new = rotate(token)
            if new is None:
                report.unreadable.append(f"{model.__tablename__}.{column.key} #{ident}")
                continue
            session.execute(
                update(model)
                .where(key == ident, column == token)
                .values({column.key: new})
                .execution_options(synchronize_session=False, **everyone)
            )
            report.rotated += 1
