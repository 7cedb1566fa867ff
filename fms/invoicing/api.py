"""Invoicing routes of /api/v1: billing settings, bill-to entities and their cost centres,
VAT rates, the close (preview, then drafts), invoices and credit notes, payments, and the
invoice lines for accounts-payable imports.

The routes parse, call the invoicing services (which check permission and state) and
answer; the invoice list is fms/invoicing/api_lists.py's spec. Another organization's id
answers 404 before the body is looked at; a person without the invoicing permissions gets
403; a broken rule (issuing an empty draft, crediting more than is left, closing a period
that is not over) is a 409 problem; bad input a 422 problem with field pointers. Every POST
that creates or moves money takes an `Idempotency-Key`.
"""

from __future__ import annotations

from decimal import Decimal

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fms import money, storage
from fms.api import etag
from fms.api.common import API_PREFIX, page_body
from fms.api.idempotency import idempotent
from fms.errors import InvalidInput, RuleViolation
from fms.extensions import db
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.invoicing import queries, rules, schemas, services
from fms.invoicing import settings as billing
from fms.invoicing.api_lists import INVOICES
from fms.invoicing.exports import INVOICE_LINES, export_job_or_file
from fms.invoicing.models import BillToEntity, CostCentreBilling, Invoice, VatRate
from fms.jobs_api import JobOut
from fms.lists import api_page, api_schema
from fms.tenancy import get_in_org
from fms.workforce.models import CostCentre

blp = Blueprint(
    "invoicing_api", __name__, url_prefix=API_PREFIX, description="Billing and invoices"
)
INVOICE_QUERY = api_schema(INVOICES, "InvoiceQuery")
# a refused rule or a lost race (already issued, nothing left to credit): problem+json 409
conflict = blp.alt_response(409, response="CONFLICT")
# a period that is no period of the organization's kind ("2026-13"): problem+json 422
bad_period = blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
EXPORT_QUERY = api_schema(INVOICE_LINES, "InvoiceLineExportQuery")
EXPORT_TYPES = {
    "csv": {"text/csv": {"schema": {"type": "string"}}},
    "xlsx": {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}
        }
    },
}
SETTINGS_FIELDS = (
    "billing_period",
    "issuer_legal_name",
    "issuer_address",
    "issuer_country",
    "issuer_vat_id",
    "issuer_iban",
    "issuer_bic",
    "issuer_bank_text",
    "payment_terms_days",
    "invoice_prefix",
    "credit_note_prefix",
    "yearly_reset",
    "four_eyes",
)


# --- visibility: 404 first -----------------------------------------------------------------


@blp.before_request
def _objects_first():
    """Another organization's object is a 404 before the request body is even looked at."""
    args = request.view_args or {}
    for key, model, what in (
        ("invoice_id", Invoice, "invoice"),
        ("bill_to_entity_id", BillToEntity, "bill-to entity"),
        ("cost_centre_id", CostCentre, "cost centre"),
    ):
        if key in args:
            get_in_org(db.session, model, args[key], what=what)


# --- bodies --------------------------------------------------------------------------------


def _money(amount, currency: str) -> dict:
    return money.Money(Decimal(amount), currency).as_json()


def _plain(number: Decimal | None) -> str | None:
    """A stored rate or percentage without its storage scale (90.000000 -> "90.00")."""
    from fms.invoicing.exports import plain

    return None if number is None else str(plain(number))


def _settings_body() -> dict:
    row = billing.billing_settings(db.session)
    body = {key: getattr(row, key) for key in SETTINGS_FIELDS}
    body["period_format"] = rules.PERIOD_FORMATS[row.billing_period]
    body["updated_at"] = row.updated_at if row.id is not None else None
    body["einvoice_enabled"] = bool(row.einvoice_enabled)
    body["has_logo"] = row.logo_file_id is not None
    return body


