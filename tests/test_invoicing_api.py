"""The invoicing API end to end: settings, bill-to entities, VAT rates, the close (its
preview equal to its drafts), issue, payment, a credit note that releases its items and the
next close that bills them again; idempotent replays; another organization's ids are 404;
people without the invoicing permissions get 403; bad input is a 422 problem with pointers;
the accounts-payable export equals the invoice lines. Figures are worked out by hand from
the factories' data: the engagement bills 90.00 EUR an hour, German VAT is 19 %."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import func, select

from fms.identity.models import Organization, User
from fms.invoicing.models import Invoice, InvoiceLine
from fms.tenancy import scope_session
from fms.timesheets.models import TimesheetEntry
from fms.workforce.models import CostCentre, Freelancer
from tests.factories_timesheets import terms_rows

PROBLEM = "application/problem+json"
KEY = "Idempotency-Key"
NOV_2 = date(2026, 11, 2)  # a Monday
NOV_9 = date(2026, 11, 9)
TODAY = date(2027, 1, 4)  # November and December 2026 are over


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    """The API's "today" (issue dates, payment checks, which periods are over)."""
    monkeypatch.setattr("fms.invoicing.api.org_today", lambda: TODAY)


@pytest.fixture
def api(app, session, bill, sign_in):
    """A client that signs in as someone of the billing world: `api.as_(bill.finance)`."""
    client = app.test_client()

    def as_(actor, org=None):
        sign_in(client, session.get(User, actor.user_id), org or bill.org)
        return client

    client.as_ = as_
    return client


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_data()[:500])
    return response.get_json()


def _problem(response, status):
    assert response.status_code == status, (response.status_code, response.get_data()[:500])
    assert response.content_type.startswith(PROBLEM)
    return response.get_json()


def _pointers(body) -> set[str]:
    return {error.get("pointer") or error.get("parameter") for error in body.get("errors", [])}


def _eur(amount: str) -> dict:
    return {"amount": amount, "currency": "EUR"}


def _november(bill):
    """Two weeks of November: 480 + 450 + 480 minutes = 1,410 min at 90.00/h = 2,115.00;
    VAT 19 % = 401.85; gross 2,516.85."""
    bill.approved_week(NOV_2, (480, 450))
    bill.approved_week(NOV_9, (480,))


def _closed_draft(client) -> dict:
    body = _ok(client.post("/api/v1/billing-periods/2026-11/close"))
    (invoice,) = body["invoices"]
    return invoice


def _issued(client) -> dict:
    invoice = _closed_draft(client)
    return _ok(client.post(f"/api/v1/invoices/{invoice['id']}/issue"))


# --- the whole flow ------------------------------------------------------------------------


