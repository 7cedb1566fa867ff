"""User searches match what was typed, literally, and together with the other filters."""

from urllib.parse import urlencode

import pytest

from fms.identity.models import Organization, User
from fms.workforce.models import FreelancerSkill
from fms.workforce.queries import like_pattern
from tests.factories import as_org


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def admin_client(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _page(client, path, **args):
    response = client.get(f"{path}?{urlencode(args)}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- LIKE wildcards typed by users are literal ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("plain", "%plain%"),
        ("50%", "%50\\%%"),
        ("a_b", "%a\\_b%"),
        ("back\\slash", "%back\\\\slash%"),
        ("\\%_", "%\\\\\\%\\_%"),
    ],
)
def test_like_pattern_escapes_wildcards_and_the_escape_character(text, pattern):
    assert like_pattern(text) == pattern


NAMES = ["Budget 50% Ltd", "Budget 500 Ltd", "snake_case GmbH", "snakeXcase GmbH"]
NAMES += ["back\\slash AG", "backslash AG"]


@pytest.fixture
def freelancers(session, org, make_freelancer):
    made = [make_freelancer(org, display_name=name) for name in NAMES]
    session.commit()
    return made


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("50%", ["Budget 50% Ltd"]),
        ("e_c", ["snake_case GmbH"]),
        ("k\\s", ["back\\slash AG"]),
        ("%", ["Budget 50% Ltd"]),
        ("_", ["snake_case GmbH"]),
    ],
)
def test_directory_search_treats_wildcards_literally(admin_client, freelancers, query, found):
    page = _page(admin_client, "/freelancers", q=query)
    assert [name for name in NAMES if name in page] == found


def test_directory_search_with_a_filter_treats_wildcards_literally(admin_client, freelancers):
    page = _page(admin_client, "/freelancers", q="50%", country="DE")
    assert [name for name in NAMES if name in page] == ["Budget 50% Ltd"]


def test_api_freelancer_search_treats_wildcards_literally(admin_client, freelancers):
    body = admin_client.get("/api/v1/freelancers?" + urlencode({"q": "e_c"})).get_json()
    assert [item["display_name"] for item in body["items"]] == ["snake_case GmbH"]


def test_engagement_search_treats_wildcards_literally(admin_client, session, org, make_engagement):
    titles = ["Cut 50% of cost", "Cut 500 of cost", "Move to S_3", "Move to SX3"]
    for title in titles:
        make_engagement(org).title = title  # the factory names engagements itself
    session.commit()
    for query, found in (("50%", titles[0]), ("S_3", titles[2])):
        page = _page(admin_client, "/engagements", q=query)
        assert [t for t in titles if t in page] == [found]


# --- the directory's name search applies together with its filters ------------------------


@pytest.fixture
def people(session, org, make_freelancer, make_skill):
    python = make_skill(org, name="Python")
    make_freelancer(org, display_name="Ana Lopez", country="PL")
    ana_de = make_freelancer(org, display_name="Ana Weber", country="DE")
    bob_pl = make_freelancer(org, display_name="Bob Nowak", country="PL")
    with as_org(session, org.id):
        for person in (ana_de, bob_pl):
            session.add(
                FreelancerSkill(org_id=org.id, freelancer_id=person.id, skill_id=python.id, level=3)
            )
        session.flush()
    session.commit()
    return {"python": python.id}


def _names(page):
    return [n for n in ("Ana Lopez", "Ana Weber", "Bob Nowak") if n in page]


def test_name_search_and_country_filter_both_apply(admin_client, people):
    assert _names(_page(admin_client, "/freelancers", q="Ana", country="PL")) == ["Ana Lopez"]


def test_name_search_and_skill_filter_both_apply(admin_client, people):
    page = _page(admin_client, "/freelancers", q="ana", skill_id=people["python"])
    assert _names(page) == ["Ana Weber"]
    assert "1 freelancer<" in page


def test_name_search_matches_email_and_headline_with_a_filter_too(
    admin_client, session, org, make_freelancer
):
    make_freelancer(org, display_name="Carla", email="carla@acme.test", country="PL")
    make_freelancer(org, display_name="Dora", headline="ACME alumna", country="PL")
    make_freelancer(org, display_name="Emil", country="PL")
    session.commit()
    page = _page(admin_client, "/freelancers", q="acme", country="PL")
    assert [n for n in ("Carla", "Dora", "Emil") if f">{n}<" in page] == ["Carla", "Dora"]


def test_filters_alone_and_search_alone_still_work(admin_client, people):
    assert _names(_page(admin_client, "/freelancers", country="PL")) == ["Ana Lopez", "Bob Nowak"]
    assert _names(_page(admin_client, "/freelancers", q="ana")) == ["Ana Lopez", "Ana Weber"]
    assert _names(_page(admin_client, "/freelancers")) == ["Ana Lopez", "Ana Weber", "Bob Nowak"]
