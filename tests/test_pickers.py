"""Pickers that scale: type-ahead lookups (paged, tenant-scoped, permission-checked), the
combobox fields of the forms, the supplier never changed silently, the budget notice."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from fms.errors import InvalidInput, NotAllowed
from fms.identity.models import Organization, User
from fms.workforce import engagements, queries, rules
from fms.workforce.lookups import lookup_freelancers
from fms.workforce.models import Engagement, Freelancer
from tests.factories import as_org


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def admin_client(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _lookup(client, path, **args):
    response = client.get(f"/api/v1/lookups/{path}", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- lookups --------------------------------------------------------------------------------


def test_freelancer_lookup_is_paged_by_twenty_at_most(admin_client, session, org, make_freelancer):
    for n in range(25):
        make_freelancer(org, display_name=f"Paged Person {n:02d}")
    session.commit()
    first = _lookup(admin_client, "freelancers", q="paged person")
    assert len(first["items"]) == 20 and first["has_more"] is True
    second = _lookup(admin_client, "freelancers", q="paged person", page=2)
    assert len(second["items"]) == 5 and second["has_more"] is False
    names = [i["label"] for i in first["items"] + second["items"]]
    assert names == sorted(names) and len(set(names)) == 25
    too_many = admin_client.get("/api/v1/lookups/freelancers?per_page=21")
    assert too_many.status_code == 422


def test_freelancer_lookup_matches_email_and_shows_country_and_supplier(
    admin_client, session, org, make_freelancer, make_supplier
):
    agency = make_supplier(org, name="Hays Agency")
    make_freelancer(org, display_name="Ada L", email="ada@calc.example", supplier_id=agency.id)
    make_freelancer(org, display_name="Bob D", email="bob@direct.example", country="FR")
    session.commit()
    (ada,) = _lookup(admin_client, "freelancers", q="CALC.ex")["items"]
    assert ada["label"] == "Ada L" and ada["supplier"] == "Hays Agency"
    assert ada["supplier_id"] == agency.id and "DE" in ada["detail"]
    (bob,) = _lookup(admin_client, "freelancers", q="bob")["items"]
    assert bob["supplier_id"] is None and "Direct" in bob["detail"] and "FR" in bob["detail"]


def test_lookups_are_tenant_scoped(
    admin_client, session, org, make_org, make_member, make_freelancer, make_supplier, make_unit
):
    other = make_org()
    make_freelancer(other, display_name="Elsewhere Person")
    make_supplier(other, name="Elsewhere Agency")
    make_unit(other, "cost_centre", code="ELSE1", name="Elsewhere")
    make_member(other, roles=("hiring_manager",))
    make_freelancer(org, display_name="Here Person")
    session.commit()
    assert _lookup(admin_client, "freelancers", q="elsewhere")["items"] == []
    assert _lookup(admin_client, "suppliers", q="elsewhere")["items"] == []
    assert _lookup(admin_client, "cost-centres", q="else")["items"] == []
    assert [i["label"] for i in _lookup(admin_client, "freelancers", q="person")["items"]] == [
        "Here Person"
    ]
    people = _lookup(admin_client, "people", q="")["items"]
    assert {p["id"] for p in people} == {
        m for m in session.scalars(select(User.id)) if _member_of(session, org, m)
    }


def _member_of(session, org, user_id):
    from fms.identity.models import Membership

    with as_org(session, org.id):
        return session.scalar(select(Membership.id).where(Membership.user_id == user_id))


def test_people_lookup_filters_by_role_and_hides_inactive_members(
    admin_client, session, org, make_member, make_user
):
    manager = make_member(org, roles=("hiring_manager",), user=make_user(name="Mia Manager"))
    make_member(org, roles=("finance",), user=make_user(name="Fay Finance"))
    make_member(org, roles=("hiring_manager",), user=make_user(name="Old Manager"), is_active=False)
    session.commit()
    found = _lookup(admin_client, "people", q="manager", role="hiring_manager")["items"]
    assert [p["id"] for p in found] == [manager.user_id]
    assert _lookup(admin_client, "people", q="fay", role="hiring_manager")["items"] == []
    assert len(_lookup(admin_client, "people", q="fay")["items"]) == 1
    assert admin_client.get("/api/v1/lookups/people?role=emperor").status_code == 422


def test_structure_lookup_matches_code_or_name(admin_client, session, org, make_unit):
    make_unit(org, "cost_centre", code="CC-4711", name="Grid operations")
    make_unit(org, "cost_centre", code="CC-0001", name="Retail", is_active=False)
    session.commit()
    assert [i["label"] for i in _lookup(admin_client, "cost-centres", q="4711")["items"]] == [
        "CC-4711 · Grid operations"
    ]
    assert _lookup(admin_client, "cost-centres", q="retail")["items"] == []  # archived


def test_freelancers_may_not_look_anyone_up(client, session, org, make_member, sign_in):
    person = make_member(org, roles=("freelancer",))
    session.commit()
    sign_in(client, session.get(User, person.user_id), org)
    for path in ("freelancers", "people", "suppliers", "cost-centres"):
        assert client.get(f"/api/v1/lookups/{path}").status_code == 403, path


def test_lookup_service_checks_permission(session, org, make_member, actor_of):
    person = make_member(org, roles=("freelancer",))
    with as_org(session, org.id), pytest.raises(NotAllowed):
        lookup_freelancers(session, actor=actor_of(person), q="")


def test_choices_leave_out_freelancers_unless_asked(session, org, make_freelancer):
    make_freelancer(org)
    with as_org(session, org.id):
        assert "freelancer_id" not in queries.choices(session)
        assert len(queries.choices(session, freelancers=True)["freelancer_id"]) == 1


# --- forms: comboboxes, never a select of every freelancer ---------------------------------


def test_engagement_form_has_comboboxes_not_selects(admin_client, session, org, make_freelancer):
    for n in range(30):
        make_freelancer(org, display_name=f"Many {n}")
    session.commit()
    page = admin_client.get("/engagements/new").get_data(as_text=True)
    assert "Many 1" not in page  # nobody is loaded into the page
    for name in ("freelancer_id", "supplier_id", "hiring_manager_user_id", "cost_centre_id"):
        assert f'name="{name}_text"' in page and f'type="hidden" name="{name}"' in page
    assert "js/combobox.js" in page and "<select" in page  # the kind stays a small select


def _engagement_form(org_structure, org, manager_id, **extra):
    return {
        "title": "Data platform",
        "kind": "hourly",
        **org_structure(org),
        "start_date": "2027-01-04",
        "end_date": "2027-03-31",
        "weekly_hours": "40",
        "currency": "EUR",
        "rate": "90",
        "budget_cap": "50000",
        "hiring_manager_user_id": manager_id,
        **extra,
    }


def test_without_javascript_a_typed_name_is_resolved_or_explained(
    admin_client, session, org, org_admin, make_freelancer, org_structure
):
    make_freelancer(org, display_name="Ines Costa", email="ines@example.net")
    make_freelancer(org, display_name="Ines Cortez")
    session.commit()
    form = _engagement_form(org_structure, org, org_admin.user_id, freelancer_id_text="ines")
    response = admin_client.post_form("/engagements/new", data=form)
    assert response.status_code == 422
    assert "matches more than one" in response.get_data(as_text=True)
    form["freelancer_id_text"] = "ines@example.net"
    response = admin_client.post_form("/engagements/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    created = session.scalar(select(Engagement).where(Engagement.title == "Data platform"))
    assert session.get(Freelancer, created.freelancer_id).display_name == "Ines Costa"


def test_unknown_text_is_a_message_not_a_guess(admin_client, org, org_admin, org_structure):
    form = _engagement_form(org_structure, org, org_admin.user_id, cost_centre_id_text="nowhere")
    form.pop("cost_centre_id")
    response = admin_client.post_form("/engagements/new", data=form)
    assert response.status_code == 422
    assert "“nowhere” matches none" in response.get_data(as_text=True)


# --- the supplier is never changed silently --------------------------------------------------


@pytest.fixture
def procurement(org_admin, actor_of):
    return actor_of(org_admin)


def _create(session, actor, org, org_structure, **fields):
    values = {
        "title": "T",
        "kind": "hourly",
        **org_structure(org),
        "start_date": date(2027, 1, 4),
        "end_date": date(2027, 3, 31),
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate": "90",
        "budget_cap": "50000",
        "hiring_manager_user_id": actor.user_id,
    }
    values.update(fields)
    with as_org(session, org.id):
        return engagements.create_engagement(session, actor=actor, **values)


def test_a_freelancer_without_a_chosen_supplier_brings_their_own_and_the_page_says_so(
    admin_client, session, org, org_admin, make_freelancer, make_supplier, org_structure
):
    agency = make_supplier(org, name="Hays Agency")
    make_freelancer(org, display_name="Via Agency", supplier_id=agency.id)
    session.commit()
    form = _engagement_form(org_structure, org, org_admin.user_id, freelancer_id_text="via agency")
    response = admin_client.post_form("/engagements/new", data=form, follow_redirects=True)
    assert "Supplier: Hays Agency." in response.get_data(as_text=True)


def test_another_supplier_than_the_freelancers_needs_confirmation(
    session, org, procurement, make_freelancer, make_supplier, org_structure
):
    theirs, other = make_supplier(org, name="Theirs"), make_supplier(org, name="Other")
    person = make_freelancer(org, display_name="Pat", supplier_id=theirs.id)
    with pytest.raises(InvalidInput) as refused:
        _create(
            session, procurement, org, org_structure, freelancer_id=person.id, supplier_id=other.id
        )
    assert "Pat comes through Theirs, not Other" in refused.value.errors["supplier_id"][0]
    direct = make_freelancer(org, display_name="Dee")
    with pytest.raises(InvalidInput):
        _create(
            session, procurement, org, org_structure, freelancer_id=direct.id, supplier_id=other.id
        )
    made = _create(
        session,
        procurement,
        org,
        org_structure,
        freelancer_id=person.id,
        supplier_id=other.id,
        confirm_supplier=True,
    )
    assert made.supplier_id == other.id
    same = _create(
        session, procurement, org, org_structure, freelancer_id=person.id, supplier_id=theirs.id
    )
    assert same.supplier_id == theirs.id


def test_onboarding_applies_the_freelancers_supplier_visibly_or_asks(
    admin_client, session, org, make_engagement, make_freelancer, make_supplier
):
    theirs, other = make_supplier(org, name="Theirs"), make_supplier(org, name="Other")
    person = make_freelancer(org, display_name="Pat Agency", supplier_id=theirs.id)
    plain = make_engagement(org, state="approved", start=date(2027, 1, 1), end=date(2027, 2, 1))
    with_other = make_engagement(
        org, state="approved", start=date(2027, 3, 1), end=date(2027, 4, 1), supplier_id=other.id
    )
    session.commit()
    response = admin_client.post(
        f"/engagements/{plain.id}/onboard", data={"freelancer_id": person.id}, follow_redirects=True
    )
    assert "Supplier set to Theirs, the freelancer&#39;s supplier." in response.get_data(
        as_text=True
    )
    response = admin_client.post(
        f"/engagements/{with_other.id}/onboard",
        data={"freelancer_id": person.id},
        follow_redirects=True,
    )
    assert "Pat Agency comes through Theirs, not Other" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Engagement, with_other.id).state == "approved"
    admin_client.post(
        f"/engagements/{with_other.id}/onboard",
        data={"freelancer_id": person.id, "confirm_supplier": "y"},
    )
    session.expire_all()
    kept = session.get(Engagement, with_other.id)
    assert kept.state == "onboarding" and kept.supplier_id == other.id


def test_onboard_form_is_a_combobox(admin_client, session, org, make_engagement):
    engagement = make_engagement(org, state="approved")
    session.commit()
    page = admin_client.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    assert 'name="freelancer_id_text"' in page and "onboard-freelancer" not in page


# --- the budget notice -----------------------------------------------------------------------


def test_expected_cost_is_rate_times_hours_times_weeks():
    two_weeks = (date(2027, 1, 4), date(2027, 1, 17))
    assert rules.expected_cost("hourly", Decimal(100), 2400, *two_weeks) == Decimal("8000.00")
    assert rules.expected_cost("daily", Decimal(800), 2400, *two_weeks) == Decimal("8000.00")
    assert rules.expected_cost("fixed", Decimal(100), 2400, *two_weeks) is None
    assert rules.budget_notice("hourly", Decimal(8000), Decimal(100), 2400, *two_weeks) is None
    assert "below" in rules.budget_notice("hourly", Decimal(7999), Decimal(100), 2400, *two_weeks)


def test_requisition_below_expected_cost_is_saved_with_a_warning(
    admin_client, session, org, org_structure
):
    form = {
        "title": "Short budget",
        "kind": "hourly",
        **org_structure(org),
        "start_date": "2027-01-04",
        "end_date": "2027-01-17",
        "weekly_hours": "40",
        "currency": "EUR",
        "rate_min": "80",
        "rate_max": "100",
        "budget": "5000",
        "justification": "Tight",
    }
    response = admin_client.post_form("/requisitions/new", data=form, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Requisition saved." in page
    assert "is below the top rate × weekly hours × weeks (8,000.00)" in page
    assert 'id="budget-notice"' in admin_client.get("/requisitions/new").get_data(as_text=True)
