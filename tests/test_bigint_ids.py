"""Ids are 64-bit: BIGINT columns and sequences on PostgreSQL, accepted up to 2^63-1
everywhere; larger numbers are no row's id, never a database error (issue 8)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from fms.errors import NotFound
from fms.identity.models import Organization, User
from fms.tenancy import get_in_org
from fms.workforce.models import Engagement, Skill
from tests.factories import as_org

PAST_INT4 = 2**31  # the first id a 32-bit column could not hold
INT8_MAX = 2**63 - 1
# ids no row has: past 32 bits but within BIGINT, and past BIGINT
BIG_IDS = [PAST_INT4, 2**40, INT8_MAX]
TOO_BIG_IDS = [2**63, 2**64 + 1, 10**30]


@pytest.fixture
def admin_client(client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


# what engagements and requisitions both state
TERMS = {
    "title": "Grid analytics",
    "kind": "hourly",
    "start_date": "2027-02-01",
    "end_date": "2027-07-31",
    "weekly_minutes": 2400,
    "currency": "EUR",
}


def _engagement_body(units: dict, manager_user_id: int) -> dict:
    money = {"rate": "95", "budget_cap": "40000"}
    return {**TERMS, **units, **money, "hiring_manager_user_id": manager_user_id}


def _requisition_body(units: dict) -> dict:
    money = {"rate_min": "80", "rate_max": "95", "budget": "40000"}
    return {**TERMS, **units, **money, "justification": "Pipeline rebuild"}


# --- both databases --------------------------------------------------------------------------


@pytest.mark.parametrize("big", BIG_IDS + TOO_BIG_IDS)
def test_large_ids_in_api_paths_are_404(admin_client, big):
    for url in (
        f"/api/v1/engagements/{big}",
        f"/api/v1/engagements/{big}/amendments",
        f"/api/v1/requisitions/{big}",
        f"/api/v1/freelancers/{big}",
        f"/api/v1/departments/{big}",
        f"/api/v1/suppliers/{big}",
        f"/api/v1/memberships/{big}",
        f"/api/v1/audit-entries/{big}",
        f"/api/v1/sso/connections/{big}",
    ):
        response = admin_client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert response.content_type == "application/problem+json"
    notice = admin_client.post(
        f"/api/v1/engagements/{big}/notice", json={"end_date": "2027-03-01", "reason": "done"}
    )
    assert notice.status_code == 404
    patch = admin_client.patch(f"/api/v1/departments/{big}", json={"name": "X"})
    assert patch.status_code == 404


@pytest.mark.parametrize("big", BIG_IDS + TOO_BIG_IDS)
def test_large_ids_in_pages_are_404(admin_client, big):
    for url in (f"/engagements/{big}", f"/freelancers/{big}", f"/admin/audit/{big}"):
        response = admin_client.get(url)
        assert response.status_code == 404, (url, response.status_code)


@pytest.mark.parametrize("big", BIG_IDS)
def test_large_ids_in_query_filters_find_nothing(admin_client, big):
    """Within BIGINT an id filter is valid: it names no row, so nothing matches."""
    response = admin_client.get(f"/api/v1/headcount?location_id={big}&skill_id={big}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total"]["people"] == 0
    entries = admin_client.get(f"/api/v1/audit-entries?entity_id={big}&actor_user_id={big}")
    assert entries.status_code == 200 and entries.get_json()["items"] == []
    for url in (f"/headcount?skill_id={big}", f"/admin/audit?entity_id={big}"):
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.parametrize("big", TOO_BIG_IDS)
def test_ids_past_bigint_in_query_filters_are_422(admin_client, big):
    for url in (
        f"/api/v1/headcount?location_id={big}",
        f"/api/v1/audit-entries?entity_id={big}",
    ):
        response = admin_client.get(url)
        assert response.status_code == 422, (url, response.status_code)
        [error] = response.get_json()["errors"]
        assert error["in"] == "query"
    # pages treat an impossible filter as absent
    for url in (f"/headcount?skill_id={big}", f"/admin/audit?entity_id={big}"):
        assert admin_client.get(url).status_code == 200, url


ABSENT = 987654  # a small id no row has


@pytest.mark.parametrize("big", BIG_IDS + TOO_BIG_IDS)
def test_large_ids_in_json_bodies_are_refused(admin_client, session, org_admin, org_structure, big):
    """Within BIGINT a body's id is answered as any absent id is (a field error, or 404
    for the freelancer to book); past BIGINT it is a field error of the schema."""
    org = session.get(Organization, org_admin.org_id)
    units = org_structure(org)
    session.commit()
    engagement = _engagement_body(units, org_admin.user_id)
    for field in ("department_id", "location_id", "hiring_manager_user_id", "freelancer_id"):
        response = admin_client.post("/api/v1/engagements", json={**engagement, field: big})
        absent = admin_client.post("/api/v1/engagements", json={**engagement, field: ABSENT})
        expected = 422 if big > INT8_MAX else absent.status_code
        assert response.status_code == expected in (404, 422), (field, response.get_json())
        if response.status_code == 422:
            assert f"/{field}" in str(response.get_json()["errors"])
    requisition = {**_requisition_body(units), "skill_ids": [big]}
    response = admin_client.post("/api/v1/requisitions", json=requisition)
    assert response.status_code == 422, response.get_json()
    assert "/skill_ids" in str(response.get_json()["errors"])
    count = select(func.count(Engagement.id)).execution_options(all_tenants=True)
    assert session.scalar(count) == 0


@pytest.mark.parametrize("big", BIG_IDS + TOO_BIG_IDS + [0, -1])
def test_get_in_org_answers_not_found_for_any_absent_id(session, make_org, big):
    org = make_org()
    with as_org(session, org.id), pytest.raises(NotFound):
        get_in_org(session, Skill, big)


def test_the_api_documents_ids_as_int64(admin_client):
    spec = admin_client.get("/api/v1/openapi.json").get_json()
    path = spec["paths"]["/api/v1/engagements/{engagement_id}"]
    [param] = [p for p in path["parameters"] if p["name"] == "engagement_id"]
    assert param["schema"] == {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": INT8_MAX,
    }
    components = spec["components"]["schemas"]
    engagement_in = components["EngagementIn"]["properties"]
    assert engagement_in["hiring_manager_user_id"]["format"] == "int64"
    assert engagement_in["hiring_manager_user_id"]["maximum"] == INT8_MAX
    assert components["RequisitionIn"]["properties"]["skill_ids"]["items"]["format"] == "int64"
    assert components["TermsOut"]["properties"]["location_id"]["format"] == "int64"
    # counts and minutes are not ids
    assert "format" not in engagement_in["weekly_minutes"]


# --- PostgreSQL --------------------------------------------------------------------------------

# Integer columns that are not ids and stay 32-bit. Everything else integer-typed that is
# named `id` or `..._id` must be bigint.
NOT_IDS = {
    ("organization", "standard_week_minutes"),
    ("user_account", "totp_last_step"),
    ("audit_entry", "seq"),
    ("audit_chain_head", "last_seq"),
    ("job_run", "progress"),
    ("job_run", "attempts"),
    ("outbox_message", "attempts"),
    ("workforce_settings", "notice_period_days"),
    ("workforce_settings", "trial_max_days"),
    ("approval_rule", "position"),
    ("requisition", "weekly_minutes"),
    ("requisition", "round"),
    ("approval_step", "round"),
    ("approval_step", "position"),
    ("freelancer_skill", "level"),
    ("engagement_terms", "weekly_minutes"),
    ("onboarding_template_step", "position"),
    ("onboarding_step", "position"),
    ("performance_review", "rating"),
    ("timesheet_entry", "minutes"),
    ("timesheet_entry", "half_days"),
    ("timesheet_adjustment", "minutes"),
    ("timesheet_week_start", "weekday"),
    ("compliance_settings", "reassess_within_days"),
    ("compliance_policy_item", "validity_months"),
    ("offboarding_policy_item", "position"),
    ("offboarding_step", "position"),
    ("compliance_document", "version"),
    ("signing_template", "version"),
    ("signature", "template_version"),
    ("classification", "model_version"),
    ("classification", "score"),
    ("tenure_rule", "max_months"),
    ("tenure_rule", "break_days"),
    ("billing_settings", "payment_terms_days"),
    ("invoice_number_series", "year"),
    ("invoice_number_series", "last_number"),
    ("invoice_line", "position"),
    ("invoice_line", "quantity"),
    ("invoice_line_item", "quantity"),
    ("invoice_annex_row", "minutes"),
    ("invoice_annex_row", "half_days"),
    ("idempotency_key", "status_code"),
    ("webhook_delivery", "attempts"),
    ("webhook_delivery", "last_status_code"),
    ("webhook_delivery", "last_response_ms"),
    ("spend_rollup", "per"),  # the minutes a rate is per (60 an hour, a standard day) or 1
}
# a few that must be among the bigint id columns, whatever the naming rule finds
MUST_BE_BIGINT = {
    ("organization", "id"),
    ("user_account", "id"),
    ("engagement", "id"),
    ("skill", "id"),
    ("membership", "org_id"),
    ("engagement_terms", "hiring_manager_user_id"),
    ("audit_entry", "entity_id"),
    ("audit_entry", "actor_user_id"),
    ("job_run", "requested_by_user_id"),
    ("invitation", "subject_id"),
    ("audit_chain_head", "org_id"),
}


def _integer_columns(session) -> dict[tuple[str, str], str]:
    rows = session.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
            " AND data_type IN ('smallint', 'integer', 'bigint')"
            " AND table_name <> 'alembic_version'"
        )
    ).all()
    return {(table, column): data_type for table, column, data_type in rows}


@pytest.mark.postgres
def test_every_id_column_and_sequence_is_bigint_after_the_migrations(session):
    """The session's database was built by `flask db upgrade` (see conftest)."""
    columns = _integer_columns(session)
    ids = {
        key: data_type
        for key, data_type in columns.items()
        if key[1] == "id" or key[1].endswith("_id")
    }
    assert set(ids) >= MUST_BE_BIGINT
    assert {key for key, data_type in ids.items() if data_type != "bigint"} == set()
    assert {columns[key] for key in NOT_IDS} == {"integer"}
    # money columns (minor units) are bigint too; nothing else integer is left unexplained
    others = {key for key in columns if key not in ids and key not in NOT_IDS}
    assert {columns[key] for key in others} <= {"bigint"}

    sequences = session.execute(
        text(
            "SELECT sequencename, data_type::text, max_value FROM pg_sequences"
            " WHERE schemaname = current_schema()"
        )
    ).all()
    tables_with_serial_ids = {
        table
        for (table, column) in ids
        if column == "id"
        and session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    }
    assert len(tables_with_serial_ids) >= 30
    assert {name for name, _, _ in sequences} >= {f"{t}_id_seq" for t in tables_with_serial_ids}
    assert {(data_type, max_value) for _, data_type, max_value in sequences} == {
        ("bigint", INT8_MAX)
    }


