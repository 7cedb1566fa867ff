"""The list component (fms/lists.py): sorting, filters, paging and exports agree with the
page; strict query strings; saved views; the requisitions bulk approval; large exports as
jobs; XLSX cells keep their types."""

import csv
import io
import re
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from fms.identity.models import Organization, User
from fms.saved_views import SavedView
from fms.workforce.models import ApprovalStep, Freelancer, PerformanceReview, Requisition
from tests.factories import as_org


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def web(client, session, org_admin, org, sign_in):
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _page_titles(html: str) -> list[str]:
    return re.findall(r'class="fms-clip" href="/engagements/\d+" title="([^"]*)"', html)


def _csv(response) -> list[list[str]]:
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def engagements(org, make_engagement):
    made = [
        make_engagement(org, title="Bravo", start=date(2026, 3, 1), rate="85"),
        make_engagement(org, title="alpha", start=date(2026, 1, 1), rate="120.5"),
        make_engagement(org, title="Charlie", start=date(2026, 2, 1), state="draft", rate="70"),
        make_engagement(org, title="=1+1", start=date(2026, 4, 1), rate="99.125"),
    ]
    return made


def test_sorting_filters_and_exports_agree_with_the_page(web, engagements):
    page = web.get("/engagements?sort=title&per_page=25")
    assert page.status_code == 200
    shown = _page_titles(page.get_data(as_text=True))
    assert shown == sorted(shown, key=str.lower) or shown == sorted(shown)
    assert len(shown) == 4
    assert 'aria-sort="ascending"' in page.get_data(as_text=True)
    rows = _csv(web.get("/engagements/export.csv?sort=title"))
    title_at = rows[0].index("Engagement")
    assert [r[title_at] for r in rows[1:]] == [t if t[0] != "=" else t for t in shown] or [
        r[title_at].lstrip("'") for r in rows[1:]
    ] == shown
    descending = _page_titles(web.get("/engagements?sort=-title").get_data(as_text=True))
    assert descending == list(reversed(shown))
    # a filter narrows the page and the export alike
    active = _page_titles(
        web.get("/engagements?state=active&sort=start_date").get_data(as_text=True)
    )
    assert active == ["alpha", "Bravo", "=1+1"]
    exported = _csv(web.get("/engagements/export.csv?state=active&sort=start_date"))
    assert [r[title_at].lstrip("'") for r in exported[1:]] == active
    # raw values: rates exact, no units, no 50000.0000
    rate_at = rows[0].index("Rate")
    assert sorted(r[rate_at] for r in rows[1:]) == ["120.50", "70.00", "85.00", "99.125"]


def test_rates_show_with_units_and_long_titles_are_clipped(web, engagements):
    html = web.get("/engagements").get_data(as_text=True)
    assert "€85.00 / h" in html  # the locale (en) puts the symbol first
    assert "85.0000" not in html
    assert 'class="fms-clip"' in html and 'title="Bravo"' in html


@pytest.mark.parametrize(
    "query",
    [
        "sort=nope",
        "sort=--title",
        "per_page=30",
        "per_page=abc",
        "state=bogus",
        "starts_from=2026-13-01",
        "starts_to=0001-01-01",
        "q=" + "x" * 101,
    ],
)
def test_a_bad_query_string_is_a_clear_422(web, engagements, query):
    response = web.get(f"/engagements?{query}")
    assert response.status_code == 422
    assert web.get(f"/engagements/export.csv?{query}").status_code == 422


def test_bad_ids_and_page_numbers_fall_back_on_pages_but_not_in_the_api(web, engagements):
    page = web.get("/engagements?supplier_id=-1&page=0")
    assert page.status_code == 200 and len(_page_titles(page.get_data(as_text=True))) == 4
    assert web.get("/api/v1/engagements?supplier_id=-1").status_code == 422


def test_page_size_and_page_jump(web, org, make_engagement):
    for i in range(30):
        make_engagement(org, title=f"E{i:02d}")
    first = web.get("/engagements?sort=title&per_page=25").get_data(as_text=True)
    assert len(_page_titles(first)) == 25 and "page 1 of 2" in first
    assert 'id="page-jump-engagements"' in first
    second = web.get("/engagements?sort=title&per_page=25&page=2").get_data(as_text=True)
    assert _page_titles(second) == [f"E{i:02d}" for i in range(25, 30)]
    beyond = web.get("/engagements?sort=title&per_page=25&page=99").get_data(as_text=True)
    assert "page 2 of 2" in beyond