def _entity_bodies(entities) -> list[dict]:
    """Bill-to entities with the cost centres billed to each: one more statement for all."""
    centres: dict[int, list[int]] = {entity.id: [] for entity in entities}
    rows = db.session.execute(
        select(CostCentreBilling.bill_to_entity_id, CostCentreBilling.cost_centre_id)
        .where(CostCentreBilling.bill_to_entity_id.in_(list(centres)))
        .order_by(CostCentreBilling.cost_centre_id)
    )
    for entity_id, centre_id in rows:
        centres[entity_id].append(centre_id)
    return [
        {c.key: getattr(entity, c.key) for c in BillToEntity.__table__.columns}
        | {"cost_centre_ids": centres[entity.id]}
        for entity in entities
    ]


def _entity_body(entity: BillToEntity) -> dict:
    return _entity_bodies([entity])[0]


def _vat_body(row: VatRate) -> dict:
    return {
        "id": row.id,
        "country": row.country,
        "category": row.category,
        "rate": _plain(row.rate),
        "effective_from": row.effective_from,
    }


def _invoice_body(invoice: Invoice, bill_to_name: str, today) -> dict:
    currency = invoice.currency
    return {
        "id": invoice.id,
        "kind": invoice.kind,
        "number": invoice.number,
        "state": invoice.state,
        "overdue": rules.is_overdue(invoice.state, invoice.due_date, today),
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "bill_to_entity_id": invoice.bill_to_entity_id,
        "bill_to_name": bill_to_name,
        "currency": currency,
        "po_number": invoice.po_number,
        "net": _money(invoice.net_total, currency),
        "tax": _money(invoice.tax_total, currency),
        "gross": _money(invoice.gross_total, currency),
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "paid_on": invoice.paid_on,
        "payment_reference": invoice.payment_reference,
        "credited_invoice_id": invoice.credited_invoice_id,
    }


def _entity_name(invoice: Invoice) -> str:
    return db.session.scalar(
        select(BillToEntity.name).where(BillToEntity.id == invoice.bill_to_entity_id)
    )


def _summary(invoice: Invoice) -> dict:
    return _invoice_body(invoice, _entity_name(invoice), org_today())


_LINE_FIELDS = (
    "engagement_id",
    "freelancer_id",
    "kind",
    "unit",
    "description",
    "quantity",
    "cost_centre_id",
    "po_number",
    "vat_category",
    "first_date",
    "last_date",
    "tax_components",
)


def _line_body(line, currency: str, *extra: str) -> dict:
    """A planned line or an invoice line (and the `extra` fields of its kind)."""
    body = {key: getattr(line, key) for key in (*_LINE_FIELDS, *extra)}
    body["rate"] = _plain(line.rate)
    body["vat_rate"] = _plain(line.vat_rate)
    body["net"] = _money(line.net, currency)
    return body


def _invoice_line_body(line, currency: str) -> dict:
    return _line_body(line, currency, "id", "position", "credited_line_id")


def _tax_body(row, currency: str, tax_currency: str | None = None) -> dict:
    """A VAT breakdown row; a stacked tax's name and the amounts in the tax currency only
    where there are any (a plain row keeps its shape)."""
    body = {
        "category": row.category,
        "rate": _plain(row.rate),
        "taxable": _money(row.taxable, currency),
        "tax": _money(row.tax, currency),
    }
    if row.name:
        body["name"] = row.name
    if tax_currency:
        for key in ("taxable_in_tax_currency", "tax_in_tax_currency"):
            amount = getattr(row, key, None)
            body[key] = None if amount is None else _money(amount, tax_currency)
    return body


def _annex_body(week) -> dict:
    return {
        key: getattr(week, key)
        for key in (
            "freelancer_id",
            "engagement_id",
            "week_start",
            "week_end",
            "first_date",
            "last_date",
            "minutes",
            "half_days",
        )
    }


def _party(snapshot: dict | None, name_key: str) -> dict | None:
    if not snapshot:
        return None
    return {
        "name": snapshot.get(name_key) or "",
        "address": snapshot.get("address") or "",
        "country": snapshot.get("country") or "",
        "vat_id": snapshot.get("vat_id"),
    }


