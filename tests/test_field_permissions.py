"""Fields with a permission of their own, and what freelancers see of their engagements.

The rules, from DESIGN.md and the field-permissions brief (expectations are written from
these, not read off the code):
- a freelancer's IBAN and tax id are read by finance, procurement and the freelancer
  themselves only — pages, API, searches; others may see that they are on file;
- they are changed by procurement or the freelancer themselves only;
- audit entries say that such a value changed, never what it is;
- a freelancer sees their engagement's dates, rate and checklist, never its budget cap,
  PO number or internal notes, and their navigation does not advertise the staff API.
"""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from fms.audit import services as audit
from fms.audit.models import AuditEntry
from fms.identity.models import User
from fms.tenancy import scope_session
from fms.workforce import services

IBAN = "DE89370400440532013000"
NEW_IBAN = "DE02120300000000202051"
TAX_ID = "DE136695976"
# long digit runs of the values: none of them may show up where the value may not
SECRETS = ("370400440532013000", "120300000000202051", "136695976")

# role -> may read bank and tax details of other people's profiles
STAFF = {
    "org_admin": False,
    "procurement": True,
    "hiring_manager": False,
    "compliance": False,
    "finance": True,
}


@pytest.fixture
def world(session, make_org, make_member, make_freelancer):
    """One organization: each staff role alone, a freelancer with bank details, another one."""
    org = make_org()
    members = {role: make_member(org, roles=(role,)) for role in STAFF}
    me = make_member(org, roles=("freelancer",))
    other = make_member(org, roles=("freelancer",))
    profile = make_freelancer(
        org, user_id=me.user_id, iban=IBAN, tax_id=TAX_ID, headline="Data engineer"
    )
    other_profile = make_freelancer(org, user_id=other.user_id, headline="Designer")
    session.commit()
    return {
        "org": org,
        "members": members,
        "me": me,
        "other": other,
        "profile": profile,
        "other_profile": other_profile,
    }


def _client(app, session, sign_in, membership, org):
    web = app.test_client()
    sign_in(web, session.get(User, membership.user_id), org)
    return web


def _text(response) -> str:
    return response.get_data(as_text=True)


def _shows_secret(text: str) -> bool:
    return any(secret in text for secret in SECRETS)


# --- pages and API, per role ------------------------------------------------------------------


@pytest.mark.parametrize("role", list(STAFF))
def test_staff_see_bank_details_only_with_the_permission(app, session, sign_in, world, role):
    web = _client(app, session, sign_in, world["members"][role], world["org"])
    fid = world["profile"].id
    sees = STAFF[role]

    page = web.get(f"/freelancers/{fid}")
    assert page.status_code == 200
    assert (IBAN in _text(page)) is sees
    assert ("136695976" in _text(page)) is sees
    if not sees:
        assert not _shows_secret(_text(page))
        assert "On file" in _text(page)  # that the details exist is no secret
    directory = web.get("/freelancers")
    assert directory.status_code == 200 and not _shows_secret(_text(directory))

    one = web.get(f"/api/v1/freelancers/{fid}").get_json()
    listed = web.get("/api/v1/freelancers?per_page=200").get_json()["items"]
    [mine] = [item for item in listed if item["id"] == fid]
    for body in (one, mine):
        assert body["iban_on_file"] is True and body["tax_id_on_file"] is True
        if sees:
            assert body["iban"] == IBAN and body["tax_id"] == TAX_ID
        else:
            assert "iban" not in body and "tax_id" not in body
    if not sees:
        raw = _text(web.get("/api/v1/freelancers?per_page=200"))
        assert not _shows_secret(raw)


def test_bank_details_are_no_search_key(app, session, sign_in, world):
    """Searching by IBAN or tax digits finds nothing, so search is no oracle for them."""
    web = _client(app, session, sign_in, world["members"]["hiring_manager"], world["org"])
    for q in ("0532013000", "136695976"):
        assert web.get(f"/api/v1/freelancers?q={q}").get_json()["total"] == 0
        assert "0 freelancers" in _text(web.get(f"/freelancers?q={q}"))


def test_profile_form_shows_bank_fields_to_procurement_only(app, session, sign_in, world):
    fid = world["profile"].id
    buyer = _client(app, session, sign_in, world["members"]["procurement"], world["org"])
    form = buyer.get(f"/freelancers/{fid}/edit")
    assert form.status_code == 200 and IBAN in _text(form)
    for role in ("org_admin", "finance", "hiring_manager", "compliance"):
        web = _client(app, session, sign_in, world["members"][role], world["org"])
        assert web.get(f"/freelancers/{fid}/edit").status_code == 403