def test_settings_close_issue_pay_credit_and_bill_again(api, session, bill):
    finance = api.as_(bill.finance)
    settings = _ok(
        finance.put("/api/v1/billing-settings", json={"payment_terms_days": 14, "four_eyes": False})
    )
    assert settings["payment_terms_days"] == 14 and settings["issuer_country"] == "DE"
    assert settings["period_format"] == "YYYY-MM"
    assert _ok(finance.get("/api/v1/billing-settings")) == settings

    french = _ok(
        finance.post(
            "/api/v1/bill-to-entities",
            json={"name": "Client SARL", "country": "FR", "vat_id": "FR12345678901"},
        ),
        201,
    )
    assert french["cost_centre_ids"] == []
    _problem(
        finance.post("/api/v1/bill-to-entities", json={"name": "Client SARL", "country": "FR"}), 409
    )
    entities = _ok(finance.get("/api/v1/bill-to-entities"))
    assert [e["name"] for e in entities] == ["Client GmbH", "Client SARL"]
    centre = terms_rows(session, bill.world.engagement.id)[0].cost_centre_id
    assert entities[0]["cost_centre_ids"] == [centre]
    assert _ok(finance.get(f"/api/v1/bill-to-entities/{bill.entity.id}"))["country"] == "DE"
    # the cost centre moves to the French entity and back
    moved = _ok(
        finance.put(
            f"/api/v1/cost-centres/{centre}/bill-to", json={"bill_to_entity_id": french["id"]}
        )
    )
    assert moved == {"cost_centre_id": centre, "bill_to_entity_id": french["id"]}
    finance.put(
        f"/api/v1/cost-centres/{centre}/bill-to", json={"bill_to_entity_id": bill.entity.id}
    )
    assert _ok(finance.get(f"/api/v1/cost-centres/{centre}/bill-to"))["bill_to_entity_id"] == (
        bill.entity.id
    )

    rate = _ok(
        finance.post(
            "/api/v1/vat-rates",
            json={
                "country": "FR",
                "category": "standard",
                "rate": "20",
                "effective_from": "2014-01-01",
            },
        ),
        201,
    )
    assert rate["rate"] == "20.00"
    rates = _ok(finance.get("/api/v1/vat-rates"))
    assert [(r["country"], r["rate"]) for r in rates] == [("DE", "19.00"), ("FR", "20.00")]

    _november(bill)
    preview = _ok(finance.get("/api/v1/billing-periods/2026-11/preview"))
    assert preview["problems"] == [] and not preview["already_closed"]
    (planned,) = preview["invoices"]
    assert (planned["net"], planned["tax"], planned["gross"]) == (
        _eur("2115.00"),
        _eur("401.85"),
        _eur("2516.85"),
    )
    assert [(line["quantity"], line["rate"], line["net"]) for line in planned["lines"]] == [
        (1410, "90.00", _eur("2115.00"))
    ]

    closed = _ok(finance.post("/api/v1/billing-periods/2026-11/close"))
    assert closed["created"] and closed["period_start"] == "2026-11-01"
    (draft,) = closed["invoices"]
    assert draft["state"] == "draft" and draft["number"] is None
    detail = _ok(finance.get(f"/api/v1/invoices/{draft['id']}"))
    # the preview equals the drafts to the cent: totals, lines, tax breakdown and annex
    assert (detail["net"], detail["tax"], detail["gross"]) == (
        planned["net"],
        planned["tax"],
        planned["gross"],
    )
    keys = ("kind", "unit", "quantity", "rate", "net", "vat_category", "vat_rate")
    assert [{k: line[k] for k in keys} for line in detail["lines"]] == [
        {k: line[k] for k in keys} for line in planned["lines"]
    ]
    assert (
        detail["tax_breakdown"]
        == planned["tax_breakdown"]
        == [
            {
                "category": "standard",
                "rate": "19.00",
                "taxable": _eur("2115.00"),
                "tax": _eur("401.85"),
            }
        ]
    )
    assert detail["annex"] == planned["annex"] and len(detail["annex"]) == 2
    assert detail["bill_to"]["name"] == "Client GmbH" and detail["issuer"] is None

    issued = _ok(finance.post(f"/api/v1/invoices/{draft['id']}/issue"))
    assert issued["state"] == "issued" and issued["number"] == "INV-2027-00001"
    assert (issued["issue_date"], issued["due_date"]) == ("2027-01-04", "2027-01-18")
    _problem(finance.post(f"/api/v1/invoices/{draft['id']}/issue"), 409)  # already issued
    pdf = finance.get(f"/api/v1/invoices/{draft['id']}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Type"] == "application/pdf"
    _problem(finance.delete(f"/api/v1/invoices/{draft['id']}"), 409)  # never discarded now

    paid = _ok(
        finance.post(
            f"/api/v1/invoices/{draft['id']}/payments",
            json={"paid_on": "2027-01-04", "reference": "BANK-7781", "amount": _eur("2516.85")},
        )
    )
    assert (paid["state"], paid["paid_on"], paid["payment_reference"]) == (
        "paid",
        "2027-01-04",
        "BANK-7781",
    )

    note = _ok(
        finance.post(
            f"/api/v1/invoices/{draft['id']}/credit-notes",
            json={"mode": "full", "reason": "Billed to the wrong entity", "release_items": True},
        ),
        201,
    )
    assert note["kind"] == "credit_note" and note["credited_invoice_id"] == draft["id"]
    assert note["gross"] == _eur("2516.85") and note["release_items"]
    issued_note = _ok(finance.post(f"/api/v1/invoices/{note['id']}/issue"))
    assert issued_note["number"] == "CN-2027-00001"
    original = _ok(finance.get(f"/api/v1/invoices/{draft['id']}"))
    assert original["state"] == "credited"
    assert original["credit_notes"] == [
        {"id": note["id"], "number": "CN-2027-00001", "state": "issued", "gross": _eur("2516.85")}
    ]
    # the items are free again: the next close bills them as prior-period items
    entries = session.scalars(
        select(TimesheetEntry.invoice_id).where(TimesheetEntry.minutes > 0)
    ).all()
    assert entries and set(entries) == {None}
    december = _ok(finance.get("/api/v1/billing-periods/2026-12/preview"))
    (again,) = december["invoices"]
    assert again["gross"] == _eur("2516.85") and len(again["prior_period"]) == 3
    rebilled = _ok(finance.post("/api/v1/billing-periods/2026-12/close"))
    assert [i["gross"] for i in rebilled["invoices"]] == [_eur("2516.85")]

    listed = _ok(finance.get("/api/v1/invoices?per_page=200"))
    assert listed["total"] == 3
    credit_notes = _ok(finance.get("/api/v1/invoices?kind=credit_note"))
    assert [i["id"] for i in credit_notes["items"]] == [note["id"]]
    drafts = _ok(finance.get("/api/v1/invoices?state=draft&period=2026-12"))
    assert [i["id"] for i in drafts["items"]] == [rebilled["invoices"][0]["id"]]
    issued_in_january = _ok(
        finance.get("/api/v1/invoices?issued_from=2027-01-01&issued_to=2027-01-31&currency=EUR")
    )
    assert issued_in_january["total"] == 2
    assert _ok(finance.get(f"/api/v1/invoices?bill_to_entity_id={french['id']}"))["total"] == 0