def test_xlsx_export_keeps_text_as_text_and_numbers_as_numbers(web, engagements):
    response = web.get("/engagements/export.xlsx?sort=title")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows(values_only=False))
    header = [c.value for c in rows[0]]
    title, rate, start = header.index("Engagement"), header.index("Rate"), header.index("Start")
    titles = {r[title].value: r for r in rows[1:]}
    formula = titles["=1+1"]
    assert formula[title].data_type == "s"  # a string, never a formula
    assert formula[rate].data_type == "n" and Decimal(str(formula[rate].value)) == Decimal("99.125")
    assert formula[start].is_date


def test_the_directory_shows_ratings_aggregated_in_sql(web, session, org, make_engagement):
    first = make_engagement(org)
    second = make_engagement(org, freelancer=session.get(Freelancer, first.freelancer_id))
    with as_org(session, org.id):
        for engagement, rating in ((first, 4), (second, 5)):
            session.add(
                PerformanceReview(
                    org_id=org.id,
                    engagement_id=engagement.id,
                    freelancer_id=engagement.freelancer_id,
                    rating=rating,
                    reviewer_user_id=engagement.created_by_user_id
                    or session.scalar(select(User.id).limit(1)),
                )
            )
        session.flush()
    html = web.get("/freelancers").get_data(as_text=True)
    assert "4.5★" in html
    rows = _csv(web.get("/freelancers/export.csv?sort=-rating"))
    assert rows[1][rows[0].index("Rating (of 5)")] == "4.50"
    assert rows[1][rows[0].index("Reviews")] == "2"


def test_saved_views_per_person_and_shared(web, client, session, org, make_member, sign_in):
    created = web.post_form(
        "/saved-views",
        {"list_key": "engagements", "query": "state=active&sort=-title", "name": "Active"},
        page="/engagements",
    )
    assert created.status_code == 302 and "state=active" in created.location
    view = session.scalar(select(SavedView))
    assert view.query == "state=active&sort=-title" and not view.shared
    assert "Active" in web.get("/engagements").get_data(as_text=True)
    web.post(f"/saved-views/{view.id}/rename", data={"name": "Active ones"})
    session.expire_all()
    assert session.get(SavedView, view.id).name == "Active ones"
    # a colleague sees neither a private view nor may rename it
    colleague = make_member(org, roles=("procurement",))
    other = client.application.test_client()
    sign_in(other, session.get(User, colleague.user_id), org)
    assert "Active ones" not in other.get("/engagements").get_data(as_text=True)
    assert other.post(f"/saved-views/{view.id}/delete").status_code == 404
    web.post_form(
        "/saved-views",
        {"list_key": "engagements", "query": "", "name": "Everyone", "shared": "1"},
        page="/engagements",
    )
    assert "Everyone" in other.get("/engagements").get_data(as_text=True)
    # a view never stores what the list refuses
    bad = web.post_form(
        "/saved-views",
        {"list_key": "engagements", "query": "sort=nope", "name": "x"},
        page="/engagements",
        follow_redirects=True,
    )
    assert "Sort by one of" in bad.get_data(as_text=True)
    assert session.scalar(select(func.count()).where(SavedView.name == "x")) == 0
    assert web.post(f"/saved-views/{view.id}/delete").status_code == 302
    assert session.scalar(select(func.count()).select_from(SavedView)) == 1


def test_large_exports_run_as_a_job_with_a_download_link(web, app, engagements, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_EXPORT_INLINE_ROWS", 2)
    started = web.get("/engagements/export.xlsx?state=active")
    assert started.status_code == 302 and "/jobs/" in started.location
    job_page = web.get(started.location).get_data(as_text=True)
    assert "3 rows written" in job_page
    link = re.search(r'href="(/jobs/[0-9a-f]+/download)"', job_page).group(1)
    download = web.get(link)
    assert download.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(download.get_data())).active
    assert sheet.max_row == 4  # header + 3 active engagements


