"""Compliance documents: uploads through fms.storage, versions, review, expiry, download.

A freelancer's document of one kind has versions: the first upload is version 1, and a
rejected or expired document (or an approved one about to expire) is replaced by the next
version; old versions are kept. A reviewer holding the role the policy names approves (with
an expiry, computed or typed) or rejects with a reason.

Virus scanning is a hook: `register_scanner(scan)` with `scan(path) -> reason | None`, called
on the stored bytes before the upload is accepted; a reason refuses the upload and removes
the file. By default nothing is registered (ClamAV, say, plugs in here: `clamdscan` on the
path, its finding as the reason).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms import storage
from fms.audit import services as audit
from fms.compliance import rules
from fms.compliance.models import ComplianceDocument
from fms.compliance.services import (
    items_for,
    org_today,
    policy_rows,
    require_officer,
    tick_step,
)
from fms.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.input import parse_date
from fms.notifications.kinds import register_kind
from fms.notifications.services import notify
from fms.statemachine import transition
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.workforce.models import Engagement, Freelancer

log = logging.getLogger(__name__)

ALLOWED_FILE_KINDS = ("pdf", "png", "jpeg")
DOCUMENT_TRANSITIONS: dict[str, set[str]] = {
    "pending_review": {"approved", "rejected"},
    "approved": {"expired"},
    "rejected": set(),
    "expired": set(),
}
# an approved document may be replaced this many days before it expires
RENEW_WITHIN_DAYS = 30
MAX_REASON = 2000

Scanner = Callable[[Path], "str | None"]
_SCANNERS: list[Scanner] = []


def register_scanner(scan: Scanner) -> Scanner:
    """Plug in a virus scanner: `scan(path) -> reason | None` (a reason refuses the file)."""
    if scan not in _SCANNERS:
        _SCANNERS.append(scan)
    return scan


def unregister_scanner(scan: Scanner) -> None:
    if scan in _SCANNERS:
        _SCANNERS.remove(scan)


def max_upload_bytes() -> int:
    return int(current_app.config.get("FMS_COMPLIANCE_MAX_UPLOAD_BYTES", 10 * 1024 * 1024))


def _own_profile(session: Session, actor: Actor) -> Freelancer | None:
    if actor.user_id is None:
        return None
    return session.scalar(select(Freelancer).where(Freelancer.user_id == actor.user_id))


def _reviewer_role(session: Session, freelancer: Freelancer, kind: str) -> str:
    return rules.reviewer_role(policy_rows(session), country=freelancer.country, kind=kind)


def _discard(session: Session, stored: storage.StoredFile) -> None:
    """Remove a file stored in this transaction again (refused after storing)."""
    storage.path_of(stored).unlink(missing_ok=True)
    session.delete(stored)
    session.flush()


# what some browsers and scanners call the same types
_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
    "image/x-png": "image/png",
}
_FOLDERS = re.compile(r"[\\/]|(^|[\\/])\.\.($|[\\/])")


def upload_document(
    session: Session,
    *,
    actor: Actor,
    freelancer_id: int,
    kind: str,
    filename: str | None,
    declared_type: str | None = None,
    data: bytes | None = None,
    stream: BinaryIO | None = None,
) -> ComplianceDocument:
    """A freelancer uploads their own document (a compliance officer may on their behalf).

    The file is a PDF, PNG or JPEG by its content, at most FMS_COMPLIANCE_MAX_UPLOAD_BYTES,
    not empty; a name with folders in it and a declared type that differs from the content
    are refused. Anything refused leaves nothing stored. A new version is accepted only when
    the latest was rejected, has expired, or expires within RENEW_WITHIN_DAYS.
    """
    freelancer = get_in_org(session, Freelancer, freelancer_id, what="freelancer")
    own = _own_profile(session, actor)
    if not (own is not None and own.id == freelancer.id) and not actor.can("compliance.manage"):
        raise NotFound("No such freelancer.")
    if kind not in rules.UPLOAD_KINDS:
        raise InvalidInput("Choose the kind of document.", errors={"kind": ["Unknown kind."]})
    if filename and _FOLDERS.search(filename):
        raise InvalidInput(
            "The file name may not contain folders.", errors={"file": ["A plain file name."]}
        )
    today = org_today(session, actor.org_id)
    latest = session.scalar(
        select(ComplianceDocument)
        .where(ComplianceDocument.freelancer_id == freelancer.id, ComplianceDocument.kind == kind)
        .order_by(ComplianceDocument.version.desc())
        .limit(1)
    )
    if latest is not None:
        renewable = latest.state == "approved" and (
            latest.expires_on is not None
            and latest.expires_on <= today + timedelta(days=RENEW_WITHIN_DAYS)
        )
        if latest.state == "pending_review":
            raise RuleViolation("The last upload of this document is waiting for review.")
        if latest.state == "approved" and not renewable:
            raise RuleViolation("An approved document of this kind is on file and still valid.")
    stored = storage.store(
        session,
        org_id=actor.org_id,
        filename=filename,
        allowed_kinds=ALLOWED_FILE_KINDS,
        max_bytes=max_upload_bytes(),
        data=data,
        stream=stream,
        created_by=actor.user_id,
    )
    declared = (declared_type or "").split(";")[0].strip().lower()
    declared = _TYPE_ALIASES.get(declared, declared)
    if declared and declared != "application/octet-stream" and declared != stored.media_type:
        _discard(session, stored)
        raise InvalidInput(
            "The file's content does not match its declared type.",
            errors={"file": [f"Declared {declared}, but the content is {stored.media_type}."]},
        )
    for scan in _SCANNERS:
        reason = scan(storage.path_of(stored))
        if reason:
            _discard(session, stored)
            log.warning("upload refused by a scanner for org %r: %s", actor.org_id, reason)
            raise InvalidInput(
                "The file was refused by the virus scanner.", errors={"file": [reason]}
            )
    document = ComplianceDocument(
        org_id=actor.org_id,
        freelancer_id=freelancer.id,
        kind=kind,
        version=(latest.version + 1) if latest else 1,
        file_id=stored.id,
        state="pending_review",
        uploaded_by_user_id=actor.user_id,
        uploaded_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(document)
            session.flush()
    except IntegrityError:
        _discard(session, stored)
        existing = session.scalar(
            select(func.max(ComplianceDocument.id)).where(
                ComplianceDocument.freelancer_id == freelancer.id,
                ComplianceDocument.kind == kind,
            )
        )
        raise AlreadyExists(
            "Another upload of this document came first.", existing_id=existing
        ) from None
    audit.record(
        session,
        actor,
        "compliance_document.uploaded",
        document,
        after={
            "freelancer_id": freelancer.id,
            "kind": kind,
            "version": document.version,
            "file_id": stored.id,
            "sha256": stored.sha256,
        },
    )
    return document


def get_document(session: Session, *, actor: Actor, document_id) -> ComplianceDocument:
    """A document the actor may see: their own, or any of the organization's for reviewers
    and org admins. Another organization's id, or someone else's document, is NotFound."""
    document = get_in_org(session, ComplianceDocument, document_id, what="document")
    if not may_download(session, actor=actor, document=document):
        raise NotFound("No such document.")
    return document


def may_download(session: Session, *, actor: Actor, document: ComplianceDocument) -> bool:
    """The freelancer it belongs to, its reviewers (the role the policy names) and the
    organization's compliance officers and org admins may download a document."""
    if actor is None or actor.org_id != document.org_id:
        return False
    if actor.can("compliance.manage"):
        return True
    freelancer = session.scalar(select(Freelancer).where(Freelancer.id == document.freelancer_id))
    if freelancer.user_id is not None and freelancer.user_id == actor.user_id:
        return True
    return _reviewer_role(session, freelancer, document.kind) in actor.roles


