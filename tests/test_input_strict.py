"""The rest of the one strict input layer (issue 8, item 9): text in NFC, numbers exact and
bounded, dates within the business range — for the API and the pages alike, refused with a
clear message and nothing stored."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms import input as strict
from fms.identity.models import Organization, User
from fms.workforce.models import (
    ApprovalRule,
    Engagement,
    ExchangeRate,
    Requisition,
    Skill,
    WorkforceSettings,
)

ARABIC_12 = "\u0661\u0662"  # "١٢": int() and Decimal() read it as 12
DECOMPOSED = "Cafe\u0301"  # e + combining acute accent
PRECOMPOSED = "Caf\u00e9"


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def web(app, session, org, org_admin, approval_chain, sign_in):
    approval_chain(org)
    client = app.test_client()
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _count(session, model) -> int:
    return session.scalar(select(func.count(model.id)))


def _terms(org_structure, org, **extra) -> dict:
    return {
        "title": "Grid analyst",
        "kind": "hourly",
        "start_date": "2027-02-01",
        "end_date": "2027-07-31",
        "weekly_minutes": 2400,
        "currency": "EUR",
        **org_structure(org),
        **extra,
    }


def _requisition(org_structure, org, **extra) -> dict:
    body = {"rate_min": "65", "rate_max": "80", "budget": "40000", "justification": "Deadline"}
    return _terms(org_structure, org, **body) | extra


def _engagement(org_structure, org, org_admin, **extra) -> dict:
    body = {"rate": "95", "budget_cap": "90000", "hiring_manager_user_id": org_admin.user_id}
    return _terms(org_structure, org, **body) | extra


def _problem_fields(response) -> set[str]:
    """The fields named by a problem+json answer (`/skill_ids/0` names skill_ids)."""
    return {
        (e.get("pointer") or e.get("parameter") or "").strip("/").split("/")[0]
        for e in response.get_json().get("errors", [])
    }


# --- the shared parsers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01", "20270101", "2027-W01-1", "2027-1-1"],
)
def test_dates_outside_the_business_range_or_format_are_refused(text):
    with pytest.raises(ValueError, match="1900-01-01"):
        strict.parse_date(text)


def test_the_business_range_is_inclusive():
    assert strict.parse_date("1900-01-01") == date(1900, 1, 1) == strict.MIN_DATE
    assert strict.parse_date("2199-12-31") == date(2199, 12, 31) == strict.MAX_DATE
    assert strict.parse_date(date(2027, 1, 4)) == date(2027, 1, 4)


@pytest.mark.parametrize("value", [1.5, 1.0, True, "1.5", ARABIC_12, "1_000", " ", "", None, "1e3"])
def test_whole_numbers_are_exact(value):
    with pytest.raises(ValueError):
        strict.parse_int(value)


def test_whole_numbers_from_text_and_json():
    assert strict.parse_int("42") == 42 == strict.parse_int(42)


@pytest.mark.parametrize("value", [ARABIC_12, "1_000", "NaN", "Infinity", "-inf", "0x10", 1.5])
def test_amounts_take_ascii_digits_only(value):
    from fms.money import to_decimal

    with pytest.raises((TypeError, ValueError)):
        to_decimal(value)


def test_text_is_normalised_to_nfc():
    assert strict.nfc(DECOMPOSED) == PRECOMPOSED


# --- numbers through the API ---------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"weekly_minutes": 1.5},
        {"weekly_minutes": 2400.0},
        {"weekly_minutes": ARABIC_12},
        {"department_id": 1.5},
        {"skill_ids": [1.5]},
        {"budget": ARABIC_12 + "000"},
        {"rate_min": "6_5"},
        {"start_date": "0001-01-01"},
        {"end_date": "9999-12-31"},
        {"start_date": "\u0662\u0660\u0662\u0667-02-01"},
    ],
)
def test_requisition_api_refuses_inexact_input(web, session, org, org_structure, extra):
    response = web.post("/api/v1/requisitions", json=_requisition(org_structure, org, **extra))
    assert response.status_code == 422, response.get_json()
    assert _problem_fields(response) & set(extra), response.get_json()
    assert _count(session, Requisition) == 0


def test_a_date_outside_the_range_names_the_range(web, org, org_structure):
    body = _requisition(org_structure, org, start_date="0001-01-01")
    response = web.post("/api/v1/requisitions", json=body)
    assert "1900-01-01" in str(response.get_json()["errors"])


@pytest.mark.parametrize("overtime", ["abc", "-5", "0", "NaN", "Infinity", "1e30", ARABIC_12])
def test_a_malformed_overtime_rate_is_refused_not_stored_as_null(
    web, session, org, org_admin, org_structure, overtime
):
    body = _engagement(org_structure, org, org_admin, overtime_rate=overtime)
    response = web.post("/api/v1/engagements", json=body)
    assert response.status_code == 422, response.get_json()
    assert "overtime_rate" in _problem_fields(response)
    assert _count(session, Engagement) == 0


def test_an_absent_or_null_overtime_rate_is_fine(web, org, org_admin, org_structure):
    for extra in ({}, {"overtime_rate": None}):
        body = _engagement(org_structure, org, org_admin, **extra)
        assert web.post("/api/v1/engagements", json=body).status_code == 201


def test_a_valid_overtime_rate_is_stored(web, session, org, org_admin, org_structure):
    body = _engagement(org_structure, org, org_admin, overtime_rate="142.50")
    response = web.post("/api/v1/engagements", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["terms"][0]["overtime_rate"]["amount"] == "142.50"


@pytest.mark.parametrize("when", ["0001-01-01", "9999-12-31"])
def test_exchange_rates_refuse_dates_outside_the_range(web, session, when):
    body = {"currency": "USD", "rate": "0.92", "effective_from": when}
    response = web.post("/api/v1/exchange-rates", json=body)
    assert response.status_code == 422
    assert _count(session, ExchangeRate) == 0


# --- date filters: API and pages ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/headcount?on=0001-01-01",
        "/api/v1/headcount?on=9999-12-31",
        "/api/v1/headcount/trend?on=0001-01-31",
        "/api/v1/audit-entries?date_from=0001-01-01",
        "/api/v1/audit-entries?date_to=9999-12-31",
        "/api/v1/headcount?cost_centre_id=1.5",
        "/api/v1/requisitions?page=" + ARABIC_12,
    ],
)
def test_api_filters_outside_the_range_are_422(web, path):
    response = web.get(path)
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "path",
    [
        "/headcount?on=0001-01-01",
        "/headcount?on=9999-12-31",
        "/headcount.csv?on=0001-01-01",
        "/admin/audit?date_from=0001-01-01",
        "/admin/audit?date_to=9999-12-31",
        "/admin/audit?date_from=0001-01-01&date_to=0001-01-02",
    ],
)
def test_pages_say_a_date_filter_is_outside_the_range(web, path):
    response = web.get(path)
    assert response.status_code == 422, response.status_code
    assert "1900-01-01" in response.get_data(as_text=True)


def test_a_headcount_date_in_range_still_works(web, make_engagement, org):
    make_engagement(org)
    assert web.get("/headcount?on=1900-01-01").status_code == 200
    assert web.get("/headcount?on=2199-12-31").status_code == 200
    assert web.get("/admin/audit?date_from=1900-01-01&date_to=2199-12-31").status_code == 200


# --- page forms -----------------------------------------------------------------------------


def _page_terms(org_structure, org, **extra) -> dict:
    return {
        "title": "Grid analyst",
        "kind": "hourly",
        **org_structure(org),
        "start_date": "2027-01-04",
        "end_date": "2027-06-30",
        "weekly_hours": "32",
        "currency": "EUR",
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"start_date": "0001-01-01"}, "1900-01-01"),
        ({"end_date": "9999-12-31"}, "1900-01-01"),
        ({"start_date": "\u0662\u0660\u0662\u0667-01-04"}, "1900-01-01"),
        ({"weekly_hours": ARABIC_12}, "digits"),
        ({"budget": ARABIC_12 + "000"}, "digits"),
        ({"rate_min": "NaN"}, "digits"),
    ],
)
def test_requisition_form_refuses_inexact_input(web, session, org, org_structure, extra, message):
    money = {"rate_min": "70", "rate_max": "85", "budget": "45000", "justification": "Deadline"}
    form = _page_terms(org_structure, org, **(money | extra))
    response = web.post_form("/requisitions/new", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(session, Requisition) == 0


@pytest.mark.parametrize("overtime", ["abc", "-5", "NaN", "Infinity", "1e30"])
def test_engagement_form_refuses_a_malformed_overtime_rate(
    web, session, org, org_admin, org_structure, overtime
):
    form = _page_terms(
        org_structure,
        org,
        rate="95",
        budget_cap="90000",
        overtime_rate=overtime,
        hiring_manager_user_id=org_admin.user_id,
        freelancer_id=0,
        supplier_id=0,
    )
    response = web.post_form("/engagements/new", data=form)
    assert response.status_code == 422, response.status_code
    field = re.search(r'<input[^>]*name="overtime_rate"[^>]*>', response.get_data(as_text=True))
    assert field and "is-invalid" in field.group(0)  # refused for the overtime rate itself
    assert _count(session, Engagement) == 0


def test_exchange_rate_form_refuses_year_one(web, session):
    data = {"currency": "USD", "rate": "0.92", "effective_from": "0001-01-01"}
    response = web.post_form("/exchange-rates", data=data)
    assert response.status_code == 422
    assert "1900-01-01" in response.get_data(as_text=True)
    assert _count(session, ExchangeRate) == 0


def test_settings_form_refuses_arabic_indic_digits(web, session):
    data = {
        "section": "settings",
        "settings-notice_period_days": ARABIC_12,
        "settings-trial_max_days": "30",
    }
    response = web.post("/admin/workforce", data=data)
    assert response.status_code == 422
    assert _count(session, WorkforceSettings) == 0


@pytest.mark.parametrize("minimum", ["1e30", "1000000000000", ARABIC_12, "NaN", "-1"])
def test_approval_chain_refuses_unbounded_or_foreign_minimums(web, session, minimum):
    before = list(session.scalars(select(ApprovalRule.min_budget).order_by(ApprovalRule.position)))
    data = {"section": "chain", "role": "procurement", "label": "Review", "min_budget": minimum}
    response = web.post("/admin/workforce", data=data)
    assert response.status_code == 422, response.status_code
    session.expire_all()
    after = list(session.scalars(select(ApprovalRule.min_budget).order_by(ApprovalRule.position)))
    assert after == before


def test_approval_chain_takes_a_plain_minimum(web, session):
    data = {"section": "chain", "role": "procurement", "label": "Review", "min_budget": "2500.50"}
    assert web.post("/admin/workforce", data=data).status_code == 302
    session.expire_all()
    assert session.scalar(select(ApprovalRule.min_budget)) == Decimal("2500.50")


# --- text in NFC -----------------------------------------------------------------------------


def test_a_skill_typed_decomposed_and_precomposed_is_one_skill_api(web, session):
    first = web.post("/api/v1/skills", json={"name": DECOMPOSED})
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["name"] == PRECOMPOSED
    second = web.post("/api/v1/skills", json={"name": PRECOMPOSED})
    assert second.status_code == 409, second.get_json()
    assert _count(session, Skill) == 1


@pytest.mark.parametrize("name,again", [("Þ¥", "Þ¥"), ("Þórr", "þÓRR"), ("Ölçü", "ölçü")])
def test_a_skill_named_again_in_other_letters_case_is_one_skill(web, session, name, again):
    """Case is folded beyond ASCII on both databases: the second is a 409, never a 500."""
    assert web.post("/api/v1/skills", json={"name": name}).status_code == 201
    second = web.post("/api/v1/skills", json={"name": again})
    assert second.status_code == 409, second.get_json()
    assert _count(session, Skill) == 1


def test_a_skill_typed_decomposed_and_precomposed_is_one_skill_page(web, session):
    first = web.post_form("/admin/workforce", {"section": "skill", "skill-name": PRECOMPOSED})
    assert first.status_code == 302
    second = web.post_form("/admin/workforce", {"section": "skill", "skill-name": DECOMPOSED})
    assert second.status_code == 422
    assert "Already in the taxonomy" in second.get_data(as_text=True)
    names = list(session.scalars(select(Skill.name)))
    assert names == [PRECOMPOSED] and unicodedata.is_normalized("NFC", names[0])


def test_query_text_is_normalised_too(web, make_freelancer, org):
    make_freelancer(org, display_name="Ren" + PRECOMPOSED)
    found = web.get("/api/v1/freelancers?q=" + "Ren" + DECOMPOSED).get_json()
    assert found["total"] == 1


# --- the OpenAPI document describes the bounds -------------------------------------------


def test_openapi_describes_dates_and_integers(web):
    spec = web.get("/api/v1/openapi.json").get_json()
    body = spec["components"]["schemas"]["RequisitionIn"]["properties"]
    assert body["start_date"]["format"] == "date"
    assert body["start_date"]["pattern"] == strict.DATE_PATTERN
    assert body["weekly_minutes"]["type"] == "integer"
    assert body["weekly_minutes"]["minimum"] == 1
    headcount = spec["paths"]["/api/v1/headcount"]["get"]["parameters"]
    on = next(p for p in headcount if p["name"] == "on")
    assert on["schema"]["pattern"] == strict.DATE_PATTERN


# --- one layer: nothing reads dates or numbers around it -------------------------------------


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_api_input_takes_integers_and_dates_through_the_shared_fields(app):
    from marshmallow import Schema, fields

    from fms.api.common import Date, Integer

    plain = []
    for schema in _subclasses(Schema):
        if not schema.__name__.endswith(("In", "Query", "Args")):
            continue
        for name, field in schema._declared_fields.items():
            inner = getattr(field, "inner", field)
            if isinstance(inner, fields.Integer) and not isinstance(inner, Integer):
                plain.append(f"{schema.__name__}.{name}")
            if isinstance(inner, fields.Date) and not isinstance(inner, Date):
                plain.append(f"{schema.__name__}.{name}")
    assert plain == []


def test_every_page_form_takes_dates_and_numbers_through_the_strict_fields(app):
    import wtforms
    from flask_wtf import FlaskForm

    from fms import forms

    strict_classes = (forms.DateField, forms.DecimalField, forms.IntegerField)
    loose = []
    for form in _subclasses(FlaskForm):
        for name in dir(form):
            unbound = getattr(form, name, None)
            kind = getattr(unbound, "field_class", None)
            if kind is None:
                continue
            numeric = issubclass(kind, wtforms.DateField | wtforms.DecimalField)
            numeric = numeric or issubclass(kind, wtforms.IntegerField)
            if numeric and not issubclass(kind, strict_classes):
                loose.append(f"{form.__name__}.{name}")
            choices = issubclass(kind, wtforms.SelectField | wtforms.SelectMultipleField)
            if choices and unbound.kwargs.get("coerce") is int:
                loose.append(f"{form.__name__}.{name} (coerce=int)")
    assert loose == []