def test_a_draft_is_discarded_and_its_items_billed_again(api, session, bill):
    finance = api.as_(bill.finance)
    _november(bill)
    draft = _closed_draft(finance)
    discarded = _ok(finance.delete(f"/api/v1/invoices/{draft['id']}"))
    assert discarded["state"] == "discarded"
    preview = _ok(finance.get("/api/v1/billing-periods/2026-12/preview"))
    assert preview["invoices"][0]["gross"] == _eur("2516.85")


def test_four_eyes_issue_is_approved_or_sent_back_through_the_api(api, session, bill):
    finance = api.as_(bill.finance)
    _ok(finance.put("/api/v1/billing-settings", json={"four_eyes": True}))
    _november(bill)
    draft = _closed_draft(finance)
    asked = _ok(finance.post(f"/api/v1/invoices/{draft['id']}/issue"))
    assert asked["state"] == "awaiting_approval" and asked["number"] is None
    _problem(finance.post(f"/api/v1/invoices/{draft['id']}/approve-issue"), 403)  # not twice
    second = api.as_(bill.finance2)
    _problem(second.post(f"/api/v1/invoices/{draft['id']}/reject-issue", json={}), 422)
    back = _ok(second.post(f"/api/v1/invoices/{draft['id']}/reject-issue", json={"comment": "PO?"}))
    assert back["state"] == "draft"
    api.as_(bill.finance).post(f"/api/v1/invoices/{draft['id']}/issue")
    approved = _ok(api.as_(bill.finance2).post(f"/api/v1/invoices/{draft['id']}/approve-issue"))
    assert approved["state"] == "issued" and approved["number"] == "INV-2027-00001"


# --- idempotent replays --------------------------------------------------------------------