def download_file(session: Session, *, actor: Actor, document_id) -> storage.StoredFile:
    """The stored file of a document the actor may download (NotFound otherwise)."""
    document = get_document(session, actor=actor, document_id=document_id)
    return storage.get_file(session, document.file_id)


def review_document(
    session: Session,
    *,
    actor: Actor,
    document_id,
    approve: bool,
    reason: str = "",
    expires_on=None,
) -> ComplianceDocument:
    """A reviewer (the role the policy names) approves or rejects a document waiting for
    review, never their own upload. A rejection says why. An approval sets the expiry: N
    months from today when the policy says so, or the date the reviewer types from the
    document when it says "typed" (a date after today). Two reviewers deciding at once:
    one wins, the other is told it was decided already."""
    document = get_in_org(session, ComplianceDocument, document_id, what="document")
    freelancer = session.scalar(select(Freelancer).where(Freelancer.id == document.freelancer_id))
    role = _reviewer_role(session, freelancer, document.kind)
    if role not in actor.roles:
        raise NotAllowed("This document is reviewed by another role.")
    if document.uploaded_by_user_id is not None and document.uploaded_by_user_id == actor.user_id:
        raise NotAllowed("You cannot review a document you uploaded.")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput("The reason is too long.", errors={"reason": ["At most 2000."]})
    if document.state != "pending_review":
        raise RuleViolation("This document has already been reviewed.")
    today = org_today(session, actor.org_id)
    values = {
        "reviewed_by_user_id": actor.user_id,
        "reviewed_at": utcnow(),
        "review_reason": reason or None,
    }
    if approve:
        item = _item_rules(session, freelancer, document.kind)
        if item is not None and item.validity == "typed":
            try:
                typed = parse_date(expires_on)
            except ValueError as exc:
                raise InvalidInput(
                    "Type the expiry date from the document.", errors={"expires_on": [str(exc)]}
                ) from None
            if typed <= today:
                raise InvalidInput(
                    "The document has expired already.",
                    errors={"expires_on": ["A date after today."]},
                )
            values["expires_on"] = typed
        elif item is not None:
            values["expires_on"] = rules.expiry_after_approval(
                item.validity, item.validity_months, today
            )
    elif not reason:
        raise InvalidInput("Say why you reject it.", errors={"reason": ["Required."]})
    transition(
        session,
        document,
        to="approved" if approve else "rejected",
        table=DOCUMENT_TRANSITIONS,
        actor=actor,
        label="document",
        action=f"compliance_document.{'approved' if approve else 'rejected'}",
        values=values,
        after={
            "kind": document.kind,
            "version": document.version,
            "reason": reason or None,
            "expires_on": values.get("expires_on"),
        },
    )
    if approve:
        for engagement_id in session.scalars(
            select(Engagement.id).where(
                Engagement.freelancer_id == freelancer.id, Engagement.state == "onboarding"
            )
        ):
            tick_step(session, actor=actor, engagement_id=engagement_id, kind=document.kind)
    _tell_the_freelancer(session, document, freelancer, approved=approve, reason=reason)
    return document


