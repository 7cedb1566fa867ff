"""GET /api/v1/reports/spend: the service's figures (the dashboard's), amounts as strings;
bad filters are a 422 problem naming the parameters; 403 for hiring managers and
freelancers; only the organization's own spend; documented in the OpenAPI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fms.identity.models import User

PROBLEM = "application/problem+json"


@pytest.fixture
def api(app, session, bill, sign_in):
    client = app.test_client()

    def as_(actor, org=None):
        sign_in(client, session.get(User, actor.user_id), org or bill.org)
        return client

    client.as_ = as_
    return client


@pytest.fixture
def november(bill):
    """Nov 2-3: 480 and 30 minutes at 90/h -> 765.00 EUR, closed and issued; Dec 7: 60
    minutes -> 90.00 approved."""
    bill.approved_week(date(2026, 11, 2), (480, 30))
    [invoice] = bill.close().invoices
    bill.issue(invoice)
    bill.approved_week(date(2026, 12, 7), (60,))
    return invoice


def test_spend_api_answers_the_figures(api, bill, november):
    response = api.as_(bill.finance).get(
        "/api/v1/reports/spend?from=2026-11-01&to=2026-12-31&grain=month&currency=original"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    rows = {(r["period"], r["currency"]): r for r in body["rows"]}
    assert rows[("2026-11", "EUR")]["approved"] == "765.00"
    assert rows[("2026-11", "EUR")]["invoiced"] == "765.00"
    assert rows[("2026-11", "EUR")]["minutes"] == 510
    assert rows[("2026-12", "EUR")]["approved"] == "90.00"
    assert body["totals"]["EUR"]["approved"] == "855.00"
    assert body["totals"]["EUR"]["invoiced"] == "765.00"
    assert body["filters"] == {
        "from": "2026-11-01",
        "to": "2026-12-31",
        "grain": "month",
        "group_by": [],
        "currency": "original",
    }
    assert Decimal(body["totals"]["EUR"]["average_rate"]) == Decimal("90.00")


def test_grouped_rows_carry_their_labels(api, bill, november):
    body = (
        api.as_(bill.finance)
        .get("/api/v1/reports/spend?from=2026-11-01&to=2026-11-30&group_by=country,supplier")
        .get_json()
    )
    [row] = body["rows"]
    assert row["keys"] == [bill.world.freelancer.country, "Direct (no supplier)"]


@pytest.mark.parametrize(
    "query, names",
    [
        ("from=2026-02-30", {"from"}),
        ("from=2026-05-01&to=2026-04-01", {"to"}),
        ("grain=day&currency=yen", {"grain", "currency"}),
        ("group_by=a,b,c", {"group_by"}),
    ],
)
def test_bad_filters_are_a_422_problem_naming_them(api, bill, query, names):
    response = api.as_(bill.finance).get(f"/api/v1/reports/spend?{query}")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    named = {e.get("pointer") or e.get("parameter") or e.get("field") for e in body["errors"]}
    assert {n.strip("/") for n in named} == names


def test_hiring_managers_and_freelancers_get_403(api, bill):
    for actor in (bill.world.manager, bill.world.me):
        assert api.as_(actor).get("/api/v1/reports/spend").status_code == 403


def test_another_organizations_spend_is_not_there(
    api, bill, november, make_org, make_member, actor_of
):
    other = make_org()
    finance = actor_of(make_member(other, roles=("finance",)))
    body = api.as_(finance, other).get("/api/v1/reports/spend?from=2026-11-01&to=2026-12-31")
    assert body.status_code == 200
    assert body.get_json()["rows"] == []


def test_documented_in_the_openapi(app):
    client = app.test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/reports/spend"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"from", "to", "grain", "group_by", "currency"} <= names
    assert "422" in operation["responses"]


# --- exports and the monthly spend pack subscription ------------------------------------------

EXPORTS = "/api/v1/reports/exports"
SUBSCRIPTIONS = "/api/v1/reports/subscriptions"


@pytest.fixture
def token_of(session, actor_of):
    """The secret of a personal token of `membership` with `scopes`."""
    from fms.identity.tokens import services as tokens
    from tests.factories import as_org

    def make(membership, scopes):
        with as_org(session, membership.org_id):
            _, secret = tokens.create_personal_token(
                session, actor=actor_of(membership), name="script", scopes=scopes
            )
        session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make


def _membership(session, actor):
    from sqlalchemy import select

    from fms.identity.models import Membership

    return session.scalar(
        select(Membership).where(
            Membership.user_id == actor.user_id, Membership.org_id == actor.org_id
        )
    )


def _count(session, model):
    from sqlalchemy import func, select

    from fms.tenancy import ALL_TENANTS

    return session.scalar(
        select(func.count()).select_from(model).execution_options(**{ALL_TENANTS: True})
    )


def _csv(data: bytes) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_a_small_csv_export_holds_the_figures_of_the_spend_report(api, bill, november):
    client = api.as_(bill.finance)
    filters = {"from": "2026-11-01", "to": "2026-12-31", "currency": "original"}
    made = client.post(EXPORTS, json={**filters, "format": "csv"})
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert made.headers["Location"].endswith(f"{EXPORTS}/{body['id']}")
    assert body["state"] == "finished" and body["progress"] == 100
    assert body["rows"] == 2 and body["filename"] == "spend-2026-11-01-2026-12-31.csv"
    assert body["filters"]["from"] == "2026-11-01" and body["filters"]["currency"] == "original"
    assert body["download_url"] == f"{EXPORTS}/{body['id']}/file"
    assert client.get(f"{EXPORTS}/{body['id']}").get_json() == body

    download = client.get(body["download_url"])
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].endswith(
        "filename=spend-2026-11-01-2026-12-31.csv"
    )
    header, *rows = _csv(download.data)
    amount, minutes, invoice = header.index("Amount"), header.index("Minutes"), -1
    # one row per week and invoice: Nov 2-3, 480 + 30 min at 90.00 EUR an hour = 765.00 on
    # the November invoice; Dec 7, 60 min = 90.00, not invoiced
    assert sorted((r[1], Decimal(r[amount]), int(r[minutes]), r[7]) for r in rows) == [
        ("2026-11-02", Decimal("765"), 510, "EUR"),
        ("2026-12-07", Decimal("90"), 60, "EUR"),
    ]
    assert sorted(bool(r[invoice]) for r in rows) == [False, True]
    report = client.get("/api/v1/reports/spend", query_string=filters).get_json()
    total = report["totals"]["EUR"]
    assert Decimal(total["approved"]) == sum(Decimal(r[amount]) for r in rows) == Decimal("855")
    assert total["minutes"] == sum(int(r[minutes]) for r in rows) == 570


def test_an_xlsx_and_a_pdf_export_are_written_at_once(api, bill, november):
    from openpyxl import load_workbook

    client = api.as_(bill.finance)
    book = client.post(EXPORTS, json={"from": "2026-11-01", "to": "2026-11-30", "format": "xlsx"})
    assert book.status_code == 201, book.get_data(as_text=True)
    data = client.get(book.get_json()["download_url"]).data
    import io

    summary = load_workbook(io.BytesIO(data))["Summary"]
    # Nov: 510 minutes at 90.00 an hour = 765.00 approved, all invoiced
    assert [summary["C2"].value, summary["D2"].value] == [765, 765]
    pdf = client.post(EXPORTS, json={"format": "pdf", "from": "2026-11-01", "to": "2026-11-30"})
    assert pdf.status_code == 201 and pdf.get_json()["rows"] == 0
    assert client.get(pdf.get_json()["download_url"]).data[:5] == b"%PDF-"


def test_a_large_export_is_a_job_with_progress_then_its_file(app, api, bill, november, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_REPORT_INLINE_ROWS", 1)  # 2 rows are "large"
    client = api.as_(bill.finance)
    made = client.post(EXPORTS, json={"from": "2026-11-01", "to": "2026-12-31", "format": "csv"})
    assert made.status_code == 202, made.get_data(as_text=True)
    export_id = made.get_json()["id"]
    assert made.headers["Location"].endswith(f"{EXPORTS}/{export_id}")
    # jobs run inline in the tests, right after the request's commit
    status = client.get(f"{EXPORTS}/{export_id}").get_json()
    assert status["state"] == "finished", status
    assert status["progress"] == 100 and status["rows"] == 2
    header, *rows = _csv(client.get(status["download_url"]).data)
    assert len(rows) == 2 and header[0] == "Item"
    # the same run on the jobs route, as the job page shows it
    assert client.get(f"/api/v1/jobs/{export_id}").get_json()["state"] == "finished"
    # at or under the limit it is written at once
    monkeypatch.setitem(app.config, "FMS_REPORT_INLINE_ROWS", 2)
    assert client.post(EXPORTS, json={"format": "csv", "to": "2026-12-31"}).status_code == 201


def test_a_queued_exports_file_is_not_ready(api, bill, make_job_run):
    from fms.reports import jobs as report_jobs

    run = make_job_run(
        bill.org,
        name=report_jobs.export_spend_job.job_name,
        args=["2026-11-01", "2026-11-30", "month", "", "base", "xlsx"],
        requested_by_user_id=bill.finance.user_id,
    )
    client = api.as_(bill.finance)
    body = client.get(f"{EXPORTS}/{run.id}").get_json()
    assert body["state"] == "queued" and body["download_url"] is None and body["rows"] is None
    answer = client.get(f"{EXPORTS}/{run.id}/file")
    assert answer.status_code == 409 and answer.mimetype == PROBLEM


@pytest.mark.parametrize(
    "sent, pointers",
    [
        ({"format": "docx"}, {"/format"}),
        ({}, {"/format"}),
        ({"format": "csv", "from": "2026-02-30"}, {"/from"}),
        ({"format": "csv", "grain": "day", "group_by": "a,b,c"}, {"/grain", "/group_by"}),
        ({"format": "csv", "colour": "red"}, {"/colour"}),
    ],
)
def test_bad_export_input_is_a_422_problem_pointing_at_fields_and_changes_nothing(
    api, bill, session, sent, pointers
):
    from fms.jobs import JobRun

    before = _count(session, JobRun)
    answer = api.as_(bill.finance).post(EXPORTS, json=sent)
    assert answer.status_code == 422 and answer.mimetype == PROBLEM
    assert {e["pointer"] for e in answer.get_json()["errors"]} == pointers
    assert _count(session, JobRun) == before


def test_a_subscription_is_made_listed_and_cancelled_in_the_session(api, bill, session):
    from fms.audit.models import AuditEntry
    from fms.reports.models import SpendPackSubscription

    client = api.as_(bill.finance)
    assert client.get(SUBSCRIPTIONS).get_json()["total"] == 0
    made = client.post(SUBSCRIPTIONS, json={})
    assert made.status_code == 201, made.get_data(as_text=True)
    sub = made.get_json()
    assert sub["user_id"] == bill.finance.user_id
    again = client.post(SUBSCRIPTIONS, json={})
    assert again.status_code == 200 and again.get_json()["id"] == sub["id"]
    listing = client.get(SUBSCRIPTIONS).get_json()
    assert listing["total"] == 1 and [i["id"] for i in listing["items"]] == [sub["id"]]
    assert client.get(f"{SUBSCRIPTIONS}/{sub['id']}").get_json() == sub
    assert client.delete(f"{SUBSCRIPTIONS}/{sub['id']}").status_code == 204
    assert client.get(f"{SUBSCRIPTIONS}/{sub['id']}").status_code == 404
    assert client.delete(f"{SUBSCRIPTIONS}/{sub['id']}").status_code == 404
    assert _count(session, SpendPackSubscription) == 0
    from sqlalchemy import select

    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("reports.spend_pack_%"))
    ).all()
    assert sorted(actions) == ["reports.spend_pack_subscribed", "reports.spend_pack_unsubscribed"]


def test_a_subscription_through_a_personal_token(api, bill, session, token_of):
    write = token_of(_membership(session, bill.finance), ["reports:read", "reports:write"])
    client = api.application.test_client()
    made = client.post(SUBSCRIPTIONS, json={}, headers=write)
    assert made.status_code == 201, made.get_data(as_text=True)
    sub_id = made.get_json()["id"]
    assert client.get(SUBSCRIPTIONS, headers=write).get_json()["total"] == 1
    assert client.delete(f"{SUBSCRIPTIONS}/{sub_id}", headers=write).status_code == 204
    assert client.get(SUBSCRIPTIONS, headers=write).get_json()["total"] == 0


def test_scopes_a_read_token_reads_and_a_workforce_token_gets_403(api, bill, session, token_of):
    from fms.jobs import JobRun
    from fms.reports.models import SpendPackSubscription

    finance = _membership(session, bill.finance)
    read = token_of(finance, ["reports:read"])
    workforce = token_of(finance, ["workforce:read", "workforce:write"])
    client = api.application.test_client()
    runs, subs = _count(session, JobRun), _count(session, SpendPackSubscription)
    assert client.get(SUBSCRIPTIONS, headers=read).status_code == 200
    for headers in (read, workforce):
        assert client.post(SUBSCRIPTIONS, json={}, headers=headers).status_code == 403
        assert client.post(EXPORTS, json={"format": "pdf"}, headers=headers).status_code == 403
    assert client.get(SUBSCRIPTIONS, headers=workforce).status_code == 403
    assert (_count(session, JobRun), _count(session, SpendPackSubscription)) == (runs, subs)


def test_integrations_export_but_have_no_subscription(api, bill, session, actor_of, make_member):
    from fms.identity.tokens import services as tokens
    from tests.factories import as_org

    admin = actor_of(make_member(bill.org, roles=("org_admin",)))
    with as_org(session, bill.org.id):
        account = tokens.create_service_account(
            session, actor=admin, name="Warehouse", roles=["finance"]
        )
        _, secret = tokens.create_integration_token(
            session,
            actor=admin,
            service_account_id=account.id,
            name="nightly",
            scopes=["reports:read", "reports:write"],
        )
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    client = api.application.test_client()
    made = client.post(EXPORTS, json={"format": "csv", "to": "2026-12-31"}, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    assert client.get(made.get_json()["download_url"], headers=headers).status_code == 200
    assert client.get(SUBSCRIPTIONS, headers=headers).status_code == 403
    # a person's own export is not the integration's to read
    mine = api.as_(bill.finance).post(EXPORTS, json={"format": "pdf", "to": "2026-12-31"})
    assert client.get(f"{EXPORTS}/{mine.get_json()['id']}", headers=headers).status_code == 404


def test_another_persons_or_organizations_subscription_and_export_are_404(
    api, bill, session, make_org, make_member, actor_of
):
    mine = api.as_(bill.finance)
    sub_id = mine.post(SUBSCRIPTIONS, json={}).get_json()["id"]
    export_id = mine.post(EXPORTS, json={"format": "pdf", "to": "2026-12-31"}).get_json()["id"]
    other_org = make_org()
    stranger = actor_of(make_member(other_org, roles=("org_admin",)))
    for who, org in ((bill.finance2, None), (stranger, other_org)):
        client = api.as_(who, org)
        assert client.get(f"{SUBSCRIPTIONS}/{sub_id}").status_code == 404
        assert client.delete(f"{SUBSCRIPTIONS}/{sub_id}").status_code == 404
        assert client.get(f"{EXPORTS}/{export_id}").status_code == 404
        assert client.get(f"{EXPORTS}/{export_id}/file").status_code == 404
        assert client.get(SUBSCRIPTIONS).get_json()["total"] == 0
    # still there for its owner
    owner = api.as_(bill.finance)
    assert owner.get(f"{SUBSCRIPTIONS}/{sub_id}").status_code == 200
    assert owner.get(f"{EXPORTS}/{export_id}/file").status_code == 200


def test_people_without_spend_get_403(api, bill):
    client = api.as_(bill.world.manager)
    assert client.post(SUBSCRIPTIONS, json={}).status_code == 403
    assert client.get(SUBSCRIPTIONS).status_code == 403
    assert client.post(EXPORTS, json={"format": "csv"}).status_code == 403


def test_exports_and_subscriptions_are_documented(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    create = paths[EXPORTS]["post"]
    assert {"201", "202", "422"} <= set(create["responses"])
    assert create["responses"]["202"]["links"] and create["responses"]["201"]["links"]
    assert set(paths[f"{EXPORTS}/{{export_id}}/file"]["get"]["responses"]["200"]["content"]) == {
        "text/csv",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert set(paths[SUBSCRIPTIONS]) >= {"get", "post"}
    assert set(paths[f"{SUBSCRIPTIONS}/{{subscription_id}}"]) >= {"get", "delete"}
    bearer = paths[SUBSCRIPTIONS]["post"]["security"][0]["bearer"]
    assert bearer == ["reports:write"]
