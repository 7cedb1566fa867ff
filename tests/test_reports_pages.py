"""The reports pages: the spend dashboard (charts with a table of the same figures, filters
in the URL, bad filters shown inline as a 422 page, an empty state), budgets and rate
benchmarks; who may see them; a fixed number of statements whatever the data."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from fms.identity.models import User


@pytest.fixture
def pages(app, session, bill, sign_in):
    client = app.test_client()

    def as_(actor):
        sign_in(client, session.get(User, actor.user_id), bill.org)
        return client

    client.as_ = as_
    return client


@pytest.fixture
def november(bill):
    """Nov 2-3: 480 and 30 minutes at 90/h = 765.00 EUR, closed and issued."""
    bill.approved_week(date(2026, 11, 2), (480, 30))
    [invoice] = bill.close().invoices
    bill.issue(invoice)
    return invoice


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_spend_dashboard_shows_the_figures_in_charts_and_tables(pages, bill, november):
    response = pages.as_(bill.finance).get(
        "/reports/spend?from=2026-11-01&to=2026-12-31&group_by=cost_centre"
    )
    assert response.status_code == 200
    html = _text(response)
    assert html.count('role="img"') >= 2 and "<title id=" in html  # accessible SVG charts
    assert "<caption>The figures of the chart" in html  # a table under each chart
    assert "765.00" in html
    assert "2026-11" in html
    assert 'name="from" value="2026-11-01"' in html  # the filters stay in the URL and form
    assert "Budget alerts" in html and "Top engagements" in html
    assert "Headcount trend" in html


@pytest.mark.parametrize(
    "query, field",
    [
        ("from=2026-02-30", "from"),
        ("from=2026-05-01&to=2026-04-01", "to"),
        ("grain=fortnight", "grain"),
        ("group_by=colour", "group_by"),
        ("currency=%3Cscript%3E", "currency"),
    ],
)
def test_bad_filters_are_shown_inline_not_a_500(pages, bill, query, field):
    response = pages.as_(bill.finance).get(f"/reports/spend?{query}")
    assert response.status_code == 422
    html = _text(response)
    assert f'id="{field}-error"' in html
    assert "<script>" not in html


def test_empty_state_says_what_to_do(pages, bill):
    html = _text(pages.as_(bill.finance).get("/reports/spend?from=2020-01-01&to=2020-03-31"))
    assert "No spend from" in html and "approve timesheets" in html


def test_budgets_and_rates_pages(pages, bill, november):
    client = pages.as_(bill.finance)
    budgets = client.get("/reports/budgets")
    assert budgets.status_code == 200 and "Budget" in _text(budgets)
    rates = client.get("/reports/rates")
    assert rates.status_code == 200
    bad = client.get("/reports/rates?country=Germany&skill_id=abc")
    assert bad.status_code == 422
    assert "A two-letter country code" in _text(bad)


@pytest.mark.parametrize("path", ["/reports/spend", "/reports/budgets", "/reports/rates"])
def test_hiring_managers_and_freelancers_get_403(pages, bill, path):
    for actor in (bill.world.manager, bill.world.me):
        assert pages.as_(actor).get(path).status_code == 403


def test_the_nav_links_to_the_reports_for_finance_only(pages, bill):
    assert 'href="/reports/spend"' in _text(pages.as_(bill.finance).get("/reports/budgets"))
    html = _text(pages.as_(bill.world.manager).get("/"))
    assert 'href="/reports/spend"' not in html


def test_dashboard_statement_count_is_fixed(pages, bill, query_counter):
    client = pages.as_(bill.finance)
    url = "/reports/spend?from=2026-11-01&to=2026-12-31&group_by=cost_centre,supplier"
    bill.approved_week(date(2026, 11, 2), (60,))
    # both requests start from a session that must load people and settings again
    bill.session.expire_all()
    with query_counter() as small:
        assert client.get(url).status_code == 200
    for week in (date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30)):
        bill.approved_week(week, (300, 200, 100))
    other = bill.world.make_engagement(
        bill.org, freelancer=bill.world.freelancer, manager_id=bill.world.manager.user_id
    )
    bill.approved_week(date(2026, 11, 9), (120,), engagement=other)
    bill.session.expire_all()
    with query_counter() as large:
        assert client.get(url).status_code == 200
    assert len(small) == len(large)
    select_count = len([s for s in large if re.match(r"\s*SELECT", s, re.I)])
    assert select_count < 40


def test_budgets_show_a_page_of_engagements_at_a_time_most_consumed_first(
    pages, bill, session, make_engagement, monkeypatch
):
    from fms.reports import views

    monkeypatch.setattr(views, "BUDGET_PAGE_SIZE", 2)
    world = bill.world
    # four running engagements: the world's (the factory's 100,000.00 cap) and three with
    # caps of 1,000.00, 2,000.00 and 4,000.00; the 1,000.00 one has 765.00 approved (Nov 2-3
    # at 90/h), the others nothing: 76.5 % used, first; then by number
    running = {"end": date.today() + timedelta(days=365)}  # noqa: DTZ011 - the page's today
    world.engagement.end_date = running["end"]
    budgets = {
        cap: make_engagement(
            bill.org, freelancer=world.freelancer, manager_id=world.manager.user_id, **running
        )
        for cap in ("1000", "2000", "4000")
    }
    for cap, engagement in budgets.items():
        world.set_terms(engagement=engagement, budget_cap=Decimal(cap))
    bill.approved_week(date(2026, 11, 2), (480, 30), engagement=budgets["1000"])
    session.commit()
    client = pages.as_(bill.finance)

    def titles(response):
        return re.findall(r"ENG-\d+ · ([^<]+)</a>", _text(response))

    first = client.get("/reports/budgets")
    assert first.status_code == 200 and "1–2 of 4" in _text(first)
    assert titles(first) == [budgets["1000"].title, world.engagement.title]
    second = client.get("/reports/budgets?page=2")
    assert "3–4 of 4" in _text(second)
    assert titles(second) == [budgets["2000"].title, budgets["4000"].title]
    # a page past the end shows the last; a page that is no number the first
    assert titles(client.get("/reports/budgets?page=99")) == titles(second)
    assert titles(client.get("/reports/budgets?page=x")) == titles(first)


def test_top_engagements_list_approved_spend_not_a_service_fee_without_one(pages, bill):
    from fms.invoicing import settings as billing

    billing.set_service_fee(bill.session, actor=bill.finance, percent="2")
    bill.approved_week(date(2026, 11, 2), (480, 30))  # 765.00, and a 15.30 fee invoiced
    [invoice] = bill.close().invoices
    bill.issue(invoice)
    bill.session.commit()
    html = _text(pages.as_(bill.finance).get("/reports/spend?from=2026-11-01&to=2026-11-30"))
    top = html[html.index("Top engagements") :]
    top = top[: top.index("</table>")]
    assert bill.world.engagement.title in top and "€765.00" in top
    assert "(none)" not in top  # the fee line has no engagement and no approved spend


def test_a_long_grouped_table_shows_its_first_rows_and_points_to_the_exports(
    pages, bill, monkeypatch
):
    """Two engagements in November by engagement: with room for one row on the page the
    table shows one, says how many there are and links the exports; the total is of both
    (480 min + 120 min at 90/h = 900.00)."""
    from fms.reports import views

    monkeypatch.setattr(views, "SPEND_TABLE_ROWS", 1)
    bill.world.set_terms(rate=Decimal("90"))
    other = bill.world.make_engagement(
        bill.org, freelancer=bill.world.freelancer, manager_id=bill.world.manager.user_id
    )
    bill.world.set_terms(engagement=other, rate=Decimal("90"))
    bill.approved_week(date(2026, 11, 2), (480,))
    bill.approved_week(date(2026, 11, 9), (120,), engagement=other)
    html = _text(
        pages.as_(bill.finance).get(
            "/reports/spend?from=2026-11-01&to=2026-11-30&group_by=engagement"
        )
    )
    table = html[html.index("<caption>The figures of the chart") :]
    table = table[: table.index("</table>")]
    assert table.count(bill.world.engagement.title) + table.count(other.title) == 1
    assert "Showing the first 1 of 2 rows." in table
    assert "exports/spend.xlsx?from=2026-11-01" in table
    assert "exports/spend.csv?from=2026-11-01" in table
    assert "€900.00" in table
