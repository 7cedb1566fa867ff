"""What invoicing offers higher areas: a record event sent where an invoice is issued or
paid (`record_event.send("invoice.issued", session=session, ids=[...])`); webhooks connects
to it at app start, so invoicing never imports webhooks."""

from __future__ import annotations

from blinker import Namespace

record_event = Namespace().signal("invoicing.record-event")
