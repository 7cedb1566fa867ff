"""Freelancer profiles: validated tax ids and IBANs, kept by procurement or the freelancer."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from fms.errors import InvalidInput, NotAllowed, NotFound
from fms.identity.models import Organization, User
from fms.tenancy import scope_session
from fms.workforce import services
from fms.workforce.models import Engagement

GOOD = {
    "legal_name": "Ines Costa",
    "display_name": "Ines Costa",
    "email": "ines@example.pt",
    "country": "PT",
    "timezone": "Europe/Lisbon",
    "currency": "EUR",
}


@pytest.fixture
def org(make_org, session):
    org = make_org()
    scope_session(session, org.id)
    return org


@pytest.fixture
def buyer(org, make_member, actor_of):
    return actor_of(make_member(org, roles=("procurement",)))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("tax_id", "PT123456780", "Not a valid"),
        ("iban", "PT50 0002 0123 1234 5678 9015 5", "Not a valid IBAN"),
        ("timezone", "Mars/Olympus", "IANA"),
        ("currency", "ESC", "ISO 4217"),
        ("email", "nope", "valid email"),
        ("country", "Portugal", "two-letter"),
    ],
)
def test_bad_profile_fields_are_refused(session, org, buyer, field, value, message):
    with pytest.raises(InvalidInput) as info:
        services.create_freelancer(session, actor=buyer, **{**GOOD, field: value})
    assert message in info.value.errors[field][0]


def test_valid_tax_id_and_iban_are_stored_compact(session, org, buyer):
    profile = services.create_freelancer(
        session,
        actor=buyer,
        **GOOD,
        tax_id="PT 501 964 843",
        iban="PT50 0002 0123 1234 5678 9015 4",
    )
    assert profile.tax_id == "501964843"
    assert profile.iban == "PT50000201231234567890154"
    with pytest.raises(InvalidInput, match="highlighted"):
        services.create_freelancer(session, actor=buyer, **GOOD)  # same email


def test_freelancers_edit_their_own_profile_only(
    session, org, buyer, make_member, make_freelancer, actor_of
):
    member = make_member(org, roles=("freelancer",))
    mine = make_freelancer(org, user_id=member.user_id, country="DE")
    other = make_freelancer(org)
    me = actor_of(member)
    services.update_freelancer(
        session, actor=me, freelancer_id=mine.id, iban="DE89 3704 0044 0532 0130 00"
    )
    assert mine.iban == "DE89370400440532013000"
    with pytest.raises(NotFound):
        services.update_freelancer(session, actor=me, freelancer_id=other.id, headline="x")
    finance = actor_of(make_member(org, roles=("finance",)))
    with pytest.raises(NotAllowed):
        services.update_freelancer(session, actor=finance, freelancer_id=other.id, headline="x")


def test_profile_pages(app, client, session, org_admin, sign_in, make_member, make_freelancer):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    response = client.post_form("/freelancers/new", data={**GOOD, "supplier_id": 0})
    assert response.status_code == 302
    bad = client.post_form(
        "/freelancers/new", data={**GOOD, "email": "x@example.pt", "iban": "XX00", "supplier_id": 0}
    )
    assert bad.status_code == 422 and "Not a valid IBAN" in bad.get_data(as_text=True)
    member = make_member(org, roles=("freelancer",))
    own = make_freelancer(org, user_id=member.user_id, display_name="Ines Costa")
    session.commit()
    web = app.test_client()
    sign_in(web, session.get(User, member.user_id), org)
    profile = web.get("/my/profile")
    assert profile.status_code == 200
    page = profile.get_data(as_text=True)
    assert "Profile: Ines Costa" in page and f'value="{own.email}"' in page
    saved = web.post(
        "/my/profile",
        data={
            **GOOD,
            "email": "me@example.pt",
            "country": "DE",
            "iban": "DE89 3704 0044 0532 0130 00",
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:3000]
    assert web.get("/freelancers/new").status_code == 403


def test_sweep_ends_engagements_after_their_end_date(app, session, org, make_engagement):
    past = make_engagement(org, start=date(2025, 1, 1), end=date.today() - timedelta(days=1))  # noqa: DTZ011
    future = make_engagement(org, start=date(2025, 1, 1), end=date.today() + timedelta(days=9))  # noqa: DTZ011
    session.commit()
    result = app.test_cli_runner().invoke(args=["fms", "workforce", "sweep"])
    assert result.exit_code == 0 and "1 engagement(s) ended" in result.output
    scope_session(session, org.id)
    states = dict(session.execute(select(Engagement.id, Engagement.state)).all())
    assert states[past.id] == "ended" and states[future.id] == "active"
