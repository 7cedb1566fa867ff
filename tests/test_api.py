"""The /api/v1 skeleton: OpenAPI document, problem+json errors, pagination, members."""

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.identity.models import Membership, Organization, User


@pytest.fixture
def admin_client(client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _counts(session):
    return (
        session.scalar(select(func.count(Membership.id)).execution_options(all_tenants=True)),
        session.scalar(select(func.count(AuditEntry.id)).execution_options(all_tenants=True)),
    )


def test_openapi_document_describes_the_routes(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/me",
        "/api/v1/memberships",
        "/api/v1/memberships/{membership_id}",
        "/api/v1/departments",
        "/api/v1/audit-entries",
        "/api/v1/jobs/{job_id}",
    ):
        assert path in spec["paths"], path
    page = spec["components"]["schemas"]["MembershipIn"]
    assert "email" in page["required"]


def test_reference_page_is_rendered_from_the_openapi_document(client):
    html = client.get("/api/v1/docs").data.decode()
    assert "https://" not in html and "<script>" not in html
    assert "/api/v1/openapi.json" in html
    # every documented path is on the page, with its schemas
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in html, path
    assert 'id="schema-MembershipIn"' in html and 'href="#schema-Problem"' in html


def test_anonymous_api_calls_get_problem_json_401(client):
    response = client.get("/api/v1/memberships")
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.get_json()["status"] == 401


def test_validation_errors_point_at_each_field(admin_client, session):
    before = _counts(session)
    response = admin_client.post(
        "/api/v1/memberships",
        json={"email": "not-an-email", "name": "x" * 500, "roles": ["pope"], "extra": 1},
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/email", "/name", "/roles/0", "/extra"} <= pointers
    assert _counts(session) == before


def test_wrong_types_and_query_parameters_are_refused(admin_client):
    response = admin_client.post("/api/v1/memberships", json={"email": 5, "name": [], "roles": "x"})
    assert response.status_code == 422
    response = admin_client.get("/api/v1/memberships?per_page=1000")
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert error["parameter"] == "per_page" and error["in"] == "query"
    response = admin_client.post(
        "/api/v1/memberships", data="{not json", content_type="application/json"
    )
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"


def test_invite_member_and_change_roles_through_the_api(
    admin_client, session, make_member, org_admin
):
    response = admin_client.post(
        "/api/v1/memberships",
        json={"email": "New.Person@Example.com", "name": "New Person", "roles": ["finance"]},
    )
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["email"] == "new.person@example.com" and created["status"] == "open"
    assert created["roles"] == ["finance"] and "/invitations/" in created["link"]
    again = admin_client.post(
        "/api/v1/memberships",
        json={"email": "new.person@example.com", "name": "New Person", "roles": ["finance"]},
    )
    assert again.status_code == 409
    member = make_member(session.get(Organization, org_admin.org_id), roles=("finance",))
    session.commit()
    patched = admin_client.patch(
        f"/api/v1/memberships/{member.id}", json={"roles": ["finance", "procurement"]}
    )
    assert patched.get_json()["roles"] == ["finance", "procurement"]
    listing = admin_client.get("/api/v1/memberships?per_page=1").get_json()
    assert listing["per_page"] == 1 and listing["total"] == 2 and len(listing["items"]) == 1


def test_the_last_org_admin_cannot_be_removed(admin_client, org_admin):
    response = admin_client.patch(
        f"/api/v1/memberships/{org_admin.id}", json={"roles": ["finance"]}
    )
    assert response.status_code == 409
    assert "at least one active org admin" in response.get_json()["detail"]


def test_structure_units_through_the_api(admin_client, session):
    response = admin_client.post(
        "/api/v1/locations",
        json={"code": "BER", "name": "Berlin", "country": "DE", "city": "Berlin"},
    )
    assert response.status_code == 201
    unit_id = response.get_json()["id"]
    duplicate = admin_client.post(
        "/api/v1/locations", json={"code": "BER", "name": "Other", "country": "DE"}
    )
    assert duplicate.status_code == 409
    assert duplicate.get_json()["existing_id"] == response.get_json()["id"]
    assert duplicate.get_json()["errors"] == [{"pointer": "/code", "detail": "Already in use."}]
    bad_country = admin_client.patch(f"/api/v1/locations/{unit_id}", json={"country": "Germany"})
    assert bad_country.status_code == 422
    archived = admin_client.patch(f"/api/v1/locations/{unit_id}", json={"is_active": False})
    assert archived.get_json()["is_active"] is False


def test_me_returns_roles_and_a_csrf_token(admin_client):
    body = admin_client.get("/api/v1/me").get_json()
    assert "org_admin" in body["roles"] and "audit.read" in body["permissions"]
    assert body["csrf_token"]


def test_unknown_api_route_is_problem_json_and_unknown_page_is_html(admin_client):
    api = admin_client.get("/api/v1/nothing-here")
    assert api.status_code == 404 and api.content_type == "application/problem+json"
    page = admin_client.get("/nothing-here")
    assert page.status_code == 404 and page.content_type.startswith("text/html")
    assert b"fms-sidebar" in page.data  # the error page sits in the normal layout


def test_money_is_a_string_amount_with_a_currency():
    from marshmallow import Schema, ValidationError

    from fms.api.common import MoneyField
    from fms.money import Money

    class Priced(Schema):
        price = MoneyField()

    assert Priced().dump({"price": Money("12.5", "EUR")}) == {
        "price": {"amount": "12.50", "currency": "EUR"}
    }
    loaded = Priced().load({"price": {"amount": "1000", "currency": "JPY"}})
    assert loaded["price"] == Money("1000", "JPY")
    for bad in ({"amount": 12.5, "currency": "EUR"}, {"amount": "1", "currency": "EURO"}, "12"):
        with pytest.raises(ValidationError):
            Priced().load({"price": bad})


# --- the contract: what the OpenAPI document promises ---------------------------------------


def _spec(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def _resolve(spec, item):
    while "$ref" in item:
        *_, section, name = item["$ref"].split("/")
        item = spec["components"][section][name]
    return item


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_every_error_is_documented_as_problem_json(client):
    spec = _spec(client)
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert {"detail", "errors"} <= set(problem["properties"])
    field_error = spec["components"]["schemas"]["FieldError"]["properties"]
    assert {"pointer", "parameter", "in", "detail"} <= set(field_error)
    seen = 0
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("1", "2", "3")):
                continue
            content = _resolve(spec, response)["content"]
            assert set(content) == {"application/problem+json"}, (method, path, status)
            schema = content["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}
            seen += 1
    assert seen > 100


def test_errors_are_answered_as_documented(admin_client):
    response = admin_client.get("/api/v1/memberships/999999999")
    assert response.status_code == 404 and response.content_type == "application/problem+json"


def test_session_and_csrf_are_declared_and_applied(app, client):
    spec = _spec(client)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["session"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": app.config["SESSION_COOKIE_NAME"],
        "description": schemes["session"]["description"],
    }
    assert schemes["csrf"]["in"] == "header" and schemes["csrf"]["name"] == "X-CSRFToken"
    for path, method, operation in _operations(spec):
        expected = {"session": [], "csrf": []} if method != "get" else {"session": []}
        bearer, session = operation["security"]
        assert session == expected, (method, path)
        assert set(bearer) == {"bearer"} and len(bearer["bearer"]) <= 1, (method, path)
        assert "401" in operation["responses"], (method, path)


def test_decimals_are_documented_as_the_strings_they_are(admin_client):
    spec = _spec(admin_client)
    schemas = spec["components"]["schemas"]
    for name, field in (("FiguresOut", "fte"), ("ExchangeRateOut", "rate")):
        prop = schemas[name]["properties"][field]
        assert prop["type"] == "string" and prop["format"] == "decimal", name
        assert prop["pattern"]
    import re

    fte = admin_client.get("/api/v1/headcount").get_json()["total"]["fte"]
    assert isinstance(fte, str)
    assert re.match(schemas["FiguresOut"]["properties"]["fte"]["pattern"], fte)


def test_saml_connections_document_their_null_fields(client):
    props = _spec(client)["components"]["schemas"]["ConnectionOut"]["properties"]
    for name in ("issuer", "client_id", "saml_metadata_path", "idp_entity_id"):
        assert "null" in props[name]["type"], name


def test_an_empty_patch_is_refused_and_changes_nothing(admin_client, session, org_admin):
    before = _counts(session)
    for body in (b"", b"  \n"):
        response = admin_client.patch(
            f"/api/v1/memberships/{org_admin.id}", data=body, content_type="application/json"
        )
        assert response.status_code == 422, body
        assert response.content_type == "application/problem+json"
        assert "body is empty" in response.get_json()["detail"]
    response = admin_client.patch(f"/api/v1/organizations/{org_admin.org_id}")
    assert response.status_code == 422
    assert _counts(session) == before
    spec = _spec(admin_client)
    patch = spec["paths"]["/api/v1/memberships/{membership_id}"]["patch"]
    assert patch["requestBody"]["required"] is True


@pytest.fixture
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


def test_writes_without_a_session_are_401_before_csrf(csrf_on, client, session):
    before = _counts(session)
    for call in (
        lambda: client.post("/api/v1/departments", json={"code": "ENG", "name": "Eng"}),
        lambda: client.post("/api/v1/departments", json={"code": 5}),
        lambda: client.patch("/api/v1/memberships/1", data=b""),
        lambda: client.delete("/api/v1/sso/domains/1"),
    ):
        response = call()
        assert response.status_code == 401, response.get_json()
        assert response.content_type == "application/problem+json"
    assert _counts(session) == before


def test_cookie_authenticated_writes_still_need_csrf(csrf_on, admin_client, session):
    refused = admin_client.patch("/api/v1/organizations/1", json={"name": "x"})
    assert refused.status_code == 400
    assert refused.get_json()["title"] == "CSRF token missing or invalid"
    refused = admin_client.patch("/api/v1/organizations/1", data=b"")
    assert refused.status_code == 400  # CSRF before the body is looked at


def test_ids_beyond_the_id_columns_are_404_not_a_database_error(admin_client):
    """Ids are BIGINT columns: a larger one in a path is no row (the database would refuse
    the number); in a body or a query it is a field error (tests/test_bigint_ids.py)."""
    for url in (
        "/api/v1/memberships/99999999999999999999",
        "/api/v1/departments/9223372036854775808",
        "/api/v1/locations/2147483648",
    ):
        response = admin_client.get(url)
        assert response.status_code == 404, url
        assert response.content_type == "application/problem+json"
    param = _spec(admin_client)["paths"]["/api/v1/users/{user_id}"]["parameters"][0]
    assert param["schema"] == {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": 2**63 - 1,
    }
    response = admin_client.get("/api/v1/headcount?location_id=9223372036854775808")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["parameter"] == "location_id"


def _matches(value, documented) -> bool:
    types = documented if isinstance(documented, list) else [documented]
    kinds = {
        "null": value is None,
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }
    return any(kinds.get(t, False) for t in types)


def test_a_saml_connection_answers_as_documented(admin_client, session, org_admin):
    from fms.identity.sso.models import SsoConnection
    from tests.factories import as_org

    with as_org(session, org_admin.org_id):
        connection = SsoConnection(
            org_id=org_admin.org_id,
            name="SAML IdP",
            protocol="saml",
            idp_entity_id="https://idp.example.com/saml",
            idp_metadata_xml="<EntityDescriptor/>",
        )
        session.add(connection)
        session.commit()
    body = admin_client.get(f"/api/v1/sso/connections/{connection.id}").get_json()
    props = _spec(admin_client)["components"]["schemas"]["ConnectionOut"]["properties"]
    assert body["issuer"] is None and body["client_id"] is None
    for name, value in body.items():
        if "type" in props[name]:
            assert _matches(value, props[name]["type"]), (name, value, props[name]["type"])


def test_reference_rows_come_from_the_document():
    from fms.api.reference import build_reference, inline_code, type_of

    assert type_of({"type": "array", "items": {"$ref": "#/components/schemas/X"}}) == (
        "array of X",
        "X",
    )
    assert type_of({"type": ["string", "null"], "format": "date"})[0] == "string or null (date)"
    assert str(inline_code("send `<b>` here")) == "send <code>&lt;b&gt;</code> here"
    spec = {
        "tags": [{"name": "t", "description": "Things"}],
        "paths": {
            "/x/{id}": {
                "get": {
                    "tags": ["t"],
                    "summary": "One thing.",
                    "parameters": [{"in": "path", "name": "id", "required": True}],
                    "responses": {
                        "200": {"description": "OK"},
                        "404": {"$ref": "#/components/responses/NOT_FOUND"},
                    },
                }
            }
        },
        "components": {
            "responses": {
                "NOT_FOUND": {
                    "description": "Not Found",
                    "content": {"application/problem+json": {"schema": {"type": "object"}}},
                }
            }
        },
    }
    (section,) = build_reference(spec).sections
    (op,) = section.operations
    assert section.title == "Things" and op.method == "GET" and op.parameters[0].required
    assert [r.status for r in op.responses] == ["200"] and op.errors[0].status == "404"
