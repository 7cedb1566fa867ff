"""Workforce pages as procurement, hiring managers, finance and freelancers use them."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from fms.identity.models import Organization, User
from fms.workforce.models import Engagement, Freelancer, Requisition, Supplier


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def admin_client(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _user(session, membership):
    return session.get(User, membership.user_id)


def _title(text: str) -> str:
    return f'<h1 class="fms-page-title">{text}</h1>'


# (page, what an admin of a new organization sees there: the heading, the empty state)
PAGES = [
    ("/requisitions", [_title("Requisitions"), "No requisitions yet"]),
    ("/requisitions?view=mine", [_title("Requisitions"), "No requisitions yet"]),
    ("/requisitions/new", [_title("Request a freelancer"), "Justification"]),
    ("/engagements", [_title("Engagements"), "No engagements match"]),
    ("/engagements/new", [_title("Draft an engagement"), "Budget cap"]),
    ("/headcount", [_title("Contingent headcount"), "Nobody at work on"]),
    ("/headcount?group_by=skill", [_title("Contingent headcount"), "Nobody at work on"]),
    ("/headcount.csv", ["Cost centre,People,Engagements,FTE", "Total (each person once),0,0,0.00"]),
    ("/suppliers", [_title("Suppliers"), "No suppliers yet"]),
    ("/exchange-rates", [_title("Exchange rates"), "No exchange rates yet"]),
    ("/admin/workforce", [_title("Workforce settings"), "Approval chain", "Skill taxonomy"]),
    ("/freelancers", [_title("Freelancers"), "No freelancers yet"]),
    (
        "/freelancers?skill_id=1&available_from=2026-01-01&available_to=2026-02-01",
        [_title("Freelancers"), "No freelancer matches"],
    ),
]


@pytest.mark.parametrize("path, shown", PAGES)
def test_pages_render_empty(admin_client, path, shown):
    response = admin_client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in shown:
        assert text in page, (path, text)


def _text(page: str) -> str:
    """What a reader sees: the page without its tags, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_pages_render_with_data(
    admin_client, session, org, make_engagement, make_requisition, make_supplier, approval_chain
):
    approval_chain(org)
    engagement = make_engagement(org, supplier_id=make_supplier(org, name="Hays Agency").id)
    req = make_requisition(org, title="Grid analyst")
    freelancer = session.get(Freelancer, engagement.freelancer_id)
    session.commit()
    expected = {
        f"/engagements/{engagement.id}": [_title(engagement.title), "Hays Agency"],
        f"/requisitions/{req.id}": [_title("Requisition: Grid analyst")],
        f"/freelancers/{freelancer.id}": [_title(freelancer.display_name), engagement.title],
        "/engagements": [engagement.title, "Hays Agency"],
        "/requisitions?view=all": ["Grid analyst"],
    }
    for path, shown in expected.items():
        response = admin_client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        for text in shown:
            assert text in page, (path, text)
    headcount = _text(admin_client.get("/headcount?on=2026-06-01").get_data(as_text=True))
    assert "People at work 1 on 2026-06-01" in headcount
    assert "Engagements 1" in headcount and "FTE 1.00" in headcount


