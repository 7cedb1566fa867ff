"""The freelancer's compliance onboarding: what their engagement's policy asks of them and
where each item stands, signing the NDA or contract by typing their name, uploading
documents, and the worker-classification questionnaire.

Only the engagement's own freelancer sees these pages (anyone else: not found). The rules
are the core's (services, signing, documents, classification); the views parse, call,
commit and redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from fms import storage
from fms.compliance import classification, documents, rules, services, signing
from fms.compliance.models import Signature, SigningTemplate
from fms.compliance.onboarding_forms import (
    SignForm,
    UploadForm,
    factor_heading,
    questionnaire_form,
)
from fms.compliance.views import bp
from fms.errors import InvalidInput, NotAllowed, NotFound
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.web_session import current_actor
from fms.tenancy import get_in_org
from fms.workforce.models import Engagement

# a freelancer-facing word per item status (services.ItemStatus.status)
STATUS_LABELS = {
    "missing": ("To do", "muted"),
    "pending_review": ("Waiting for review", "info"),
    "rejected": ("Rejected", "danger"),
    "expired": ("Expired", "danger"),
    "done": ("Done", "success"),
    "decision_needed": ("Compliance decides", "warning"),
    "refused": ("Refused by compliance", "danger"),
}
VERBS = {"sign": "Read and sign", "upload": "Upload", "answer": "Answer"}


def _mine(actor, engagement_id):
    """The actor's own engagement and their profile. Staff of its organization are told it
    is the freelancer's to do (403); anyone else finds nothing (404)."""
    try:
        return services.engagement_for(db.session, actor, engagement_id, officers_too=False)
    except NotFound:
        if actor.is_staff:
            get_in_org(db.session, Engagement, engagement_id, what="engagement")
            raise NotAllowed("Only the engagement's freelancer does this.") from None
        raise


def _today(engagement):
    return services.org_today(db.session, engagement.org_id)


def _signature(engagement_id: int, kind: str) -> Signature | None:
    return db.session.scalar(
        select(Signature).where(Signature.engagement_id == engagement_id, Signature.kind == kind)
    )


def _upload_state(versions: list, today) -> str:
    """May a new version be uploaded now: "first", "replace", "renew", or why not."""
    if not versions:
        return "first"
    latest = versions[0]
    if latest.state == "pending_review":
        return "waiting"
    if latest.state in ("rejected", "expired") or (
        latest.expires_on is not None and latest.expires_on < today
    ):
        return "replace"
    if latest.state == "approved" and latest.expires_on is not None:
        days = (latest.expires_on - today).days
        if days <= documents.RENEW_WITHIN_DAYS:
            return "renew"
    return "valid"


@dataclass(frozen=True)
class Row:
    """One policy item as the freelancer's page shows it."""

    status: services.ItemStatus
    word: str
    tone: str
    note: str
    url: str | None
    action: str | None
    signed_at: object = None  # shown in the viewer's timezone


def _rows(engagement, freelancer) -> list[Row]:
    today = _today(engagement)
    by_kind = services.documents_by_kind(db.session, freelancer.id)
    latest = services.latest_classification(db.session, engagement.id)
    out = []
    for s in services.item_statuses(db.session, engagement, today=today):
        item = s.item
        word, tone = STATUS_LABELS.get(s.status, (s.status, "muted"))
        note, url, action, signed_at = "", None, None, None
        if item.step_kind == "sign":
            signed = _signature(engagement.id, item.kind)
            template = signing.current_template(db.session, item.kind)
            if signed is not None:
                word = "Signed"
                note = f"Version {signed.template_version}"
                signed_at = signed.signed_at
                url = url_for(".signed", engagement_id=engagement.id, signature_id=signed.id)
                action = "See the signed copy"
            elif template is None:
                note = "The company has not published this text yet; it will appear here."
            else:
                url = url_for(".sign", engagement_id=engagement.id, template_id=template.id)
                action = VERBS["sign"]
        elif item.step_kind == "upload":
            versions = by_kind.get(item.kind, [])
            url = url_for(".upload", engagement_id=engagement.id, kind=item.kind)
            current = next(
                (
                    d
                    for d in versions
                    if d.state == "approved" and (d.expires_on is None or d.expires_on >= today)
                ),
                None,
            )
            if s.done and current is not None:
                word = "Approved"
                if current.expires_on:
                    word = f"Approved until {current.expires_on.isoformat()}"
                action = "Renew" if _upload_state(versions, today) == "renew" else "Details"
            elif s.status == "rejected":
                note = f"Reason: {s.detail}" if s.detail else ""
                action = "Upload a new version"
            elif s.status == "expired":
                word = f"Expired ({s.detail.removeprefix('expired on ')})" if s.detail else word
                action = "Upload a new version"
            elif s.status == "pending_review":
                action = "Details"
            else:
                action = VERBS["upload"]
        else:  # the questionnaire
            url = url_for(".questionnaire", engagement_id=engagement.id)
            if latest is None:
                action = VERBS["answer"]
            else:
                action = "See the result"
                risk = f"{latest.risk.capitalize()} risk"
                if s.status == "done":
                    word = risk if latest.state == "assessed" else f"{risk}, accepted"
                elif s.status == "decision_needed":
                    note = "High risk: a compliance officer will decide."
        out.append(Row(s, word, tone, note, url, action, signed_at))
    return out


