"""Finance's invoices: the list (drafts, issued, overdue, paid, credit notes), the close of
a billing period (a preview first, then the drafts), and one invoice with what may be done
to it in its state (issue, approve, send back, discard, record a payment, credit)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from fms.errors import DomainError
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.models import User
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.invoicing import close, queries, rules, services
from fms.invoicing.einvoice import is_einvoice, pdf_is_einvoice
from fms.invoicing.forms import (
    CATEGORY_LABELS,
    CreditNoteForm,
    PaymentForm,
    RejectIssueForm,
    period_hint,
)
from fms.invoicing.models import BillToEntity, Invoice
from fms.invoicing.settings import billing_settings
from fms.invoicing.views import bp
from fms.workforce.models import CostCentre, Engagement, Freelancer

STATE_WORDS = {
    "draft": "Draft",
    "awaiting_approval": "Waiting for approval",
    "issued": "Issued",
    "overdue": "Overdue",
    "paid": "Paid",
    "credited": "Credited",
    "discarded": "Discarded",
}
KIND_WORDS = {
    "time": "Time",
    "overtime": "Overtime",
    "milestone": "Milestone",
    "expense": "Expense",
    "adjustment": "Adjustment",
}


def _last_period(billing_period: str, today: date) -> str:
    """The latest period that has ended before today, as the close form expects it."""
    day = today - timedelta(days=1)
    for _ in range(40):
        text = _period_text(billing_period, day)
        start, end = rules.period_bounds(billing_period, text)
        if end < today:
            return text
        day = start - timedelta(days=1)
    return _period_text(billing_period, day)


def _period_text(billing_period: str, day: date) -> str:
    if billing_period == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if billing_period == "semi_monthly":
        return f"{day:%Y-%m}-{1 if day.day <= 15 else 2}"
    return f"{day:%Y-%m}"


@bp.get("/")
@login_required
def invoices():
    actor = current_actor()
    today = org_today()
    state = request.args.get("state") or None
    kind = request.args.get("kind") or None
    if state not in (None, *queries.LIST_STATES) or kind not in (None, "invoice", "credit_note"):
        state = kind = None
    rows = queries.invoice_rows(db.session, actor=actor, today=today, kind=kind, state=state)
    everything = (
        rows
        if state is None and kind is None
        else queries.invoice_rows(db.session, actor=actor, today=today)
    )
    counts = {
        "draft": sum(1 for r in everything if r.state in ("draft", "awaiting_approval")),
        "overdue": sum(1 for r in everything if r.overdue),
        "issued": sum(1 for r in everything if r.state == "issued"),
    }
    settings = billing_settings(db.session)
    return render_template(
        "invoicing/invoices.html",
        rows=rows,
        counts=counts,
        state=state,
        kind=kind,
        states=STATE_WORDS,
        may_manage=actor.can("invoicing.manage"),
        next_period=_last_period(settings.billing_period, today),
        has_setup=bool(settings.issuer_legal_name)
        and db.session.scalar(select(BillToEntity.id).limit(1)) is not None,
    )


# --- closing a period ------------------------------------------------------------------------


@bp.route("/close", methods=["GET", "POST"])
@login_required
def close_period():
    actor = current_actor()
    require(actor, "invoicing.manage")
    settings = billing_settings(db.session)
    period = (request.values.get("period") or "").strip() or _last_period(
        settings.billing_period, org_today()
    )
    if request.method == "POST":
        result = close.close_period(db.session, actor=actor, period=period)
        count = len(result.invoices)
        db.session.commit()
        if result.created:
            flash(
                f"Closed {period}: {count} draft invoice{'s' if count != 1 else ''} to check "
                "and issue.",
                "success",
            )
        else:
            flash(f"{period} was closed already; here are its invoices.", "info")
        return redirect(url_for(".invoices", state="draft"))
    preview = error = None
    try:
        preview = close.preview_close(db.session, actor=actor, period=period)
    except DomainError as exc:
        if exc.status == 403:
            raise
        error = exc.detail
    planned = preview.invoices if preview else []
    names = _engagement_names(
        {line.engagement_id for inv in planned for line in inv.lines}
        | {p.engagement_id for inv in planned for p in inv.prior_period}
    )
    return render_template(
        "invoicing/close.html",
        period=period,
        hint=period_hint(settings.billing_period),
        preview=preview,
        error=error,
        names=names,
        kinds=KIND_WORDS,
    ), (422 if error else 200)


def _engagement_names(ids) -> dict[int, str]:
    if not ids:
        return {}
    query = select(Engagement.id, Engagement.title).where(Engagement.id.in_(ids))
    return dict(db.session.execute(query).all())


# --- one invoice -----------------------------------------------------------------------------


def _groups(lines, centres):
    """Lines grouped by cost centre and PO, in order, with each group's net subtotal."""
    groups: OrderedDict = OrderedDict()
    for line in lines:
        key = (line.cost_centre_id, line.po_number)
        groups.setdefault(key, []).append(line)
    return [
        {
            "cost_centre": centres.get(centre_id, "No cost centre"),
            "po": po,
            "lines": group,
            "net": sum((line.net for line in group), start=type(group[0].net)(0)),
        }
        for (centre_id, po), group in groups.items()
    ]