def test_request_approve_and_onboard_in_the_browser(
    app, session, org, make_member, sign_in, approval_chain, org_structure, make_freelancer
):
    approval_chain(org)
    structure = org_structure(org)
    manager = make_member(org, roles=("hiring_manager",))
    buyer = make_member(org, roles=("procurement",))
    person = make_freelancer(org, display_name="Ines Costa")
    session.commit()
    web = app.test_client()
    sign_in(web, _user(session, manager), org)
    form = {
        "title": "Grid analyst",
        "kind": "hourly",
        "department_id": structure["department_id"],
        "cost_centre_id": structure["cost_centre_id"],
        "location_id": structure["location_id"],
        "start_date": "2027-01-04",
        "end_date": "2027-06-30",
        "weekly_hours": "32",
        "currency": "EUR",
        "rate_min": "70",
        "rate_max": "85",
        "budget": "45000",
        "justification": "Regulatory deadline",
        "submit_now": "1",
    }
    response = web.post_form("/requisitions/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    req = session.scalar(select(Requisition).where(Requisition.title == "Grid analyst"))
    assert req.state == "submitted" and req.weekly_minutes == 32 * 60
    page = web.get(f"/requisitions/{req.id}").get_data(as_text=True)
    assert "Procurement review" in page and "procurement role" in page
    sign_in(web, _user(session, buyer), org)
    assert "Grid analyst" in web.get("/requisitions?view=waiting").get_data(as_text=True)
    web.post(f"/requisitions/{req.id}/decide", data={"decision": "approve"})
    session.expire_all()
    engagement = session.scalar(select(Engagement).where(Engagement.requisition_id == req.id))
    assert engagement.state == "approved"
    web.post(f"/engagements/{engagement.id}/onboard", data={"freelancer_id": person.id})
    session.expire_all()
    assert session.get(Engagement, engagement.id).state == "onboarding"
    assert "Ines Costa" in web.get(f"/engagements/{engagement.id}").get_data(as_text=True)


def test_bad_requisition_form_shows_errors_and_stores_nothing(admin_client, session, org):
    response = admin_client.post_form(
        "/requisitions/new", data={"title": "x" * 300, "kind": "hourly", "weekly_hours": "200"}
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "is-invalid" in text
    assert session.scalar(select(func.count(Requisition.id))) == 0


def test_supplier_tax_ids_are_validated_by_country(admin_client, session):
    bad = admin_client.post_form(
        "/suppliers", data={"name": "Hays GmbH", "country": "DE", "tax_id": "DE123456789"}
    )
    assert bad.status_code == 422 and "Not a valid" in bad.get_data(as_text=True)
    good = admin_client.post_form(
        "/suppliers", data={"name": "Hays GmbH", "country": "DE", "tax_id": "DE 136 695 976"}
    )
    assert good.status_code == 302
    assert session.scalar(select(Supplier.tax_id)) == "136695976"


def test_freelancer_sees_own_engagements_until_they_end(
    app, session, org, make_member, make_freelancer, make_engagement, sign_in
):
    member = make_member(org, roles=("freelancer",))
    profile = make_freelancer(org, user_id=member.user_id)
    today = date.today()  # noqa: DTZ011
    current = make_engagement(
        org, freelancer=profile, start=today - timedelta(days=30), end=today + timedelta(days=30)
    )
    past = make_engagement(
        org,
        freelancer=profile,
        start=today - timedelta(days=300),
        end=today - timedelta(days=100),
        state="ended",
    )
    session.commit()
    web = app.test_client()
    sign_in(web, _user(session, member), org)
    page = web.get("/engagements/mine").get_data(as_text=True)
    assert current.title in page and past.title not in page
    own = web.get(f"/engagements/{current.id}")
    assert own.status_code == 200 and _title(current.title) in own.get_data(as_text=True)
    assert web.get(f"/engagements/{past.id}").status_code == 404
    assert web.get("/engagements").status_code == 403
    assert web.get("/headcount").status_code == 403


def test_headcount_page_csv_and_api_agree(
    admin_client, session, org, make_engagement, make_freelancer
):
    person = make_freelancer(org)
    make_engagement(org, freelancer=person, weekly_minutes=1200)
    make_engagement(org, freelancer=person, weekly_minutes=1200)
    make_engagement(org, weekly_minutes=2400)
    session.commit()
    query = "on=2026-06-01&group_by=country"
    page = admin_client.get(f"/headcount?{query}").get_data(as_text=True)
    csv_text = admin_client.get(f"/headcount.csv?{query}").get_data(as_text=True)
    api = admin_client.get(f"/api/v1/headcount?{query}").get_json()
    assert api["total"] == {"people": 2, "engagements": 3, "fte": "2.00"}
    assert "Total (each person once),2,3,2.00,2026-06-01" in csv_text
    assert '<div class="fms-stat-value">2</div>' in page
    assert '<div class="fms-stat-value">3</div>' in page


def test_overview_lists_what_waits_for_me(
    app, session, org, make_member, make_requisition, approval_chain, sign_in, make_engagement
):
    from fms.workforce import requisitions
    from tests.factories import as_org

    approval_chain(org)
    buyer = make_member(org, roles=("procurement",))
    manager = make_member(org, roles=("hiring_manager",))
    req = make_requisition(org, requester=manager)
    today = date.today()  # noqa: DTZ011
    make_engagement(
        org,
        state="ended",
        manager_id=manager.user_id,
        start=today - timedelta(days=100),
        end=today - timedelta(days=5),
    )
    with as_org(session, org.id):
        from fms.identity.actor import Actor

        requisitions.submit_requisition(
            session,
            actor=Actor(
                user_id=manager.user_id, org_id=org.id, roles=frozenset({"hiring_manager"})
            ),
            requisition_id=req.id,
            today=today,
        )
    session.commit()
    web = app.test_client()
    sign_in(web, _user(session, buyer), org)
    counted = '<span class="ov-count">1</span><span class="ov-text"><span class="ov-title">'
    page = web.get("/").get_data(as_text=True)
    assert 'data-item="workforce.requisitions_to_decide"' in page
    assert counted + "Requisitions to decide" in page
    sign_in(web, _user(session, manager), org)
    assert counted + "Freelancer reviews to write" in web.get("/").get_data(as_text=True)


def test_approval_step_labels_are_made_from_the_rule(admin_client, session, org):
    """A typed label is not taken: the label follows the role and threshold, so changing a
    threshold can never leave a step saying 'above 50,000'."""
    from fms.workforce.models import ApprovalRule

    chain = {"section": "chain", "role": ["procurement", "finance"], "min_budget": ["0", "75000"]}
    posted = admin_client.post("/admin/workforce", data={**chain, "label": ["Anything", "Typo"]})
    assert posted.status_code == 302
    labels = list(session.scalars(select(ApprovalRule.label).order_by(ApprovalRule.position)))
    assert labels == ["Procurement review", "Finance approval from 75,000.00 EUR"]
    chain["min_budget"] = ["0", "50000.5"]
    assert admin_client.post("/admin/workforce", data=chain).status_code == 302
    session.expire_all()
    labels = list(session.scalars(select(ApprovalRule.label).order_by(ApprovalRule.position)))
    assert labels[1] == "Finance approval from 50,000.50 EUR"
    page = admin_client.get("/admin/workforce").data.decode()
    assert "Finance approval from 50,000.50 EUR" in page and 'name="label"' not in page


def test_step_labels_use_the_currency_digits():
    from decimal import Decimal

    from fms.workforce.rules import step_label

    assert step_label("procurement", Decimal(0), "EUR") == "Procurement review"
    assert (
        step_label("org_admin", Decimal(1000000), "JPY") == "Org admin approval from 1,000,000 JPY"
    )
    assert step_label("finance", Decimal("0.0005"), "KWD") == "Finance approval from 0.001 KWD"
