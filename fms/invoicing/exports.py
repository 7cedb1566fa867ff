"""Invoice lines as CSV/XLSX for the client's accounts-payable import, through the one
writer (`fms.exports`, by way of `fms.lists`' export machinery).

One row per invoice line: the document (number, issue and due date, bill-to, PO), where
the spend belongs (cost centre, engagement, freelancer) and the line's figures (kind,
quantity, unit, rate, net, VAT category and rate, currency). The figures are the line's as
stored: the net is the line's rounded net; the quantity is given in the unit the rate is
per, so quantity x rate gives the net (hours for time lines, exact to four decimal places;
days for daily-rate lines; a count otherwise). A credit note's lines carry positive
amounts, like the credit note itself; the "Document" column tells them apart.

Pages call `invoice_lines_export(fmt, actor=..., invoice_id=...)`; the API answers the same
rows, or, above FMS_EXPORT_INLINE_ROWS rows, a background job (`export_job_or_file`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import false, select

from fms import money
from fms.forms import id_arg
from fms.invoicing.api_lists import INVOICES
from fms.invoicing.models import BillToEntity, Invoice, InvoiceLine
from fms.lists import Column, Filter, ListSpec
from fms.workforce.models import CostCentre, Engagement, Freelancer

UNITS = {"minute": "hour", "half_day": "day", "each": "each"}
QUANTITY_PLACES = Decimal("0.0001")


def plain(number: Decimal, places: int = 2) -> Decimal:
    """A stored decimal without its storage scale's trailing zeros, but with at least
    `places` decimals (90.000000 -> 90.00; 7.700000 -> 7.70; 12.345600 -> 12.3456)."""
    trimmed = number.normalize()
    if trimmed.as_tuple().exponent > -places:
        return number.quantize(Decimal(1).scaleb(-places))
    return trimmed


def line_quantity(quantity: int, unit: str) -> int | Decimal:
    """A line's quantity in the unit its rate is per: minutes as hours (to four decimal
    places, half up, when they do not divide exactly), half days as days, counts as they
    are."""
    if unit == "minute":
        return plain((Decimal(quantity) / 60).quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP))
    if unit == "half_day":
        return plain(Decimal(quantity) / 2)
    return quantity


def _net(row) -> Decimal:
    return money.round_half_up(row.InvoiceLine.net, row.Invoice.currency)


def _lines(session, actor, ctx):
    stmt = (
        select(
            InvoiceLine,
            Invoice,
            BillToEntity.name.label("bill_to_name"),
            CostCentre.code.label("cost_centre"),
            Engagement.title.label("engagement"),
            Freelancer.display_name.label("freelancer"),
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(BillToEntity, BillToEntity.id == Invoice.bill_to_entity_id)
        .outerjoin(CostCentre, CostCentre.id == InvoiceLine.cost_centre_id)
        .outerjoin(Engagement, Engagement.id == InvoiceLine.engagement_id)
        .outerjoin(Freelancer, Freelancer.id == InvoiceLine.freelancer_id)
        .where(Invoice.state != "discarded")
    )
    return stmt if actor.can("invoicing.read") else stmt.where(false())


INVOICE_LINES = ListSpec(
    key="invoice_lines",
    title="Invoice lines",
    statement=_lines,
    tiebreak=InvoiceLine.position,
    default_sort="invoice",
    permission="invoicing.read",
    columns=[
        # (invoice id, position) is unique: the default order is each document's lines in turn
        Column("invoice", "Invoice ID", Invoice.id, "number", value=lambda r: r.Invoice.id),
        Column("number", "Invoice number", Invoice.number, value=lambda r: r.Invoice.number),
        Column("document", "Document", Invoice.kind, value=lambda r: r.Invoice.kind),
        Column(
            "issue_date",
            "Issue date",
            Invoice.issue_date,
            "date",
            value=lambda r: r.Invoice.issue_date,
        ),
        Column(
            "due_date", "Due date", Invoice.due_date, "date", value=lambda r: r.Invoice.due_date
        ),
        Column("bill_to", "Bill-to", BillToEntity.name, value=lambda r: r.bill_to_name),
        Column("po_number", "PO", InvoiceLine.po_number, value=lambda r: r.InvoiceLine.po_number),
        Column("cost_centre", "Cost centre", CostCentre.code, value=lambda r: r.cost_centre),
        Column("engagement", "Engagement", Engagement.title, value=lambda r: r.engagement),
        Column("freelancer", "Freelancer", Freelancer.display_name, value=lambda r: r.freelancer),
        Column("line", "Line", None, "number", value=lambda r: r.InvoiceLine.position),
        Column("kind", "Kind", InvoiceLine.kind, value=lambda r: r.InvoiceLine.kind),
        Column("description", "Description", value=lambda r: r.InvoiceLine.description),
        Column(
            "quantity",
            "Quantity",
            kind="number",
            value=lambda r: line_quantity(r.InvoiceLine.quantity, r.InvoiceLine.unit),
        ),
        Column("unit", "Unit", value=lambda r: UNITS.get(r.InvoiceLine.unit, r.InvoiceLine.unit)),
        Column("rate", "Rate", kind="rate", value=lambda r: plain(r.InvoiceLine.rate)),
        Column("net", "Net", InvoiceLine.net, "money", value=_net),
        Column("vat_category", "VAT category", value=lambda r: r.InvoiceLine.vat_category),
        Column(
            "vat_rate",
            "VAT rate",
            kind="rate",
            unit="%",
            value=lambda r: plain(r.InvoiceLine.vat_rate),
        ),
        Column("currency", "Currency", Invoice.currency, value=lambda r: r.Invoice.currency),
    ],
    filters=[
        Filter(
            "invoice_id",
            "Invoice",
            id_arg,
            lambda s, v, c: s.where(Invoice.id == v),
            kind="number",
            message="An invoice or credit note id.",
            api_type="integer",
        ),
        *INVOICES.filters,
    ],
)


def invoice_lines_export(fmt: str, *, actor, invoice_id: int | None = None):
    """A page's download of invoice lines (`fmt` "csv" or "xlsx"): one invoice's when
    `invoice_id` is given, else those the request's query string filters (period, state,
    kind, bill_to_entity_id, currency, issued_from, issued_to); above FMS_EXPORT_INLINE_ROWS
    rows a job writes the file and this redirects to its job page."""
    from flask import request

    from fms.errors import NotFound
    from fms.identity.web_session import org_today
    from fms.lists import export_response

    if invoice_id is not None and request.args.get("invoice_id", str(invoice_id)) != str(
        invoice_id
    ):
        raise NotFound("No such invoice here: the address names another one.")
    defaults = {"invoice_id": str(invoice_id)} if invoice_id is not None else None
    return export_response(
        INVOICE_LINES, fmt, actor=actor, context={"today": org_today()}, defaults=defaults
    )


def invoice_line_rows(session, *, actor, invoice_id: int) -> tuple[list[str], list[list]]:
    """The export's header and rows of one invoice (typed cells, as `fms.exports` writes
    them): for checks and for callers that write the file themselves."""
    from fms.identity.permissions import require
    from fms.identity.services import today_of
    from fms.lists import export_header, export_rows, parse_query

    require(actor, "invoicing.read")
    q = parse_query(INVOICE_LINES, {"invoice_id": str(invoice_id)})
    context = {"today": today_of(session, actor.org_id)}
    rows = list(export_rows(session, q, actor=actor, context=context))
    return export_header(INVOICE_LINES), rows


def export_job_or_file(fmt: str, *, actor, args: dict, filename: str):
    """The API's download: every line the filters in `args` match (strings, as a query
    string holds them), streamed as CSV or XLSX; above FMS_EXPORT_INLINE_ROWS rows a job
    writes the file instead and this answers 202 with the job (follow `Location`)."""
    from flask import current_app

    from fms import jobs
    from fms.exports import csv_stream_response, xlsx_response
    from fms.extensions import db
    from fms.identity.permissions import require
    from fms.identity.web_session import org_today
    from fms.lists import (
        EXPORT_INLINE_ROWS,
        EXPORT_JOBS_PER_USER,
        count,
        export_header,
        export_list,
        export_rows,
        filtered_statement,
        parse_query,
    )

    require(actor, "invoicing.read")
    q = parse_query(INVOICE_LINES, args)
    context = {"today": org_today()}
    total = count(db.session, filtered_statement(db.session, q, actor=actor, context=context))
    if total > int(current_app.config.get("FMS_EXPORT_INLINE_ROWS", EXPORT_INLINE_ROWS)):
        limit = int(current_app.config.get("FMS_EXPORT_JOBS_PER_USER", EXPORT_JOBS_PER_USER))
        jobs.require_room(db.session, export_list, actor=actor, limit=limit)
        run = jobs.enqueue_after_commit(export_list, INVOICE_LINES.key, q.filter_string(), fmt)
        run_id = run.id
        db.session.commit()
        from fms.jobs_api import JobOut

        body = JobOut().dump(jobs.get_run(db.session, run_id, actor=actor))
        return body, 202, {"Location": f"/api/v1/jobs/{run_id}"}
    header = export_header(INVOICE_LINES)
    if fmt == "csv":  # the rows stream after the view returns, through a session of their own
        return csv_stream_response(
            f"{filename}.csv",
            header,
            lambda session: export_rows(session, q, actor=actor, context=context),
        )
    return xlsx_response(
        f"{filename}.{fmt}", header, export_rows(db.session, q, actor=actor, context=context)
    )