@pytest.fixture
def sequence_past_int4(session):
    """Moves a table's id sequence past 2^31 for one test, then back (sequences ignore the
    test's rollback)."""
    moved = []

    def move(table: str) -> int:
        name = session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
        last, called = session.execute(text(f"SELECT last_value, is_called FROM {name}")).one()
        moved.append((name, last, called))
        session.execute(text("SELECT setval(:name, :value)"), {"name": name, "value": PAST_INT4})
        return PAST_INT4 + 1

    yield move
    for name, last, called in moved:
        session.execute(
            text("SELECT setval(:name, :value, :called)"),
            {"name": name, "value": last, "called": called},
        )


@pytest.mark.postgres
def test_rows_past_2_31_are_created_and_read_back_through_the_api(
    admin_client, session, org_admin, org_structure, sequence_past_int4
):
    org = session.get(Organization, org_admin.org_id)
    units = org_structure(org)
    session.commit()
    next_engagement = sequence_past_int4("engagement")
    next_skill = sequence_past_int4("skill")
    next_audit = sequence_past_int4("audit_entry")

    created = admin_client.post(
        "/api/v1/engagements", json=_engagement_body(units, org_admin.user_id)
    )
    assert created.status_code == 201, created.get_json()
    engagement_id = created.get_json()["id"]
    assert engagement_id == next_engagement > 2**31 - 1
    read = admin_client.get(f"/api/v1/engagements/{engagement_id}")
    assert read.status_code == 200
    assert read.get_json()["id"] == engagement_id
    assert read.get_json()["terms"][0]["location_id"] == units["location_id"]
    assert admin_client.get(f"/engagements/{engagement_id}").status_code == 200
    # the audit log stores the large id and finds its entries by it
    entries = admin_client.get(f"/api/v1/audit-entries?entity_id={engagement_id}").get_json()
    assert [e["entity_id"] for e in entries["items"]] == [engagement_id]
    assert entries["items"][0]["id"] >= next_audit
    entry = admin_client.get(f"/api/v1/audit-entries/{entries['items'][0]['id']}")
    assert entry.status_code == 200

    skill = admin_client.post("/api/v1/skills", json={"name": "Grid modelling"})
    assert skill.status_code == 201, skill.get_json()
    skill_id = skill.get_json()["id"]
    assert skill_id == next_skill
    requisition = admin_client.post(
        "/api/v1/requisitions", json={**_requisition_body(units), "skill_ids": [skill_id]}
    )
    assert requisition.status_code == 201, requisition.get_json()
    again = admin_client.get(f"/api/v1/requisitions/{requisition.get_json()['id']}")
    assert again.get_json()["skill_ids"] == [skill_id]
    counted = admin_client.get(f"/api/v1/headcount?skill_id={skill_id}")
    assert counted.status_code == 200