def _invoice_page(invoice_id: int, *, payment_form=None, credit_form=None, reject_form=None):
    actor = current_actor()
    detail = queries.invoice_detail(db.session, actor=actor, invoice_id=invoice_id)
    invoice = detail.invoice
    if invoice.state == "discarded":
        abort(404)
    today = org_today()
    centre_ids = {line.cost_centre_id for line in detail.lines if line.cost_centre_id}
    centres = {
        c.id: f"{c.code} · {c.name}"
        for c in db.session.scalars(select(CostCentre).where(CostCentre.id.in_(centre_ids)))
    }
    freelancers = dict(
        db.session.execute(
            select(Freelancer.id, Freelancer.display_name).where(
                Freelancer.id.in_(
                    {r.freelancer_id for r in detail.annex if r.freelancer_id}
                    | {line.freelancer_id for line in detail.lines if line.freelancer_id}
                )
            )
        ).all()
    )
    bill_to = db.session.get(BillToEntity, invoice.bill_to_entity_id)
    related = db.session.scalars(
        select(Invoice)
        .where(
            (Invoice.credited_invoice_id == invoice.id)
            | (Invoice.id == (invoice.credited_invoice_id or 0))
        )
        .order_by(Invoice.id)
    ).all()
    people = {
        u.id: u.name
        for u in db.session.scalars(
            select(User).where(
                User.id.in_(
                    {invoice.issued_by_user_id, invoice.issue_requested_by_user_id} - {None}
                )
            )
        )
    }
    credit_form = credit_form or CreditNoteForm()
    credit_form.line_id.choices = [
        (str(line.id), f"{line.position}. {line.description}") for line in detail.lines
    ]
    overdue = rules.is_overdue(invoice.state, invoice.due_date, today)
    settings = billing_settings(db.session)
    may_download = actor.can("invoicing.read")
    return render_template(
        "invoicing/invoice.html",
        detail=detail,
        invoice=invoice,
        bill_to=bill_to,
        issuer=invoice.issuer_snapshot
        or {
            "legal_name": settings.issuer_legal_name,
            "address": settings.issuer_address,
            "vat_id": settings.issuer_vat_id,
        },
        billed_to=invoice.bill_to_snapshot
        or {"name": bill_to.name, "address": bill_to.address, "vat_id": bill_to.vat_id},
        groups=_groups(detail.lines, centres),
        freelancers=freelancers,
        related=related,
        people=people,
        state_word=STATE_WORDS["overdue" if overdue else invoice.state],
        overdue=overdue,
        kinds=KIND_WORDS,
        categories=CATEGORY_LABELS,
        may_manage=actor.can("invoicing.manage"),
        may_approve=actor.can("invoicing.approve_issue")
        and actor.user_id != invoice.issue_requested_by_user_id,
        payment_form=payment_form or PaymentForm(formdata=None, data={"paid_on": today}),
        credit_form=credit_form,
        reject_form=reject_form or RejectIssueForm(),
        four_eyes=settings.four_eyes,
        is_einvoice=may_download and is_einvoice(db.session, invoice),
        pdf_is_einvoice=may_download and pdf_is_einvoice(db.session, invoice),
    ), status_of(*(f for f in (payment_form, reject_form) if f), credit_form)


@bp.get("/<int:invoice_id>")
@login_required
def invoice(invoice_id: int):
    return _invoice_page(invoice_id)


def _act(invoice_id: int, do, message: str):
    actor = current_actor()
    result = do(actor)
    db.session.commit()
    flash(message.format(number=result.number or "the draft"), "success")
    return redirect(url_for(".invoice", invoice_id=invoice_id))


@bp.get("/lines.<any(csv, xlsx):fmt>")
@login_required
def lines_export(fmt: str):
    """Invoice lines for the client's accounts-payable import, filtered like the list."""
    from fms.invoicing.exports import invoice_lines_export

    return invoice_lines_export(fmt, actor=current_actor())


