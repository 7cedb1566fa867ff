"""Invoice writes and their rules: issue (with four eyes when the organization asks for
it), payment, credit notes, discarding a draft. Services flush, never commit; each
docstring says the rule; every refusal changes nothing.

When the invoice's currency differs from the bill-to entity's tax currency, the exchange
rate is fixed at the issue (the organization's effective-dated rates of that day; a credit
note takes the rate of the invoice it corrects, so the VAT it corrects is the VAT charged)
and the VAT breakdown and total are stored in the tax currency too (EN 16931 BT-6, BT-111);
without a rate the issue is refused.

Issued invoices are immutable: no service here changes an issued document's figures;
state changes are conditional updates through `fms.statemachine.transition`, each audited;
a flush that would change an issued invoice or a line of one fails
(`models.ImmutableInvoice`). Issuing queues the document's PDF, rendered once the issuing
transaction has committed (`fms.invoicing.pdf`).

Lock order (after the audit chain head, which every writing transaction takes first): the
invoice, then its number series row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, RuleViolation
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.invoicing import arithmetic, hooks, rules
from fms.invoicing.close import (  # noqa: F401 - close_period, preview_close: the API
    add_tax_rows,
    close_period,
    line_like,
    preview_close,
)
from fms.invoicing.models import (
    TAX_FX_SCALE,
    BillToEntity,
    Invoice,
    InvoiceLine,
    InvoiceLineItem,
    InvoiceTax,
    NumberSeries,
)
from fms.invoicing.pdf import (  # noqa: F401 - invoice_pdf: the download, for pages and API
    enqueue_render,
    invoice_pdf,
)
from fms.invoicing.settings import billing_settings
from fms.statemachine import lock, transition
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.timesheets import services as timesheets
from fms.timesheets.services import amount_in, date_in, text_in
from fms.workforce.engagements import org_today

CREDIT_MODES = ("full", "lines", "amount")


def get_invoice(session: Session, *, actor: Actor, invoice_id) -> Invoice:
    """An invoice or credit note of the actor's organization (NotFound otherwise), for
    those who may read invoices."""
    require(actor, "invoicing.read")
    return get_in_org(session, Invoice, invoice_id, what="invoice")


def lines_of(session: Session, invoice_id: int) -> list[InvoiceLine]:
    return list(
        session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        )
    )


def _label(invoice: Invoice) -> str:
    return "credit note" if invoice.kind == "credit_note" else "invoice"


# --- numbering -----------------------------------------------------------------------------


def next_number(session: Session, *, org_id: int, kind: str, year: int) -> int:
    """The next number of a series, in the caller's transaction: the series row is locked
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite's one writer) and advanced by a
    conditional update, so two issues never get the same number, and a rolled back issue
    gives its number back (gapless)."""
    series = select(NumberSeries.id, NumberSeries.last_number).where(
        NumberSeries.kind == kind, NumberSeries.year == year
    )
    row = session.execute(series.with_for_update()).one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                session.add(NumberSeries(org_id=org_id, kind=kind, year=year, last_number=0))
                session.flush()
        except IntegrityError:
            pass  # created a moment ago by a concurrent issue: lock theirs
        row = session.execute(series.with_for_update()).one()
    changed = session.execute(
        update(NumberSeries)
        .where(NumberSeries.id == row.id, NumberSeries.last_number == row.last_number)
        .values(last_number=row.last_number + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise RuleViolation("Another invoice was numbered at the same moment; try again.")
    return row.last_number + 1


# --- issue ---------------------------------------------------------------------------------


def issue_invoice(
    session: Session, *, actor: Actor, invoice_id, today: date | None = None
) -> Invoice:
    """Issue a draft invoice or credit note with the next number of its series; when the
    organization requires four eyes, it waits for a second finance user's approval
    instead. An empty draft cannot be issued."""
    require(actor, "invoicing.manage")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    lock(session, invoice)
    if invoice.state != "draft":
        raise RuleViolation(
            f"Only a draft can be issued; this {_label(invoice)} is {invoice.state}."
        )
    if not session.scalar(select(func.count()).where(InvoiceLine.invoice_id == invoice.id)):
        raise RuleViolation(f"An empty {_label(invoice)} cannot be issued.")
    settings = billing_settings(session)
    if settings.four_eyes:
        # refused now rather than at the approval: the rate must exist on the issue day
        _tax_currency_rate(session, actor, invoice, today or org_today(session, actor))
        return transition(
            session,
            invoice,
            to="awaiting_approval",
            table=rules.INVOICE_TRANSITIONS,
            actor=actor,
            action=f"{invoice.kind}.issue_requested",
            values={"issue_requested_by_user_id": actor.user_id},
            label=_label(invoice),
        )
    return _issue(session, actor, invoice, settings, today)


def approve_issue(
    session: Session, *, actor: Actor, invoice_id, today: date | None = None
) -> Invoice:
    """Four eyes: a second finance user, not the one who asked, approves the issue; the
    invoice is numbered then."""
    require(actor, "invoicing.approve_issue")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    lock(session, invoice)
    if invoice.state != "awaiting_approval":
        raise RuleViolation(f"This {_label(invoice)} is not waiting for approval.")
    if actor.user_id is None or actor.user_id == invoice.issue_requested_by_user_id:
        raise NotAllowed("A second finance user must approve the issue: not the one who asked.")
    return _issue(session, actor, invoice, billing_settings(session), today)


def reject_issue(session: Session, *, actor: Actor, invoice_id, comment) -> Invoice:
    """The second finance user sends an issue request back: the invoice is a draft again."""
    require(actor, "invoicing.approve_issue")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    if actor.user_id == invoice.issue_requested_by_user_id:
        raise NotAllowed("A second finance user decides on the issue: not the one who asked.")
    return transition(
        session,
        invoice,
        to="draft",
        table=rules.INVOICE_TRANSITIONS,
        actor=actor,
        action=f"{invoice.kind}.issue_rejected",
        values={"issue_requested_by_user_id": None},
        label=_label(invoice),
        after={"comment": text_in(comment, limit=2000, name="comment", required=True)},
    )


def _snapshot_issuer(settings) -> dict:
    return {
        "legal_name": settings.issuer_legal_name,
        "address": settings.issuer_address,
        "country": settings.issuer_country,
        "vat_id": settings.issuer_vat_id,
        "iban": settings.issuer_iban,
        "bic": settings.issuer_bic,
        "bank_text": settings.issuer_bank_text,
        "payment_terms_days": settings.payment_terms_days,
        "logo_file_id": settings.logo_file_id,
    }


def _snapshot_bill_to(entity: BillToEntity) -> dict:
    return {
        "name": entity.name,
        "address": entity.address,
        "country": entity.country,
        "region": entity.region,
        "vat_id": entity.vat_id,
        "tax_currency": entity.tax_currency,
    }


# --- the tax currency (BT-6, BT-111) --------------------------------------------------------

# a cross rate is a quotient: computed to this many digits, then fixed at TAX_FX_SCALE places
_QUOTIENT = Context(prec=40, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class TaxCurrencyRate:
    currency: str  # the tax currency
    rate: Decimal  # units of it per unit of the invoice's currency


def has_stacked_taxes(invoice: Invoice) -> bool:
    """Whether a line of the invoice carries more than one tax (Canada's GST + QST):
    EN 16931 allows one VAT category per line, so such an invoice has no e-invoice."""
    return bool(invoice.stacked_taxes)


def tax_exchange_rate(session: Session, *, org_id: int, currency: str, tax_currency: str, on):
    """Units of `tax_currency` for one unit of `currency` on a day, from the organization's
    effective-dated rates into its base currency (workforce's ExchangeRate): direct when
    one of them is the base currency, else the cross rate of the two; None when a rate is
    missing."""
    from fms.identity.models import Organization
    from fms.workforce.validation import exchange_rate_on

    base = session.get(Organization, org_id).base_currency

    def in_base(code: str) -> Decimal | None:
        if code == base:
            return Decimal(1)
        row = exchange_rate_on(session, code, on)
        return None if row is None else Decimal(row.rate)

    ours, theirs = in_base(currency), in_base(tax_currency)
    if ours is None or theirs is None or theirs == 0:
        return None
    return _QUOTIENT.divide(ours, theirs).quantize(
        Decimal(1).scaleb(-TAX_FX_SCALE), rounding=ROUND_HALF_UP
    )


def _tax_currency_rate(session, actor, invoice: Invoice, on: date) -> TaxCurrencyRate | None:
    """The tax currency and rate an invoice is issued with (None: its own currency is the
    tax currency). A credit note keeps its invoice's; without a rate: RuleViolation."""
    if invoice.kind == "credit_note" and invoice.credited_invoice_id:
        original = session.get(Invoice, invoice.credited_invoice_id)
        if original.tax_currency and original.tax_exchange_rate is not None:
            return TaxCurrencyRate(original.tax_currency, original.tax_exchange_rate)
    entity = session.get(BillToEntity, invoice.bill_to_entity_id)
    wanted = entity.tax_currency
    if not wanted or wanted == invoice.currency:
        return None
    rate = tax_exchange_rate(
        session, org_id=actor.org_id, currency=invoice.currency, tax_currency=wanted, on=on
    )
    if rate is None:
        raise RuleViolation(
            f"{entity.name} declares VAT in {wanted}: there is no exchange rate to convert "
            f"{invoice.currency} to {wanted} on {on.isoformat()}. Add the rates under "
            "Exchange rates, then issue.",
            errors={"tax_currency": ["No exchange rate."]},
        )
    return TaxCurrencyRate(wanted, rate)


def _fix_tax_currency(session, invoice: Invoice, fx: TaxCurrencyRate | None) -> dict:
    """Store the VAT breakdown in the tax currency (each row rounded once; the total is
    their sum) on the rows of a draft about to be issued, by statements (the rows are
    the invoice's, written in the issuing transaction); answer the invoice's values."""
    if fx is None:
        return {}
    total = Decimal(0)
    rows = session.execute(
        select(InvoiceTax.id, InvoiceTax.taxable, InvoiceTax.tax).where(
            InvoiceTax.invoice_id == invoice.id
        )
    ).all()
    for row_id, taxable, tax in rows:
        taxable_tc = arithmetic.in_tax_currency(taxable, fx.rate, fx.currency)
        tax_tc = arithmetic.in_tax_currency(tax, fx.rate, fx.currency)
        total += tax_tc
        session.execute(
            update(InvoiceTax)
            .where(InvoiceTax.id == row_id)
            .values(taxable_in_tax_currency=taxable_tc, tax_in_tax_currency=tax_tc)
            .execution_options(synchronize_session=False)
        )
    for row in session.identity_map.values():  # loaded rows read the stored values again
        if isinstance(row, InvoiceTax) and row.invoice_id == invoice.id:
            session.expire(row, ["taxable_in_tax_currency", "tax_in_tax_currency"])
    return {
        "tax_currency": fx.currency,
        "tax_exchange_rate": fx.rate,
        "tax_total_in_tax_currency": total,
    }


def _issue(session, actor, invoice: Invoice, settings, today) -> Invoice:
    issue_date = today or org_today(session, actor)
    fx = _tax_currency_rate(session, actor, invoice, issue_date)  # first: a refusal writes nothing
    year = rules.series_year(issue_date, settings.yearly_reset)
    number = next_number(session, org_id=actor.org_id, kind=invoice.kind, year=year)
    prefix = (
        settings.credit_note_prefix if invoice.kind == "credit_note" else settings.invoice_prefix
    )
    text = rules.number_text(prefix, year, number)
    entity = session.get(BillToEntity, invoice.bill_to_entity_id)
    values = {
        "number": text,
        "issue_date": issue_date,
        "due_date": rules.due_date(issue_date, settings.payment_terms_days),
        "issued_at": utcnow(),
        "issued_by_user_id": actor.user_id,
        "issuer_snapshot": _snapshot_issuer(settings),
        "bill_to_snapshot": _snapshot_bill_to(entity),
        **_fix_tax_currency(session, invoice, fx),
    }
    transition(
        session,
        invoice,
        to="issued",
        table=rules.INVOICE_TRANSITIONS,
        actor=actor,
        action=f"{invoice.kind}.issued",
        values=values,
        label=_label(invoice),
        after={
            "number": text,
            "issue_date": issue_date,
            "gross": invoice.gross_total,
            **(
                {"tax_currency": fx.currency, "tax_exchange_rate": fx.rate}
                if fx is not None
                else {}
            ),
        },
    )
    if invoice.kind == "credit_note":
        _apply_credit(session, actor, invoice)
    enqueue_render(session, invoice)  # the PDF, once this transaction has committed
    hooks.record_event.send("invoice.issued", session=session, ids=[invoice.id])
    return invoice


# --- payment -------------------------------------------------------------------------------


def record_payment(
    session: Session, *, actor: Actor, invoice_id, paid_on, reference, today: date | None = None
) -> Invoice:
    """An issued invoice is paid on a date (not before it was issued, not in the future)
    with the payment's reference."""
    require(actor, "invoicing.manage")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    if invoice.kind != "invoice":
        raise RuleViolation("A credit note is not paid; record the payment on the invoice.")
    day = date_in(paid_on, "paid_on")
    reference = text_in(reference, limit=140, name="reference", required=True)
    today = today or org_today(session, actor)
    if invoice.issue_date is not None and day < invoice.issue_date:
        raise InvalidInput(
            "The payment date is before the invoice was issued.",
            errors={"paid_on": ["Before the issue date."]},
        )
    if day > today:
        raise InvalidInput("The payment date is in the future.", errors={"paid_on": ["Future."]})
    paid = transition(
        session,
        invoice,
        to="paid",
        table=rules.INVOICE_TRANSITIONS,
        actor=actor,
        action="invoice.paid",
        values={"paid_on": day, "payment_reference": reference},
        after={"paid_on": day, "reference": reference},
    )
    hooks.record_event.send("invoice.paid", session=session, ids=[invoice.id])
    return paid


# --- discard -------------------------------------------------------------------------------


def discard_draft(session: Session, *, actor: Actor, invoice_id) -> Invoice:
    """A draft (never an issued invoice) is discarded; an invoice's items are released, so
    the next close bills them again."""
    require(actor, "invoicing.manage")
    invoice = get_in_org(session, Invoice, invoice_id, what="invoice")
    transition(
        session,
        invoice,
        to="discarded",
        table=rules.INVOICE_TRANSITIONS,
        actor=actor,
        action=f"{invoice.kind}.discarded",
        label=_label(invoice),
    )
    if invoice.kind == "invoice":
        timesheets.release_invoiced(session, actor=actor, invoice_id=invoice.id)
    return invoice


# --- credit notes --------------------------------------------------------------------------


def credited_so_far(
    session: Session, invoice_id: int, *, states=rules.LIVE_STATES
) -> dict[int, Decimal]:
    """Per line of an invoice: the net its credit notes credit (by default every one not
    discarded, drafts included: what a new credit note may still credit)."""
    credit = select(Invoice.id).where(
        Invoice.credited_invoice_id == invoice_id, Invoice.state.in_(states)
    )
    rows = session.execute(
        select(InvoiceLine.credited_line_id, InvoiceLine.net).where(
            InvoiceLine.invoice_id.in_(credit)
        )
    ).all()
    result: dict[int, Decimal] = {}
    for line_id, net in rows:
        result[line_id] = result.get(line_id, Decimal(0)) + net
    return result


def create_credit_note(
    session: Session,
    *,
    actor: Actor,
    invoice_id,
    mode: str,
    reason,
    line_ids=None,
    line_id=None,
    amount=None,
    release_items: bool = False,
) -> Invoice:
    """A draft credit note against an issued (or paid) invoice: `full` (what is left of
    every line), `lines` (what is left of the lines named) or `amount` (a net amount of one
    line). Nothing is credited beyond what was invoiced. `release_items` (full or lines,
    on lines not credited before) lets the next close bill the items again, once the credit
    note is issued. Credit notes have their own number series.
    The service fee follows the work: crediting lines a fee derives from (without crediting
    that fee line by choice) credits the fee too, down to the fee on the net left billed, so
    re-billing released work does not charge its fee twice."""
    require(actor, "invoicing.manage")
    original = get_in_org(session, Invoice, invoice_id, what="invoice")
    lock(session, original)  # two credit notes at once cannot both credit the same rest
    if original.kind != "invoice" or original.state not in ("issued", "paid"):
        raise RuleViolation("Only an issued invoice can be credited.")
    if mode not in CREDIT_MODES:
        raise InvalidInput("Full, lines or amount.", errors={"mode": ["Choose one."]})
    reason = text_in(reason, limit=2000, name="reason", required=True)
    lines = {line.id: line for line in lines_of(session, original.id)}
    done = credited_so_far(session, original.id)
    left = {key: line.net - done.get(key, Decimal(0)) for key, line in lines.items()}
    if mode == "full":
        chosen = {key: value for key, value in left.items() if value != 0}
    elif mode == "lines":
        chosen = {}
        for raw in line_ids or ():
            key = _line_key(raw, lines)
            chosen[key] = left[key]
        if not chosen:
            raise InvalidInput("Choose the lines to credit.", errors={"line_ids": ["Required."]})
    else:
        if release_items:
            raise RuleViolation("A partial amount cannot release items: credit whole lines.")
        key = _line_key(line_id, lines)
        if lines[key].net <= 0:
            raise RuleViolation("A line that bills nothing or credits cannot be part-credited.")
        value = amount_in(amount, original.currency)
        if value > left[key]:
            raise RuleViolation(
                f"Line {lines[key].position} has {left[key]} {original.currency} left to credit.",
                errors={"amount": ["More than was invoiced."]},
            )
        chosen = {key: value}
    if not chosen or all(value == 0 for value in chosen.values()):
        raise RuleViolation("Nothing is left to credit on this invoice.")
    if release_items:
        credited_before = [lines[key].position for key in chosen if key in done]
        if credited_before:
            raise RuleViolation(
                "Lines credited before cannot release their items: "
                + ", ".join(map(str, sorted(credited_before)))
                + "."
            )
        _check_whole_days(session, original.id, set(chosen), lines)
    chosen.update(_fee_follows(lines, left, chosen, original.currency))
    note = Invoice(
        org_id=actor.org_id,
        kind="credit_note",
        state="draft",
        bill_to_entity_id=original.bill_to_entity_id,
        currency=original.currency,
        period_start=original.period_start,
        period_end=original.period_end,
        po_number=original.po_number,
        credited_invoice_id=original.id,
        release_items=bool(release_items),
        reason=reason,
        stacked_taxes=original.stacked_taxes,
        created_by_user_id=actor.user_id,
    )
    session.add(note)
    session.flush()
    note_lines = []
    for position, key in enumerate(sorted(chosen, key=lambda k: lines[k].position), start=1):
        source = lines[key]
        whole = chosen[key] == source.net
        partial = {} if whole else {"unit": "each", "quantity": 1, "rate": chosen[key]}
        note_lines.append(
            line_like(
                source, note, position, net=chosen[key], credited_line_id=source.id, **partial
            )
        )
    session.add_all(note_lines)
    totals = arithmetic.invoice_totals(
        ((line.vat_category, line.vat_rate, line.net, line.tax_components) for line in note_lines),
        note.currency,
    )
    note.net_total, note.tax_total, note.gross_total = totals.net, totals.tax, totals.gross
    add_tax_rows(session, note, totals.breakdown)
    session.flush()
    audit.record(
        session,
        actor,
        "credit_note.drafted",
        note,
        after={
            "invoice_id": original.id,
            "mode": mode,
            "lines": sorted(lines[key].position for key in chosen),
            "net": totals.net,
            "gross": totals.gross,
            "release_items": bool(release_items),
        },
    )
    return note


def _fee_follows(
    lines: dict[int, InvoiceLine], left: dict[int, Decimal], chosen: dict, currency: str
) -> dict[int, Decimal]:
    """The fee lines a credit of `chosen` also credits: per fee line not chosen itself whose
    work lines (same cost centre, PO, fee percent and taxes) are credited, what is left of
    the fee less the fee on the net those work lines keep (nothing where earlier credits of
    the fee already went further)."""
    groups: dict[tuple, dict] = {}
    for key, line in lines.items():
        if line.fee_percent is None:
            continue
        group = groups.setdefault(
            (
                line.cost_centre_id,
                line.po_number,
                line.fee_percent,
                line.vat_category,
                line.vat_rate,
                repr(line.tax_components),
            ),
            {"fee": None, "work": []},
        )
        if line.kind == "fee":
            group["fee"] = key
        else:
            group["work"].append(key)
    follows = {}
    for (_centre, _po, percent, *_taxes), group in groups.items():
        fee_key = group["fee"]
        if fee_key is None or fee_key in chosen or not set(group["work"]) & set(chosen):
            continue
        kept = sum((left[key] - chosen.get(key, Decimal(0)) for key in group["work"]), Decimal(0))
        credit = left[fee_key] - arithmetic.fee(kept, percent, currency)
        if credit > 0:
            follows[fee_key] = credit
    return follows


def _line_key(raw, lines: dict[int, InvoiceLine]) -> int:
    try:
        key = int(raw)
    except (TypeError, ValueError):
        key = None
    if key not in lines:
        raise InvalidInput("No such line on this invoice.", errors={"line_id": ["Unknown."]})
    return key


def _check_whole_days(session, invoice_id: int, chosen: set[int], lines) -> None:
    """A day with time and overtime sits on two lines: releasing it needs both credited."""
    entries = select(InvoiceLineItem.item_id).where(
        InvoiceLineItem.line_id.in_(chosen), InvoiceLineItem.item_type == "entry"
    )
    others = session.scalars(
        select(InvoiceLineItem.line_id)
        .where(
            InvoiceLineItem.invoice_id == invoice_id,
            InvoiceLineItem.item_type == "entry",
            InvoiceLineItem.item_id.in_(entries),
            InvoiceLineItem.line_id.not_in(chosen),
        )
        .distinct()
    ).all()
    if others:
        positions = ", ".join(str(lines[key].position) for key in sorted(others))
        raise RuleViolation(
            f"Days on these lines are also billed on line(s) {positions}; credit those too "
            "to release them."
        )


def _apply_credit(session, actor, note: Invoice) -> None:
    """An issued credit note releases its items when it says so, and marks the invoice
    credited once issued credit notes leave nothing of it."""
    original = session.get(Invoice, note.credited_invoice_id)
    lines = lines_of(session, original.id)
    credited_lines = {line.credited_line_id for line in lines_of(session, note.id)}
    if note.release_items:
        if credited_lines == {line.id for line in lines}:
            # the whole invoice in this one note: every item, days without time too
            timesheets.release_invoiced(session, actor=actor, invoice_id=original.id)
        else:
            refs = session.execute(
                select(InvoiceLineItem.item_type, InvoiceLineItem.item_id).where(
                    InvoiceLineItem.line_id.in_(credited_lines)
                )
            ).all()
            by_type: dict[str, set[int]] = {kind: set() for kind in _RELEASED_AS}
            for item_type, item_id in refs:
                by_type[item_type].add(item_id)
            timesheets.release_invoiced(
                session,
                actor=actor,
                invoice_id=original.id,
                entry_ids=by_type.pop("entry"),
                item_ids={_RELEASED_AS[kind]: ids for kind, ids in by_type.items()},
            )
    done = credited_so_far(session, original.id, states=rules.ISSUED_STATES)
    if all(done.get(line.id, Decimal(0)) == line.net for line in lines):
        transition(
            session,
            original,
            to="credited",
            table=rules.INVOICE_TRANSITIONS,
            actor=actor,
            action="invoice.credited",
            after={"credit_note_id": note.id},
        )


# invoice_line_item.item_type -> the timesheets table `release_invoiced` names
_RELEASED_AS = {
    "entry": "timesheet_entry",
    "adjustment": "timesheet_adjustment",
    "milestone": "milestone",
    "expense": "expense",
}
