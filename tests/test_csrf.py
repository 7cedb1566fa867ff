"""With CSRF protection on (as in production), a form without its token changes nothing."""

import re

import pytest
from sqlalchemy import func, select

from fms.identity.models import Organization, User
from fms.workforce.models import Department


@pytest.fixture
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


def _token(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_form_post_without_token_is_refused(csrf_on, client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    data = {"kind": "department", "department-code": "ENG", "department-name": "Engineering"}
    response = client.post("/admin/structure", data=data)
    assert response.status_code == 400 and b"Please try again" in response.data
    assert session.scalar(select(func.count(Department.id))) == 0
    token = _token(client.get("/admin/structure").data.decode())
    response = client.post_form("/admin/structure", data={**data, "csrf_token": token})
    assert response.status_code == 302


def test_api_writes_need_the_csrf_header(csrf_on, client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    body = {"code": "ENG", "name": "Engineering"}
    refused = client.post("/api/v1/departments", json=body)
    assert refused.status_code == 400 and refused.content_type == "application/problem+json"
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    accepted = client.post("/api/v1/departments", json=body, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201


def test_sign_in_form_needs_its_token(csrf_on, client, session, org_admin):
    user = session.get(User, org_admin.user_id)
    response = client.post("/login", data={"email": user.email, "password": "x" * 20})
    assert response.status_code == 400