@bp.get("/<int:invoice_id>/lines.csv", defaults={"fmt": "csv"})
@bp.get("/<int:invoice_id>/lines.xlsx", defaults={"fmt": "xlsx"})
@login_required
def invoice_lines(invoice_id: int, fmt: str):
    """One invoice's lines for the client's accounts-payable import."""
    from fms.invoicing.exports import invoice_lines_export

    queries.invoice_detail(db.session, actor=current_actor(), invoice_id=invoice_id)  # 404 first
    return invoice_lines_export(fmt, actor=current_actor(), invoice_id=invoice_id)


@bp.get("/<int:invoice_id>/pdf")
@login_required
def pdf(invoice_id: int):
    """The issued invoice's PDF (rendered now if its job has not run yet), for finance and
    org admins."""
    from fms import storage
    from fms.invoicing.pdf import invoice_pdf

    stored = invoice_pdf(db.session, actor=current_actor(), invoice_id=invoice_id)
    db.session.commit()  # a first render stores the file
    return storage.send_stored(stored)


@bp.get("/<int:invoice_id>/xml")
@login_required
def xml(invoice_id: int):
    """The issued invoice's e-invoice XML (Factur-X, EN 16931), for finance and org
    admins."""
    from fms.invoicing.einvoice import invoice_xml, xml_response

    name, data = invoice_xml(db.session, actor=current_actor(), invoice_id=invoice_id)
    return xml_response(name, data)


@bp.post("/<int:invoice_id>/issue")
@login_required
def issue(invoice_id: int):
    def do(actor):
        return services.issue_invoice(db.session, actor=actor, invoice_id=invoice_id)

    actor = current_actor()
    result = do(actor)
    db.session.commit()
    if result.state == "awaiting_approval":
        flash("Sent for approval: a second finance user issues it.", "success")
    else:
        flash(f"Issued as {result.number}.", "success")
    return redirect(url_for(".invoice", invoice_id=invoice_id))


@bp.post("/<int:invoice_id>/approve")
@login_required
def approve_issue(invoice_id: int):
    return _act(
        invoice_id,
        lambda actor: services.approve_issue(db.session, actor=actor, invoice_id=invoice_id),
        "Approved and issued as {number}.",
    )


@bp.post("/<int:invoice_id>/send-back")
@login_required
def reject_issue(invoice_id: int):
    form = RejectIssueForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: services.reject_issue(
            db.session, actor=actor, invoice_id=invoice_id, comment=form.comment.data
        ),
        success="Sent back: it is a draft again.",
        then=url_for(".invoice", invoice_id=invoice_id),
    )
    return done or _invoice_page(invoice_id, reject_form=form)


@bp.post("/<int:invoice_id>/discard")
@login_required
def discard(invoice_id: int):
    actor = current_actor()
    invoice = services.discard_draft(db.session, actor=actor, invoice_id=invoice_id)
    period = f"{invoice.period_start:%Y-%m-%d} – {invoice.period_end:%Y-%m-%d}"
    db.session.commit()
    flash(f"Draft discarded; its items are billed at the next close ({period}).", "success")
    return redirect(url_for(".invoices"))


@bp.post("/<int:invoice_id>/payment")
@login_required
def record_payment(invoice_id: int):
    form = PaymentForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: services.record_payment(
            db.session,
            actor=actor,
            invoice_id=invoice_id,
            paid_on=form.paid_on.data,
            reference=form.reference.data,
        ),
        success=lambda inv: f"{inv.number} marked paid.",
        then=url_for(".invoice", invoice_id=invoice_id),
    )
    return done or _invoice_page(invoice_id, payment_form=form)


@bp.post("/<int:invoice_id>/credit-notes")
@login_required
def credit(invoice_id: int):
    form = CreditNoteForm()
    actor = current_actor()
    form.line_id.choices = []
    done = submitted(
        form,
        lambda: services.create_credit_note(
            db.session,
            actor=actor,
            invoice_id=invoice_id,
            mode=form.mode.data,
            reason=form.reason.data,
            line_ids=request.form.getlist("line_ids") or None,
            line_id=form.line_id.data or None,
            amount=form.amount.data,
            release_items=form.release_items.data,
        ),
        success="Credit note drafted: check it and issue it.",
        then=lambda note: url_for(".invoice", invoice_id=note.id),
        rename={"line_ids": "line_ids", "line_id": "line_id"},
    )
    return done or _invoice_page(invoice_id, credit_form=form)