def test_one_person_has_at_most_three_large_exports_waiting(
    web, app, session, org, org_admin, engagements, monkeypatch
):
    """A large export is a job; asked for again and again it would fill the queue for
    everyone, so a fourth one while three are waiting is refused and nothing is queued."""
    from fms.jobs import JobRun
    from fms.lists import export_list

    monkeypatch.setitem(app.config, "FMS_EXPORT_INLINE_ROWS", 2)
    with as_org(session, org.id):
        for n in range(3):
            session.add(
                JobRun(
                    id=f"busy{n}",
                    org_id=org.id,
                    name=export_list.job_name,
                    args=["engagements", "", "csv"],
                    state="queued" if n else "running",
                    requested_by_user_id=org_admin.user_id,
                )
            )
        session.commit()
    refused = web.get("/engagements/export.csv?state=active")
    assert refused.status_code == 429
    assert "at most 3" in refused.get_data(as_text=True)
    with as_org(session, org.id):
        assert session.scalar(select(func.count()).select_from(JobRun)) == 3
        session.get(JobRun, "busy1").state = "finished"
        session.commit()
    # one finished: there is room again
    assert web.get("/engagements/export.csv?state=active").status_code == 302


def test_bulk_approve_confirms_then_approves_all_or_nothing(
    web, session, org, org_admin, approval_chain, make_requisition, make_member
):
    approval_chain(org)
    requester = make_member(org, roles=("hiring_manager",))
    reqs = []
    for budget in (10000, 20000):
        req = make_requisition(org, requester=requester, state="submitted", budget=Decimal(budget))
        with as_org(session, org.id):
            session.add(
                ApprovalStep(
                    org_id=org.id,
                    requisition_id=req.id,
                    round=req.round,
                    position=1,
                    role="procurement",
                    label="Procurement",
                    state="pending",
                )
            )
            session.flush()
        reqs.append(req)
    listing = web.get("/requisitions?view=waiting").get_data(as_text=True)
    assert 'name="ids"' in listing and "Approve the current step" in listing
    ids = [r.id for r in reqs]
    confirm = web.get("/requisitions/bulk-approve?" + "&".join(f"ids={i}" for i in ids))
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Approve 2" in text and reqs[0].title in text
    done = web.post("/requisitions/bulk-approve", data={"ids": ids})
    assert done.status_code == 302
    session.expire_all()
    assert {session.get(Requisition, i).state for i in ids} == {"approved"}
    # again: already decided, so nothing changes and the answer says so
    again = web.post("/requisitions/bulk-approve", data={"ids": ids}, follow_redirects=True)
    assert "Nothing was approved" in again.get_data(as_text=True)


def test_the_api_takes_the_same_sort_keys_and_filters(web, engagements):
    body = web.get("/api/v1/engagements?sort=-start_date&state=active").get_json()
    assert [e["title"] for e in body["items"]] == ["=1+1", "Bravo", "alpha"]
    assert body["total"] == 3
    page = _page_titles(
        web.get("/engagements?sort=-start_date&state=active").get_data(as_text=True)
    )
    assert page == [e["title"] for e in body["items"]]
    bad = web.get("/api/v1/engagements?sort=nope")
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert web.get("/api/v1/engagements?state=bogus").status_code == 422
    spec = web.get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/engagements"]["get"]["parameters"]}
    assert "-start_date" in params["sort"]["schema"]["enum"]
    assert {"q", "state", "kind", "supplier_id", "starts_from", "starts_to"} <= set(params)


def test_the_api_directory_sorts_by_rating(web, org, make_freelancer):
    make_freelancer(org, display_name="Zed")
    make_freelancer(org, display_name="Amy")
    names = [
        f["display_name"] for f in web.get("/api/v1/freelancers?sort=-name").get_json()["items"]
    ]
    assert names == sorted(names, reverse=True)


LIST_PAGES = {
    "engagements": ("/engagements", "/engagements/export.csv"),
    "requisitions": ("/requisitions?view=all", "/requisitions/export.csv?view=all"),
    "freelancers": ("/freelancers", "/freelancers/export.csv"),
    "suppliers": ("/suppliers", "/suppliers/export.csv"),
    "skills": ("/admin/workforce", "/admin/workforce/skills/export.csv"),
    "exchange_rates": ("/exchange-rates", "/exchange-rates/export.csv"),
    "members": ("/admin/members", "/admin/members/export.csv"),
    "invitations": ("/admin/invitations", "/admin/invitations/export.csv"),
    "departments": ("/admin/structure?unit=departments", "/admin/structure/export.csv"),
    "locations": ("/admin/structure?unit=locations", "/admin/structure/export.csv?unit=locations"),
}


