"""Finance's forms: billing settings, bill-to entities, cost-centre assignment, VAT rates,
closing a period, recording a payment, credit notes. The services hold the rules; the forms
only take the input (dates and numbers through fms.forms' strict fields)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fms.forms import DateField, DecimalField, IntegerField, OneTimeForm
from fms.invoicing import rules

PERIOD_LABELS = {"monthly": "Monthly", "semi_monthly": "Semi-monthly", "weekly": "Weekly"}
CATEGORY_LABELS = {
    "standard": "Standard rate",
    "reduced": "Reduced rate",
    "zero": "Zero rate",
    "exempt": "Exempt",
    "reverse_charge": "Reverse charge",
}


class BillingSettingsForm(FlaskForm):
    billing_period = SelectField("Billing period", choices=list(PERIOD_LABELS.items()))
    issuer_legal_name = StringField("Legal name", validators=[Length(max=200)])
    issuer_address = TextAreaField("Address", validators=[Length(max=1000)])
    issuer_country = StringField(
        "Country", validators=[DataRequired("Two letters, such as DE."), Length(max=2)]
    )
    issuer_vat_id = StringField("VAT id", validators=[Optional(), Length(max=40)])
    issuer_iban = StringField("IBAN", validators=[Optional(), Length(max=34)])
    issuer_bic = StringField("BIC", validators=[Optional(), Length(max=11)])
    issuer_bank_text = TextAreaField(
        "Other payment details",
        validators=[Optional(), Length(max=1000)],
        description="For accounts without an IBAN: the bank, account and routing numbers.",
    )
    payment_terms_days = IntegerField(
        "Payment terms (days)", validators=[DataRequired("How many days to pay.")]
    )
    invoice_prefix = StringField("Invoice number prefix", validators=[Length(max=20)])
    credit_note_prefix = StringField("Credit note number prefix", validators=[Length(max=20)])
    yearly_reset = BooleanField("Start numbering again each year")
    four_eyes = BooleanField("A second finance user approves each issue (four eyes)")


class BillToEntityForm(OneTimeForm):
    name = StringField("Legal name", validators=[DataRequired("Name the legal entity.")])
    country = StringField(
        "Country", validators=[DataRequired("Two letters, such as FR."), Length(max=2)]
    )
    address = TextAreaField("Address", validators=[Optional(), Length(max=1000)])
    vat_id = StringField("VAT id", validators=[Optional(), Length(max=40)])
    tax_currency = StringField(
        "Tax currency",
        validators=[Optional(), Length(max=3)],
        description="When it declares VAT in a currency other than the invoice's.",
    )
    po_required = BooleanField("Every invoice line needs a purchase order number")
    default_po = StringField("Default PO number", validators=[Optional(), Length(max=40)])
    tax_category = SelectField(
        "VAT category",
        choices=[("", "By the rule (domestic: standard; EU B2B: reverse charge)")]
        + list(CATEGORY_LABELS.items()),
        validate_choice=False,
    )
    region = StringField(
        "Province or state",
        validators=[Optional(), Length(max=6)],
        description="ISO 3166-2, such as QC: where its taxes stack (GST + QST).",
    )


class CostCentreForm(FlaskForm):
    cost_centre_id = SelectField("Cost centre", choices=[], validate_choice=False)
    bill_to_entity_id = SelectField("Billed to", choices=[], validate_choice=False)


class VatRateForm(OneTimeForm):
    country = StringField("Country", validators=[DataRequired("Two letters."), Length(max=2)])
    category = SelectField("Category", choices=list(CATEGORY_LABELS.items()))
    rate = DecimalField("Rate (%)", validators=[DataRequired("The rate in percent.")])
    effective_from = DateField("From", validators=[DataRequired("The first day it applies.")])


class PaymentForm(FlaskForm):
    paid_on = DateField("Paid on", validators=[DataRequired("The day the money arrived.")])
    reference = StringField(
        "Payment reference", validators=[DataRequired("The bank's reference."), Length(max=140)]
    )


class CreditNoteForm(OneTimeForm):
    mode = RadioField(
        "What to credit",
        choices=[
            ("full", "The whole invoice (what is left of it)"),
            ("lines", "Chosen lines"),
            ("amount", "An amount of one line"),
        ],
        default="full",
    )
    line_ids = StringField("Lines")  # filled from the checkboxes (several values)
    line_id = SelectField("Line", choices=[], validate_choice=False)
    amount = DecimalField("Net amount to credit", validators=[Optional()])
    reason = TextAreaField(
        "Reason", validators=[DataRequired("Say why, for the customer."), Length(max=2000)]
    )
    release_items = BooleanField("Bill the credited items again at the next close")


class RejectIssueForm(FlaskForm):
    comment = TextAreaField(
        "Why it goes back", validators=[DataRequired("Say what to change."), Length(max=2000)]
    )


def period_hint(billing_period: str) -> str:
    return rules.PERIOD_FORMATS.get(billing_period, "YYYY-MM")


class EInvoiceForm(FlaskForm):
    einvoice_enabled = BooleanField("Issue e-invoices (Factur-X / ZUGFeRD, EN 16931)")


# --- stacked taxes and service fees (issue 13) ----------------------------------------------


class TaxComponentForm(OneTimeForm):
    country = StringField("Country", validators=[DataRequired("Two letters."), Length(max=2)])
    region = StringField(
        "Province or state",
        validators=[Optional(), Length(max=6)],
        description="ISO 3166-2 such as QC; empty: the whole country.",
    )
    category = SelectField(
        "Category", choices=[("standard", "Standard rate"), ("reduced", "Reduced rate")]
    )
    name = StringField(
        "Tax", validators=[DataRequired("As the invoice prints it: GST, QST."), Length(max=20)]
    )
    rate = DecimalField("Rate (%)", validators=[DataRequired("The rate in percent.")])
    effective_from = DateField("From", validators=[DataRequired("The first day it applies.")])


class ServiceFeeForm(FlaskForm):
    supplier_id = SelectField("For", choices=[], validate_choice=False)
    # text: the service reads it exactly and says what is wrong (0 to 100, 4 decimals)
    percent = StringField(
        "Fee (%)",
        validators=[Optional(), Length(max=12)],
        description="Of the lines' net, 0 to 100 with at most 4 decimals; empty removes it.",
    )
