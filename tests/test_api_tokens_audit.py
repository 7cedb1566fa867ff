"""The audit log names who acted through an API token: an integration's token by its
integration and token (it has no user, and is not "System"); a personal token by its
person and the token."""

from __future__ import annotations

from sqlalchemy import select

from fms.audit import services as audit
from fms.audit.models import AuditEntry
from fms.identity.models import Organization, User
from fms.tenancy import ALL_TENANTS
from tests.test_api_tokens import bearer, integration, personal_token  # noqa: F401 - fixtures

ALL = {ALL_TENANTS: True}


def _entry_of(session, action: str, entity_id: int) -> AuditEntry:
    return session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.entity_id == entity_id)
        .execution_options(**ALL)
    ).one()


def test_an_integration_s_change_names_the_integration_and_its_token(
    client,
    session,
    org_admin,
    integration,  # noqa: F811 - the fixture imported above
    sign_in,
):
    account, row, secret = integration(["workforce:write"], roles=("org_admin",))
    made = client.post(
        "/api/v1/departments", json={"code": "FIN", "name": "Finance"}, headers=bearer(secret)
    )
    assert made.status_code == 201, made.get_json()
    entry = _entry_of(session, "department.created", made.get_json()["id"])
    assert entry.channel == "api"
    assert entry.actor_user_id is None
    assert entry.actor_token_id == row.id
    assert account.name in entry.actor_label
    assert f"fms_it_{row.public_id}" in entry.actor_label
    # the token's columns are part of the entry's hash: the chain verifies, and a changed
    # label would not
    assert audit.verify_chain(session, org_admin.org_id).ok
    assert audit.entry_hash(entry, entry.prev_hash) == entry.hash
    entry.actor_label = "System"
    assert audit.entry_hash(entry, entry.prev_hash) != entry.hash
    session.expire(entry)

    # the audit log's page, entry page, export and API say it in words, not "System"
    sign_in(
        client, session.get(User, org_admin.user_id), session.get(Organization, org_admin.org_id)
    )
    page = client.get("/admin/audit?action=department.created").get_data(as_text=True)
    assert f"Integration &#34;{account.name}&#34;" in page and ">System<" not in page
    shown = client.get(f"/admin/audit/{entry.id}").get_data(as_text=True)
    assert f"fms_it_{row.public_id}" in shown
    exported = client.get("/admin/audit.csv?action=department.created")
    assert exported.status_code == 200
    assert f"fms_it_{row.public_id}" in exported.get_data(as_text=True)
    listed = client.get("/api/v1/audit-entries?action=department.created").get_json()
    [item] = listed["items"]
    assert item["actor_token_id"] == row.id and account.name in item["actor_label"]


def test_a_personal_token_s_change_names_the_person_and_the_token(
    client,
    session,
    org_admin,
    personal_token,  # noqa: F811
):
    row, secret = personal_token(org_admin, ["workforce:write"])
    made = client.post(
        "/api/v1/departments", json={"code": "OPS", "name": "Ops"}, headers=bearer(secret)
    )
    assert made.status_code == 201, made.get_json()
    entry = _entry_of(session, "department.created", made.get_json()["id"])
    assert entry.actor_user_id == org_admin.user_id
    assert entry.actor_token_id == row.id
    assert f"fms_pt_{row.public_id}" in entry.actor_label


def test_a_session_s_change_names_no_token(client, session, org_admin, sign_in):
    sign_in(
        client, session.get(User, org_admin.user_id), session.get(Organization, org_admin.org_id)
    )
    made = client.post(
        "/api/v1/departments",
        json={"code": "LAW", "name": "Legal"},
        headers={"X-CSRFToken": "x"},
    )
    assert made.status_code == 201, made.get_json()
    entry = _entry_of(session, "department.created", made.get_json()["id"])
    assert entry.actor_user_id == org_admin.user_id
    assert entry.actor_token_id is None and entry.actor_label is None