register_kind(
    "compliance.document_reviewed",
    label="Your compliance document was reviewed",
    default="mail",
    description="When a reviewer approves a document you uploaded, or rejects it with the "
    "reason (so you can upload a new version).",
)


def _tell_the_freelancer(session, document, freelancer, *, approved: bool, reason: str):
    """The freelancer learns the decision once per document version (inbox, and mail by
    their choice), with the reason of a rejection and a link to where they replace it."""
    if freelancer.user_id is None:
        return
    onboarding = session.scalar(
        select(Engagement.id)
        .where(Engagement.freelancer_id == freelancer.id, Engagement.state == "onboarding")
        .order_by(Engagement.id)
        .limit(1)
    )
    name = rules.DOCUMENT_KINDS.get(document.kind, (document.kind,))[0]
    notify(
        session,
        org_id=document.org_id,
        user_ids=[freelancer.user_id],
        kind="compliance.document_reviewed",
        title=f"{name} {'approved' if approved else 'rejected'}",
        body="" if approved else f"Reason: {reason} Upload a new version.",
        url=f"/compliance/my/{onboarding}" if onboarding else None,
        dedupe_key=f"compliance_document:{document.id}:reviewed",
    )


def _item_rules(session: Session, freelancer: Freelancer, kind: str):
    """The validity rule for this kind, from the policy of the freelancer's engagements (the
    first booked one), or the country-wide rule when none is booked."""
    engagement = session.scalar(
        select(Engagement)
        .where(
            Engagement.freelancer_id == freelancer.id,
            Engagement.state.in_(("onboarding", "active", "approved")),
        )
        .order_by(Engagement.start_date)
        .limit(1)
    )
    if engagement is not None:
        items = items_for(session, engagement)
    else:
        items = rules.resolve(policy_rows(session), country=freelancer.country, engagement_kind="")
    return next((i for i in items if i.kind == kind), None)