# --- my compliance -------------------------------------------------------------------------


@bp.get("/my/<int:engagement_id>")
@login_required
def mine(engagement_id: int):
    """What the engagement's policy asks of the freelancer, and where each item stands."""
    engagement, freelancer = _mine(current_actor(), engagement_id)
    rows = _rows(engagement, freelancer)
    required = [r for r in rows if r.status.item.required]
    next_row = next(
        (r for r in required if r.status.status in ("missing", "rejected", "expired") and r.url),
        None,
    )
    return render_template(
        "compliance/onboarding/mine.html",
        engagement=engagement,
        rows=rows,
        done=sum(1 for r in rows if r.status.done),
        required_left=[r for r in required if not r.status.done],
        next_row=next_row,
    )


# --- signing -------------------------------------------------------------------------------


@bp.route("/my/<int:engagement_id>/sign/<int:template_id>", methods=["GET", "POST"])
@login_required
def sign(engagement_id: int, template_id: int):
    """Read the text as it would be signed, type one's full name, sign."""
    actor = current_actor()
    engagement, freelancer = _mine(actor, engagement_id)
    template = get_in_org(db.session, SigningTemplate, template_id, what="text to sign")
    item = next(
        (i for i in services.items_for(db.session, engagement) if i.kind == template.kind), None
    )
    if item is None:
        raise NotFound("This engagement does not ask for this text.")
    signed = _signature(engagement.id, template.kind)
    if signed is not None:
        return redirect(url_for(".signed", engagement_id=engagement.id, signature_id=signed.id))
    current = signing.current_template(db.session, template.kind)
    if request.method == "GET" and current.id != template.id:
        flash("A newer version of this text was published; this is the one to read.", "info")
        return redirect(url_for(".sign", engagement_id=engagement.id, template_id=current.id))
    form = SignForm()
    if request.method == "POST":
        done = submitted(
            form,
            lambda: signing.sign(
                db.session,
                actor=actor,
                engagement_id=engagement.id,
                kind=template.kind,
                typed_name=form.typed_name.data,
                template_id=template.id,
                seen_sha256=form.seen_sha256.data or "",
                user_agent=request.user_agent.string,
            ),
            success=lambda s: f"Signed: {item.label}. Your signed copy is ready.",
            then=lambda s: url_for(".signed", engagement_id=engagement.id, signature_id=s.id),
        )
        if done is not None:
            return done
    rendered = signing.render_for_signing(
        db.session, actor=actor, engagement_id=engagement.id, kind=template.kind
    )
    form.seen_sha256.data = rendered.sha256  # always the text this page shows now
    paragraphs = [p for p in rendered.text.split("\n\n") if p.strip()]
    return render_template(
        "compliance/onboarding/sign.html",
        engagement=engagement,
        freelancer=freelancer,
        item=item,
        rendered=rendered,
        paragraphs=paragraphs,
        form=form,
        action=url_for(".sign", engagement_id=engagement.id, template_id=rendered.template.id),
    ), status_of(form)


@bp.get("/my/<int:engagement_id>/signatures/<int:signature_id>")
@login_required
def signed(engagement_id: int, signature_id: int):
    """The confirmation of a signature, with its PDF."""
    engagement, freelancer = _mine(current_actor(), engagement_id)
    signature = get_in_org(db.session, Signature, signature_id, what="signature")
    if signature.engagement_id != engagement.id:
        raise NotFound("No such signature.")
    title = db.session.scalar(
        select(SigningTemplate.title).where(SigningTemplate.id == signature.template_id)
    )
    return render_template(
        "compliance/onboarding/signed.html",
        engagement=engagement,
        signature=signature,
        legal_name=freelancer.legal_name,
        title=title,
        label=rules.DOCUMENT_KINDS[signature.kind][0],
    )


@bp.get("/my/<int:engagement_id>/signatures/<int:signature_id>/pdf")
@login_required
def signed_pdf(engagement_id: int, signature_id: int):
    actor = current_actor()
    engagement, _ = _mine(actor, engagement_id)
    signature = get_in_org(db.session, Signature, signature_id, what="signature")
    if signature.engagement_id != engagement.id:
        raise NotFound("No such signature.")
    return storage.send_stored(
        signing.signature_pdf(db.session, actor=actor, signature_id=signature.id)
    )


