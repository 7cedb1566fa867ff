"""Global search: by name, number or email; only what the person may read; never another
organization; the same answers on SQLite and PostgreSQL (this file runs on both)."""

from datetime import date, timedelta

import pytest

from fms.identity.models import Organization, User
from fms.reports import search as global_search
from fms.workforce.rules import display_number
from tests.factories import as_org

TODAY = date(2026, 6, 1)

_A_YEAR_FROM_TODAY = date.today() + timedelta(days=365)  # noqa: DTZ011 - access follows the real date


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def world(
    session,
    org,
    make_org,
    make_freelancer,
    make_engagement,
    make_requisition,
    make_supplier,
    make_member,
    make_user,
):
    """Two organizations with look-alike records; one freelancer with a login."""

    def engagement(in_org, title, **kwargs):
        made = make_engagement(in_org, **kwargs)
        made.title = title
        return made

    own_user = make_user(name="Zoë Ørsted", email="zoe@orsted.example")
    make_member(org, roles=("freelancer",), user=own_user)
    zoe = make_freelancer(
        org,
        display_name="Zoë Ørsted",
        email="zoe@orsted.example",
        user_id=own_user.id,
        iban="DE89370400440532013000",
    )
    other = make_freelancer(org, display_name="Max Grid", email="max@grid.example")
    agency = make_supplier(org, name="Gridworks Staffing", legal_name="Gridworks GmbH")
    year = {"start": date(2026, 1, 1), "end": date(2026, 12, 31)}
    # a freelancer sees their engagement until its end: a year past the real today
    mine = engagement(
        org, "Grid modelling", freelancer=zoe, start=year["start"], end=_A_YEAR_FROM_TODAY
    )
    last_year = {"start": date(2025, 1, 1), "end": date(2025, 6, 30), "state": "ended"}
    old = engagement(org, "Grid archive", freelancer=zoe, **last_year)
    theirs = engagement(org, "Grid operations", freelancer=other, **year)
    req = make_requisition(org, title="Grid analyst 50% remote")
    elsewhere = make_org()
    make_freelancer(elsewhere, display_name="Grid Elsewhere")
    make_supplier(elsewhere, name="Grid Elsewhere Agency")
    engagement(
        elsewhere,
        "Grid elsewhere",
    )
    session.commit()
    return {
        "zoe": zoe,
        "zoe_user": own_user,
        "mine": mine,
        "old": old,
        "theirs": theirs,
        "req": req,
        "agency": agency,
    }


def _titles(results):
    return {kind: [h.title for h in hits] for kind, hits in results.groups.items() if hits}


def _search(session, org, actor, text):
    with as_org(session, org.id):
        return global_search.search(session, actor=actor, text=text, today=TODAY)


def test_staff_find_every_kind_within_their_organization(session, org, org_admin, actor_of, world):
    found = _titles(_search(session, org, actor_of(org_admin), "grid"))
    assert sorted(t.split(" · ", 1)[1] for t in found["engagements"]) == [
        "Grid archive",
        "Grid modelling",
        "Grid operations",
    ]
    assert [t.split(" · ", 1)[1] for t in found["requisitions"]] == ["Grid analyst 50% remote"]
    assert found["freelancers"] == ["Max Grid"]
    assert found["suppliers"] == ["Gridworks Staffing"]
    assert not any("Elsewhere" in t or "elsewhere" in t for ts in found.values() for t in ts)


@pytest.mark.parametrize("typed", ["{req}", "{req_lower}", "REQ-{id}", "req {id}", "#{id}"])
def test_requisitions_match_their_number(session, org, org_admin, actor_of, world, typed):
    req = world["req"]
    text = typed.format(
        req=display_number("requisition", req.id),
        req_lower=display_number("requisition", req.id).lower(),
        id=req.id,
    )
    found = _search(session, org, actor_of(org_admin), text).groups["requisitions"]
    assert [h.id for h in found] == [req.id]


def test_engagement_numbers_match_engagements_only(session, org, org_admin, actor_of, world):
    number = display_number("engagement", world["mine"].id)
    groups = _search(session, org, actor_of(org_admin), number).groups
    assert [h.id for h in groups["engagements"]] == [world["mine"].id]
    assert groups["requisitions"] == []


def test_matching_is_case_insensitive_beyond_ascii_and_literal(
    session, org, org_admin, actor_of, world
):
    admin = actor_of(org_admin)
    assert _titles(_search(session, org, admin, "ZOË ØRS"))["freelancers"] == ["Zoë Ørsted"]
    assert _titles(_search(session, org, admin, "orsted.EXAMPLE"))["freelancers"] == ["Zoë Ørsted"]
    assert [h.id for h in _search(session, org, admin, "50%").groups["requisitions"]] == [
        world["req"].id
    ]
    assert _search(session, org, admin, "5_%").groups["requisitions"] == []  # _ is literal


def test_a_freelancer_finds_only_their_own_current_engagements(session, org, actor_of, world):
    from fms.identity.models import Membership

    with as_org(session, org.id):
        membership = session.query(Membership).filter_by(user_id=world["zoe_user"].id).one()
    groups = _search(session, org, actor_of(membership), "grid").groups
    assert [h.id for h in groups["engagements"]] == [world["mine"].id]  # not theirs, not ended
    assert not any(groups[k] for k in ("requisitions", "freelancers", "suppliers", "people"))


def test_bank_details_are_never_searched(session, org, make_member, actor_of, world):
    finance = make_member(org, roles=("finance",))
    assert _search(session, org, actor_of(finance), "DE893704").count == 0


def test_people_need_members_read(session, org, org_admin, make_member, actor_of, world):
    manager = make_member(org, roles=("hiring_manager",))
    assert _titles(_search(session, org, actor_of(org_admin), "orsted"))["people"] == ["Zoë Ørsted"]
    assert _search(session, org, actor_of(manager), "orsted").groups["people"] == []


def test_one_character_is_too_short(session, org, org_admin, actor_of, world):
    results = _search(session, org, actor_of(org_admin), "g")
    assert results.too_short and results.count == 0


def test_search_page_links_results_to_their_pages(client, session, org, org_admin, sign_in, world):
    sign_in(client, session.get(User, org_admin.user_id), org)
    page = client.get("/search", query_string={"q": "grid"}).get_data(as_text=True)
    assert f'href="/engagements/{world["mine"].id}"' in page
    assert f'href="/requisitions/{world["req"].id}"' in page
    assert f'href="/suppliers/{world["agency"].id}"' in page
    assert "Grid Elsewhere" not in page
    assert display_number("engagement", world["mine"].id) in page


def test_search_page_for_a_freelancer(client, session, org, sign_in, world):
    sign_in(client, world["zoe_user"], org)
    page = client.get("/search", query_string={"q": "grid"}).get_data(as_text=True)
    assert "Grid modelling" in page and "Grid operations" not in page and "Max Grid" not in page


def test_detail_pages_show_the_number(client, session, org, org_admin, sign_in, world):
    sign_in(client, session.get(User, org_admin.user_id), org)
    req = world["req"]
    page = client.get(f"/requisitions/{req.id}").get_data(as_text=True)
    assert display_number("requisition", req.id) in page


def test_topbar_partial_is_a_labelled_search_form(app):
    with app.test_request_context("/"):
        from flask import render_template

        html = render_template("_topbar_search.html")
    assert 'role="search"' in html and 'action="/search"' in html
    assert '<label class="visually-hidden" for="fms-global-search">' in html