def test_the_freelancer_sees_their_own_details_and_nobody_elses(app, session, sign_in, world):
    fid = world["profile"].id
    me = _client(app, session, sign_in, world["me"], world["org"])
    own_page = me.get("/my/profile")
    assert own_page.status_code == 200 and IBAN in _text(own_page)
    own_api = me.get("/api/v1/my/profile")
    assert own_api.status_code == 200
    assert own_api.get_json()["iban"] == IBAN and own_api.get_json()["tax_id"] == TAX_ID
    # the staff directory is not theirs, even for their own id
    assert me.get(f"/freelancers/{fid}").status_code == 403
    assert me.get(f"/api/v1/freelancers/{fid}").status_code == 403

    other = _client(app, session, sign_in, world["other"], world["org"])
    for url in (f"/freelancers/{fid}", f"/api/v1/freelancers/{fid}", "/freelancers"):
        response = other.get(url)
        assert response.status_code in (403, 404) and not _shows_secret(_text(response))
    for url in ("/my/profile", "/api/v1/my/profile"):
        response = other.get(url)
        assert response.status_code == 200 and not _shows_secret(_text(response))
    patched = other.patch(f"/api/v1/freelancers/{fid}", json={"iban": NEW_IBAN})
    assert patched.status_code == 404


def test_the_freelancer_keeps_their_own_bank_details_through_the_api(app, session, sign_in, world):
    me = _client(app, session, sign_in, world["me"], world["org"])
    saved = me.patch("/api/v1/my/profile", json={"iban": NEW_IBAN})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["iban"] == NEW_IBAN


@pytest.mark.parametrize("role", ["org_admin", "hiring_manager", "compliance", "finance"])
def test_only_procurement_and_the_freelancer_change_bank_details(
    app, session, sign_in, world, actor_of, role
):
    fid = world["profile"].id
    web = _client(app, session, sign_in, world["members"][role], world["org"])
    refused = web.patch(f"/api/v1/freelancers/{fid}", json={"iban": NEW_IBAN})
    assert refused.status_code == 403 and not _shows_secret(_text(refused))
    scope_session(session, world["org"].id)
    with pytest.raises(Exception):  # noqa: B017,PT011 - NotAllowed, NotFound: either refuses
        services.update_freelancer(
            session, actor=actor_of(world["members"][role]), freelancer_id=fid, iban=NEW_IBAN
        )


def test_openapi_document_says_the_fields_are_not_always_there(app, client):
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["FreelancerOut"]
    assert "iban" in schema["properties"] and "tax_id" in schema["properties"]
    assert "iban" not in schema.get("required", [])
    assert "finance" in schema["properties"]["iban"]["description"]
    assert schema["properties"]["iban_on_file"]["type"] == "boolean"


# --- audit ------------------------------------------------------------------------------------


def test_audit_records_that_bank_details_changed_not_their_values(app, session, sign_in, world):
    org = world["org"]
    fid = world["profile"].id
    buyer = _client(app, session, sign_in, world["members"]["procurement"], org)
    assert buyer.patch(f"/api/v1/freelancers/{fid}", json={"iban": NEW_IBAN}).status_code == 200
    page = buyer.post(
        f"/freelancers/{fid}/edit",
        data={
            "legal_name": world["profile"].legal_name,
            "display_name": world["profile"].display_name,
            "email": world["profile"].email,
            "country": "DE",
            "timezone": "Europe/Berlin",
            "currency": "EUR",
            "headline": "Data engineer",
            "tax_id": "",
            "iban": IBAN,
            "supplier_id": 0,
        },
    )
    assert page.status_code == 302, _text(page)[:2000]
    created = services.create_freelancer(
        session,
        actor=_actor(world["members"]["procurement"]),
        legal_name="Ana Lima",
        display_name="Ana Lima",
        email="ana@example.pt",
        country="PT",
        timezone="Europe/Lisbon",
        currency="EUR",
        iban="PT50000201231234567890154",
        tax_id="PT 501 964 843",
    )
    session.commit()

    scope_session(session, org.id)
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity_type == "freelancer")
        .order_by(AuditEntry.seq)
        .execution_options(all_tenants=True)
    ).all()
    api_change, page_change, creation = entries[-3:]
    assert api_change.before["iban"] == "on file" and api_change.after["iban"] == "changed"
    assert page_change.after["iban"] == "changed" and page_change.after["tax_id"] == "removed"
    assert page_change.before["tax_id"] == "on file"
    assert creation.entity_id == created.id
    assert creation.after["iban"] == "set" and creation.after["tax_id"] == "set"
    assert audit.verify_chain(session, org.id).ok

    reader = _client(app, session, sign_in, world["members"]["org_admin"], org)
    listing = reader.get("/api/v1/audit-entries?entity_type=freelancer&per_page=200")
    assert listing.status_code == 200 and len(listing.get_json()["items"]) >= 3
    shown = [_text(listing), _text(reader.get("/admin/audit?entity_type=freelancer"))]
    for entry in (api_change, page_change, creation):
        shown.append(_text(reader.get(f"/api/v1/audit-entries/{entry.id}")))
        shown.append(_text(reader.get(f"/admin/audit/{entry.id}")))
    assert not any(_shows_secret(text) or "501964843" in text for text in shown)
    assert "changed" in shown[-1] or "set" in shown[-1]