def _detail_body(invoice_id: int) -> dict:
    """One invoice or credit note: lines, VAT breakdown and wording, annex, the parties as
    printed (as issued; the bill-to entity as it is now on a draft) and its credit notes."""
    actor = current_actor()
    detail = queries.invoice_detail(db.session, actor=actor, invoice_id=invoice_id)
    invoice = detail.invoice
    currency = invoice.currency
    entity = db.session.get(BillToEntity, invoice.bill_to_entity_id)
    body = _invoice_body(invoice, entity.name, org_today())
    bill_to = invoice.bill_to_snapshot or {
        "name": entity.name,
        "address": entity.address,
        "country": entity.country,
        "vat_id": entity.vat_id,
    }
    body |= {
        "issuer": _party(invoice.issuer_snapshot, "legal_name"),
        "bill_to": _party(bill_to, "name"),
        "reason": invoice.reason,
        "release_items": invoice.release_items,
        "lines": [_invoice_line_body(line, currency) for line in detail.lines],
        "tax_breakdown": [_tax_body(row, currency, invoice.tax_currency) for row in detail.taxes],
        "stacked_taxes": invoice.stacked_taxes,
        "tax_currency": invoice.tax_currency,
        "tax_exchange_rate": _plain(invoice.tax_exchange_rate),
        "tax_total_in_tax_currency": (
            _money(invoice.tax_total_in_tax_currency, invoice.tax_currency)
            if invoice.tax_currency and invoice.tax_total_in_tax_currency is not None
            else None
        ),
        "vat_notes": detail.vat_notes,
        "annex": [_annex_body(week) for week in detail.annex],
        "credit_notes": [
            {
                "id": note.id,
                "number": note.number,
                "state": note.state,
                "gross": _money(note.gross_total, note.currency),
            }
            for note in queries.credit_notes_of(db.session, actor=actor, invoice_id=invoice.id)
        ],
    }
    return body


def _planned_body(planned) -> dict:
    currency = planned.currency
    totals = planned.totals
    return {
        "bill_to_entity_id": planned.bill_to_entity_id,
        "bill_to_name": planned.bill_to_name,
        "currency": currency,
        "net": _money(totals.net, currency),
        "tax": _money(totals.tax, currency),
        "gross": _money(totals.gross, currency),
        "lines": [
            _line_body(line, currency) | {"items": len(line.items)} for line in planned.lines
        ],
        "tax_breakdown": [_tax_body(row, currency) for row in totals.breakdown],
        "prior_period": [
            {
                "item_type": p.item_type,
                "item_id": p.item_id,
                "engagement_id": p.engagement_id,
                "work_date": p.work_date,
                "kind": p.kind,
            }
            for p in planned.prior_period
        ],
        "annex": [_annex_body(week) for week in planned.annex],
    }


# --- billing settings ----------------------------------------------------------------------


@blp.route("/billing-settings")
class BillingSettings(MethodView):
    @etag.documented
    @blp.response(200, schemas.BillingSettingsOut)
    def get(self):
        """The billing period, the issuing entity, numbering and the four-eyes rule."""
        require(current_actor(), "invoicing.read")
        return etag.tagged(_settings_body(), schemas.BillingSettingsOut)

    @etag.documented
    @blp.arguments(schemas.BillingSettingsIn)
    @blp.response(200, schemas.BillingSettingsOut)
    def put(self, data):
        """Finance changes the billing settings.

        Fields left out keep their value. Issued invoices keep the issuer as it was when
        they were issued. `einvoice_enabled` switches Factur-X e-invoices on (409 without
        the issuer's VAT id) or off, for invoices issued from then on. With `If-Match`,
        a stale tag is a 412 and changes nothing (the organization's row is locked first)."""
        from fms.identity.models import Organization

        actor = current_actor()
        require(actor, "invoicing.manage")  # the permission before the version
        etag.check_if_match(
            _settings_body,
            schemas.BillingSettingsOut,
            lock=db.session.get(Organization, actor.org_id),
        )
        einvoice = data.pop("einvoice_enabled", None)
        if data or einvoice is None:
            billing.update_billing_settings(db.session, actor=current_actor(), **data)
        if einvoice is not None:  # after the rest: it may need the VAT id just given
            billing.set_einvoice(db.session, actor=current_actor(), enabled=einvoice)
        db.session.commit()
        return etag.tagged(_settings_body(), schemas.BillingSettingsOut)


