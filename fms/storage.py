"""One file store for uploads (receipts, attachments, documents) that every area reuses.

`store()` streams an upload to a temporary file under FMS_STORAGE_DIR while counting and
hashing it, refuses it when it is empty, too large or of a kind the caller does not allow
(the kind is decided by the file's first bytes, never by its name or the browser's
Content-Type), then renames it atomically to a sharded path built from a generated key and
adds a `StoredFile` row in the caller's transaction (flush, never commit). If that
transaction rolls back, the file written for it is removed again.

Storage knows organizations only: who may see a file is the owning area's rule, checked
before it calls `get_file()`/`send_stored()`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flask import current_app, send_file
from sqlalchemy import BigInteger, ForeignKey, Integer, String, event, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from fms.database import Id, savepoint_released
from fms.errors import InvalidInput, NotFound
from fms.extensions import db
from fms.tenancy import MAX_ID, TenantMixin, get_in_org, session_org_id
from fms.timekeeping import UTCDateTime, utcnow

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_WRITTEN_KEY = "fms_storage_written"
_ERASED_KEY = "fms_storage_erased"


@dataclass(frozen=True)
class Kind:
    name: str
    media_type: str
    label: str


# A signature table of our own instead of a dependency: five formats, each recognised by a
# few fixed bytes at the start (the `filetype` package does the same with a larger table,
# but has had no release since 2022; libmagic would add a system library).
KINDS = {
    "pdf": Kind("pdf", "application/pdf", "PDF"),
    "png": Kind("png", "image/png", "PNG image"),
    "jpeg": Kind("jpeg", "image/jpeg", "JPEG image"),
    "webp": Kind("webp", "image/webp", "WebP image"),
    "heic": Kind("heic", "image/heic", "HEIC image"),
}
RECEIPT_KINDS = ("pdf", "png", "jpeg", "webp", "heic")
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
HEAD_BYTES = 32


def sniff(head: bytes) -> str | None:
    """The kind of a file from its first bytes, or None when it is none we know."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


class StoredFile(TenantMixin, db.Model):
    """One uploaded file of an organization; its bytes live under FMS_STORAGE_DIR."""

    __tablename__ = "stored_file"

    id: Mapped[Id] = mapped_column(primary_key=True)
    # generated, never from user input: the file's path under the storage directory
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    media_type: Mapped[str] = mapped_column(String(100))
    # sanitised, for display and Content-Disposition only
    original_name: Mapped[str] = mapped_column(String(200))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the bytes were deleted (a retention rule); the row stays as the record that the file
    # existed, with its name, size and SHA-256
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def storage_root() -> Path:
    return Path(current_app.config["FMS_STORAGE_DIR"])


def path_of(file: StoredFile) -> Path:
    return _path_for(file.storage_key)