def _actor(membership):
    from fms.identity.actor import Actor

    return Actor(
        user_id=membership.user_id, org_id=membership.org_id, roles=frozenset(membership.roles)
    )


def test_record_redacts_secrets_whoever_calls_it(session, make_org):
    """Redaction lives in record(): a caller passing clear values cannot leak them."""
    from fms.identity.actor import system_actor
    from fms.identity.permissions import REDACTED_IN_AUDIT

    org = make_org()
    actor = system_actor(org.id)
    assert REDACTED_IN_AUDIT <= audit.REDACTED_KEYS  # identity's list is covered by audit's
    entry = audit.record(
        session,
        actor,
        "test.secrets",
        entity_type="thing",
        entity_id=1,
        before={"iban": IBAN, "tax_id": None, "password": "hunter2", "name": "A", "pin": "1"},
        after={"iban": IBAN, "tax_id": TAX_ID, "password": "hunter3", "name": "B", "pin": "2"},
        redact={"pin"},
    )
    assert entry.before == {
        "iban": "on file",
        "tax_id": None,
        "password": "on file",
        "name": "A",
        "pin": "on file",
    }
    assert entry.after == {
        "iban": "unchanged",
        "tax_id": "set",
        "password": "changed",
        "name": "B",
        "pin": "changed",
    }
    nested = audit.record(
        session, actor, "test.nested", after={"rows": [{"iban": IBAN}], "iban": None}
    )
    assert nested.after == {"rows": [{"iban": "set"}], "iban": None}
    assert audit.verify_chain(session, org.id).ok


# --- what freelancers see of their engagements -----------------------------------------------


@pytest.fixture
def engagement(session, world, make_engagement):
    engagement = make_engagement(
        world["org"],
        freelancer=world["profile"],
        po_number="PO-4711-INTERNAL",
        state="onboarding",
        rate="95.50",
        # a freelancer sees their engagement until its end: a year past the real today
        end=date.today() + timedelta(days=365),  # noqa: DTZ011 - access follows the real date
    )
    from fms.workforce.models import OnboardingStep
    from tests.factories import as_org

    with as_org(session, world["org"].id):
        session.add(
            OnboardingStep(
                org_id=world["org"].id,
                engagement_id=engagement.id,
                position=1,
                title="Sign the NDA",
                kind="sign",
            )
        )
    session.commit()
    return engagement


def test_freelancer_engagement_page_shows_terms_not_internals(
    app, session, sign_in, world, engagement
):
    me = _client(app, session, sign_in, world["me"], world["org"])
    for url in (f"/engagements/{engagement.id}", "/engagements/mine"):
        text = _text(me.get(url))
        assert engagement.title in text and "95.50" in text
        assert str(engagement.end_date) in text
        assert "PO-4711" not in text and "PO number" not in text
        assert "Budget" not in text and "100,000" not in text and "100000" not in text
        assert "Cost centre" not in text
    assert "Sign the NDA" in _text(me.get(f"/engagements/{engagement.id}"))
    # staff still see them
    buyer = _client(app, session, sign_in, world["members"]["procurement"], world["org"])
    staff_text = _text(buyer.get(f"/engagements/{engagement.id}"))
    assert "PO-4711-INTERNAL" in staff_text and "Budget cap" in staff_text


