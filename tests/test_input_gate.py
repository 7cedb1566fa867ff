"""Text FMS cannot store or show is refused before any view reads it (issue 8, item 9)."""

from __future__ import annotations

import pytest

from fms.identity.models import Organization, User


@pytest.fixture
def admin_client(client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


@pytest.mark.parametrize(
    "query",
    ["state=m~%00x", "search=a%01b", "state=%C2%85", "search=x%7Fy"],
)
def test_control_characters_in_a_query_are_422_not_500(admin_client, query):
    response = admin_client.get(f"/api/v1/requisitions?{query}")
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Finance\x00", "code": "FIN"},
        {"name": "Fin\u0085ance", "code": "FIN"},
        {"name": "ok", "code": "A\ud800"},
    ],
)
def test_control_characters_in_a_body_change_nothing(admin_client, session, body):
    from sqlalchemy import func, select

    from fms.workforce.models import Department

    response = admin_client.post("/api/v1/departments", json=body)
    assert response.status_code == 422, response.get_json()
    assert session.scalar(select(func.count(Department.id))) == 0


def test_deeply_nested_json_is_refused_not_a_recursion_error(admin_client):
    deep = "[" * 5000 + "]" * 5000
    response = admin_client.post(
        "/api/v1/departments", data=deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "nested" in response.get_json()["detail"]


def test_pages_refuse_unreadable_form_text(admin_client):
    response = admin_client.post_form(
        "/admin/structure", data={"kind": "department", "code": "X\x00", "name": "Y"}
    )
    assert response.status_code == 422


def test_plain_text_with_newlines_and_tabs_is_fine(admin_client):
    response = admin_client.post(
        "/api/v1/departments", json={"name": "Research\tand development", "code": "RND"}
    )
    assert response.status_code == 201, response.get_json()
