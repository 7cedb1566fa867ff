"""Click-to-sign: versioned templates, the rendered text a freelancer reads, signatures as
immutable evidence, and the signed PDF (with an evidence page) kept through fms.storage.

Templates are plain text with `{{ placeholder }}`s (rules.PLACEHOLDERS) filled by one
regular-expression pass (rules.fill): no template engine ever evaluates text a person
wrote. A template is never edited; a change is its next version, so a signature keeps
pointing at the version and the exact text it covered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from flask import render_template
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from fms import storage
from fms.audit import services as audit
from fms.compliance import rules
from fms.compliance.models import Signature, SigningTemplate
from fms.compliance.services import (
    engagement_for,
    org_today,
    require_officer,
    tick_step,
)
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.records import add_unique
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.workforce.models import Engagement, Freelancer

SIGNABLE_STATES = ("approved", "onboarding", "active")
MAX_TEMPLATE_CHARS = 100_000
MAX_SIGNED_PDF_BYTES = 20 * 1024 * 1024


# --- templates -----------------------------------------------------------------------------


def publish_template(
    session: Session, *, actor: Actor, kind: str, title: str, body: str
) -> SigningTemplate:
    """Publish the next version of the NDA or contract terms. Only known placeholders may
    appear; earlier versions, and what was signed under them, stay as they were."""
    require_officer(actor)
    errors: dict[str, list[str]] = {}
    if kind not in rules.SIGN_KINDS:
        errors["kind"] = ["NDA or contract."]
    title = (title or "").strip()
    if not title or len(title) > 200:
        errors["title"] = ["A title of at most 200 characters."]
    body = (body or "").replace("\r\n", "\n").strip()
    if not body or len(body) > MAX_TEMPLATE_CHARS:
        errors["body"] = [f"The text, at most {MAX_TEMPLATE_CHARS:,} characters."]
    elif unknown := rules.unknown_placeholders(body):
        errors["body"] = [
            "Unknown placeholders: "
            + ", ".join(unknown)
            + ". Known: "
            + ", ".join(rules.PLACEHOLDERS)
            + "."
        ]
    if errors:
        raise InvalidInput("Check the highlighted fields.", errors=errors)
    version = (
        session.scalar(
            select(func.max(SigningTemplate.version)).where(SigningTemplate.kind == kind)
        )
        or 0
    ) + 1
    template = SigningTemplate(
        org_id=actor.org_id,
        kind=kind,
        version=version,
        title=title,
        body=body,
        created_by_user_id=actor.user_id,
    )
    add_unique(
        session,
        template,
        existing=lambda: session.scalar(
            select(SigningTemplate.id).where(
                SigningTemplate.kind == kind, SigningTemplate.version == version
            )
        ),
        detail="Someone published this version a moment ago; reload and try again.",
    )
    audit.record(
        session,
        actor,
        "signing_template.published",
        template,
        after={"kind": kind, "version": version, "title": title},
    )
    return template


def current_template(session: Session, kind: str) -> SigningTemplate | None:
    """The latest published version of a kind."""
    return session.scalar(
        select(SigningTemplate)
        .where(SigningTemplate.kind == kind)
        .order_by(SigningTemplate.version.desc())
        .limit(1)
    )


# --- rendering -----------------------------------------------------------------------------


def placeholder_values(session: Session, engagement: Engagement, freelancer: Freelancer) -> dict:
    """What the placeholders of a template say for this engagement."""
    from fms.identity.models import Organization
    from fms.workforce.engagements import terms_on

    org = session.get(Organization, engagement.org_id)
    terms = terms_on(session, engagement.id, engagement.start_date)
    rate = f"{terms.rate:,.2f} {engagement.currency}" if terms is not None else ""
    return {
        "organization_name": org.name,
        "freelancer_name": freelancer.legal_name,
        "freelancer_email": freelancer.email,
        "engagement_title": engagement.title,
        "start_date": engagement.start_date.isoformat(),
        "end_date": engagement.end_date.isoformat(),
        "rate": rate,
        "signing_date": org_today(session, engagement.org_id).isoformat(),
    }


@dataclass(frozen=True)
class Rendered:
    template: SigningTemplate
    text: str
    sha256: str


def text_hash(text: str) -> str:
    """SHA-256 of the exact text, UTF-8 encoded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_for_signing(session: Session, *, actor: Actor, engagement_id, kind: str) -> Rendered:
    """The text the freelancer reads before signing: the current template filled from
    their engagement."""
    engagement, freelancer = engagement_for(session, actor, engagement_id, officers_too=False)
    template = current_template(session, kind)
    if template is None:
        raise RuleViolation("There is no text to sign yet; compliance has not published one.")
    text = rules.fill(template.body, placeholder_values(session, engagement, freelancer))
    return Rendered(template, text, text_hash(text))


# --- signing -------------------------------------------------------------------------------