@blp.route("/billing-settings/logo")
class BillingLogo(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "The logo invoices print.",
                "content": storage.openapi_content(billing.LOGO_KINDS),
            }
        }
    )
    def get(self):
        """Download the logo invoices print from now on (404 when there is none). Finance
        and org admins."""
        return storage.send_stored(billing.logo_file(db.session, actor=current_actor()))

    @blp.arguments(schemas.LogoIn, location="files")
    @blp.response(200, schemas.BillingSettingsOut)
    def put(self, files):
        """Finance sets the logo printed on invoices issued from now on.

        As multipart/form-data `file`: a PNG or JPEG (decided by its content, whatever its
        name says) of at most 1 MB; anything else is a 422 that stores nothing. Issued
        invoices keep the logo they were issued with."""
        billing.set_logo(db.session, actor=current_actor(), upload=files["file"], field="file")
        db.session.commit()
        return _settings_body()


# --- bill-to entities and cost centres -----------------------------------------------------


@blp.route("/bill-to-entities")
class BillToEntities(MethodView):
    @blp.response(200, schemas.BillToEntityOut(many=True))
    def get(self):
        """The client's legal entities that invoices are addressed to, by name."""
        require(current_actor(), "invoicing.read")
        rows = db.session.scalars(select(BillToEntity).order_by(BillToEntity.name)).all()
        return _entity_bodies(rows)

    @blp.arguments(schemas.BillToEntityIn)
    @blp.response(201, schemas.BillToEntityOut)
    @conflict
    def post(self, data):
        """Add a bill-to entity (names are unique in the organization: 409)."""
        row = billing.add_bill_to_entity(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _entity_body(row)


@blp.route("/bill-to-entities/<int:bill_to_entity_id>")
class BillToEntityById(MethodView):
    @etag.documented
    @blp.response(200, schemas.BillToEntityOut)
    def get(self, bill_to_entity_id: int):
        """A bill-to entity with the cost centres billed to it, and its ETag."""
        require(current_actor(), "invoicing.read")
        row = get_in_org(db.session, BillToEntity, bill_to_entity_id, what="bill-to entity")
        return etag.tagged(_entity_body(row), schemas.BillToEntityOut)

    @etag.documented
    @blp.arguments(schemas.BillToEntityPatchIn)
    @blp.response(200, schemas.BillToEntityOut)
    def patch(self, data, bill_to_entity_id: int):
        """Change a bill-to entity: drafts and the next close use it; issued invoices keep
        the copy they were issued with. With `If-Match` (the entity's ETag) only if nobody
        changed it meanwhile (412 otherwise, and nothing changes)."""
        actor = current_actor()
        require(actor, "invoicing.manage")
        row = get_in_org(db.session, BillToEntity, bill_to_entity_id, what="bill-to entity")
        etag.check_if_match(lambda: _entity_body(row), schemas.BillToEntityOut, lock=row)
        row = billing.update_bill_to_entity(
            db.session, actor=actor, bill_to_entity_id=bill_to_entity_id, **data
        )
        db.session.commit()
        return etag.tagged(_entity_body(row), schemas.BillToEntityOut)


@blp.route("/cost-centres/<int:cost_centre_id>/bill-to")
class CostCentreBillTo(MethodView):
    @blp.response(200, schemas.CostCentreBillingOut)
    def get(self, cost_centre_id: int):
        """Which bill-to entity a cost centre's spend is invoiced to (null: none yet, and a
        close refuses to bill it until one is set)."""
        require(current_actor(), "invoicing.read")
        row = db.session.scalar(
            select(CostCentreBilling).where(CostCentreBilling.cost_centre_id == cost_centre_id)
        )
        return {
            "cost_centre_id": cost_centre_id,
            "bill_to_entity_id": row.bill_to_entity_id if row else None,
        }

    @blp.arguments(schemas.CostCentreBillingIn)
    @blp.response(200, schemas.CostCentreBillingOut)
    @conflict
    def put(self, data, cost_centre_id: int):
        """Bill a cost centre's spend to a bill-to entity.

        From the next close on; issued invoices keep theirs."""
        row = billing.assign_cost_centre(
            db.session,
            actor=current_actor(),
            cost_centre_id=cost_centre_id,
            bill_to_entity_id=data["bill_to_entity_id"],
        )
        db.session.commit()
        return {"cost_centre_id": row.cost_centre_id, "bill_to_entity_id": row.bill_to_entity_id}


# --- VAT rates -----------------------------------------------------------------------------


@blp.route("/vat-rates")
class VatRates(MethodView):
    @blp.response(200, schemas.VatRateOut(many=True))
    def get(self):
        """Every VAT rate by country, category and the date it applies from."""
        require(current_actor(), "invoicing.read")
        rows = db.session.scalars(
            select(VatRate).order_by(VatRate.country, VatRate.category, VatRate.effective_from)
        ).all()
        return [_vat_body(row) for row in rows]

    @blp.arguments(schemas.VatRateIn)
    @blp.response(201, schemas.VatRateOut)
    @conflict
    def post(self, data):
        """Add a VAT rate of a category in a bill-to country from a date on.

        One per country, category and date (409); zero, exempt and reverse charge carry
        no VAT."""
        row = billing.add_vat_rate(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _vat_body(row)


# --- stacked taxes and service fees --------------------------------------------------------


def _component_body(row) -> dict:
    return {
        "id": row.id,
        "country": row.country,
        "region": row.region,
        "category": row.category,
        "name": row.name,
        "rate": _plain(row.rate),
        "effective_from": row.effective_from,
    }


def _fees_body() -> dict:
    fees = billing.service_fees(db.session)
    return {
        "percent": _plain(fees.get(None)),
        "suppliers": [
            {"supplier_id": key, "percent": _plain(value)}
            for key, value in sorted((k, v) for k, v in fees.items() if k is not None)
        ],
    }


@blp.route("/tax-components")
class TaxComponents(MethodView):
    @blp.response(200, schemas.TaxComponentOut(many=True))
    def get(self):
        """Stacked taxes by jurisdiction (country, region), category and the date their set
        applies from (Quebec: GST 5 % and QST 9.975 %)."""
        from fms.invoicing.models import TaxComponent

        require(current_actor(), "invoicing.read")
        rows = db.session.scalars(
            select(TaxComponent).order_by(
                TaxComponent.country,
                TaxComponent.region,
                TaxComponent.category,
                TaxComponent.effective_from,
                TaxComponent.id,
            )
        ).all()
        return [_component_body(row) for row in rows]

    @blp.arguments(schemas.TaxComponentIn)
    @blp.response(201, schemas.TaxComponentOut)
    @conflict
    def post(self, data):
        """Add one tax to a jurisdiction's set from a date on.

        Enter each tax of the set with the same date; a line billed there carries each of
        them instead of the country's VAT rate. One name per set and date (409)."""
        row = billing.add_tax_component(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _component_body(row)


@blp.route("/service-fees")
class ServiceFees(MethodView):
    @blp.response(200, schemas.ServiceFeesOut)
    def get(self):
        """The service fee the close adds as its own lines: the organization's percent and
        the suppliers' own."""
        require(current_actor(), "invoicing.read")
        return _fees_body()

    @blp.arguments(schemas.ServiceFeeIn)
    @blp.response(200, schemas.ServiceFeesOut)
    def put(self, data):
        """Set the organization's fee (no supplier_id) or a supplier's (0 to 100 %, at most
        4 decimals); a null percent removes it. Invoices already made keep theirs."""
        billing.set_service_fee(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _fees_body()


# --- the close -----------------------------------------------------------------------------


@blp.route("/billing-periods/<period>/preview")
class ClosePreview(MethodView):
    @blp.response(200, schemas.ClosePreviewOut)
    @bad_period
    def get(self, period: str):
        """What closing a billing period will bill, exactly as the drafts it makes.

        Per bill-to entity and currency: lines, totals, the VAT breakdown, the prior-period
        items and the annex; `problems` say what would stop the close. The period is named
        as the billing settings' kind says (2026-11, 2026-11-1, 2026-W47); changes nothing."""
        preview = services.preview_close(db.session, actor=current_actor(), period=period)
        return {
            "period": period,
            "period_start": preview.period_start,
            "period_end": preview.period_end,
            "already_closed": preview.already_closed,
            "problems": preview.problems,
            "invoices": [_planned_body(planned) for planned in preview.invoices],
        }


@blp.route("/billing-periods/<period>/close")
class CloseBillingPeriod(MethodView):
    @idempotent
    @blp.response(200, schemas.CloseResultOut)
    @conflict
    @bad_period
    def post(self, period: str):
        """Close a billing period that is over: a draft per bill-to entity and currency.

        Every approved, not yet invoiced item up to the period's end is billed once and the
        period is locked. Closing a closed period again bills nothing and answers its
        drafts (`created` false). 409 when the period is not over or something stops it."""
        result = services.close_period(
            db.session, actor=current_actor(), period=period, today=org_today()
        )
        db.session.commit()
        today = org_today()
        names = dict(db.session.execute(select(BillToEntity.id, BillToEntity.name)).all())
        return {
            "period": period,
            "period_start": result.period_start,
            "period_end": result.period_end,
            "created": result.created,
            "invoices": [
                _invoice_body(invoice, names.get(invoice.bill_to_entity_id, ""), today)
                for invoice in result.invoices
            ],
        }


# --- invoices ------------------------------------------------------------------------------


@blp.route("/invoices")
class Invoices(MethodView):
    @blp.arguments(INVOICE_QUERY, location="query")
    @blp.response(200, schemas.InvoicePage)
    def get(self, args):
        """Invoices and credit notes, newest period first.

        With number, status (`overdue`: issued and past its due date), period, bill-to
        entity, currency and net, VAT and gross totals; filtered by status, kind, bill-to
        entity, currency, period and issue dates."""
        actor = current_actor()
        require(actor, "invoicing.read")
        today = org_today()
        page = api_page(db.session, INVOICES, args, actor=actor, context={"today": today})
        items = [_invoice_body(row.Invoice, row.bill_to_name, today) for row in page.rows]
        return page_body(items, page.total, args)


@blp.route("/invoices/<int:invoice_id>")
class InvoiceById(MethodView):
    @blp.response(200, schemas.InvoiceDetailOut)
    def get(self, invoice_id: int):
        """An invoice or credit note with its lines, VAT breakdown, annex and totals.

        With the parties as printed and the credit notes that reference it."""
        return _detail_body(invoice_id)

    @blp.response(200, schemas.InvoiceOut)
    @conflict
    def delete(self, invoice_id: int):
        """Discard a draft (never an issued invoice: 409).

        An invoice's items are released: the next close bills them again."""
        invoice = services.discard_draft(db.session, actor=current_actor(), invoice_id=invoice_id)
        db.session.commit()
        return _summary(invoice)


@blp.route("/invoices/<int:invoice_id>/lines")
class InvoiceLines(MethodView):
    @blp.arguments(schemas.LinesQuery, location="query")
    @blp.response(200, schemas.InvoiceLinePage)
    def get(self, args, invoice_id: int):
        """An invoice's lines by position, a page at a time (at most 200)."""
        invoice = services.get_invoice(db.session, actor=current_actor(), invoice_id=invoice_id)
        lines = queries.line_page(
            db.session, invoice_id=invoice.id, page=args["page"], per_page=args["per_page"]
        )
        items = [_invoice_line_body(line, invoice.currency) for line in lines.rows]
        return page_body(items, lines.total, args)


def _export_routes(path: str, endpoint: str, doc: str, invoice_scoped: bool) -> None:
    """GET `{path}.csv` and `{path}.xlsx`: the invoice lines for an accounts-payable import."""

    for fmt in ("csv", "xlsx"):

        class Export(MethodView):
            fmt_ = fmt

            @blp.doc(
                responses={
                    "200": {
                        "description": f"The lines as {fmt.upper()}.",
                        "content": EXPORT_TYPES[fmt],
                    }
                }
            )
            @blp.alt_response(202, schema=JobOut, description="Large: a job writes the file.")
            @blp.arguments(
                EXPORT_QUERY if not invoice_scoped else schemas.NoQuery, location="query"
            )
            def get(self, query, **ids):
                # the filters as sent (strings), as the list machinery and its job read them
                keys = {f.key for f in INVOICE_LINES.filters} | {"sort"}
                args = {k: v for k, v in request.args.items() if k in keys}
                if invoice_scoped:
                    args = {"invoice_id": str(ids["invoice_id"])}
                    name = f"invoice-{ids['invoice_id']}-lines"
                else:
                    name = "invoice-lines"
                return export_job_or_file(
                    self.fmt_, actor=current_actor(), args=args, filename=name
                )

        Export.get.__doc__ = doc
        Export.__name__ = f"{endpoint.title().replace('_', '')}{fmt.title()}"
        blp.route(f"{path}.{fmt}", endpoint=f"{endpoint}_{fmt}")(Export)


_export_routes(
    "/invoices/<int:invoice_id>/lines",
    "invoice_lines_export",
    "The invoice's lines for an accounts-payable import.\n\n"
    "One row per line: number, dates, bill-to, PO, cost centre, engagement, freelancer, "
    "kind, quantity, unit, rate, net, VAT category and rate, currency.",
    invoice_scoped=True,
)
_export_routes(
    "/invoice-lines",
    "invoice_lines_all_export",
    "Invoice lines of many invoices for an accounts-payable import.\n\n"
    "Filtered like the invoice list (state, kind, bill_to_entity_id, currency, period, "
    "issued_from, issued_to); above the inline limit a job writes the file (202).",
    invoice_scoped=False,
)


# --- issue, payment, credit notes ----------------------------------------------------------


@blp.route("/invoices/<int:invoice_id>/pdf")
class InvoicePdf(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "The issued invoice or credit note as PDF.",
                "content": storage.openapi_content(["pdf"]),
            }
        }
    )
    @conflict
    def get(self, invoice_id: int):
        """Download an issued invoice's PDF (rendered now if its job has not run yet); a
        draft has none (409). Finance and org admins."""
        from fms.invoicing.pdf import invoice_pdf

        stored = invoice_pdf(db.session, actor=current_actor(), invoice_id=invoice_id)
        db.session.commit()  # a first render stores the file
        return storage.send_stored(stored)


@blp.route("/invoices/<int:invoice_id>/xml")
class InvoiceXml(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "The issued invoice or credit note as Factur-X / ZUGFeRD "
                "XML (UN/CEFACT CII, EN 16931 profile).",
                "content": {"application/xml": {"schema": {"type": "string"}}},
            }
        }
    )
    @conflict
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, invoice_id: int):
        """Download an issued invoice's e-invoice XML (EN 16931). A draft has none (409);
        one that is no e-invoice says why (422: e-invoices off in the billing settings, a
        currency with more than two decimals, no seller VAT id, ...). Finance and org
        admins."""
        from fms.invoicing.einvoice import invoice_xml, xml_response

        name, data = invoice_xml(db.session, actor=current_actor(), invoice_id=invoice_id)
        return xml_response(name, data)