def test_freelancer_engagement_api_shows_terms_not_internals(
    app, session, sign_in, world, engagement
):
    me = _client(app, session, sign_in, world["me"], world["org"])
    one = me.get(f"/api/v1/engagements/{engagement.id}")
    assert one.status_code == 200
    listed = me.get("/api/v1/my/engagements")
    assert listed.status_code == 200
    [item] = listed.get_json()["items"]
    for body in (one.get_json(), item):
        assert body["id"] == engagement.id and body["end_date"] == str(engagement.end_date)
        assert body["terms"][0]["rate"] == {"amount": "95.50", "currency": "EUR"}
        assert [s["title"] for s in body["checklist"]] == ["Sign the NDA"]
        for internal in ("po_number", "requisition_id"):
            assert internal not in body
        for internal in ("budget_cap", "cost_centre_id", "amendment_id"):
            assert internal not in body["terms"][0]
        assert "PO-4711" not in str(body)
    assert me.get(f"/api/v1/engagements/{engagement.id}/amendments").status_code == 403
    staff = _client(app, session, sign_in, world["members"]["procurement"], world["org"])
    full = staff.get(f"/api/v1/engagements/{engagement.id}").get_json()
    assert full["po_number"] == "PO-4711-INTERNAL" and "budget_cap" in full["terms"][0]


def test_staff_api_reference_is_not_advertised_to_freelancers(app, session, sign_in, world):
    me = _client(app, session, sign_in, world["me"], world["org"])
    assert "API reference" not in _text(me.get("/engagements/mine"))
    staff = _client(app, session, sign_in, world["members"]["hiring_manager"], world["org"])
    assert "API reference" in _text(staff.get("/freelancers"))


def test_entries_from_before_redaction_are_shown_redacted(
    app, session, sign_in, world, monkeypatch
):
    """Old entries kept their clear values (rewriting them would break the chain): the
    audit page and API hide them when showing."""
    from fms.identity.actor import system_actor
    from tests.factories import as_org

    org = world["org"]
    with monkeypatch.context() as patched:
        patched.setattr(audit, "redacted", lambda before, after, redact=(): (before, after))
        with as_org(session, org.id):
            old = audit.record(
                session,
                system_actor(org.id),
                "freelancer.updated",
                entity_type="freelancer",
                entity_id=world["profile"].id,
                before={"iban": IBAN},
                after={"iban": NEW_IBAN},
            )
    session.commit()
    assert old.after == {"iban": NEW_IBAN}  # stored as it was, chain intact
    reader = _client(app, session, sign_in, world["members"]["compliance"], org)
    page = _text(reader.get(f"/admin/audit/{old.id}"))
    api = reader.get(f"/api/v1/audit-entries/{old.id}").get_json()
    assert not _shows_secret(page) and "changed" in page
    assert api["before"] == {"iban": "on file"} and api["after"] == {"iban": "changed"}


# --- a supplier's tax id ----------------------------------------------------------------------

SUPPLIER_TAX_ID = "DE811569869"
# role -> may read a staffing agency's tax id (those who register suppliers and pay them)
SUPPLIER_TAX_READERS = {
    "org_admin": False,
    "procurement": True,
    "hiring_manager": False,
    "compliance": False,
    "finance": True,
}


@pytest.mark.parametrize("role", list(SUPPLIER_TAX_READERS))
def test_a_suppliers_tax_id_is_read_by_procurement_and_finance_only(
    app, session, sign_in, world, make_supplier, role
):
    supplier = make_supplier(world["org"], tax_id=SUPPLIER_TAX_ID)
    session.commit()
    web = _client(app, session, sign_in, world["members"][role], world["org"])
    sees = SUPPLIER_TAX_READERS[role]
    digits = SUPPLIER_TAX_ID[2:]

    page = _text(web.get(f"/suppliers/{supplier.id}"))
    assert (digits in page) is sees
    if not sees:
        assert "On file" in page
    listing = web.get("/suppliers")
    assert listing.status_code == 200 and (digits in _text(listing)) is sees
    export = web.get("/suppliers/export.csv")
    assert export.status_code == 200 and (digits in _text(export)) is sees

    one = web.get(f"/api/v1/suppliers/{supplier.id}").get_json()
    [listed] = [
        s
        for s in web.get("/api/v1/suppliers?per_page=200").get_json()["items"]
        if s["id"] == supplier.id
    ]
    for body in (one, listed):
        assert body["tax_id_on_file"] is True
        assert (body.get("tax_id") == SUPPLIER_TAX_ID) is sees
        if not sees:
            assert "tax_id" not in body
    # sorting by the hidden column would reveal the values' order
    by_tax = web.get("/api/v1/suppliers?sort=tax_id")
    assert by_tax.status_code == (200 if sees else 422)
    assert web.get("/suppliers?sort=tax_id").status_code in ((200,) if sees else (200, 400, 422))
