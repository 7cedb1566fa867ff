"""ETag / If-Match on the admin records two admins may edit at once: webhook endpoints and
integrations. A stale tag is a 412 problem and changes nothing; the read tag succeeds and
answers the new one; no If-Match is accepted as before (the last write wins)."""

from __future__ import annotations

import pytest

from fms.identity.tokens import services as tokens
from fms.webhooks import services as webhooks
from tests.factories import as_org


@pytest.fixture
def admin_api(app, client, session, org_admin, actor_of, monkeypatch):
    """The client with a personal token (admin scopes) of an org admin."""
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1")
    with as_org(session, org_admin.org_id):
        _, secret = tokens.create_personal_token(
            session, actor=actor_of(org_admin), name="admin", scopes=["admin:write"]
        )
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}

    def call(method, url, *, tag=None, **kwargs):
        extra = {"If-Match": tag} if tag else {}
        return client.open(url, method=method, headers={**headers, **extra}, **kwargs)

    return call


def _tag(response) -> str:
    assert response.status_code == 200, response.get_json()
    tag = response.headers.get("ETag")
    assert tag and tag.startswith('"') and tag.endswith('"'), tag
    return tag


def _two_admins_edit(call, url, first_change: dict, second_change: dict, field: str):
    read = _tag(call("GET", url))
    assert _tag(call("GET", url)) == read  # stable while nothing changes
    first = call("PATCH", url, json=first_change, tag=read)
    new = _tag(first)
    assert new != read and first.get_json()[field] == first_change[field]
    # the second admin still holds the tag they read before the first change
    late = call("PATCH", url, json=second_change, tag=read)
    assert late.status_code == 412
    assert late.headers["Content-Type"].startswith("application/problem+json")
    assert call("GET", url).get_json()[field] == first_change[field]
    assert _tag(call("GET", url)) == new
    # without If-Match the change is accepted (the last write wins)
    blind = call("PATCH", url, json=second_change)
    assert blind.status_code == 200 and blind.get_json()[field] == second_change[field]


def test_webhook_endpoints_refuse_a_stale_etag(admin_api, session, org_admin, actor_of):
    with as_org(session, org_admin.org_id):
        endpoint, _ = webhooks.create_endpoint(
            session,
            actor=actor_of(org_admin),
            url="http://127.0.0.1:9/hook",
            events=["timesheet.submitted"],
            description="ERP",
        )
    session.commit()
    _two_admins_edit(
        admin_api,
        f"/api/v1/webhooks/{endpoint.id}",
        {"description": "ERP (prod)"},
        {"description": "ERP (test)"},
        "description",
    )


def test_integrations_refuse_a_stale_etag(admin_api, session, org_admin, actor_of):
    with as_org(session, org_admin.org_id):
        account = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="Workday", roles=["hiring_manager"]
        )
    session.commit()
    _two_admins_edit(
        admin_api,
        f"/api/v1/integrations/{account.id}",
        {"name": "Workday HR"},
        {"name": "Workday Payroll"},
        "name",
    )


def test_the_updates_document_if_match(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/webhooks/{endpoint_id}", "/api/v1/integrations/{service_account_id}"):
        patch = spec["paths"][path]["patch"]
        assert any(p["name"] == "If-Match" for p in patch["parameters"]), path
        assert "412" in patch["responses"]
        assert "ETag" in spec["paths"][path]["get"]["responses"]["200"]["headers"]
