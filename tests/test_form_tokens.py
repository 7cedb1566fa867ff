"""One-time form tokens (issue 8): a double click, a re-posted reload or a second tab
creates one record; a form with errors keeps its token; a bad token creates nothing."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fms.identity.models import Organization, User
from fms.workforce.models import (
    Amendment,
    Department,
    Requisition,
    Skill,
    Supplier,
    SupplierContact,
)

EXPIRED = "This form has expired; check and submit again"
ALREADY = "This form was already submitted"
CONTACT = {"name": "Petra Vogel", "email": "petra@hays.example", "role": "Account manager"}


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def web(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def _token(page: str, name: str = "form_token") -> str:
    return re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]+)"', page).group(1)


def _shown(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_the_same_supplier_contact_form_posted_twice_creates_one_contact(
    web, session, org, make_supplier
):
    supplier = make_supplier(org, name="Hays")
    session.commit()
    url = f"/suppliers/{supplier.id}"
    form = {**CONTACT, "form_token": _token(_shown(web, url))}
    first = web.post(url, data=form)
    second = web.post(url, data=form)  # the double click
    assert first.status_code == 302 and second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert _count(session, SupplierContact) == 1
    page = _shown(web, second.headers["Location"])
    assert ALREADY in page and "Petra Vogel" in page


def test_the_same_requisition_form_posted_twice_creates_one_requisition(
    web, session, org, org_structure
):
    form = {
        "title": "Grid analyst",
        "kind": "hourly",
        **org_structure(org),
        "start_date": "2027-01-04",
        "end_date": "2027-06-30",
        "weekly_hours": "32",
        "currency": "EUR",
        "rate_min": "70",
        "rate_max": "85",
        "budget": "45000",
        "justification": "Regulatory deadline",
        "form_token": _token(_shown(web, "/requisitions/new")),
    }
    first = web.post("/requisitions/new", data=form)
    assert first.status_code == 302, first.get_data(as_text=True)[-800:]
    second = web.post("/requisitions/new", data=form)
    assert _count(session, Requisition) == 1
    requisition = session.scalar(select(Requisition))
    # the second answer shows what the first one created
    assert second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Location"].endswith(f"/requisitions/{requisition.id}")


def test_the_same_skill_form_posted_twice_creates_one_skill(web, session):
    token = _token(_shown(web, "/admin/workforce"), "skill-form_token")
    form = {"section": "skill", "skill-name": "PostgreSQL", "skill-form_token": token}
    assert web.post("/admin/workforce", data=form).status_code == 302
    assert web.post("/admin/workforce", data=form).status_code == 302
    assert _count(session, Skill) == 1


def test_the_same_amendment_posted_twice_proposes_one(web, session, org, make_engagement):
    """The hand-written forms of the engagement page carry a token too."""
    engagement = make_engagement(org, state="active")
    session.commit()
    page = f"/engagements/{engagement.id}"
    form = {
        "kind": "rate_change",
        "effective_from": "2026-09-01",
        "new_rate": "99",
        "reason": "Market rate",
        "form_token": _token(_shown(web, page)),
    }
    first = web.post(f"{page}/amendments", data=form)
    second = web.post(f"{page}/amendments", data=form)
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"].endswith(page)
    assert _count(session, Amendment) == 1
    assert ALREADY in _shown(web, page)


def test_an_amendment_without_a_token_proposes_nothing(web, session, org, make_engagement):
    engagement = make_engagement(org, state="active")
    session.commit()
    page = f"/engagements/{engagement.id}"
    form = {"kind": "rate_change", "effective_from": "2026-09-01", "new_rate": "99"}
    answer = web.post(f"{page}/amendments", data={**form, "reason": "x"})
    assert answer.status_code == 302
    assert _count(session, Amendment) == 0
    assert EXPIRED in _shown(web, page)


def test_a_reload_after_the_redirect_creates_nothing(web, session, org, make_supplier):
    supplier = make_supplier(org)
    session.commit()
    url = f"/suppliers/{supplier.id}"
    created = web.post_form(url, data=CONTACT)
    assert created.status_code == 302  # post/redirect/get
    for _ in range(2):  # the page after the redirect, and the browser's reload of it
        assert "Petra Vogel" in _shown(web, created.headers["Location"])
    assert _count(session, SupplierContact) == 1


def test_a_form_with_errors_keeps_its_token_and_the_corrected_form_creates_one(
    web, session, org, make_supplier
):
    supplier = make_supplier(org)
    session.commit()
    url = f"/suppliers/{supplier.id}"
    token = _token(_shown(web, url))
    refused = web.post(url, data={**CONTACT, "email": "not an address", "form_token": token})
    assert refused.status_code == 422
    assert _count(session, SupplierContact) == 0
    assert _token(refused.get_data(as_text=True)) == token  # the same form, the same token
    corrected = {**CONTACT, "form_token": token}
    assert web.post(url, data=corrected).status_code == 302
    assert web.post(url, data=corrected).status_code == 302
    assert _count(session, SupplierContact) == 1


def test_a_department_with_errors_then_corrected_is_created_once(web, session):
    token = _token(_shown(web, "/admin/structure"), "department-form_token")
    form = {"kind": "department", "department-name": "Engineering"}
    form["department-form_token"] = token
    refused = web.post("/admin/structure", data={**form, "department-code": "has space"})
    assert refused.status_code == 422 and _count(session, Department) == 0
    form["department-code"] = "ENG"
    assert web.post("/admin/structure", data=form).status_code == 302
    assert web.post("/admin/structure", data=form).status_code == 302
    assert _count(session, Department) == 1


@pytest.mark.parametrize("token", [None, "", "forged", "x" * 600])
def test_a_missing_or_forged_token_creates_nothing_and_the_form_gets_a_fresh_one(
    web, session, token
):
    form = {"name": "Hays GmbH", "country": "DE"}
    if token is not None:
        form["form_token"] = token
    answer = web.post("/suppliers", data=form)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert EXPIRED in page
    assert 'value="Hays GmbH"' in page  # what was typed is kept
    assert _count(session, Supplier) == 0
    fresh = _token(page)
    assert fresh and fresh != token
    assert web.post("/suppliers", data={**form, "form_token": fresh}).status_code == 302
    assert _count(session, Supplier) == 1


def test_an_expired_token_is_refused(web, session, monkeypatch):
    token = _token(_shown(web, "/suppliers"))
    monkeypatch.setattr("fms.forms.TOKEN_MAX_AGE", timedelta(seconds=-1))
    answer = web.post("/suppliers", data={"name": "Hays", "country": "DE", "form_token": token})
    assert answer.status_code == 422 and EXPIRED in answer.get_data(as_text=True)
    assert _count(session, Supplier) == 0


def test_a_token_issued_to_someone_else_is_refused(app, web, session, org, make_member, sign_in):
    token = _token(_shown(web, "/suppliers"))
    other = app.test_client()
    sign_in(other, session.get(User, make_member(org, roles=("procurement",)).user_id), org)
    answer = other.post("/suppliers", data={"name": "Hays", "country": "DE", "form_token": token})
    assert answer.status_code == 422 and EXPIRED in answer.get_data(as_text=True)
    assert _count(session, Supplier) == 0


def test_edit_forms_carry_no_token(web, session, org, make_unit):
    unit = make_unit(org, "department", code="ENG", name="Engineering")
    session.commit()
    assert "form_token" not in _shown(web, f"/admin/departments/{unit.id}")
    saved = web.post(f"/admin/departments/{unit.id}", data={"code": "ENG", "name": "Eng"})
    assert saved.status_code == 302


def test_old_used_tokens_are_purged(app, web, session):
    from fms.forms import UsedFormToken, purge_used_tokens
    from fms.timekeeping import utcnow

    web.post_form("/suppliers", data={"name": "Hays", "country": "DE"})
    assert purge_used_tokens(session) == 0  # still within a token's life
    row = session.scalar(select(UsedFormToken))
    row.used_at = utcnow() - timedelta(days=30)
    session.flush()
    assert purge_used_tokens(session) == 1


@pytest.mark.postgres
def test_two_simultaneous_posts_with_one_token_create_one_record(app, committed, monkeypatch):
    """Both requests pass the "was it used?" read before either writes: the primary key of
    the used token decides, the loser waits for the winner's commit and is sent to its
    record."""
    import fms.forms
    from fms.identity import services as identity
    from fms.identity.models import Membership
    from fms.identity.permissions import STAFF_ROLES
    from fms.identity.web_session import TOKEN_KEY

    org = Organization(name="Race", slug="race-tokens", base_currency="EUR")
    committed.add(org)
    committed.flush()
    user = User(email="racer@example.com", name="Racer")
    committed.add(user)
    committed.flush()
    committed.add(Membership(org_id=org.id, user_id=user.id, roles=sorted(STAFF_ROLES)))
    supplier = Supplier(org_id=org.id, name="Hays", country="DE")
    committed.add(supplier)
    committed.flush()
    started = identity.start_session(
        committed, user=user, method="password", ip="127.0.0.1", user_agent="pytest", org_id=org.id
    )
    committed.commit()
    url = f"/suppliers/{supplier.id}"

    def browser_tab():
        tab = app.test_client()
        with tab.session_transaction() as cookie:
            cookie[TOKEN_KEY] = started.token
        return tab

    form = {**CONTACT, "form_token": _token(_shown(browser_tab(), url))}
    barrier = threading.Barrier(2, timeout=20)
    checked = fms.forms._was_used

    def both_check_first(nonce):
        used = checked(nonce)
        barrier.wait()
        return used

    monkeypatch.setattr(fms.forms, "_was_used", both_check_first)
    answers, crashes = [], []

    def post():
        try:
            answers.append(browser_tab().post(url, data=form))
        except Exception as exc:  # noqa: BLE001 - reported below
            crashes.append(exc)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not crashes, crashes
    assert [a.status_code for a in answers] == [302, 302]
    assert {a.headers["Location"] for a in answers} == {url}
    committed.expire_all()
    contacts = committed.scalars(select(SupplierContact).execution_options(all_tenants=True)).all()
    assert len(contacts) == 1