# --- documents -----------------------------------------------------------------------------


def _upload_item(engagement, kind: str):
    item = next(
        (
            i
            for i in services.items_for(db.session, engagement)
            if i.kind == kind and i.step_kind == "upload"
        ),
        None,
    )
    if item is None:
        abort(404)
    return item


@bp.route("/my/<int:engagement_id>/upload/<kind>", methods=["GET", "POST"])
@login_required
def upload(engagement_id: int, kind: str):
    """Upload a document the policy asks for, or a new version of a rejected or expired
    one; earlier versions are listed and kept."""
    actor = current_actor()
    engagement, freelancer = _mine(actor, engagement_id)
    item = _upload_item(engagement, kind)
    form = UploadForm()
    if request.method == "POST":
        done = submitted(
            form,
            lambda: _store(actor, freelancer, kind),
            success=f"{item.label} uploaded; it waits for review.",
            then=url_for(".upload", engagement_id=engagement.id, kind=kind),
        )
        if done is not None:
            return done
    today = _today(engagement)
    versions = services.documents_by_kind(db.session, freelancer.id).get(kind, [])
    return render_template(
        "compliance/onboarding/upload.html",
        engagement=engagement,
        item=item,
        versions=versions,
        state=_upload_state(versions, today),
        today=today,
        form=form,
        max_size=size_text(documents.max_upload_bytes()),
    ), status_of(form)


def size_text(size: int) -> str:
    """10485760 -> "10 MB" (the binary megabytes the limit is set in)."""
    for unit, scale in (("MB", 1024 * 1024), ("kB", 1024)):
        if size >= scale:
            return f"{round(size / scale, 1):g} {unit}"
    return f"{size} bytes"


def _store(actor, freelancer, kind):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("Choose a file.", errors={"file": ["Choose a PDF, PNG or JPEG file."]})
    return documents.upload_document(
        db.session,
        actor=actor,
        freelancer_id=freelancer.id,
        kind=kind,
        filename=upload.filename,
        declared_type=upload.mimetype,
        stream=upload.stream,
    )


@bp.get("/my/<int:engagement_id>/documents/<int:document_id>")
@login_required
def my_document_file(engagement_id: int, document_id: int):
    """One of the freelancer's own uploads."""
    actor = current_actor()
    _, freelancer = _mine(actor, engagement_id)
    document = documents.get_document(db.session, actor=actor, document_id=document_id)
    if document.freelancer_id != freelancer.id:
        raise NotFound("No such document.")
    return storage.send_stored(storage.get_file(db.session, document.file_id))


# --- classification ------------------------------------------------------------------------


def _jurisdictions(freelancer) -> list[tuple[str, str]]:
    keys = rules.jurisdictions_for(freelancer.country or "")
    return [(k, classification.questionnaire(k)["label"]) for k in keys]


@bp.route("/my/<int:engagement_id>/classification", methods=["GET", "POST"])
@login_required
def questionnaire(engagement_id: int):
    """The worker-classification questionnaire of the freelancer's jurisdiction, and its
    result once answered."""
    actor = current_actor()
    engagement, freelancer = _mine(actor, engagement_id)
    choices = _jurisdictions(freelancer)
    wanted = request.values.get("jurisdiction", "")
    jurisdiction = wanted if wanted in dict(choices) else choices[0][0]
    model = classification.questionnaire(jurisdiction)
    latest = services.latest_classification(db.session, engagement.id)
    answering = latest is None or (
        latest.state == "assessed" and request.values.get("again") == "1"
    )
    form = questionnaire_form(model["questions"])()
    if request.method == "POST":
        if not answering and latest is not None and latest.state != "assessed":
            flash("This assessment waits for, or has, compliance's decision.", "warning")
            return redirect(url_for(".questionnaire", engagement_id=engagement.id))
        done = submitted(
            form,
            lambda: classification.assess(
                db.session,
                actor=actor,
                engagement_id=engagement.id,
                jurisdiction=jurisdiction,
                answers={q["id"]: form[q["id"]].data for q in model["questions"]},
            ),
            success=lambda c: "Thank you: your answers are recorded.",
            then=url_for(".questionnaire", engagement_id=engagement.id),
        )
        if done is not None:
            return done
        answering = True
    groups = [
        (factor_heading(factor), [form[q["id"]] for q in questions])
        for factor, questions in groupby(model["questions"], key=lambda q: q["factor"])
    ]
    return render_template(
        "compliance/onboarding/classification.html",
        engagement=engagement,
        freelancer=freelancer,
        choices=choices,
        jurisdiction=jurisdiction,
        model=model,
        latest=latest,
        latest_label=classification.questionnaire(latest.jurisdiction)["label"] if latest else "",
        answering=answering,
        form=form,
        groups=groups,
        high_at=model.get("high_at"),
    ), status_of(form)