@blp.route("/me/statements/<period>")
class MyStatement(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "The signed-in freelancer's self-billing statement as PDF.",
                "content": storage.openapi_content(["pdf"]),
            }
        }
    )
    @bad_period
    def get(self, period: str):
        """Download the signed-in freelancer's own self-billing statement of a billing
        period ("2026-11"): their lines on issued invoices, what was billed for their work
        and what they will be paid. 404 when nothing was billed for them then."""
        from fms.invoicing import statements

        data = statements.statement_pdf(
            db.session, actor=current_actor(), period=period, today=org_today()
        )
        return statements.statement_response(data, period)


@blp.route("/invoices/<int:invoice_id>/issue")
class InvoiceIssue(MethodView):
    @idempotent
    @blp.response(200, schemas.InvoiceOut)
    @conflict
    def post(self, invoice_id: int):
        """Issue a draft invoice or credit note with the next number of its series.

        When the organization requires four eyes it waits for a second finance user's
        approval instead (state awaiting_approval). An empty draft is not issued (409)."""
        invoice = services.issue_invoice(
            db.session, actor=current_actor(), invoice_id=invoice_id, today=org_today()
        )
        db.session.commit()
        return _summary(invoice)


@blp.route("/invoices/<int:invoice_id>/approve-issue")
class InvoiceApproveIssue(MethodView):
    @idempotent
    @blp.response(200, schemas.InvoiceOut)
    @conflict
    def post(self, invoice_id: int):
        """A second finance user (not the one who asked) approves the issue: it is numbered."""
        invoice = services.approve_issue(
            db.session, actor=current_actor(), invoice_id=invoice_id, today=org_today()
        )
        db.session.commit()
        return _summary(invoice)


