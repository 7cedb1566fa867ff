"""The invoicing life cycle as a hypothesis state machine on the `bill` world: weeks of
November and December 2026 are filled and submitted (late, into a closed period, too),
approved or rejected, corrected by approved adjustments; milestones and expenses (EUR and
USD) become billable; periods close; drafts are issued or discarded; issued invoices are
credited in full with their items released. After every step the money rules hold:

- an item (entry, adjustment, milestone, expense) is on at most one non-credited invoice,
  and its own mark names that invoice;
- after a close of a period, every approved item dated up to its end is on a live invoice,
  unless it became billable or was released (discard, issued credit note) since;
- the live invoices' line nets, per invoice and per currency, are the billed items priced
  here (minutes x 90.00 / 60, amounts as they are) with exact fractions and rounded once
  per line, to the cent;
- issued numbers are consecutive per series, no gap, no duplicate.

The expected figures come from this module's own model of what it did, never from the
code under test. Each example runs in a savepoint of the test's transaction, rolled back
at the end of the example, so the world is built once per test and examples start clean
(the same on SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from fms.invoicing import services as invoicing
from fms.invoicing.models import Invoice, InvoiceLine, InvoiceLineItem
from fms.timesheets import services as ts
from fms.timesheets.models import Adjustment, Expense, Milestone, TimesheetEntry
from tests.factories_invoicing import AFTER_DECEMBER, AFTER_NOVEMBER

RATE = Fraction(90)  # the world's engagement: 90.00 EUR an hour, no overtime rate
ENGAGEMENT_END = date(2026, 12, 31)
WEEKS = [date(2026, 11, 2) + timedelta(weeks=n) for n in range(9)]  # Mondays, to 28 Dec
PERIODS = {
    "2026-11": (date(2026, 11, 30), AFTER_NOVEMBER),
    "2026-12": (date(2026, 12, 31), AFTER_DECEMBER),
}
NOT_CREDITED = ("draft", "awaiting_approval", "issued", "paid")
CENT = Decimal("0.01")
MODEL = {
    "entry": TimesheetEntry,
    "adjustment": Adjustment,
    "milestone": Milestone,
    "expense": Expense,
}
# the state an item is in while it is billable or billed
BILLABLE = {
    "entry": None,  # its sheet's: approved or invoiced
    "adjustment": ("approved", "invoiced"),
    "milestone": ("accepted", "invoiced"),
    "expense": ("approved", "invoiced"),
}

day_minutes = st.sampled_from([0, 0, 15, 60, 95, 240, 300, 420, 480])
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)
days = st.integers(min_value=0, max_value=60).map(lambda n: date(2026, 11, 1) + timedelta(days=n))


def rounded(exact: Fraction) -> Decimal:
    """Half-up to the cent, once."""
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def make_machine(session, bill):
    world = bill.world

    class InvoicingLifeCycle(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.savepoint = session.begin_nested()
            self.sheets: dict[date, dict] = {}  # week start -> id, state, {day: minutes}
            self.adjustments: dict[int, tuple] = {}  # id -> (day, minutes, sheet id)
            self.amount_items: dict[tuple[str, int], tuple[date, Decimal, str]] = {}
            self.invoices: dict[int, str] = {}  # invoice id -> state, as the model knows it
            self.closed: set[str] = set()
            self.closed_through: date | None = None
            # became billable, or were released, since the last close that billed them
            self.pending: set[tuple[str, int]] = set()
            self.clock = date(2026, 11, 2)

        def teardown(self):
            self.savepoint.rollback()
            session.info.pop("fms_pending_jobs", None)  # PDFs of issues rolled back
            session.expire_all()

        # --- time ---------------------------------------------------------------------

        @initialize(
            week=st.sampled_from(WEEKS[:4]),
            minutes=st.lists(st.integers(min_value=1, max_value=480), min_size=5, max_size=5),
        )
        def approved_week(self, week, minutes):
            """Every example starts with an approved November week of five days."""
            self.fill_and_submit(week, minutes)
            self.approve(0)

        @rule(week=st.sampled_from(WEEKS), minutes=st.lists(day_minutes, min_size=7, max_size=7))
        def fill_and_submit(self, week, minutes):
            known = self.sheets.get(week)
            if known is not None and known["state"] not in ("rejected",):
                return  # one sheet per week: only a rejected one is filled again
            worked = {
                week + timedelta(days=i): m
                for i, m in enumerate(minutes)
                if m and week + timedelta(days=i) <= ENGAGEMENT_END
            }
            if not worked:
                return  # nothing to submit
            if known is None:
                sheet = ts.open_timesheet(
                    session, actor=world.me, engagement_id=world.engagement.id, week_start=week
                )
                known = self.sheets[week] = {"id": sheet.id}
            ts.save_entries(
                session,
                actor=world.me,
                timesheet_id=known["id"],
                entries=[{"work_date": d.isoformat(), "minutes": m} for d, m in worked.items()],
            )
            ts.submit_timesheet(
                session, actor=world.me, timesheet_id=known["id"], today=week + timedelta(days=7)
            )
            known.update(state="submitted", days=worked)

        def _submitted(self):
            return [w for w, s in sorted(self.sheets.items()) if s["state"] == "submitted"]

        @precondition(lambda self: self._submitted())
        @rule(pick=st.integers(min_value=0, max_value=20))
        def approve(self, pick):
            weeks = self._submitted()
            known = self.sheets[weeks[pick % len(weeks)]]
            ts.approve_timesheet(session, actor=world.manager, timesheet_id=known["id"])
            known["state"] = "approved"
            ids = session.scalars(
                select(TimesheetEntry.id).where(TimesheetEntry.timesheet_id == known["id"])
            ).all()
            self.pending.update(("entry", i) for i in ids)

        @precondition(lambda self: self._submitted())
        @rule(pick=st.integers(min_value=0, max_value=20))
        def reject(self, pick):
            weeks = self._submitted()
            known = self.sheets[weeks[pick % len(weeks)]]
            ts.reject_timesheet(
                session, actor=world.manager, timesheet_id=known["id"], comment="Not this week"
            )
            known["state"] = "rejected"

        def _approved(self):
            return [w for w, s in sorted(self.sheets.items()) if s["state"] == "approved"]

        def _day_total(self, known, day):
            own = known["days"].get(day, 0)
            return own + sum(
                m
                for d, m, sheet_id in self.adjustments.values()
                if (d, sheet_id) == (day, known["id"])
            )

        @precondition(lambda self: self._approved())
        @rule(data=st.data())
        def adjust(self, data):
            """An approved correction of signed minutes on a day of an approved sheet (it
            may have been invoiced since: sheet state aside, the model calls it approved)."""
            weeks = self._approved()
            known = self.sheets[data.draw(st.sampled_from(weeks), label="week")]
            day = data.draw(st.sampled_from(sorted(known["days"])), label="day")
            total = self._day_total(known, day)
            low, high = -min(total, 240), min(240, 600 - total)
            delta = data.draw(
                st.integers(min_value=low, max_value=high).filter(lambda n: n != 0),
                label="minutes",
            )
            row = ts.create_adjustment(
                session,
                actor=world.me,
                timesheet_id=known["id"],
                work_date=day.isoformat(),
                reason="Correction",
                minutes=delta,
            )
            ts.submit_adjustment(session, actor=world.me, adjustment_id=row.id, today=self.clock)
            ts.decide_adjustment(session, actor=world.manager, adjustment_id=row.id, approve=True)
            self.adjustments[row.id] = (day, delta, known["id"])
            self.pending.add(("adjustment", row.id))

        @rule(amount=amounts, due=days)
        def milestone(self, amount, due):
            row = bill.milestone(amount, due)
            self.amount_items[("milestone", row.id)] = (due, amount, "EUR")
            self.pending.add(("milestone", row.id))

        @rule(amount=amounts, spent=days, currency=st.sampled_from(["EUR", "USD"]))
        def expense(self, amount, spent, currency):
            row = bill.expense(amount, spent, currency=currency)
            self.amount_items[("expense", row.id)] = (spent, amount, currency)
            self.pending.add(("expense", row.id))

        # --- invoicing ------------------------------------------------------------------

        @precondition(lambda self: self.pending)  # something to bill (an empty close is dull)
        @rule(period=st.sampled_from(sorted(PERIODS)))
        def close(self, period):
            end, after = PERIODS[period]
            self.clock = max(self.clock, after)
            result = invoicing.close_period(
                session, actor=bill.finance, period=period, today=self.clock
            )
            assert result.created == (period not in self.closed)
            for invoice in result.invoices:
                self.invoices.setdefault(invoice.id, "draft")
            if not result.created:
                return
            self.closed.add(period)
            self.closed_through = max(filter(None, (self.closed_through, end)))
            # everything approved up to the end is billed now, nothing is excused any more
            unbilled = [key for key in self._approved_items(end) if key not in self._billed()]
            assert not unbilled, f"approved items left unbilled by the close of {period}"
            self.pending = {key for key in self.pending if self._date_of(key) > end}

        def _in(self, state):
            return sorted(i for i, s in self.invoices.items() if s == state)

        @precondition(lambda self: self._in("draft"))
        @rule(pick=st.integers(min_value=0, max_value=20))
        def issue(self, pick):
            drafts = self._in("draft")
            invoice_id = drafts[pick % len(drafts)]
            has_lines = session.scalar(
                select(InvoiceLine.id).where(InvoiceLine.invoice_id == invoice_id).limit(1)
            )
            if not has_lines:
                return  # an empty draft is refused (tests/test_invoicing.py says how)
            invoicing.issue_invoice(
                session, actor=bill.finance, invoice_id=invoice_id, today=self.clock
            )
            self.invoices[invoice_id] = "issued"

        @precondition(lambda self: self._in("draft"))
        @rule(pick=st.integers(min_value=0, max_value=20))
        def discard(self, pick):
            drafts = self._in("draft")
            invoice_id = drafts[pick % len(drafts)]
            released = self._items_on(invoice_id)
            invoicing.discard_draft(session, actor=bill.finance, invoice_id=invoice_id)
            self.invoices[invoice_id] = "discarded"
            self.pending |= released

        @precondition(lambda self: self._in("issued"))
        @rule(pick=st.integers(min_value=0, max_value=20))
        def credit_in_full(self, pick):
            issued = self._in("issued")
            invoice_id = issued[pick % len(issued)]
            released = self._items_on(invoice_id)
            note = invoicing.create_credit_note(
                session,
                actor=bill.finance,
                invoice_id=invoice_id,
                mode="full",
                reason="Wrong week",
                release_items=True,
            )
            invoicing.issue_invoice(
                session, actor=bill.finance, invoice_id=note.id, today=self.clock
            )
            self.invoices[invoice_id] = "credited"
            self.pending |= released

        # --- what the model knows ---------------------------------------------------------

        def _items_on(self, invoice_id):
            return set(
                session.execute(
                    select(InvoiceLineItem.item_type, InvoiceLineItem.item_id).where(
                        InvoiceLineItem.invoice_id == invoice_id
                    )
                ).all()
            ) | {
                ("entry", i)
                for i in session.scalars(
                    select(TimesheetEntry.id).where(TimesheetEntry.invoice_id == invoice_id)
                )
            }

        def _entries(self):
            """Entry id -> (day, minutes) of the sheets the model approved."""
            approved = {s["id"]: s for s in self.sheets.values() if s["state"] == "approved"}
            rows = session.execute(
                select(
                    TimesheetEntry.id,
                    TimesheetEntry.timesheet_id,
                    TimesheetEntry.work_date,
                    TimesheetEntry.minutes,
                ).where(TimesheetEntry.timesheet_id.in_(approved))
            ).all()
            result = {}
            for entry_id, sheet_id, day, minutes in rows:
                assert approved[sheet_id]["days"][day] == minutes  # as entered
                result[entry_id] = (day, minutes)
            return result

        def _date_of(self, key):
            kind, item_id = key
            if kind == "entry":
                return self._entries()[item_id][0]
            if kind == "adjustment":
                return self.adjustments[item_id][0]
            return self.amount_items[key][0]

        def _approved_items(self, end):
            keys = [("entry", i) for i, (d, _) in self._entries().items() if d <= end]
            keys += [("adjustment", i) for i, (d, _, _) in self.adjustments.items() if d <= end]
            keys += [key for key, (d, _, _) in self.amount_items.items() if d <= end]
            return keys

        def _billed(self):
            """Item -> the non-credited invoice it is on (asserting there is one at most)."""
            rows = session.execute(
                select(InvoiceLineItem.item_type, InvoiceLineItem.item_id, Invoice.id)
                .join(Invoice, Invoice.id == InvoiceLineItem.invoice_id)
                .where(Invoice.kind == "invoice", Invoice.state.in_(NOT_CREDITED))
            ).all()
            billed: dict[tuple[str, int], int] = {}
            for item_type, item_id, invoice_id in rows:
                key = (item_type, item_id)
                assert billed.get(key, invoice_id) == invoice_id, f"{key} billed twice"
                billed[key] = invoice_id
            return billed

        # --- the invariants ------------------------------------------------------------

        @invariant()
        def each_item_on_one_invoice_at_most(self):
            billed = self._billed()
            for kind, model in MODEL.items():
                marks = dict(
                    session.execute(
                        select(model.id, model.invoice_id).where(model.invoice_id.is_not(None))
                    ).all()
                )
                on_lines = {i: inv for (k, i), inv in billed.items() if k == kind}
                # zero-minute days are not stored, so every marked item prices on a line
                assert marks == on_lines, kind

        @invariant()
        def closed_periods_leave_nothing_behind(self):
            if self.closed_through is None:
                return
            billed = self._billed()
            missing = [
                key
                for key in self._approved_items(self.closed_through)
                if key not in billed and key not in self.pending
            ]
            assert not missing, f"approved up to {self.closed_through}, not billed: {missing}"

        @invariant()
        def nets_reconcile_to_the_cent(self):
            billed = self._billed()
            entries = self._entries()
            # per invoice, per line (kind x rate): the exact sum of its items
            exact: dict[int, dict[tuple, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
            currency_of: dict[int, str] = {}
            for (kind, item_id), invoice_id in billed.items():
                if kind == "entry":
                    minutes = entries[item_id][1]
                    line, amount, currency = ("time", RATE), RATE * minutes / 60, "EUR"
                elif kind == "adjustment":
                    minutes = self.adjustments[item_id][1]
                    line, amount, currency = ("adjustment", RATE), RATE * minutes / 60, "EUR"
                else:
                    _, value, currency = self.amount_items[(kind, item_id)]
                    line, amount = (kind, value), Fraction(value)
                exact[invoice_id][line] += amount
                assert currency_of.setdefault(invoice_id, currency) == currency
            expected = {
                invoice_id: sum((rounded(v) for v in lines.values()), Decimal(0))
                for invoice_id, lines in exact.items()
            }
            live = session.execute(
                select(Invoice.id, Invoice.currency, Invoice.net_total).where(
                    Invoice.kind == "invoice", Invoice.state.in_(NOT_CREDITED)
                )
            ).all()
            line_nets: dict[int, Decimal] = defaultdict(Decimal)
            for invoice_id, net in session.execute(
                select(InvoiceLine.invoice_id, InvoiceLine.net).where(
                    InvoiceLine.invoice_id.in_([row.id for row in live])
                )
            ):
                line_nets[invoice_id] += net
            per_currency: dict[str, Decimal] = defaultdict(Decimal)
            expected_per_currency: dict[str, Decimal] = defaultdict(Decimal)
            for invoice_id, currency, net_total in live:
                assert line_nets[invoice_id] == expected.get(invoice_id, Decimal(0)), invoice_id
                assert net_total == line_nets[invoice_id]
                per_currency[currency] += line_nets[invoice_id]
            for invoice_id, net in expected.items():
                expected_per_currency[currency_of[invoice_id]] += net
            assert {k: v for k, v in per_currency.items() if v} == {
                k: v for k, v in expected_per_currency.items() if v
            }

        @invariant()
        def numbers_are_consecutive_per_series(self):
            series: dict[str, list[int]] = defaultdict(list)
            for number in session.scalars(
                select(Invoice.number).where(Invoice.number.is_not(None))
            ):
                prefix, n = re.fullmatch(r"(.*?)(\d+)", number).groups()
                series[prefix].append(int(n))
            for prefix, numbers in series.items():
                assert sorted(numbers) == list(range(1, len(numbers) + 1)), prefix

    return InvoicingLifeCycle


def test_the_money_rules_hold_in_any_order(session, bill):
    run_state_machine_as_test(
        make_machine(session, bill),
        settings=settings(
            max_examples=16,
            stateful_step_count=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
