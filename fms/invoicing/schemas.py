"""API schemas of invoicing: `XIn` for request bodies and arguments, `XOut` for answers.

Money is `{"amount": "12.34", "currency": "EUR"}` (the amount a string at the currency's
minor unit); rates and VAT percentages are exact decimal strings; states, kinds and VAT
categories are the closed lists of `fms.invoicing.rules`; text is bounded as the services
bound it; unknown fields are refused (marshmallow's RAISE)."""

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from fms.api.common import ID_RANGE, Date, Integer, page_schema
from fms.invoicing import rules
from fms.invoicing.services import CREDIT_MODES
from fms.timesheets.schemas import MoneyOut  # the one money shape of the API

_MONEY = 'Money: {"amount": "12.34", "currency": "EUR"}'
_AMOUNT = {"description": 'An exact amount as a string, such as "120.50".'}
_COUNTRY = validate.Regexp(r"^[A-Za-z]{2}$", error="A two-letter country code (ISO 3166-1).")
_CATEGORY = validate.OneOf(rules.VAT_CATEGORIES)


def _money(**metadata):
    return fields.Nested(MoneyOut, metadata={"description": _MONEY, **metadata})


def _decimal(description: str):
    return fields.Decimal(as_string=True, metadata={"description": description})


# --- billing settings ----------------------------------------------------------------------


class BillingSettingsIn(Schema):
    """The settings to change; fields left out keep their value."""

    billing_period = fields.String(validate=validate.OneOf(rules.BILLING_PERIODS))
    issuer_legal_name = fields.String(validate=validate.Length(max=200))
    issuer_address = fields.String(validate=validate.Length(max=1000))
    issuer_country = fields.String(validate=_COUNTRY)
    issuer_vat_id = fields.String(allow_none=True, validate=validate.Length(max=40))
    issuer_iban = fields.String(
        allow_none=True,
        validate=validate.Length(max=42),
        metadata={"description": "An IBAN (spaces allowed); null or empty: none."},
    )
    issuer_bic = fields.String(allow_none=True, validate=validate.Length(max=14))
    issuer_bank_text = fields.String(
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "Bank details that are no IBAN/BIC."},
    )
    payment_terms_days = Integer(validate=validate.Range(min=0, max=365))
    invoice_prefix = fields.String(
        validate=validate.Length(max=20),
        metadata={"description": "Letters, digits and - _ . /; differs from the credit notes'."},
    )
    credit_note_prefix = fields.String(validate=validate.Length(max=20))
    yearly_reset = fields.Boolean(metadata={"description": "Numbers restart every year."})
    four_eyes = fields.Boolean(
        metadata={"description": "Issuing needs a second finance user's approval."}
    )
    einvoice_enabled = fields.Boolean(
        metadata={
            "description": "Issued invoices are Factur-X (EN 16931) PDF/A-3 with their XML; "
            "only for currencies with at most two decimals (others stay plain PDFs). "
            "Switching on needs the issuer's VAT id."
        }
    )


class BillingSettingsOut(Schema):
    billing_period = fields.String()
    period_format = fields.String(metadata={"description": "How a period of this kind is named."})
    issuer_legal_name = fields.String()
    issuer_address = fields.String()
    issuer_country = fields.String()
    issuer_vat_id = fields.String(allow_none=True)
    issuer_iban = fields.String(allow_none=True)
    issuer_bic = fields.String(allow_none=True)
    issuer_bank_text = fields.String(allow_none=True)
    payment_terms_days = fields.Integer()
    invoice_prefix = fields.String()
    credit_note_prefix = fields.String()
    yearly_reset = fields.Boolean()
    four_eyes = fields.Boolean()
    einvoice_enabled = fields.Boolean(
        metadata={"description": "Issued invoices are Factur-X (EN 16931) PDF/A-3."}
    )
    updated_at = fields.DateTime(allow_none=True)
    has_logo = fields.Boolean(
        metadata={
            "description": "Invoices issued from now on print the logo "
            "(GET /billing-settings/logo)."
        }
    )


class LogoIn(Schema):
    file = Upload(
        required=True,
        metadata={"description": "PNG or JPEG (decided by the content), at most 1 MB."},
    )


