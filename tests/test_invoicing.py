"""Consolidated invoicing through its services: the money, billing by work date, exactly
once, issue with gapless numbers and four eyes, payments, credit notes, immutability,
tenancy and permissions. Expected figures are worked out by hand in each test."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.audit import services as audit
from fms.audit.models import AuditEntry
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.invoicing import services as invoicing
from fms.invoicing import settings as billing
from fms.invoicing.models import (
    BillToEntity,
    ImmutableInvoice,
    Invoice,
    InvoiceAnnexRow,
    InvoiceLineItem,
    InvoiceTax,
)
from fms.timesheets.models import PeriodLock, Timesheet, TimesheetEntry
from tests.factories import as_org

# the invoicing factories (bill, billing_for, add_terms), registered for this module

NOV_2 = date(2026, 11, 2)  # a Monday
NOV_9 = date(2026, 11, 9)
NOV_16 = date(2026, 11, 16)
NOV_30 = date(2026, 11, 30)  # its week ends on Sunday 6 December
OCT_26 = date(2026, 10, 26)
DEC_7 = date(2026, 12, 7)
D = Decimal
# a close runs once its period is over: "today" for November and December closes
AFTER_NOVEMBER = date(2026, 12, 3)
AFTER_DECEMBER = date(2027, 1, 4)


def nets(session, invoice):
    return [line.net for line in invoicing.lines_of(session, invoice.id)]


def entry_invoice_ids(session, sheet):
    return dict(
        session.execute(
            select(TimesheetEntry.work_date, TimesheetEntry.invoice_id).where(
                TimesheetEntry.timesheet_id == sheet.id
            )
        ).all()
    )


# --- money ---------------------------------------------------------------------------------


def test_lines_round_once_and_vat_rounds_once_per_category(session, bill):
    bill.world.set_terms(rate=D("100"))
    # 3 days of 7 minutes at 100.00/h: 21 min = 35.00 exactly on one line (rounding each
    # day first would give 3 x 11.67 = 35.01)
    bill.approved_week(NOV_2, (7, 7, 7))
    bill.milestone("10.03", date(2026, 11, 20))
    bill.expense("10.03", date(2026, 11, 21))
    preview = invoicing.preview_close(session, actor=bill.finance, period="2026-11")
    assert preview.problems == []
    (planned,) = preview.invoices
    assert [line.net for line in planned.lines] == [D("35.00"), D("10.03"), D("10.03")]
    # VAT on the category's sum: 55.06 x 19 % = 10.4614 -> 10.46 (per line it would be
    # 6.65 + 1.91 + 1.91 = 10.47)
    assert (planned.totals.net, planned.totals.tax, planned.totals.gross) == (
        D("55.06"),
        D("10.46"),
        D("65.52"),
    )

    result = bill.close()
    (invoice,) = result.invoices
    assert result.created
    # the draft agrees with the preview to the cent
    assert nets(session, invoice) == [D("35.00"), D("10.03"), D("10.03")]
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("55.06"),
        D("10.46"),
        D("65.52"),
    )
    (tax,) = session.scalars(select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id))
    assert (tax.category, tax.rate, tax.taxable, tax.tax) == (
        "standard",
        D("19"),
        D("55.06"),
        D("10.46"),
    )
    lines = invoicing.lines_of(session, invoice.id)
    assert [(line.kind, line.unit, line.quantity) for line in lines] == [
        ("time", "minute", 21),
        ("milestone", "each", 1),
        ("expense", "each", 1),
    ]


def test_cross_border_b2b_is_reverse_charge_without_vat(session, billing_for):
    bill = billing_for(name="Client SARL", country="FR", vat_id="FR1234")
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    # 480 min at 90.00/h = 720.00; no VAT
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("720.00"),
        D("0.00"),
        D("720.00"),
    )
    (line,) = invoicing.lines_of(session, invoice.id)
    assert line.vat_category == "reverse_charge"


def test_a_mid_period_rate_amendment_gives_two_lines(session, bill, add_terms):
    add_terms(bill.world.engagement, NOV_16, rate=D("120"))
    bill.approved_week(NOV_9, (480,))
    bill.approved_week(NOV_16, (480, 30))
    (invoice,) = bill.close().invoices
    lines = invoicing.lines_of(session, invoice.id)
    # 480 min at 90 = 720.00; 510 min at 120 = 1,020.00
    assert [(line.rate, line.quantity, line.net) for line in lines] == [
        (D("90"), 480, D("720.00")),
        (D("120"), 510, D("1020.00")),
    ]
    # 1,740.00 + 19 % = 330.60
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("1740.00"),
        D("330.60"),
        D("2070.60"),
    )


# --- billing by work date ------------------------------------------------------------------


def test_a_week_straddling_the_month_end_is_billed_day_by_day(session, bill):
    sheet = bill.approved_week(NOV_30, (480, 240, 60))  # Mon 30 Nov, Tue 1, Wed 2 Dec
    (november,) = bill.close().invoices
    assert nets(session, november) == [D("720.00")]  # 480 min at 90
    marks = entry_invoice_ids(session, sheet)
    assert marks[NOV_30] == november.id
    assert marks[date(2026, 12, 1)] is None and marks[date(2026, 12, 2)] is None
    assert session.get(Timesheet, sheet.id).state == "approved"  # not all days billed yet

    (december,) = bill.close("2026-12", today=AFTER_DECEMBER).invoices
    assert nets(session, december) == [D("450.00")]  # 300 min at 90
    marks = entry_invoice_ids(session, sheet)
    assert marks[date(2026, 12, 1)] == marks[date(2026, 12, 2)] == december.id
    session.expire_all()
    assert session.get(Timesheet, sheet.id).state == "invoiced"
    # each invoice's annex shows the week, with only the days it bills
    annex = {
        row.invoice_id: (row.week_start, row.first_date, row.last_date, row.minutes)
        for row in session.scalars(select(InvoiceAnnexRow))
    }
    assert annex == {
        november.id: (NOV_30, NOV_30, NOV_30, 480),
        december.id: (NOV_30, date(2026, 12, 1), date(2026, 12, 2), 300),
    }


def test_late_items_are_billed_in_the_next_close_as_prior_period(session, bill):
    bill.approved_week(NOV_2, (480,))
    (november,) = bill.close().invoices
    # a late October week, approved after November was closed
    bill.approved_week(OCT_26, (120, 60))
    bill.approved_week(DEC_7, (480,))
    preview = invoicing.preview_close(session, actor=bill.finance, period="2026-12")
    (planned,) = preview.invoices
    assert [(p.work_date, p.kind) for p in planned.prior_period] == [
        (OCT_26, "time"),
        (date(2026, 10, 27), "time"),
    ]
    (december,) = bill.close("2026-12", today=AFTER_DECEMBER).invoices
    # 180 + 480 = 660 min at 90 = 990.00, one line (same engagement, rate and kind)
    assert nets(session, december) == [D("990.00")]
    (line,) = invoicing.lines_of(session, december.id)
    assert line.first_date == OCT_26 and line.last_date == DEC_7
    assert nets(session, november) == [D("720.00")]


def test_a_close_bills_every_kind_of_item_with_a_work_date_up_to_the_end(session, bill):
    sheet = bill.approved_week(NOV_2, (480,))
    bill.adjustment(sheet, NOV_2, minutes=-60)  # -60 min at 90 = -90.00
    bill.adjustment(sheet, NOV_2, amount="12.50")
    bill.milestone("500", date(2026, 11, 30))
    bill.milestone("700", date(2026, 12, 1))  # due in December: not yet
    bill.expense("20", date(2026, 11, 3), state="submitted")  # not approved: not yet
    (invoice,) = bill.close().invoices
    lines = invoicing.lines_of(session, invoice.id)
    assert [(line.kind, line.net) for line in lines] == [
        ("time", D("720.00")),
        ("milestone", D("500.00")),
        ("adjustment", D("12.50")),  # an amount
        ("adjustment", D("-90.00")),  # minutes at the day's rate
    ]
    # 1,142.50 net; 19 % = 217.075 -> 217.08 (half up)
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("1142.50"),
        D("217.08"),
        D("1359.58"),
    )


# --- exactly once --------------------------------------------------------------------------


def test_closing_twice_bills_nothing_twice(session, bill):
    sheet = bill.approved_week(NOV_2, (480, 480))
    first = bill.close()
    again = bill.close()
    assert first.created and not again.created
    assert [i.id for i in again.invoices] == [i.id for i in first.invoices]
    assert session.scalar(select(func.count()).select_from(Invoice)) == 1
    assert session.scalar(select(func.count()).select_from(PeriodLock)) == 1
    # December's close finds November's days billed already
    assert bill.close("2026-12", today=AFTER_DECEMBER).invoices == []
    per_entry = session.execute(
        select(InvoiceLineItem.item_id, func.count())
        .where(InvoiceLineItem.item_type == "entry")
        .group_by(InvoiceLineItem.item_id)
    ).all()
    assert sorted(count for _, count in per_entry) == [1, 1]
    session.expire_all()
    assert session.get(Timesheet, sheet.id).state == "invoiced"
    assert audit.verify_chain(session, bill.org.id).ok


def test_marking_refuses_an_item_billed_already(session, bill):
    from fms.timesheets import services as ts

    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    entry_id = session.scalar(select(TimesheetEntry.id).where(TimesheetEntry.work_date == NOV_2))
    with pytest.raises(RuleViolation):
        ts.mark_invoiced(
            session, actor=bill.finance, entry_ids=[entry_id], invoice_id=invoice.id + 1
        )
    assert (
        session.scalar(select(TimesheetEntry.invoice_id).where(TimesheetEntry.id == entry_id))
        == invoice.id
    )


def test_discarding_a_draft_releases_its_items(session, bill):
    sheet = bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    session.expire_all()
    assert session.get(Timesheet, sheet.id).state == "invoiced"
    invoicing.discard_draft(session, actor=bill.finance, invoice_id=invoice.id)
    session.expire_all()
    assert session.get(Timesheet, sheet.id).state == "approved"
    assert entry_invoice_ids(session, sheet)[NOV_2] is None
    (december,) = bill.close("2026-12", today=AFTER_DECEMBER).invoices
    assert nets(session, december) == [D("720.00")]


# --- issue and numbering -------------------------------------------------------------------


def _three_months(bill):
    bill.approved_week(date(2026, 10, 5), (480,))
    bill.approved_week(NOV_2, (480,))
    bill.approved_week(DEC_7, (480,))
    (october,) = bill.close("2026-10", today=AFTER_NOVEMBER).invoices
    (november,) = bill.close("2026-11").invoices
    (december,) = bill.close("2026-12", today=AFTER_DECEMBER).invoices
    return october, november, december


def test_numbers_are_gapless_and_restart_each_year(session, bill):
    october, november, december = _three_months(bill)
    assert bill.issue(october).number == "INV-2026-00001"
    with pytest.raises(RuleViolation):
        bill.issue(october)  # issued already: no number is used up
    assert bill.issue(november).number == "INV-2026-00002"
    assert bill.issue(december, today=date(2027, 1, 5)).number == "INV-2027-00001"
    assert december.issue_date == date(2027, 1, 5)
    assert december.due_date == date(2027, 2, 4)  # 30 days
    assert december.issuer_snapshot["vat_id"] == "DE999999999"
    assert december.bill_to_snapshot["name"] == "Client GmbH"
    # credit notes have their own series
    note = bill.credit(october, mode="full", reason="Wrong")
    assert bill.issue(note).number == "CN-2026-00001"


def test_without_yearly_reset_numbers_run_on(session, bill):
    billing.update_billing_settings(
        session, actor=bill.finance, yearly_reset=False, invoice_prefix="F"
    )
    october, november, december = _three_months(bill)
    assert bill.issue(october).number == "F000001"
    assert bill.issue(december, today=date(2027, 1, 5)).number == "F000002"


def test_four_eyes_needs_a_second_finance_user(session, bill):
    billing.update_billing_settings(session, actor=bill.finance, four_eyes=True)
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    assert invoice.state == "awaiting_approval" and invoice.number is None
    with pytest.raises(NotAllowed):
        invoicing.approve_issue(session, actor=bill.finance, invoice_id=invoice.id)
    invoicing.approve_issue(
        session, actor=bill.finance2, invoice_id=invoice.id, today=date(2026, 12, 4)
    )
    assert invoice.state == "issued" and invoice.number == "INV-2026-00001"
    assert invoice.issued_by_user_id == bill.finance2.user_id
    with pytest.raises(RuleViolation):
        invoicing.approve_issue(session, actor=bill.finance2, invoice_id=invoice.id)


def test_an_issue_request_can_be_sent_back(session, bill):
    billing.update_billing_settings(session, actor=bill.finance, four_eyes=True)
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    invoicing.reject_issue(session, actor=bill.finance2, invoice_id=invoice.id, comment="PO?")
    assert invoice.state == "draft" and invoice.number is None


def test_issued_invoices_are_immutable(session, bill):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    with pytest.raises(RuleViolation):
        invoicing.discard_draft(session, actor=bill.finance, invoice_id=invoice.id)
    invoice.net_total = D("1.00")
    with pytest.raises(ImmutableInvoice):
        session.flush()
    session.expire(invoice)  # drop the refused change
    line = invoicing.lines_of(session, invoice.id)[0]
    line.net = D("1.00")
    with pytest.raises(ImmutableInvoice):
        session.flush()
    session.expire(line)
    assert invoice.net_total == D("720.00")


def test_transitions_are_audited(session, bill):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    invoicing.record_payment(
        session,
        actor=bill.finance,
        invoice_id=invoice.id,
        paid_on="2026-12-20",
        reference="BANK-1",
        today=date(2026, 12, 21),
    )
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.entity_type == "invoice", AuditEntry.entity_id == invoice.id)
        .order_by(AuditEntry.seq)
    ).all()
    assert actions == ["invoice.drafted", "invoice.issued", "invoice.paid"]
    assert (invoice.state, invoice.paid_on, invoice.payment_reference) == (
        "paid",
        date(2026, 12, 20),
        "BANK-1",
    )
    assert audit.verify_chain(session, bill.org.id).ok


# --- credit notes --------------------------------------------------------------------------


def test_a_full_credit_that_releases_items_lets_the_next_close_bill_them(session, bill):
    sheet = bill.approved_week(NOV_2, (480, 60))
    (november,) = bill.close().invoices
    bill.issue(november)
    note = bill.credit(
        november,
        mode="full",
        reason="Billed to the wrong entity",
        release_items=True,
    )
    # 540 min at 90 = 810.00; VAT 153.90; the note mirrors it
    assert (note.net_total, note.tax_total, note.gross_total) == (
        D("810.00"),
        D("153.90"),
        D("963.90"),
    )
    # a draft credit note changes nothing yet
    assert entry_invoice_ids(session, sheet)[NOV_2] == november.id
    bill.issue(note)
    assert november.state == "credited"
    assert note.credited_invoice_id == november.id
    session.expire_all()
    assert set(entry_invoice_ids(session, sheet).values()) == {None}
    assert session.get(Timesheet, sheet.id).state == "approved"
    (december,) = bill.close("2026-12", today=AFTER_DECEMBER).invoices
    assert nets(session, december) == [D("810.00")]
    (planned_line,) = invoicing.lines_of(session, december.id)
    assert planned_line.first_date == NOV_2  # billed again, as prior-period items


def test_a_credit_without_release_keeps_the_items_billed(session, bill):
    sheet = bill.approved_week(NOV_2, (480,))
    (november,) = bill.close().invoices
    bill.issue(november)
    note = bill.credit(november, mode="full", reason="Goodwill")
    bill.issue(note)
    assert november.state == "credited"
    assert entry_invoice_ids(session, sheet)[NOV_2] == november.id
    assert bill.close("2026-12", today=AFTER_DECEMBER).invoices == []


def test_per_line_and_partial_credits_never_exceed_what_was_invoiced(session, bill):
    bill.approved_week(NOV_2, (480,))
    bill.milestone("1000", date(2026, 11, 20))
    (invoice,) = bill.close().invoices
    bill.issue(invoice)
    time_line, milestone_line = invoicing.lines_of(session, invoice.id)
    partial = bill.credit(
        invoice,
        mode="amount",
        line_id=milestone_line.id,
        amount="250.00",
        reason="Late delivery",
    )
    # 250.00 + 19 % = 297.50
    assert (partial.net_total, partial.tax_total, partial.gross_total) == (
        D("250.00"),
        D("47.50"),
        D("297.50"),
    )
    with pytest.raises(RuleViolation):  # 750.00 are left on that line
        bill.credit(
            invoice,
            mode="amount",
            line_id=milestone_line.id,
            amount="750.01",
            reason="Too much",
        )
    with pytest.raises(RuleViolation):  # a part-credited line releases nothing
        bill.credit(
            invoice,
            mode="lines",
            line_ids=[milestone_line.id],
            release_items=True,
            reason="Again",
        )
    by_line = bill.credit(
        invoice,
        mode="lines",
        line_ids=[time_line.id],
        release_items=True,
        reason="Wrong hours",
    )
    assert by_line.net_total == D("720.00")
    bill.issue(partial)
    bill.issue(by_line)
    assert invoice.state == "issued"  # 750.00 of the milestone line are not credited
    rest = bill.credit(invoice, mode="full", reason="Cancelled")
    assert rest.net_total == D("750.00")
    bill.issue(rest)
    assert invoice.state == "credited"
    with pytest.raises(RuleViolation):
        bill.credit(invoice, mode="full", reason="More")


def test_a_draft_cannot_be_credited_or_paid(session, bill):
    bill.approved_week(NOV_2, (480,))
    (invoice,) = bill.close().invoices
    with pytest.raises(RuleViolation):
        bill.credit(invoice, mode="full", reason="x")
    with pytest.raises(RuleViolation):
        invoicing.record_payment(
            session,
            actor=bill.finance,
            invoice_id=invoice.id,
            paid_on="2026-12-01",
            reference="X",
            today=date(2026, 12, 2),
        )
    assert invoice.state == "draft"


# --- refusals ------------------------------------------------------------------------------


def test_a_period_that_is_not_over_cannot_be_closed(session, bill):
    bill.approved_week(NOV_2, (480,))
    with pytest.raises(RuleViolation, match="not over"):
        bill.close(today=NOV_30)
    with pytest.raises(InvalidInput):
        bill.close(period="November")
    assert session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert session.scalar(select(func.count()).select_from(PeriodLock)) == 0


def test_an_unassigned_cost_centre_stops_the_close(session, bill, make_unit):
    other = make_unit(bill.org, "cost_centre")
    engagement = bill.world.make_engagement(
        bill.org,
        freelancer=bill.world.freelancer,
        manager_id=bill.world.manager.user_id,
        cost_centre_id=other.id,
    )
    bill.approved_week(NOV_2, (480,), engagement=engagement)
    preview = invoicing.preview_close(session, actor=bill.finance, period="2026-11")
    assert preview.problems == [f"Cost centre {other.id} is billed to no bill-to entity."]
    with pytest.raises(RuleViolation, match="billed to no bill-to entity"):
        bill.close()
    assert session.scalar(select(func.count()).select_from(PeriodLock)) == 0


def test_a_required_po_must_be_there(session, bill):
    bill.entity.po_required = True
    session.flush()
    bill.approved_week(NOV_2, (480,))
    with pytest.raises(RuleViolation, match="PO"):
        bill.close()
    bill.entity.default_po = "PO-77"
    session.flush()
    (invoice,) = bill.close().invoices
    assert invoice.po_number == "PO-77"


# --- tenancy and permissions ---------------------------------------------------------------


def test_another_organizations_invoice_is_not_found(session, bill, make_org):
    other = make_org()
    with as_org(session, other.id):
        entity = BillToEntity(org_id=other.id, name="Theirs", country="DE")
        session.add(entity)
        session.flush()
        theirs = Invoice(
            org_id=other.id,
            bill_to_entity_id=entity.id,
            currency="EUR",
            period_start=date(2026, 11, 1),
            period_end=NOV_30,
        )
        session.add(theirs)
        session.flush()
    for call in (
        lambda: invoicing.get_invoice(session, actor=bill.finance, invoice_id=theirs.id),
        lambda: bill.issue(theirs),
        lambda: invoicing.discard_draft(session, actor=bill.finance, invoice_id=theirs.id),
    ):
        with pytest.raises(NotFound):
            call()


def test_only_finance_and_org_admins_invoice(session, bill, make_member, actor_of):
    bill.approved_week(NOV_2, (480,))
    for actor in (bill.world.manager, bill.world.procurement, bill.world.me):
        with pytest.raises(NotAllowed):
            bill.close(actor=actor)
        with pytest.raises(NotAllowed):
            invoicing.preview_close(session, actor=actor, period="2026-11")
    admin = actor_of(make_member(bill.org, roles=("org_admin",)))
    assert bill.close(actor=admin).created


# --- the command line ----------------------------------------------------------------------


def test_the_close_command_closes_once_and_prints_the_drafts(app, session, bill):
    bill.approved_week(date(2026, 10, 5), (480,))
    runner = app.test_cli_runner()
    args = ["fms", "invoicing", "close", "--org", bill.org.slug, "--period", "2026-10"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "Closed 2026-10 (2026-10-01 to 2026-10-31): 1 draft invoice(s)." in result.output
    # 480 min at 90 = 720.00; 19 % VAT = 136.80
    assert "Client GmbH EUR: net 720.00 + VAT 136.80 = 856.80 (draft)" in result.output
    again = runner.invoke(args=args)
    assert again.exit_code == 0
    assert "Already closed: 2026-10" in again.output
    assert session.scalar(select(func.count()).select_from(Invoice)) == 1
    bad = runner.invoke(
        args=["fms", "invoicing", "close", "--org", "nobody", "--period", "2026-10"]
    )
    assert bad.exit_code != 0 and "No organization 'nobody'" in bad.output
    wrong = runner.invoke(args=[*args[:-1], "2026-10-1"])
    assert wrong.exit_code != 0 and "monthly period is written YYYY-MM" in wrong.output


# --- more kinds of work --------------------------------------------------------------------


def test_daily_rates_bill_half_days_and_the_annex_counts_them(session, bill):
    from fms.timesheets import services as ts

    world = bill.world
    daily = world.make_engagement(
        world.org,
        freelancer=world.freelancer,
        kind="daily",
        rate="800",
        manager_id=world.manager.user_id,
    )
    sheet = ts.open_timesheet(session, actor=world.me, engagement_id=daily.id, week_start=NOV_2)
    ts.save_entries(
        session,
        actor=world.me,
        timesheet_id=sheet.id,
        entries=[
            {"work_date": "2026-11-02", "days": "1"},
            {"work_date": "2026-11-03", "days": "0.5"},
        ],
    )
    world.submit(sheet, today=DEC_7)
    ts.approve_timesheet(session, actor=world.manager, timesheet_id=sheet.id)
    (invoice,) = bill.close().invoices
    (line,) = invoicing.lines_of(session, invoice.id)
    # 3 half days x 800 / 2 = 1,200.00
    assert (line.kind, line.unit, line.quantity, line.net) == ("time", "half_day", 3, D("1200.00"))
    (row,) = session.scalars(select(InvoiceAnnexRow))
    assert (row.half_days, row.minutes, row.first_date, row.last_date) == (
        3,
        0,
        NOV_2,
        date(2026, 11, 3),
    )


def test_overtime_is_its_own_line_and_a_day_is_released_only_whole(session, bill):
    bill.world.set_terms(overtime_rate=D("135"))
    sheet = bill.approved_week(NOV_2, (600,))
    (invoice,) = bill.close().invoices
    time_line, overtime_line = invoicing.lines_of(session, invoice.id)
    # 480 min at 90 = 720.00; 120 min at 135 = 270.00
    assert [(line.kind, line.quantity, line.net) for line in (time_line, overtime_line)] == [
        ("time", 480, D("720.00")),
        ("overtime", 120, D("270.00")),
    ]
    bill.issue(invoice)
    with pytest.raises(RuleViolation, match="also billed on line"):
        bill.credit(
            invoice,
            mode="lines",
            line_ids=[overtime_line.id],
            release_items=True,
            reason="Overtime not agreed",
        )
    note = bill.credit(
        invoice,
        mode="lines",
        line_ids=[time_line.id, overtime_line.id],
        release_items=True,
        reason="Wrong day",
    )
    bill.issue(note)
    session.expire_all()
    assert entry_invoice_ids(session, sheet) == {NOV_2: None}


def test_an_expense_in_another_currency_is_its_own_invoice(session, bill):
    bill.approved_week(NOV_2, (480,))
    bill.expense("100", date(2026, 11, 4), currency="USD")
    invoices = bill.close().invoices
    assert [(i.currency, i.net_total, i.tax_total) for i in invoices] == [
        ("EUR", D("720.00"), D("136.80")),
        ("USD", D("100.00"), D("19.00")),
    ]


def test_weekly_billing_closes_iso_weeks(session, bill):
    billing.update_billing_settings(session, actor=bill.finance, billing_period="weekly")
    bill.approved_week(NOV_30, (480, 480))  # Monday 30 Nov and Tuesday 1 Dec: week 49
    with pytest.raises(InvalidInput, match="YYYY-Www"):
        bill.close(period="2026-11")
    (invoice,) = bill.close(period="2026-W49", today=DEC_7).invoices
    assert (invoice.period_start, invoice.period_end) == (NOV_30, date(2026, 12, 6))
    assert invoice.net_total == D("1440.00")
    preview = invoicing.preview_close(session, actor=bill.finance, period="2026-W49")
    assert preview.already_closed and preview.invoices == []


def test_billing_settings_refuse_bad_input(session, bill):
    for values in (
        {"issuer_iban": "DE00 not an iban"},
        {"issuer_bic": "XX"},
        {"billing_period": "daily"},
        {"payment_terms_days": 400},
        {"invoice_prefix": "CN-"},  # the credit notes' prefix
        {"invoice_prefix": "=HYPERLINK("},
        {"issuer_country": "Germany"},
        {"colour": "blue"},
    ):
        with pytest.raises(InvalidInput):
            billing.update_billing_settings(session, actor=bill.finance, **values)
    with pytest.raises(InvalidInput):
        billing.add_vat_rate(
            session,
            actor=bill.finance,
            country="DE",
            category="reduced",
            rate="101",
            effective_from="2026-01-01",
        )
    with pytest.raises(RuleViolation):
        billing.add_vat_rate(
            session,
            actor=bill.finance,
            country="DE",
            category="zero",
            rate="7",
            effective_from="2026-01-01",
        )
    with pytest.raises(NotAllowed):
        billing.update_billing_settings(session, actor=bill.world.manager, four_eyes=True)
    settings = billing.billing_settings(session)
    assert (settings.invoice_prefix, settings.four_eyes) == ("INV-", False)


# --- reads ---------------------------------------------------------------------------------


def test_the_list_derives_overdue_and_the_detail_holds_lines_vat_and_annex(session, billing_for):
    from fms.invoicing import queries

    bill = billing_for(name="Client SARL", country="FR", vat_id="FR1234")
    bill.approved_week(date(2026, 10, 5), (480,))
    bill.approved_week(NOV_2, (480,))
    (october,) = bill.close("2026-10").invoices
    (november,) = bill.close("2026-11").invoices
    bill.issue(october, today=date(2026, 11, 2))  # due 2 December
    rows = queries.invoice_rows(session, actor=bill.finance, today=date(2026, 12, 2))
    assert [(r.id, r.state, r.overdue) for r in rows] == [
        (november.id, "draft", False),
        (october.id, "issued", False),
    ]
    late = queries.invoice_rows(
        session, actor=bill.finance, today=date(2026, 12, 3), state="overdue"
    )
    assert [(r.id, r.number, r.overdue, r.bill_to_name) for r in late] == [
        (october.id, "INV-2026-00001", True, "Client SARL")
    ]
    detail = queries.invoice_detail(session, actor=bill.finance, invoice_id=october.id)
    assert [line.net for line in detail.lines] == [D("720.00")]
    assert [(t.category, t.tax) for t in detail.taxes] == [("reverse_charge", D("0"))]
    assert [(a.week_start, a.minutes) for a in detail.annex] == [(date(2026, 10, 5), 480)]
    assert detail.vat_notes and "Reverse charge" in detail.vat_notes[0]
    with pytest.raises(InvalidInput):
        queries.invoice_rows(session, actor=bill.finance, today=NOV_30, state="late")
    with pytest.raises(NotAllowed):
        queries.invoice_rows(session, actor=bill.world.manager, today=NOV_30)


def test_a_close_that_fails_midway_leaves_nothing_and_can_run_again(session, bill, monkeypatch):
    from fms.timesheets import services as ts

    sheet = bill.approved_week(NOV_2, (480,))
    bill.milestone("500", date(2026, 11, 20))
    real = ts.mark_items_invoiced

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ts, "mark_items_invoiced", crash)
    with pytest.raises(RuntimeError), session.begin_nested():
        bill.close()  # the days are marked, then it dies before the milestone
    monkeypatch.setattr(ts, "mark_items_invoiced", real)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert session.scalar(select(func.count()).select_from(PeriodLock)) == 0
    assert entry_invoice_ids(session, sheet) == {NOV_2: None}
    (invoice,) = bill.close().invoices
    assert nets(session, invoice) == [D("720.00"), D("500.00")]


def test_an_empty_draft_cannot_be_issued(session, bill):
    empty = Invoice(
        org_id=bill.org.id,
        bill_to_entity_id=bill.entity.id,
        currency="EUR",
        period_start=date(2026, 11, 1),
        period_end=NOV_30,
    )
    session.add(empty)
    session.flush()
    with pytest.raises(RuleViolation, match="empty"):
        bill.issue(empty)
    assert empty.state == "draft" and empty.number is None