def _path_for(key: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", key):  # only keys we generated name paths
        raise ValueError(f"not a storage key: {key!r}")
    return storage_root() / "files" / key[:2] / key[2:4] / key


def clean_filename(filename: str | None) -> str:
    """A display name: the last path component, NFC, no control characters, bounded."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 199 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name or "file"


def _refuse(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, errors={field: [message]})


def store(
    session: Session,
    *,
    org_id: int,
    filename: str | None,
    allowed_kinds: tuple[str, ...] | list[str],
    max_bytes: int,
    data: bytes | None = None,
    stream: BinaryIO | None = None,
    created_by: int | None = None,
    field: str = "file",
) -> StoredFile:
    """Store an upload of an allowed kind and at most `max_bytes`; anything else is refused
    with nothing kept."""
    if (data is None) == (stream is None):
        raise TypeError("store() takes exactly one of data= or stream=")
    source = io.BytesIO(data) if data is not None else stream
    unknown = set(allowed_kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown file kinds: {sorted(unknown)}")
    allowed_text = ", ".join(KINDS[k].label for k in allowed_kinds)

    tmp_dir = storage_root() / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                # never more than one chunk past the limit in memory or on disk
                chunk = source.read(min(CHUNK, max_bytes + 1 - size))
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise _refuse(f"The file is larger than {_format_size(max_bytes)}.", field)
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
            if size == 0:
                raise _refuse("The file is empty.", field)
            kind = sniff(head)
            if kind is None or kind not in allowed_kinds:
                raise _refuse(
                    f"This file's content is not an allowed type ({allowed_text}), "
                    "whatever its name says.",
                    field,
                )
            out.flush()
            os.fsync(out.fileno())
        key = secrets.token_hex(16)
        final = _path_for(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    session.info.setdefault(_WRITTEN_KEY, []).append(str(final))
    stored = StoredFile(
        org_id=org_id,
        storage_key=key,
        sha256=digest.hexdigest(),
        size=size,
        media_type=KINDS[kind].media_type,
        original_name=clean_filename(filename),
        created_by_user_id=created_by,
    )
    session.add(stored)
    session.flush()
    log.info("stored file %r (%s, %d bytes) for org %r", stored.id, kind, size, org_id)
    return stored


def _format_size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


def get_file(session: Session, file_id) -> StoredFile:
    """A stored file of the session's organization; another organization's id is NotFound."""
    return get_in_org(session, StoredFile, file_id, what="file")


def store_upload(session: Session, upload, *, actor, field: str, allowed_kinds=RECEIPT_KINDS):
    """A person's upload (a werkzeug FileStorage from a form or a multipart API request),
    stored for them in their organization under the installation's size limit for such
    files (FMS_RECEIPT_MAX_BYTES)."""
    return store(
        session,
        org_id=actor.org_id,
        filename=upload.filename,
        allowed_kinds=allowed_kinds,
        max_bytes=current_app.config["FMS_RECEIPT_MAX_BYTES"],
        stream=upload.stream,
        created_by=actor.user_id,
        field=field,
    )


def openapi_content(kinds) -> dict:
    """The OpenAPI `content` of a download route serving files of these kinds."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {KINDS[kind].media_type: binary for kind in kinds}


def uploaded_by(session: Session, file_id, *, user_id: int | None, field: str) -> StoredFile:
    """A file this person uploaded in the session's organization, to attach to a record
    of theirs; another person's file, or another organization's, is not found (a file id
    is no capability to claim someone else's upload)."""
    from fms.input import parse_int

    try:
        key = parse_int(file_id)
    except (TypeError, ValueError):
        key = 0
    if not 0 < key <= MAX_ID:
        raise InvalidInput("Upload the file first.", errors={field: ["A file id."]})
    stored = session.scalar(select(StoredFile).where(StoredFile.id == key))  # org-scoped
    if stored is None or user_id is None or stored.created_by_user_id != user_id:
        raise NotFound("No such file.")
    return stored


def erase(session: Session, file_ids) -> int:
    """Delete the bytes of these files of the session's organization, keeping their rows
    (name, size, SHA-256, `erased_at`) as the record that they existed. The bytes go when
    the caller's transaction commits, so a rollback loses nothing. Returns how many files
    were erased now (files erased before are skipped)."""
    ids = sorted({int(i) for i in file_ids})
    if not ids:
        return 0
    org_id = session_org_id(session)
    rows = session.execute(
        update(StoredFile)
        .where(StoredFile.id.in_(ids), StoredFile.erased_at.is_(None))
        .where(StoredFile.org_id == org_id)
        .values(erased_at=utcnow())
        .returning(StoredFile.storage_key)
        .execution_options(synchronize_session=False)
    ).all()
    session.info.setdefault(_ERASED_KEY, []).extend(str(_path_for(key)) for (key,) in rows)
    return len(rows)


def _readable(file: StoredFile) -> StoredFile:
    if file.erased_at is not None:
        raise NotFound("This file was deleted under the organization's retention rule.")
    return file


def open_stored(file: StoredFile) -> BinaryIO:
    """The file's bytes, to read as a stream."""
    return path_of(_readable(file)).open("rb")


def send_stored(file: StoredFile, *, as_attachment: bool = True):
    """A response streaming the file, with headers that keep a browser from running it.

    The caller has checked that the viewer may see the file. Flask writes the RFC 5987
    `filename*` for names that are not ASCII.
    """
    response = send_file(
        path_of(_readable(file)),
        mimetype=file.media_type,
        as_attachment=as_attachment,
        download_name=file.original_name,
        etag=file.sha256,
        conditional=True,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@event.listens_for(Session, "after_soft_rollback")
def _remove_files_of_rolled_back(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is not None:
        return
    for name in session.info.pop(_WRITTEN_KEY, []):
        Path(name).unlink(missing_ok=True)
    session.info.pop(_ERASED_KEY, None)  # erasing was undone: the bytes stay


@event.listens_for(Session, "after_commit")
def _keep_files_of_committed(session: Session) -> None:
    if savepoint_released(session):
        return
    session.info.pop(_WRITTEN_KEY, None)
    for name in session.info.pop(_ERASED_KEY, []):
        Path(name).unlink(missing_ok=True)