@pytest.fixture
def every_list(
    session, org, engagements, make_supplier, make_skill, make_requisition, make_invitation
):
    from fms.workforce.models import ExchangeRate

    for i in range(3):
        make_supplier(org, name=f"Agency {i}")
        make_skill(org, name=f"Skill {i}")
        make_requisition(org)
        make_invitation(org, email=f"person{i}@freelance.example")
        with as_org(session, org.id):
            session.add(
                ExchangeRate(
                    org_id=org.id,
                    currency=("USD", "GBP", "CHF")[i],
                    rate=Decimal("0.9"),
                    effective_from=date(2026, 1, 1),
                )
            )
    session.flush()


@pytest.mark.parametrize("key", sorted(LIST_PAGES))
def test_every_list_sorts_pages_and_exports_what_it_shows(web, every_list, key):
    from fms.lists import spec_for

    spec = spec_for(key)
    page_url, export_url = LIST_PAGES[key]
    joiner = "&" if "?" in page_url else "?"
    for sort in spec.sort_keys:
        for direction in ("", "-"):
            response = web.get(f"{page_url}{joiner}sort={direction}{sort}&per_page=25")
            assert response.status_code == 200, (key, sort, response.status_code)
            assert (
                f'aria-sort="{"descending" if direction else "ascending"}"'
                in (response.get_data(as_text=True))
                or not spec.column(sort).page
            )
    rows = _csv(
        web.get(f"{export_url}{'&' if '?' in export_url else '?'}sort=-{spec.sort_keys[0]}")
    )
    html = web.get(f"{page_url}{joiner}per_page=25").get_data(as_text=True)
    assert rows[0] == [c.label + (f" ({c.unit})" if c.unit else "") for c in spec.columns]
    assert f"Export {len(rows) - 1} row" in html  # the export has every row the page counts
    assert web.get(f"{page_url}{joiner}sort=nope").status_code == 422
    xlsx = web.get(export_url.replace(".csv", ".xlsx"))
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")


def test_the_structure_page_sorts_the_list_it_names(web, org, make_unit):
    for code in ("B-LOC", "A-LOC", "C-LOC"):
        make_unit(org, "location", code=code)
    html = web.get("/admin/structure?unit=locations&sort=-code").get_data(as_text=True)
    locations = html[html.index('id="location"') :]
    codes = re.findall(r">([A-C]-LOC)</a>", locations)
    assert codes == ["C-LOC", "B-LOC", "A-LOC"]
    assert "unit=locations" in locations  # its links keep naming it
    assert web.get("/admin/structure?unit=locations&sort=nope").status_code == 422


def test_the_members_api_sorts_and_filters_like_the_page(web, org, make_member, make_user):
    for name in ("Zoe Adams", "Anna Berg"):
        make_member(org, roles=("finance",), user=make_user(name=name))
    body = web.get("/api/v1/memberships?sort=-name&q=a").get_json()
    names = [m["user"]["name"] for m in body["items"]]
    assert names == sorted(names, reverse=True) and "Zoe Adams" in names
    assert web.get("/api/v1/memberships?active=maybe").status_code == 422


def test_saved_views_need_the_list_and_only_staff_share(session, org, make_member, actor_of):
    """A freelancer cannot save (or publish) a view of a list they may not read."""
    from fms.errors import NotAllowed
    from fms.saved_views import create_view

    freelancer = actor_of(make_member(org, roles=("freelancer",)))
    with pytest.raises(NotAllowed):
        create_view(
            session, actor=freelancer, list_key="engagements", name="All", query="", shared=True
        )
    with pytest.raises(NotAllowed):
        create_view(
            session, actor=freelancer, list_key="engagements", name="Mine", query="", shared=False
        )
    manager = actor_of(make_member(org, roles=("hiring_manager",)))
    view = create_view(
        session,
        actor=manager,
        list_key="engagements",
        name="Active",
        query="state=active",
        shared=True,
    )
    assert view.shared and view.query == "state=active"
