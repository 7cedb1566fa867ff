"""Locale formatting: numbers, dates and money in the viewer's locale, from amounts our own
money rules already rounded (ISO 4217 digits, half-up), never rounded again by Babel."""

from datetime import date
from decimal import Decimal

import pytest

from fms.errors import InvalidInput
from fms.formatting import LocaleError, check_locale, format_day, format_money, format_number
from fms.identity.models import Organization, User

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        ("1234.5", "EUR", "en", "€1,234.50"),
        ("1234.5", "EUR", "de", f"1.234,50{NBSP}€"),
        ("1234.5", "EUR", "en_GB", "€1,234.50"),
        ("1234.5", "EUR", "fr", f"1\u202f234,50{NBSP}€"),
        # JPY has no minor unit; 1234.5 is rounded half-up by our rules (Babel: 1,234)
        ("1234.5", "JPY", "en", "¥1,235"),
        ("1234", "JPY", "de", f"1.234{NBSP}¥"),
        # already rounded to 0.13 by our half-up rule; Babel's half-even would show 0.12
        ("0.125", "EUR", "en", "€0.13"),
        ("0.125", "EUR", "de", f"0,13{NBSP}€"),
        # ISO 4217 digits, not CLDR's: HUF has 2 (CLDR 0), IQD 3 (CLDR 0), KWD 3
        ("1234.5", "HUF", "en", "HUF1,234.50"),
        ("12", "IQD", "en", "IQD12.000"),
        ("1.2345", "KWD", "en", "KWD1.235"),
        ("-0.001", "EUR", "en", "€0.00"),
    ],
)
def test_money_is_rounded_by_our_rules_and_laid_out_by_the_locale(amount, currency, locale, shown):
    assert format_money(Decimal(amount), currency, locale) == shown


def test_numbers_and_days_follow_the_locale():
    assert format_number(Decimal("1234.5678"), "de") == "1.234,5678"
    assert format_number(Decimal("1234.5678"), "en") == "1,234.5678"
    assert format_number(12, "en") == "12"
    assert format_day(date(2026, 12, 2), "en") == "Dec 2, 2026"
    assert format_day(date(2026, 12, 2), "de") == "02.12.2026"
    assert format_day(None, "de") == "—"
    # an unknown or empty locale falls back to English instead of failing a page
    assert format_money(Decimal(1), "EUR", None) == "€1.00"


def test_only_offered_locales_are_accepted():
    assert check_locale("de") == "de"
    assert check_locale("en-GB") == "en_GB"
    for bad in ("xx", "de_AT", "", None, "en_US", "../etc", "de" * 20, 5):
        with pytest.raises(LocaleError):
            check_locale(bad)


def _admin(session, org_admin, sign_in, client):
    org = session.get(Organization, org_admin.org_id)
    user = session.get(User, org_admin.user_id)
    sign_in(client, user, org)
    return org, user


def test_org_admins_set_the_locale_on_the_settings_page_and_the_api(
    client, session, org_admin, sign_in
):
    org, _ = _admin(session, org_admin, sign_in, client)
    page = client.get("/admin/organization").data.decode()
    assert 'name="locale"' in page and "1.234,50" in page  # the choices show an example
    form = {"name": org.name, "base_currency": "EUR", "timezone": "Europe/Berlin"}
    refused = client.post("/admin/organization", data={**form, "locale": "klingon"})
    assert refused.status_code == 422
    assert client.post("/admin/organization", data={**form, "locale": "de"}).status_code == 302
    session.refresh(org)
    assert org.locale == "de"
    refused = client.patch(f"/api/v1/organizations/{org.id}", json={"locale": "xx_YY"})
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["pointer"] == "/locale"
    answer = client.patch(f"/api/v1/organizations/{org.id}", json={"locale": "fr"})
    assert answer.status_code == 200 and answer.get_json()["locale"] == "fr"


def test_each_person_may_override_the_locale_and_money_follows_it(
    client, session, org_admin, sign_in, make_requisition
):
    org, user = _admin(session, org_admin, sign_in, client)
    requisition = make_requisition(org, budget=Decimal("12345.5"))
    shown = client.get(f"/requisitions/{requisition.id}").data.decode()
    assert "€12,345.50" in shown
    refused = client.post("/account/security", data={"action": "locale", "display-locale": "zz"})
    assert refused.status_code == 422
    saved = client.post("/account/security", data={"action": "locale", "display-locale": "de"})
    assert saved.status_code == 302
    session.refresh(user)
    assert user.locale == "de"
    assert "12.345,50" in client.get(f"/requisitions/{requisition.id}").data.decode()
    # the API: null follows the organization again
    assert client.patch("/api/v1/me", json={"locale": "nope"}).status_code == 422
    answer = client.patch("/api/v1/me", json={"locale": None})
    assert answer.status_code == 200 and answer.get_json()["locale"] is None
    assert "€12,345.50" in client.get(f"/requisitions/{requisition.id}").data.decode()


def test_the_locale_service_refuses_what_it_does_not_offer(session, make_user):
    from fms.identity.accounts import set_locale

    user = make_user()
    with pytest.raises(InvalidInput):
        set_locale(session, user=user, locale="tlh")
    assert set_locale(session, user=user, locale="sv").locale == "sv"