def test_close_issue_and_payment_replay_with_the_same_key(api, session, bill):
    finance = api.as_(bill.finance)
    _november(bill)
    first = finance.post("/api/v1/billing-periods/2026-11/close", headers={KEY: "close-nov"})
    again = finance.post("/api/v1/billing-periods/2026-11/close", headers={KEY: "close-nov"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _ok(again) == _ok(first) and _ok(first)["created"]
    assert session.scalar(select(func.count()).select_from(Invoice)) == 1
    invoice_id = _ok(first)["invoices"][0]["id"]

    issue = f"/api/v1/invoices/{invoice_id}/issue"
    one = finance.post(issue, headers={KEY: "issue-1"})
    two = finance.post(issue, headers={KEY: "issue-1"})
    assert two.headers["Idempotent-Replayed"] == "true"
    assert _ok(one)["number"] == _ok(two)["number"] == "INV-2027-00001"

    pay = f"/api/v1/invoices/{invoice_id}/payments"
    body = {"paid_on": "2027-01-04", "reference": "BANK-1"}
    paid = finance.post(pay, json=body, headers={KEY: "pay-1"})
    replay = finance.post(pay, json=body, headers={KEY: "pay-1"})
    assert replay.headers["Idempotent-Replayed"] == "true" and _ok(replay) == _ok(paid)
    # the same key with another body is refused; without a key a second payment is the rule's
    _problem(finance.post(pay, json={**body, "reference": "BANK-2"}, headers={KEY: "pay-1"}), 409)
    _problem(finance.post(pay, json=body), 409)
    assert session.get(Invoice, invoice_id).payment_reference == "BANK-1"


# --- tenancy and permissions ---------------------------------------------------------------


def test_another_organizations_ids_are_404(api, session, bill, make_org, make_member, actor_of):
    finance = api.as_(bill.finance)
    _november(bill)
    invoice = _issued(finance)
    centre = terms_rows(session, bill.world.engagement.id)[0].cost_centre_id
    other = make_org(name="Other Org")
    outsider = actor_of(make_member(other, roles=("finance",)))
    client = api.as_(outsider, session.get(Organization, other.id))
    base = f"/api/v1/invoices/{invoice['id']}"
    for response in (
        client.get(base),
        client.get(f"{base}/lines"),
        client.get(f"{base}/lines.csv"),
        client.delete(base),
        client.post(f"{base}/issue"),
        client.post(f"{base}/payments", json={"paid_on": "2027-01-02", "reference": "X"}),
        client.post(f"{base}/credit-notes", json={"mode": "full", "reason": "x"}),
        client.get(f"/api/v1/bill-to-entities/{bill.entity.id}"),
        client.get(f"/api/v1/cost-centres/{centre}/bill-to"),
        client.put(
            f"/api/v1/cost-centres/{centre}/bill-to", json={"bill_to_entity_id": bill.entity.id}
        ),
    ):
        _problem(response, 404)
    assert _ok(client.get("/api/v1/invoices"))["total"] == 0
    scope_session(session, bill.org.id)
    assert session.get(Invoice, invoice["id"]).payment_reference is None


@pytest.mark.parametrize("who", ["manager", "me"], ids=["hiring-manager", "freelancer"])
def test_a_hiring_manager_and_a_freelancer_get_403(api, session, bill, who):
    _november(bill)
    invoice = _issued(api.as_(bill.finance))
    client = api.as_(getattr(bill.world, who))
    base = f"/api/v1/invoices/{invoice['id']}"
    for response in (
        client.get("/api/v1/invoices"),
        client.get(base),
        client.get(f"{base}/lines"),
        client.get(f"{base}/lines.csv"),
        client.get("/api/v1/invoice-lines.xlsx"),
        client.post(f"{base}/payments", json={"paid_on": "2027-01-02", "reference": "X"}),
        client.post(f"{base}/credit-notes", json={"mode": "full", "reason": "x"}),
        client.get("/api/v1/billing-settings"),
        client.put("/api/v1/billing-settings", json={"payment_terms_days": 1}),
        client.get("/api/v1/bill-to-entities"),
        client.post("/api/v1/bill-to-entities", json={"name": "X", "country": "DE"}),
        client.get("/api/v1/vat-rates"),
        client.get("/api/v1/billing-periods/2026-12/preview"),
        client.post("/api/v1/billing-periods/2026-12/close"),
    ):
        _problem(response, 403)
    scope_session(session, bill.org.id)
    assert session.get(Invoice, invoice["id"]).state == "issued"


# --- bad input -----------------------------------------------------------------------------


def test_bad_input_is_a_422_with_pointers_and_changes_nothing(api, session, bill):
    finance = api.as_(bill.finance)
    for response in (
        finance.get("/api/v1/billing-periods/2026-13/preview"),
        finance.post("/api/v1/billing-periods/2026-13/close"),
    ):
        assert _pointers(_problem(response, 422)) == {"/period"}
    _november(bill)
    invoice = _issued(finance)
    base = f"/api/v1/invoices/{invoice['id']}"
    negative = finance.post(
        f"{base}/payments",
        json={"paid_on": "2027-01-02", "reference": "X", "amount": _eur("-2516.85")},
    )
    assert _pointers(_problem(negative, 422)) == {"/amount/amount"}
    wrong_currency = finance.post(
        f"{base}/payments",
        json={
            "paid_on": "2027-01-02",
            "reference": "X",
            "amount": {"amount": "1", "currency": "USD"},
        },
    )
    assert _pointers(_problem(wrong_currency, 422)) == {"/amount"}
    future = finance.post(f"{base}/payments", json={"paid_on": "2027-02-01", "reference": "X"})
    assert _pointers(_problem(future, 422)) == {"/paid_on"}
    assert _pointers(_problem(finance.post(f"{base}/payments", json={}), 422)) == {
        "/paid_on",
        "/reference",
    }
    line_id = session.scalar(select(InvoiceLine.id).where(InvoiceLine.invoice_id == invoice["id"]))
    # more than was invoiced: the line bills 2,115.00 net (a broken rule: 409, with its pointer)
    above = finance.post(
        f"{base}/credit-notes",
        json={"mode": "amount", "reason": "Too much", "line_id": line_id, "amount": "2115.01"},
    )
    assert _pointers(_problem(above, 409)) == {"/amount"}
    negative_credit = finance.post(
        f"{base}/credit-notes",
        json={"mode": "amount", "reason": "x", "line_id": line_id, "amount": "-5"},
    )
    assert _pointers(_problem(negative_credit, 422)) == {"/amount"}
    for body, pointer in (
        ({"mode": "everything", "reason": "x"}, "/mode"),
        ({"mode": "full", "reason": ""}, "/reason"),
        ({"mode": "full", "reason": "x", "extra": 1}, "/extra"),
    ):
        assert _pointers(_problem(finance.post(f"{base}/credit-notes", json=body), 422)) == {
            pointer
        }
    for body, pointer in (
        (
            {
                "country": "DE",
                "category": "standard",
                "rate": "150",
                "effective_from": "2020-01-01",
            },
            "/rate",
        ),
        (
            {
                "country": "Germany",
                "category": "standard",
                "rate": "7",
                "effective_from": "2020-01-01",
            },
            "/country",
        ),
        (
            {"country": "DE", "category": "luxury", "rate": "7", "effective_from": "2020-01-01"},
            "/category",
        ),
    ):
        assert _pointers(_problem(finance.post("/api/v1/vat-rates", json=body), 422)) == {pointer}
    bad_settings = finance.put("/api/v1/billing-settings", json={"issuer_iban": "not an iban"})
    assert _pointers(_problem(bad_settings, 422)) == {"/issuer_iban"}
    bad_query = finance.get("/api/v1/invoices?state=lost&per_page=500")
    assert _pointers(_problem(bad_query, 422)) == {"state", "per_page"}
    scope_session(session, bill.org.id)
    assert session.get(Invoice, invoice["id"]).state == "issued"
    assert session.scalar(select(func.count()).select_from(Invoice)) == 1


# --- the accounts-payable export -----------------------------------------------------------


def test_the_export_rows_are_the_invoice_lines_and_formulas_are_neutralised(api, session, bill):
    from openpyxl import load_workbook

    bill.world.engagement.title = "=HYPERLINK(evil)"
    session.flush()
    bill.approved_week(NOV_2, (480, 450))  # 930 min = 15.5 h at 90.00 = 1,395.00
    bill.milestone("10.03", date(2026, 11, 20))  # one milestone of 10.03
    finance = api.as_(bill.finance)
    invoice = _issued(finance)
    centre = session.get(
        CostCentre, terms_rows(session, bill.world.engagement.id)[0].cost_centre_id
    )
    freelancer = session.get(Freelancer, bill.world.engagement.freelancer_id).display_name
    po = bill.world.engagement.po_number or ""
    common = [str(invoice["id"]), "INV-2027-00001", "invoice", "2027-01-04", "2027-02-03",
              "Client GmbH", po, centre.code, "'=HYPERLINK(evil)", freelancer]  # fmt: skip
    expected = [
        common + ["1", "time", "'=HYPERLINK(evil) - Time", "15.50", "hour", "90.00",
                  "1395.00", "standard", "19.00", "EUR"],
        common + ["2", "milestone", "'=HYPERLINK(evil) - Milestone", "1", "each", "10.03",
                  "10.03", "standard", "19.00", "EUR"],
    ]  # fmt: skip
    response = finance.get(f"/api/v1/invoices/{invoice['id']}/lines.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"invoice-{invoice['id']}-lines.csv" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text[1:])))
    assert header == [
        "Invoice ID", "Invoice number", "Document", "Issue date", "Due date", "Bill-to", "PO",
        "Cost centre", "Engagement", "Freelancer", "Line", "Kind", "Description", "Quantity",
        "Unit", "Rate", "Net", "VAT category", "VAT rate (%)", "Currency",
    ]  # fmt: skip
    assert rows == expected
    # the pages' function gives the same typed cells
    from fms.exports import csv_cell
    from fms.invoicing.exports import invoice_line_rows

    scope_session(session, bill.org.id)
    typed_header, cells = invoice_line_rows(session, actor=bill.finance, invoice_id=invoice["id"])
    assert typed_header == header
    assert [[csv_cell(cell) for cell in row] for row in cells] == expected
    # the figures are the stored lines': nets add up to the invoice's net
    assert sum(float(r[16]) for r in rows) == pytest.approx(1405.03)
    lines = _ok(finance.get(f"/api/v1/invoices/{invoice['id']}/lines"))
    assert [line["net"]["amount"] for line in lines["items"]] == [r[16] for r in rows]
    assert lines["total"] == 2

    xlsx = finance.get(f"/api/v1/invoices/{invoice['id']}/lines.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    assert cells[0][8] == "=HYPERLINK(evil)"  # a string cell, never a formula
    assert sheet.cell(row=2, column=9).data_type == "s"
    assert [(c[13], c[15], c[16]) for c in cells] == [(15.5, 90, 1395), (1, 10.03, 10.03)]

    # many invoices: the same rows, filtered like the list
    every = finance.get("/api/v1/invoice-lines.csv?period=2026-11&state=issued")
    assert list(csv.reader(io.StringIO(every.get_data().decode("utf-8")[1:])))[1:] == expected
    empty = finance.get("/api/v1/invoice-lines.csv?period=2026-10")
    assert len(list(csv.reader(io.StringIO(empty.get_data().decode("utf-8")[1:])))) == 1
    _problem(finance.get("/api/v1/invoice-lines.csv?period=2026-13"), 422)


def test_a_large_export_is_a_job(api, session, bill, app, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_EXPORT_INLINE_ROWS", 1)
    bill.approved_week(NOV_2, (480,))
    bill.milestone("10.03", date(2026, 11, 20))
    finance = api.as_(bill.finance)
    invoice = _closed_draft(finance)
    response = finance.get(f"/api/v1/invoices/{invoice['id']}/lines.csv")
    body = _ok(response, 202)
    assert response.headers["Location"] == f"/api/v1/jobs/{body['id']}"
    assert body["name"].endswith("export_list")


def test_a_bill_to_entity_is_changed_only_with_its_current_etag(api, session, bill):
    """Two finance users edit the same bill-to entity: the one whose read is stale gets a
    412 problem and the entity keeps the other's change."""
    finance = api.as_(bill.finance)
    url = f"/api/v1/bill-to-entities/{bill.entity.id}"
    read = finance.get(url)
    first = read.headers["ETag"]
    assert finance.get(url).headers["ETag"] == first  # stable while nothing changes
    changed = finance.patch(url, json={"address": "Leopoldstr. 1"}, headers={"If-Match": first})
    assert _ok(changed)["address"] == "Leopoldstr. 1"
    assert changed.headers["ETag"] != first
    stale = finance.patch(url, json={"address": "Old Street 9"}, headers={"If-Match": first})
    _problem(stale, 412)
    assert _ok(finance.get(url))["address"] == "Leopoldstr. 1"
    # without If-Match the last write wins, as before
    assert _ok(finance.patch(url, json={"address": "Old Street 9"}))["address"] == "Old Street 9"


def test_billing_settings_refuse_a_stale_etag(api, session, bill):
    """Two finance users read the billing settings; the first changes the payment terms;
    the second's change with the old tag is a 412 and changes nothing; a hiring manager is
    refused (403) before any tag is compared."""
    finance = api.as_(bill.finance)
    read = finance.get("/api/v1/billing-settings")
    tag = read.headers["ETag"]
    first = finance.put(
        "/api/v1/billing-settings", json={"payment_terms_days": 14}, headers={"If-Match": tag}
    )
    assert first.status_code == 200 and first.headers["ETag"] != tag
    late = finance.put(
        "/api/v1/billing-settings", json={"payment_terms_days": 60}, headers={"If-Match": tag}
    )
    assert late.status_code == 412
    assert finance.get("/api/v1/billing-settings").get_json()["payment_terms_days"] == 14
    manager = api.as_(bill.world.manager)
    refused = manager.put(
        "/api/v1/billing-settings", json={"payment_terms_days": 60}, headers={"If-Match": tag}
    )
    assert refused.status_code == 403
