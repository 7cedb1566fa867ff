"""The events an endpoint may choose, and the object each one carries.

An event's `data` is its record as the API shows it (the area's own API body and output
schema), built for many records at once in a fixed number of statements. Adding an event
is one `register_event` line here (and, in its area, one `record_event.send(...)` where
the change happens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

# build(session, org_id, ids) -> {id: data}; a record that no longer exists is left out
Builder = Callable[[Session, int, list[int]], dict[int, dict]]


@dataclass(frozen=True)
class EventType:
    name: str
    label: str
    build: Builder


EVENTS: dict[str, EventType] = {}


def register_event(name: str, label: str, build: Builder) -> EventType:
    """Make an event choosable by endpoints; registering a name again replaces it."""
    EVENTS[name] = EventType(name, label, build)
    return EVENTS[name]


def event_choices() -> list[tuple[str, str]]:
    return [(e.name, e.label) for e in EVENTS.values()]


# --- the objects, as the API shows them -----------------------------------------------------


def invoices(session: Session, org_id: int, ids: list[int]) -> dict[int, dict]:
    from fms.identity.models import Organization
    from fms.invoicing.api import _invoice_body
    from fms.invoicing.models import BillToEntity, Invoice
    from fms.invoicing.schemas import InvoiceOut
    from fms.timekeeping import today_in

    today = today_in(session.get(Organization, org_id).timezone)
    rows = session.execute(
        select(Invoice, BillToEntity.name)
        .join(BillToEntity, BillToEntity.id == Invoice.bill_to_entity_id)
        .where(Invoice.id.in_(ids))
    ).all()
    return {i.id: InvoiceOut().dump(_invoice_body(i, name, today)) for i, name in rows}


def requisitions(session: Session, org_id: int, ids: list[int]) -> dict[int, dict]:
    from fms.workforce.api import _requisition_bodies
    from fms.workforce.models import Requisition
    from fms.workforce.schemas import RequisitionOut

    rows = session.scalars(select(Requisition).where(Requisition.id.in_(ids))).all()
    return {b["id"]: RequisitionOut().dump(b) for b in _requisition_bodies(rows)}


def engagements(session: Session, org_id: int, ids: list[int]) -> dict[int, dict]:
    from fms.identity.actor import system_actor
    from fms.workforce.api import _engagement_bodies
    from fms.workforce.models import Engagement
    from fms.workforce.schemas import EngagementOut

    rows = session.scalars(select(Engagement).where(Engagement.id.in_(ids))).all()
    # as the organization's staff read it (budget and purchase order included)
    bodies = _engagement_bodies(rows, system_actor(org_id, channel="job"))
    return {b["id"]: EngagementOut().dump(b) for b in bodies}


def timesheets(session: Session, org_id: int, ids: list[int]) -> dict[int, dict]:
    from fms.timesheets.api import _sheet_bodies
    from fms.timesheets.models import Timesheet
    from fms.timesheets.schemas import TimesheetOut
    from fms.workforce.models import Engagement, Freelancer

    rows = session.execute(
        select(Timesheet, Freelancer.display_name, Engagement.title)
        .join(Freelancer, Freelancer.id == Timesheet.freelancer_id)
        .join(Engagement, Engagement.id == Timesheet.engagement_id)
        .where(Timesheet.id.in_(ids))
    ).all()
    return {b["id"]: TimesheetOut().dump(b) for b in _sheet_bodies([tuple(r) for r in rows])}


def compliance_documents(session: Session, org_id: int, ids: list[int]) -> dict[int, dict]:
    from fms.compliance.api import _document_bodies
    from fms.compliance.models import ComplianceDocument
    from fms.compliance.schemas import DocumentOut

    rows = session.scalars(select(ComplianceDocument).where(ComplianceDocument.id.in_(ids))).all()
    return {b["id"]: DocumentOut().dump(b) for b in _document_bodies(rows)}


register_event("requisition.approved", "A requisition was approved", requisitions)
register_event("engagement.activated", "An engagement became active", engagements)
register_event("engagement.ended", "An engagement ended", engagements)
register_event("timesheet.submitted", "A timesheet was submitted", timesheets)
register_event("timesheet.approved", "A timesheet was approved", timesheets)
register_event("timesheet.rejected", "A timesheet was sent back", timesheets)
register_event(
    "compliance.document_expiring", "A compliance document expires soon", compliance_documents
)
register_event("invoice.issued", "An invoice or credit note was issued", invoices)
register_event("invoice.paid", "An invoice was paid", invoices)
