"""fms/storage.py: uploads checked by content and size, stored under generated keys."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from fms import storage
from fms.errors import InvalidInput, NotFound
from tests.factories import as_org

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40 + b"\xff\xd9"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 30
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 20
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 100
SCRIPT = b"#!/bin/sh\nrm -rf ~\n"
HTML = b"<!doctype html><script>alert(1)</script>"


def _files(app) -> list[Path]:
    root = Path(app.config["FMS_STORAGE_DIR"])
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def org(session, make_org):
    return make_org()


def _store(session, org, data, name="receipt.pdf", **kw):
    kw.setdefault("allowed_kinds", storage.RECEIPT_KINDS)
    kw.setdefault("max_bytes", 1024 * 1024)
    with as_org(session, org.id):
        return storage.store(session, org_id=org.id, data=data, filename=name, **kw)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (HEIC, "image/heic"),
    ],
)
def test_allowed_kinds_are_stored_with_their_sha256(app, session, org, data, media_type):
    stored = _store(session, org, data, name="scan.bin")
    assert stored.media_type == media_type
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert stored.original_name == "scan.bin"
    with storage.open_stored(stored) as fh:
        assert fh.read() == data
    # the path comes from the generated key, sharded, nothing of the user's name in it
    path = storage.path_of(stored)
    assert path.name == stored.storage_key and "scan" not in str(path)
    assert path.parent.name == stored.storage_key[2:4]


@pytest.mark.parametrize("data", [EXE, SCRIPT, HTML], ids=["exe", "script", "html"])
def test_other_content_renamed_pdf_is_refused_and_nothing_kept(app, session, org, data):
    before = _files(app)
    with pytest.raises(InvalidInput) as refused:
        _store(session, org, data, name="receipt.pdf")
    assert "not an allowed type" in refused.value.detail
    assert "file" in refused.value.errors
    assert _files(app) == before
    assert session.query(storage.StoredFile).execution_options(all_tenants=True).count() == 0


def test_a_kind_the_caller_does_not_allow_is_refused(session, org):
    with pytest.raises(InvalidInput):
        _store(session, org, PNG, allowed_kinds=("pdf",))


def test_too_large_is_refused_while_streaming_and_nothing_kept(app, session, org):
    before = _files(app)

    class Endless(io.RawIOBase):
        """A stream that never ends: storage must stop reading past the limit."""

        read_bytes = 0

        def readable(self):
            return True

        def read(self, n=-1):
            assert n != -1, "storage must not read unbounded"
            self.read_bytes += n
            return (PDF + b"x" * n)[:n]

    source = Endless()
    with pytest.raises(InvalidInput) as refused, as_org(session, org.id):
        storage.store(
            session,
            org_id=org.id,
            stream=source,
            filename="big.pdf",
            allowed_kinds=("pdf",),
            max_bytes=200_000,
        )
    assert "larger than" in refused.value.detail
    assert source.read_bytes <= 200_001
    assert _files(app) == before


def test_empty_is_refused(session, org):
    with pytest.raises(InvalidInput) as refused:
        _store(session, org, b"")
    assert refused.value.detail == "The file is empty."


def test_another_organizations_file_is_not_found(session, org, make_org):
    other = make_org()
    theirs = _store(session, other, PDF)
    mine = _store(session, org, PDF)
    with as_org(session, org.id):
        assert storage.get_file(session, mine.id).id == mine.id
        with pytest.raises(NotFound):
            storage.get_file(session, theirs.id)
        with pytest.raises(NotFound):
            storage.get_file(session, "../1")


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.pdf", "cmd.pdf"),
        ("/absolute/path/receipt.pdf", "receipt.pdf"),
        ("..", "file"),
        ("rec\x00ei\npt.pdf", "receipt.pdf"),
        ("", "file"),
        (None, "file"),
        ("Quittung Müller.pdf", "Quittung Müller.pdf"),
    ],
)
def test_path_traversal_in_names_is_harmless(app, session, org, name, shown):
    stored = _store(session, org, PDF, name=name)
    assert stored.original_name == shown
    root = Path(app.config["FMS_STORAGE_DIR"]).resolve()
    assert storage.path_of(stored).resolve().is_relative_to(root / "files")


def test_a_rolled_back_upload_leaves_no_file(app, session, org):
    before = _files(app)
    stored = _store(session, org, PDF)
    path = storage.path_of(stored)
    assert path.exists()
    session.rollback()
    assert not path.exists()
    assert _files(app) == before


def test_send_stored_headers_keep_the_browser_from_running_it(app, session, org):
    stored = _store(session, org, PDF, name="Quittung Müller.pdf")
    with app.test_request_context("/"):
        response = storage.send_stored(stored)
        response.direct_passthrough = False
        body = response.get_data()
    assert body == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Quittung%20M%C3%BCller.pdf" in disposition
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_a_released_savepoint_is_no_commit_for_files(app, session, org):
    """SQLAlchemy sends after_commit when a savepoint is released: a file written before
    it is still removed when the real transaction rolls back, and bytes erased before it
    stay until the real commit."""
    session.commit()
    stored = _store(session, org, PDF)
    path = storage.path_of(stored)
    with session.begin_nested():
        pass
    session.rollback()
    assert not path.exists()

    kept = _store(session, org, PDF)
    session.commit()
    kept_path = storage.path_of(kept)
    with as_org(session, org.id):
        storage.erase(session, [kept.id])
        with session.begin_nested():
            pass
        assert kept_path.exists()  # not before the real commit
        session.rollback()
    assert kept_path.exists()