def expire_documents(session: Session, *, actor: Actor, today: date) -> int:
    """Approved documents whose expiry date has passed become expired (audited); a second
    run finds none. One conditional UPDATE ... RETURNING for all of them and one batch of
    audit entries, whatever their number: a concurrent sweep's UPDATE skips the rows this
    one changed, so each expiry is recorded once."""
    expired = session.execute(
        update(ComplianceDocument)
        .where(
            ComplianceDocument.org_id == actor.org_id,
            ComplianceDocument.state == "approved",
            ComplianceDocument.expires_on.is_not(None),
            ComplianceDocument.expires_on < today,
        )
        .values(state="expired")
        .returning(ComplianceDocument.id, ComplianceDocument.kind, ComplianceDocument.expires_on)
        .execution_options(synchronize_session="fetch")
    ).all()
    audit.record_many(
        session,
        actor,
        [
            audit.Change(
                action="compliance_document.expired",
                entity_type="compliance_document",
                entity_id=row.id,
                before={"state": "approved"},
                after={"state": "expired", "kind": row.kind, "expires_on": row.expires_on},
            )
            for row in sorted(expired, key=lambda r: r.id)
        ],
    )
    return len(expired)


def versions(session: Session, *, actor: Actor, freelancer_id: int, kind: str) -> list:
    """Every version of a freelancer's document of a kind, newest first."""
    require_officer(actor)
    return list(
        session.scalars(
            select(ComplianceDocument)
            .where(
                ComplianceDocument.freelancer_id == freelancer_id, ComplianceDocument.kind == kind
            )
            .order_by(ComplianceDocument.version.desc())
        )
    )


# engagements that still need a freelancer's documents
LIVE_STATES = ("approved", "onboarding", "active")


def erase_departed(session: Session, *, freelancer_id: int, leaving_engagement_id: int):
    """The retention rule "delete": the departing freelancer's uploaded documents lose their
    bytes (the rows stay, with name, size and SHA-256, as the record that they existed),
    unless another engagement of theirs in this organization still needs them — then
    nothing is erased and that engagement is returned. Signed agreements are not uploads
    and stay as evidence. Returns (files erased, engagement still needing them)."""

    still = session.scalar(
        select(Engagement.id)
        .where(
            Engagement.freelancer_id == freelancer_id,
            Engagement.id != leaving_engagement_id,
            Engagement.state.in_(LIVE_STATES),
        )
        .order_by(Engagement.id)
        .limit(1)
    )
    if still is not None:
        return 0, still
    file_ids = session.scalars(
        select(ComplianceDocument.file_id).where(ComplianceDocument.freelancer_id == freelancer_id)
    ).all()
    return storage.erase(session, file_ids), None
