"""Pages as people use them: navigation by role, forms with inline errors, empty states."""

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.identity.models import Organization, User
from fms.workforce.models import Department, Location

# (page, what a new organization's admin sees there)
ADMIN_PAGES = [
    ("/", ['<h1 class="fms-page-title">Overview</h1>', "No freelancers yet"]),
    (
        "/admin/members",
        ['<h1 class="fms-page-title">Members &amp; roles</h1>', "1 member", "Invite a member"],
    ),
    (
        "/admin/structure",
        ['<h1 class="fms-page-title">Org structure</h1>', "No departments yet"],
    ),
    ("/admin/audit", ['<h1 class="fms-page-title">Audit log</h1>', "1 entry"]),
    ("/freelancers", ['<h1 class="fms-page-title">Freelancers</h1>', "No freelancers yet"]),
    ("/admin/organization", ['<h1 class="fms-page-title">Organization settings</h1>']),
    ("/api/v1/docs", ["<title>API reference · FMS</title>", "openapi.json", "Schemas"]),
]


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def admin_client(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _count(session, model):
    return session.scalar(select(func.count(model.id)).execution_options(all_tenants=True))


@pytest.mark.parametrize("path, shown", ADMIN_PAGES)
def test_admin_pages_render(admin_client, org, path, shown):
    response = admin_client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in shown:
        assert text in page, (path, text)
    if path == "/admin/organization":
        assert f'value="{org.name}"' in page  # the form shows the organization's settings


def test_navigation_follows_roles(app, session, org, make_member, sign_in):
    freelancer = make_member(org, roles=("freelancer",))
    web = app.test_client()
    sign_in(web, session.get(User, freelancer.user_id), org)
    home = web.get("/").data.decode()
    assert "Administration" not in home and "Audit log" not in home
    assert "My engagements" in home and "To do" in home
    for path in ("/admin/members", "/admin/structure", "/admin/audit", "/freelancers"):
        assert web.get(path).status_code == 403, path
    manager = make_member(org, roles=("hiring_manager",))
    sign_in(web, session.get(User, manager.user_id), org)
    home = web.get("/").data.decode()
    assert "Freelancers" in home and "Audit log" not in home
    structure = web.get("/admin/structure")  # may read, not change
    assert structure.status_code == 200 and "No departments yet" in structure.data.decode()
    assert web.post("/admin/structure", data={"kind": "department"}).status_code == 403


def test_empty_states_say_what_to_do_next(admin_client):
    page = admin_client.get("/admin/structure").data.decode()
    assert "No departments yet" in page and "Add the first one" in page
    assert "No freelancers yet" in admin_client.get("/freelancers").data.decode()


def test_adding_a_department_shows_it_and_audits_it(admin_client, session):
    response = admin_client.post_form(
        "/admin/structure",
        data={"kind": "department", "department-code": "ENG", "department-name": "Engineering"},
    )
    assert response.status_code == 302
    assert "ENG" in admin_client.get("/admin/structure").data.decode()
    assert _count(session, Department) == 1
    assert "department.created" in session.scalars(select(AuditEntry.action)).all()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"department-code": "", "department-name": "Engineering"}, "This field is required"),
        ({"department-code": "X" * 31, "department-name": "Eng"}, "Field cannot be longer"),
        ({"department-code": "has space", "department-name": "Eng"}, "Up to 30 letters"),
        ({"department-code": "ENG", "department-name": "n" * 500}, "Field cannot be longer"),
    ],
)
def test_bad_department_input_is_explained_inline_and_stores_nothing(
    admin_client, session, data, message
):
    entries = _count(session, AuditEntry)
    response = admin_client.post_form("/admin/structure", data={"kind": "department", **data})
    assert response.status_code == 422
    assert message in response.data.decode()
    assert "is-invalid" in response.data.decode()
    assert _count(session, Department) == 0
    assert _count(session, AuditEntry) == entries


def test_duplicate_codes_are_refused_inline(admin_client, session, org, make_unit):
    make_unit(org, "location", code="BER")
    session.commit()  # the failed request rolls back; the existing unit must survive that
    response = admin_client.post_form(
        "/admin/structure",
        data={
            "kind": "location",
            "location-code": "BER",
            "location-name": "Berlin 2",
            "location-country": "DE",
        },
    )
    assert response.status_code == 422 and "Already in use" in response.data.decode()
    assert _count(session, Location) == 1


def test_malformed_posts_get_a_clear_answer(admin_client):
    assert admin_client.post_form("/admin/structure", data={"kind": "planet"}).status_code == 422
    response = admin_client.post_form("/admin/members", data={"roles": ["pope"], "email": "x"})
    assert response.status_code == 422
    text = response.data.decode()
    assert "Not a valid choice" in text or "not a valid choice" in text


def test_archiving_a_unit_keeps_it_listed_as_archived(admin_client, session, org, make_unit):
    unit = make_unit(org, "cost_centre", code="CC-1", name="Grid")
    response = admin_client.post(
        f"/admin/cost-centres/{unit.id}", data={"code": "CC-1", "name": "Grid"}
    )  # is_active unchecked
    assert response.status_code == 302
    page = admin_client.get("/admin/structure").data.decode()
    assert "CC-1" in page and "Archived" in page


def test_invite_member_form(admin_client, session):
    response = admin_client.post_form(
        "/admin/members",
        data={"name": "Ada Lovelace", "email": "ada@example.com", "roles": ["procurement"]},
    )
    assert response.status_code == 302  # post/redirect/get: a reload creates nothing
    page = admin_client.get("/admin/members").data.decode()
    assert "Invitation mailed" in page and 'id="invitation-link"' in page
    assert "Invited, not yet joined" in page and "ada@example.com" in page
    # shown once: the next visit no longer holds the link
    assert 'id="invitation-link"' not in admin_client.get("/admin/members").data.decode()
    bad = admin_client.post_form("/admin/members", data={"email": "not-an-email", "roles": []})
    assert bad.status_code == 422


def test_organization_settings_validate_the_currency(admin_client, org, session):
    response = admin_client.post(
        "/admin/organization",
        data={"name": "Renamed AG", "base_currency": "XXQ", "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 422 and "ISO 4217" in response.data.decode()
    response = admin_client.post(
        "/admin/organization",
        data={"name": "Renamed AG", "base_currency": "chf", "timezone": "Europe/Zurich"},
    )
    assert response.status_code == 302
    session.refresh(org)
    assert (org.name, org.base_currency, org.timezone) == ("Renamed AG", "CHF", "Europe/Zurich")


def test_freelancer_directory_filters(admin_client, org, make_freelancer):
    make_freelancer(org, display_name="Ines Costa", country="PT", headline="Data engineer")
    make_freelancer(org, display_name="Jan Vogel", country="DE", headline="SAP consultant")
    page = admin_client.get("/freelancers?country=PT").data.decode()
    assert "Ines Costa" in page and "Jan Vogel" not in page
    page = admin_client.get("/freelancers?q=sap").data.decode()
    assert "Jan Vogel" in page and "Ines Costa" not in page
    assert "No freelancer matches" in admin_client.get("/freelancers?q=zzz").data.decode()


def test_healthz_reports_the_database(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["checks"]["database"]["status"] == "ok"