@blp.route("/invoices/<int:invoice_id>/reject-issue")
class InvoiceRejectIssue(MethodView):
    @idempotent
    @blp.arguments(schemas.RejectIssueIn)
    @blp.response(200, schemas.InvoiceOut)
    @conflict
    def post(self, data, invoice_id: int):
        """The second finance user sends an issue request back with a comment: a draft again."""
        invoice = services.reject_issue(
            db.session, actor=current_actor(), invoice_id=invoice_id, comment=data["comment"]
        )
        db.session.commit()
        return _summary(invoice)


@blp.route("/invoices/<int:invoice_id>/payments")
class InvoicePayments(MethodView):
    @idempotent
    @blp.arguments(schemas.PaymentIn)
    @blp.response(200, schemas.InvoiceOut)
    @conflict
    def post(self, data, invoice_id: int):
        """Record the payment of an issued invoice: the date and the payment's reference.

        An optional `amount` must be the invoice's gross total in its currency (partial
        payments are not recorded); a draft, a credit note or a paid invoice is 409."""
        actor = current_actor()
        paid = data.get("amount")
        if paid is not None:
            invoice = services.get_invoice(db.session, actor=actor, invoice_id=invoice_id)
            if paid["currency"] != invoice.currency:
                raise InvalidInput(
                    f"The invoice is in {invoice.currency}.",
                    errors={"amount": [f"Not in {invoice.currency}."]},
                )
            gross = money.Money(invoice.gross_total, invoice.currency)
            if Decimal(paid["amount"]) != gross.amount:
                raise RuleViolation(
                    f"Only the whole gross total ({gross}) is recorded as a payment.",
                    errors={"amount": ["Not the gross total."]},
                )
        invoice = services.record_payment(
            db.session,
            actor=actor,
            invoice_id=invoice_id,
            paid_on=data["paid_on"],
            reference=data["reference"],
            today=org_today(),
        )
        db.session.commit()
        return _summary(invoice)


@blp.route("/invoices/<int:invoice_id>/credit-notes")
class InvoiceCreditNotes(MethodView):
    @idempotent
    @blp.arguments(schemas.CreditNoteIn)
    @blp.response(201, schemas.InvoiceDetailOut)
    @conflict
    def post(self, data, invoice_id: int):
        """Draft a credit note against an issued or paid invoice.

        `full` (what is left of every line), `lines` (of the lines named) or `amount` (a
        net amount of one line); never more than was invoiced (409). `release_items` lets
        the next close bill the credited lines' items again once the note is issued. Issue
        it like an invoice (its own number series)."""
        note = services.create_credit_note(
            db.session, actor=current_actor(), invoice_id=invoice_id, **data
        )
        db.session.commit()
        return _detail_body(note.id)
