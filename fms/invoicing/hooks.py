"""What invoicing offers higher areas: a record event sent where an invoice is issued or
paid (`record_event.send("invoice.issued", session=session, ids=[...])`); webhooks connects
to it at app start, so invoicing never imports webhooks."""

from __future__ import annotations

from blinker import Namespace

record_event = Namespace().signal("invoicing.record-event")

ACTION_WORDS = {
    "billing_settings.updated": "Billing settings changed",
    "billing_settings.einvoice_enabled": "E-invoices switched on",
    "billing_settings.einvoice_disabled": "E-invoices switched off",
    "bill_to_entity.created": "Bill-to entity added",
    "bill_to_entity.updated": "Bill-to entity changed",
    "cost_centre_billing.assigned": "Cost centre billed to an entity",
    "vat_rate.created": "VAT rate added",
    "service_fee.set": "Service fee set",
    "service_fee.removed": "Service fee removed",
    "invoicing.period_closed": "Billing period closed",
    "invoice.drafted": "Draft invoice made",
    "invoice.issue_requested": "Invoice sent for approval",
    "invoice.issue_rejected": "Invoice sent back to draft",
    "invoice.issued": "Invoice issued",
    "invoice.paid": "Invoice paid",
    "invoice.credited": "Invoice fully credited",
    "invoice.discarded": "Draft invoice discarded",
    "invoice.pdf_stored": "Invoice PDF stored",
    "credit_note.drafted": "Credit note drafted",
    "credit_note.issue_requested": "Credit note sent for approval",
    "credit_note.issue_rejected": "Credit note sent back to draft",
    "credit_note.issued": "Credit note issued",
    "credit_note.discarded": "Draft credit note discarded",
    "credit_note.pdf_stored": "Credit note PDF stored",
}
ENTITY_WORDS = {
    "billing_settings": "Billing settings",
    "bill_to_entity": "Bill-to entity",
    "cost_centre_billing": "Cost centre billing",
    "vat_rate": "VAT rate",
    "service_fee": "Service fee",
    "invoice": "Invoice",
}


def register(app) -> None:
    """Called once from create_app: the audit log's words and links for invoicing."""
    from flask import url_for

    from fms.audit import hooks as audit_hooks

    audit_hooks.register_action_words(ACTION_WORDS)
    audit_hooks.register_entity_words(ENTITY_WORDS)
    audit_hooks.register_entity_link(
        "invoice", lambda i: url_for("invoicing.invoice", invoice_id=i)
    )
