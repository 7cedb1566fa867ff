"""An invoicing world on top of the timesheet world: two finance users, billing settings
(issuer in Germany with a VAT id), a German bill-to entity that the engagement's cost
centre bills to, the German standard rate of 19 %; and helpers that put approved time,
milestones, expenses and adjustments in place the way the services would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from fms.identity.actor import Actor
from fms.invoicing import services as invoicing
from fms.invoicing import settings as billing
from fms.timesheets import services as ts
from fms.timesheets.models import Adjustment, Expense, Milestone
from tests.factories_timesheets import World, terms_rows

# a close runs once its period is over: "today" for November 2026 closes
AFTER_NOVEMBER = date(2026, 12, 3)
AFTER_DECEMBER = date(2027, 1, 4)


@dataclass
class Billing:
    world: World
    finance: Actor
    finance2: Actor
    entity: object
    session: object

    @property
    def org(self):
        return self.world.org

    def approved_week(self, week_start, minutes, engagement=None, **kw):
        """A week of time from `week_start` on (one value per day), submitted and approved
        by the engagement's manager."""
        world = self.world
        sheet = world.fill(week_start, minutes, engagement=engagement, **kw)
        world.submit(sheet, today=week_start + timedelta(days=7))
        ts.approve_timesheet(self.session, actor=world.manager, timesheet_id=sheet.id)
        return sheet

    def _row(self, model, **values):
        row = model(org_id=self.org.id, **values)
        self.session.add(row)
        self.session.flush()
        return row

    def milestone(self, amount, due, engagement=None, state="accepted"):
        engagement = engagement or self.world.engagement
        return self._row(
            Milestone,
            engagement_id=engagement.id,
            title="Deliverable",
            amount=Decimal(amount),
            currency=engagement.currency,
            due_date=due,
            state=state,
        )

    def expense(self, amount, spent_on, currency="EUR", engagement=None, state="approved"):
        engagement = engagement or self.world.engagement
        return self._row(
            Expense,
            engagement_id=engagement.id,
            spent_on=spent_on,
            category="travel",
            amount=Decimal(amount),
            currency=currency,
            description="Train",
            state=state,
        )

    def adjustment(self, sheet, work_date, *, minutes=None, amount=None, state="approved"):
        return self._row(
            Adjustment,
            timesheet_id=sheet.id,
            engagement_id=sheet.engagement_id,
            work_date=work_date,
            minutes=minutes,
            amount=None if amount is None else Decimal(amount),
            currency="EUR",
            reason="Correction",
            state=state,
        )

    def close(self, period="2026-11", today=AFTER_NOVEMBER, actor=None):
        return invoicing.close_period(
            self.session, actor=actor or self.finance, period=period, today=today
        )

    def credit(self, invoice, mode="full", reason="Correction", **values):
        """A draft credit note against the invoice (`values`: line_ids, line_id, amount,
        release_items)."""
        return invoicing.create_credit_note(
            self.session,
            actor=self.finance,
            invoice_id=invoice.id,
            mode=mode,
            reason=reason,
            **values,
        )

    def issue(self, invoice, today=date(2026, 12, 4), actor=None):
        return invoicing.issue_invoice(
            self.session, actor=actor or self.finance, invoice_id=invoice.id, today=today
        )


def setup_billing(session, world, finance, finance2, **entity) -> Billing:
    """Settings, a bill-to entity for the world's cost centre, and German VAT rates."""
    centre = terms_rows(session, world.engagement.id)[0].cost_centre_id
    bill_to = billing_setup(session, finance, centre, **entity)
    return Billing(world, finance, finance2, bill_to, session)


def billing_setup(session, finance, cost_centre_id, **entity):
    """Billing settings (a German issuer with a VAT id), a bill-to entity (German unless
    `entity` says otherwise) that the cost centre bills to, and the standard VAT rate of
    its country (19 %); returns the entity."""
    billing.update_billing_settings(
        session,
        actor=finance,
        issuer_legal_name="FMS Services GmbH",
        issuer_address="Hauptstr. 1, 10115 Berlin",
        issuer_country="DE",
        issuer_vat_id="DE999999999",
        issuer_iban="DE89370400440532013000",
        issuer_bic="COBADEFFXXX",
    )
    values = {"name": "Client GmbH", "country": "DE", "vat_id": "DE123456789"}
    values.update(entity)
    bill_to = billing.add_bill_to_entity(session, actor=finance, **values)
    billing.assign_cost_centre(
        session, actor=finance, cost_centre_id=cost_centre_id, bill_to_entity_id=bill_to.id
    )
    billing.add_vat_rate(
        session,
        actor=finance,
        country=values["country"],
        category="standard",
        rate="19",
        effective_from="2020-01-01",
    )
    return bill_to


@pytest.fixture
def billing_for(session, world, make_member, actor_of):
    """Make the billing world, with a bill-to entity of these values (name, country,
    vat_id, ...) instead of the German default."""

    def make(**entity) -> Billing:
        finance = actor_of(make_member(world.org, roles=("finance",)))
        finance2 = actor_of(make_member(world.org, roles=("finance",)))
        return setup_billing(session, world, finance, finance2, **entity)

    return make


@pytest.fixture
def bill(billing_for):
    """The billing world (see the module's docstring)."""
    return billing_for()


@pytest.fixture
def add_terms(session):
    """`new_terms` as a fixture: (engagement, effective_from, **values) -> terms row."""
    return lambda engagement, effective_from, **values: new_terms(
        session, engagement, effective_from, **values
    )


def new_terms(session, engagement, effective_from, **values):
    """What an approved amendment leaves: a terms row from `effective_from` on, a copy of
    the current one with `values` changed."""
    from fms.workforce.models import EngagementTerms

    current = terms_rows(session, engagement.id)[-1]
    columns = {
        column.key: getattr(current, column.key)
        for column in EngagementTerms.__table__.columns
        if column.key not in ("id", "effective_from", "amendment_id")
    }
    columns.update(values, effective_from=effective_from)
    row = EngagementTerms(**columns)
    session.add(row)
    session.flush()
    return row


# --- the route walk (tests/test_tenancy_routes.py): ids of real invoicing rows -------------

_walk_seq = itertools.count(1)


def _invoice(f, org) -> int:
    """A draft invoice of `org` with one bill-to entity of its own, as rows."""
    from fms.invoicing.models import BillToEntity, Invoice
    from tests.factories import as_org

    n = next(_walk_seq)
    with as_org(f.session, org.id):
        entity = BillToEntity(org_id=org.id, name=f"Entity {n}", country="DE")
        f.session.add(entity)
        f.session.flush()
        invoice = Invoice(
            org_id=org.id,
            kind="invoice",
            state="draft",
            bill_to_entity_id=entity.id,
            currency="EUR",
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
        )
        f.session.add(invoice)
        f.session.flush()
    return invoice.id


def _bill_to_entity(f, org) -> int:
    from fms.invoicing.models import BillToEntity
    from tests.factories import as_org

    with as_org(f.session, org.id):
        entity = BillToEntity(org_id=org.id, name=f"Entity {next(_walk_seq)}", country="FR")
        f.session.add(entity)
        f.session.flush()
    return entity.id


ID_FACTORIES: dict = {"invoice_id": _invoice, "bill_to_entity_id": _bill_to_entity}