def sign(
    session: Session,
    *,
    actor: Actor,
    engagement_id,
    kind: str,
    typed_name: str,
    template_id=None,
    seen_sha256: str | None = None,
    user_agent: str | None = None,
) -> Signature:
    """The freelancer signs their engagement's NDA or contract by typing their full name.

    The typed name must be their legal name (case and spacing aside). What they read must
    still be what is signed: a newer template version, or changed engagement details since
    the page was shown, asks them to read again. Signed once per engagement and kind.
    The record keeps the exact text, its SHA-256, the template version, time, IP address and
    user agent; the signed PDF with its evidence page is stored with it.
    """
    engagement, freelancer = engagement_for(session, actor, engagement_id, officers_too=False)
    if engagement.state not in SIGNABLE_STATES:
        raise RuleViolation("This engagement is not open for signing.")
    if kind not in rules.SIGN_KINDS:
        raise InvalidInput("NDA or contract.", errors={"kind": ["Unknown."]})
    typed = " ".join((typed_name or "").split())
    if not rules.names_match(typed, freelancer.legal_name) or len(typed) > 200:
        raise InvalidInput(
            "Type your full name as it is on your profile.",
            errors={"typed_name": [f"Your name on record is {freelancer.legal_name}."]},
        )
    rendered = render_for_signing(session, actor=actor, engagement_id=engagement.id, kind=kind)
    if template_id is not None and str(template_id) != str(rendered.template.id):
        raise RuleViolation("A newer version of this text was published; read it again.")
    if seen_sha256 is not None and seen_sha256 != rendered.sha256:
        raise RuleViolation("The text changed since you opened it; read it again.")
    if session.scalar(
        select(Signature.id).where(Signature.engagement_id == engagement.id, Signature.kind == kind)
    ):
        raise RuleViolation("You have signed this already.")
    signed_at = utcnow()
    from fms.identity.models import Organization

    evidence = {
        "title": rendered.template.title,
        "kind": kind,
        "template_version": rendered.template.version,
        "organization": session.get(Organization, engagement.org_id).name,
        "engagement": engagement.title,
        "typed_name": typed,
        "legal_name": freelancer.legal_name,
        "signed_at": signed_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "ip": actor.ip,
        "user_agent": (user_agent or "")[:300] or None,
        "text_sha256": rendered.sha256,
    }
    pdf = render_signed_pdf(rendered.text, evidence)
    stored = storage.store(
        session,
        org_id=engagement.org_id,
        filename=f"{kind}-engagement-{engagement.id}-v{rendered.template.version}.pdf",
        allowed_kinds=("pdf",),
        max_bytes=MAX_SIGNED_PDF_BYTES,
        data=pdf,
        created_by=actor.user_id,
    )
    signature = Signature(
        org_id=engagement.org_id,
        engagement_id=engagement.id,
        freelancer_id=freelancer.id,
        template_id=rendered.template.id,
        kind=kind,
        template_version=rendered.template.version,
        signed_text=rendered.text,
        text_sha256=rendered.sha256,
        typed_name=typed,
        signer_user_id=actor.user_id,
        signed_at=signed_at,
        ip=actor.ip,
        user_agent=evidence["user_agent"],
        pdf_file_id=stored.id,
    )
    add_unique(
        session,
        signature,
        existing=lambda: session.scalar(
            select(Signature.id).where(
                Signature.engagement_id == engagement.id, Signature.kind == kind
            )
        ),
        detail="You have signed this already.",
    )
    audit.record(
        session,
        actor,
        "signature.signed",
        signature,
        after={
            "engagement_id": engagement.id,
            "kind": kind,
            "template_version": rendered.template.version,
            "text_sha256": rendered.sha256,
            "pdf_file_id": stored.id,
        },
    )
    tick_step(session, actor=actor, engagement_id=engagement.id, kind=kind)
    return signature


@event.listens_for(Signature, "before_update")
def _signatures_are_immutable(mapper, connection, target):
    raise RuleViolation("A signature is evidence and never changes.")


def signature_pdf(session: Session, *, actor: Actor, signature_id) -> storage.StoredFile:
    """The signed PDF, for the freelancer who signed, compliance officers, org admins and
    procurement (who manage contracts); anyone else, or another organization's id: NotFound."""
    signature = get_in_org(session, Signature, signature_id, what="signature")
    if not actor.can("signatures.read") and signature.signer_user_id != actor.user_id:
        raise NotFound("No such signature.")
    return storage.get_file(session, signature.pdf_file_id)


# --- PDF -----------------------------------------------------------------------------------

# The restricted renderer lives in fms.pdf (shared with invoices and reports); these names
# stay here for the callers written against them. fms.pdf imports WeasyPrint, so it is
# imported where a PDF is made, not when the app starts.


def static_root() -> Path:
    from fms.pdf import static_root as root

    return root()


def html_to_pdf(html: str, *, fetcher=None) -> bytes:
    """Render our HTML to PDF; relative URLs resolve inside the static folder."""
    from fms.pdf import render_pdf

    return render_pdf(html, fetcher=fetcher)


def __getattr__(name: str):
    if name == "StaticOnlyFetcher":
        from fms.pdf import StaticOnlyFetcher

        return StaticOnlyFetcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def render_signed_pdf(text: str, evidence: dict) -> bytes:
    """The signed text (escaped: it is text, never markup) and an evidence page."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    html = render_template("compliance/pdf/signed.html", signature=evidence, paragraphs=paragraphs)
    return html_to_pdf(html)