# --- bill-to entities, cost centres, VAT rates ---------------------------------------------


class BillToEntityIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    country = fields.String(required=True, validate=_COUNTRY)
    address = fields.String(load_default="", validate=validate.Length(max=1000))
    vat_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    tax_currency = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(equal=3),
        metadata={"description": "The currency its tax authority wants the VAT total in."},
    )
    po_required = fields.Boolean(load_default=False)
    default_po = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    tax_category = fields.String(
        load_default=None,
        allow_none=True,
        validate=_CATEGORY,
        metadata={"description": "A fixed VAT category instead of the rule's (optional)."},
    )
    region = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=6),
        metadata={
            "description": "The ISO 3166-2 province or state (QC or CA-QC) whose stacked "
            "taxes apply (optional)."
        },
    )


class BillToEntityPatchIn(Schema):
    """The fields to change; the others stay."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    country = fields.String(validate=_COUNTRY)
    address = fields.String(validate=validate.Length(max=1000))
    vat_id = fields.String(allow_none=True, validate=validate.Length(max=40))
    tax_currency = fields.String(allow_none=True, validate=validate.Length(equal=3))
    po_required = fields.Boolean()
    default_po = fields.String(allow_none=True, validate=validate.Length(max=40))
    tax_category = fields.String(allow_none=True, validate=_CATEGORY)
    region = fields.String(allow_none=True, validate=validate.Length(max=6))


class BillToEntityOut(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    country = fields.String()
    vat_id = fields.String(allow_none=True)
    tax_currency = fields.String(allow_none=True)
    po_required = fields.Boolean()
    default_po = fields.String(allow_none=True)
    tax_category = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    cost_centre_ids = fields.List(
        fields.Integer(), metadata={"description": "The cost centres billed to it."}
    )


class CostCentreBillingIn(Schema):
    bill_to_entity_id = Integer(required=True, validate=ID_RANGE)


class CostCentreBillingOut(Schema):
    cost_centre_id = fields.Integer()
    bill_to_entity_id = fields.Integer(allow_none=True)


class VatRateIn(Schema):
    country = fields.String(required=True, validate=_COUNTRY)
    category = fields.String(required=True, validate=_CATEGORY)
    rate = fields.String(
        required=True,
        validate=validate.Length(min=1, max=12),
        metadata={"description": 'Percent, 0 to 100, such as "19" or "7.7".'},
    )
    effective_from = Date(required=True)


class VatRateOut(Schema):
    id = fields.Integer()
    country = fields.String()
    category = fields.String()
    rate = _decimal("Percent.")
    effective_from = fields.Date()


# --- the close -----------------------------------------------------------------------------


class _LineOut(Schema):
    """What a planned line and an invoice line have in common."""

    engagement_id = fields.Integer(allow_none=True)
    freelancer_id = fields.Integer(allow_none=True)
    kind = fields.String()
    unit = fields.String(metadata={"description": "minute, half_day or each."})
    description = fields.String()
    quantity = fields.Integer(metadata={"description": "Minutes, half days or a count."})
    rate = _decimal("Per hour (minute lines), per day (half_day lines) or each.")
    net = _money()
    cost_centre_id = fields.Integer(allow_none=True)
    po_number = fields.String(allow_none=True)
    vat_category = fields.String()
    vat_rate = _decimal("Percent.")
    first_date = fields.Date(allow_none=True)
    last_date = fields.Date(allow_none=True)
    tax_components = fields.List(
        fields.List(fields.String()),
        allow_none=True,
        metadata={
            "description": 'Stacked taxes as [name, percent] pairs ([["GST", "5"], ["QST", '
            '"9.975"]]) whose sum is vat_rate; null for plain VAT.'
        },
    )


class PlannedLineOut(_LineOut):
    items = fields.Integer(metadata={"description": "How many billable items it prices."})


class TaxRowOut(Schema):
    category = fields.String()
    name = fields.String(metadata={"description": 'A stacked tax (GST, QST); "" for plain VAT.'})
    rate = _decimal("Percent.")
    taxable = _money(description="The sum of the line nets of this category and rate.")
    tax = _money()
    taxable_in_tax_currency = fields.Nested(
        MoneyOut, allow_none=True, metadata={"description": "In the tax currency (issued)."}
    )
    tax_in_tax_currency = fields.Nested(
        MoneyOut, allow_none=True, metadata={"description": "In the tax currency (issued)."}
    )


class PriorItemOut(Schema):
    item_type = fields.String()
    item_id = fields.Integer()
    engagement_id = fields.Integer()
    work_date = fields.Date()
    kind = fields.String()


class AnnexWeekOut(Schema):
    freelancer_id = fields.Integer(allow_none=True)
    engagement_id = fields.Integer()
    week_start = fields.Date()
    week_end = fields.Date()
    first_date = fields.Date()
    last_date = fields.Date()
    minutes = fields.Integer()
    half_days = fields.Integer()


class PlannedInvoiceOut(Schema):
    bill_to_entity_id = fields.Integer()
    bill_to_name = fields.String()
    currency = fields.String()
    net = _money()
    tax = _money()
    gross = _money()
    lines = fields.List(fields.Nested(PlannedLineOut))
    tax_breakdown = fields.List(fields.Nested(TaxRowOut))
    prior_period = fields.List(
        fields.Nested(PriorItemOut),
        metadata={"description": "Late items with a work date before the period."},
    )
    annex = fields.List(fields.Nested(AnnexWeekOut))


class ClosePreviewOut(Schema):
    period = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    already_closed = fields.Boolean()
    problems = fields.List(
        fields.String(), metadata={"description": "What stops the close (it answers 409)."}
    )
    invoices = fields.List(fields.Nested(PlannedInvoiceOut))


# --- invoices ------------------------------------------------------------------------------


class InvoiceOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "invoice or credit_note."})
    number = fields.String(allow_none=True, metadata={"description": "Given when issued."})
    state = fields.String()
    overdue = fields.Boolean(metadata={"description": "Issued and past its due date."})
    period_start = fields.Date()
    period_end = fields.Date()
    bill_to_entity_id = fields.Integer()
    bill_to_name = fields.String()
    currency = fields.String()
    po_number = fields.String(allow_none=True)
    net = _money()
    tax = _money()
    gross = _money()
    issue_date = fields.Date(allow_none=True)
    due_date = fields.Date(allow_none=True)
    paid_on = fields.Date(allow_none=True)
    payment_reference = fields.String(allow_none=True)
    credited_invoice_id = fields.Integer(
        allow_none=True, metadata={"description": "A credit note: the invoice it corrects."}
    )


InvoicePage = page_schema(InvoiceOut, "InvoicePage")


class InvoiceLineOut(_LineOut):
    id = fields.Integer()
    position = fields.Integer()
    credited_line_id = fields.Integer(
        allow_none=True, metadata={"description": "A credit note's line: the line it credits."}
    )


InvoiceLinePage = page_schema(InvoiceLineOut, "InvoiceLinePage")


class PartyOut(Schema):
    """The issuing or bill-to entity as printed on the document."""

    name = fields.String()
    address = fields.String()
    country = fields.String()
    vat_id = fields.String(allow_none=True)


class CreditNoteRefOut(Schema):
    id = fields.Integer()
    number = fields.String(allow_none=True)
    state = fields.String()
    gross = _money()


class InvoiceDetailOut(InvoiceOut):
    issuer = fields.Nested(PartyOut, allow_none=True, metadata={"description": "When issued."})
    stacked_taxes = fields.Boolean(
        metadata={"description": "A line carries more than one tax (no EN 16931 e-invoice)."}
    )
    tax_currency = fields.String(
        allow_none=True,
        metadata={"description": "The bill-to entity's VAT currency, fixed at the issue (BT-6)."},
    )
    # a string field: documented nullable (a decimal field's contract type drops the null)
    tax_exchange_rate = fields.String(
        allow_none=True,
        metadata={
            "description": "Units of the tax currency per unit of the invoice's, fixed at the "
            "issue."
        },
    )
    tax_total_in_tax_currency = fields.Nested(
        MoneyOut, allow_none=True, metadata={"description": "The VAT total in it (BT-111)."}
    )
    bill_to = fields.Nested(PartyOut)
    reason = fields.String(allow_none=True, metadata={"description": "A credit note's reason."})
    release_items = fields.Boolean()
    lines = fields.List(fields.Nested(InvoiceLineOut))
    tax_breakdown = fields.List(fields.Nested(TaxRowOut))
    vat_notes = fields.List(
        fields.String(), metadata={"description": "The VAT wording it prints (reverse charge)."}
    )
    annex = fields.List(fields.Nested(AnnexWeekOut))
    credit_notes = fields.List(
        fields.Nested(CreditNoteRefOut),
        metadata={"description": "Credit notes referencing this invoice (not discarded)."},
    )


class CloseResultOut(Schema):
    period = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    created = fields.Boolean(
        metadata={"description": "False: the period was closed already; these are its drafts."}
    )
    invoices = fields.List(fields.Nested(InvoiceOut))


class RejectIssueIn(Schema):
    comment = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class MoneyIn(Schema):
    amount = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[0-9]{1,13}(\.[0-9]{1,4})?$", error='A positive amount such as "120.50".'
        ),
        metadata=_AMOUNT,
    )
    currency = fields.String(required=True, validate=validate.Length(equal=3))


class PaymentIn(Schema):
    paid_on = Date(required=True, metadata={"description": "Not before the issue, not future."})
    reference = fields.String(required=True, validate=validate.Length(min=1, max=140))
    amount = fields.Nested(
        MoneyIn,
        load_default=None,
        metadata={"description": "Optional: the amount paid, which must be the gross total."},
    )


class CreditNoteIn(Schema):
    mode = fields.String(
        required=True,
        validate=validate.OneOf(CREDIT_MODES),
        metadata={
            "description": "full: what is left of every line; lines: of the lines named; "
            "amount: a net amount of one line."
        },
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    line_ids = fields.List(
        Integer(validate=ID_RANGE),
        load_default=None,
        validate=validate.Length(max=10_000),
        metadata={"description": "mode lines: the invoice's line ids."},
    )
    line_id = Integer(
        load_default=None, validate=ID_RANGE, metadata={"description": "mode amount: the line."}
    )
    amount = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=20),
        metadata={"description": 'mode amount: the net to credit, such as "120.50".'},
    )
    release_items = fields.Boolean(
        load_default=False,
        metadata={"description": "The next close bills the credited lines' items again."},
    )


class LinesQuery(Schema):
    page = Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = Integer(load_default=200, validate=validate.Range(min=1, max=200))


class NoQuery(Schema):
    """A route that takes no query parameters."""


# --- stacked taxes and service fees (issue 13) ----------------------------------------------


class TaxComponentIn(Schema):
    country = fields.String(required=True, validate=_COUNTRY)
    region = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=6),
        metadata={"description": 'ISO 3166-2 province or state ("QC"); none: the country.'},
    )
    category = fields.String(load_default="standard", validate=_CATEGORY)
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": "As the invoice prints it: GST, QST, HST."},
    )
    rate = fields.String(
        required=True,
        validate=validate.Length(min=1, max=12),
        metadata={"description": 'Percent, 0 to 100, such as "9.975".'},
    )
    effective_from = Date(required=True)


class TaxComponentOut(Schema):
    id = fields.Integer()
    country = fields.String()
    region = fields.String()
    category = fields.String()
    name = fields.String()
    rate = _decimal("Percent.")
    effective_from = fields.Date()


class ServiceFeeIn(Schema):
    supplier_id = Integer(
        load_default=None,
        allow_none=True,
        validate=ID_RANGE,
        metadata={"description": "A supplier whose percent replaces the organization's."},
    )
    percent = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(max=12),
        metadata={
            "description": 'Percent of the lines\' net, 0 to 100, at most 4 decimals ("2.5"); '
            "null removes it."
        },
    )


class ServiceFeeRowOut(Schema):
    supplier_id = fields.Integer()
    percent = _decimal("Percent.")


class ServiceFeesOut(Schema):
    percent = fields.String(
        allow_none=True,
        metadata={"description": "The organization's fee in percent, exact (null: none)."},
    )
    suppliers = fields.List(fields.Nested(ServiceFeeRowOut))
