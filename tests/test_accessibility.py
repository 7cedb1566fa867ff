"""The shell in a real browser: each persona's main pages at 1440 and 390 px wide.

Headless Debian Chromium through Playwright, on a live server over committed data. On
every page: axe-core (vendored under fms/static/vendor/axe-core, added from our own
static folder so the page's CSP stays as it is) finds no serious or critical violation,
there is exactly one h1, and nothing reaches the console as an error. At 390 px: the
sidebar waits behind the menu button, the page does not scroll sideways, Sign out and
the h1 are on the first screen. One test completes a requisition with the keyboard alone.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from fms.identity import services as identity
from fms.identity.models import User
from fms.identity.web_session import TOKEN_KEY
from fms.workforce import requisitions
from fms.workforce.models import Requisition
from tests.factories import as_org

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")

# Pages that are not in the sidebar but belong to a persona's everyday work.
EXTRA_PAGES = {
    "org_admin": ["/account/security", "/inbox", "/inbox/preferences"],
    "finance": ["/reports/subscriptions", "/reports/spend?group_by=cost_centre"],
    "hiring_manager": [
        "/inbox",
        "/requisitions/new",
        "/requisitions/{requisition}",
        "/engagements/{engagement}",
        "/timesheets/{submitted_sheet}",
        "/timesheets/review/approve?ids={submitted_sheet}",
    ],
    "procurement": [
        "/requisitions/{requisition}",
        "/inbox",
        "/timesheets/engagements/{engagement}",
    ],
    "compliance": [
        "/compliance/engagements/{engagement}",
        "/compliance/templates/new?kind=nda",
        "/compliance/tenure",
    ],
    "freelancer": [
        "/inbox",
        "/timesheets/{draft_sheet}",
        "/timesheets/{submitted_sheet}",
        "/timesheets/engagements/{engagement}",
    ],
}


@pytest.fixture
def session(committed):
    """The factories write committed rows here, so the live server's threads see them."""
    return committed


@pytest.fixture
def workspace(
    session,
    make_org,
    make_user,
    make_member,
    make_freelancer,
    make_engagement,
    make_requisition,
    make_supplier,
    make_skill,
    approval_chain,
    actor_of,
):
    """An organization with one person per persona and enough rows that tables have some."""
    org = make_org(name="Northwind Logistics International", slug="northwind")
    approval_chain(org)
    members = {}
    for role, name in [
        ("org_admin", "Olivia Admin"),
        ("procurement", "Paul Procurement"),
        ("hiring_manager", "Hannah Manager"),
        ("finance", "Fiona Finance"),
        ("compliance", "Carl Compliance"),
        ("freelancer", "Frieda Freelancer"),
    ]:
        user = make_user(name=name, email=f"{role}@northwind.example")
        members[role] = make_member(org, roles=(role,), user=user)
    manager_id = members["hiring_manager"].user_id
    supplier = make_supplier(org, name="Talent Partners")
    make_skill(org, name="Python")
    freelancer = make_freelancer(
        org, user_id=members["freelancer"].user_id, display_name="Frieda Freelancer"
    )
    engagement = make_engagement(
        org, freelancer=freelancer, manager_id=manager_id, supplier_id=supplier.id
    )
    make_engagement(org, manager_id=manager_id, state="onboarding")
    requisition = make_requisition(org, requester=members["hiring_manager"], title="Data engineer")
    with as_org(session, org.id):
        requisitions.submit_requisition(
            session,
            actor=actor_of(members["hiring_manager"]),
            requisition_id=requisition.id,
            today=date(2026, 11, 2),
        )
    make_requisition(org, requester=members["hiring_manager"], title="UX researcher")
    sheets = _timesheets(session, org, engagement)
    session.commit()
    return {
        "org": org,
        "members": members,
        "ids": {"requisition": requisition.id, "engagement": engagement.id, **sheets},
    }


def _timesheets(session, org, engagement) -> dict:
    """A draft week (the grid) and a submitted one (the review queue and its decision)."""
    from datetime import timedelta

    from fms.timesheets.models import Timesheet, TimesheetEntry

    ids = {}
    with as_org(session, org.id):
        for key, start, state in (
            ("draft_sheet", date(2026, 3, 9), "draft"),
            ("submitted_sheet", date(2026, 3, 2), "submitted"),
        ):
            sheet = Timesheet(
                org_id=org.id,
                engagement_id=engagement.id,
                freelancer_id=engagement.freelancer_id,
                week_start=start,
                week_end=start + timedelta(days=6),
                state=state,
            )
            session.add(sheet)
            session.flush()
            session.add_all(
                TimesheetEntry(
                    org_id=org.id,
                    timesheet_id=sheet.id,
                    engagement_id=engagement.id,
                    work_date=start + timedelta(days=i),
                    minutes=450,
                    note="Sprint work",
                )
                for i in range(5)
            )
            ids[key] = sheet.id
    return ids


def session_cookie(app, session, base, membership, org):
    """The signed Flask session cookie of a fresh FMS session (skips the sign-in form)."""
    user = session.get(User, membership.user_id)
    with as_org(session, org.id):
        started = identity.start_session(
            session, user=user, method="password", ip="127.0.0.1", user_agent="pw", org_id=org.id
        )
    session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps({TOKEN_KEY: started.token})
    return {"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": base}


def new_page(browser, viewport, cookie=None):
    context = browser.new_context(viewport=viewport, locale="en-US")
    if cookie:
        context.add_cookies([cookie])
    page = context.new_page()
    page.fms_errors = []
    page.on(
        "console",
        lambda msg: page.fms_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: page.fms_errors.append(str(exc)))
    return page


def axe_violations(page, base) -> list[dict]:
    """axe-core's serious and critical violations on the page, as short dicts."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=f"{base}/static/vendor/axe-core/axe.min.js")
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
            "summary": v["nodes"][0].get("failureSummary", "")[:300],
        }
        for v in results["violations"]
        if v["impact"] in SERIOUS
    ]


def check_page(page, base, path, *, phone: bool, signed_in: bool = True) -> list[str]:
    """Load `path` and return what is wrong with it (an empty list when all is well)."""
    problems = []
    response = page.goto(base + path)
    if response.status != 200:
        return [f"{path}: HTTP {response.status}"]
    for violation in axe_violations(page, base):
        problems.append(f"{path}: axe {violation}")
    headings = page.locator("h1")
    if headings.count() != 1:
        problems.append(f"{path}: {headings.count()} h1 elements")
    skip = page.locator("a.fms-skip-link")
    if page.evaluate("document.querySelector('a[href], button, input, select, textarea')") and (
        skip.count() != 1
    ):
        problems.append(f"{path}: no skip link")
    if phone:
        problems += phone_layout_problems(page, path, signed_in=signed_in)
    if page.fms_errors:
        problems.append(f"{path}: console errors {page.fms_errors}")
        page.fms_errors.clear()
    return problems


def phone_layout_problems(page, path, *, signed_in: bool) -> list[str]:
    problems = []
    box = page.evaluate(
        """() => {
        const rect = (e) => { if (!e) return null; const r = e.getBoundingClientRect();
            return {x: r.x, y: r.y, right: r.right, bottom: r.bottom, width: r.width}; };
        const signOut = [...document.querySelectorAll('button')]
            .find((b) => b.textContent.trim() === 'Sign out');
        const shown = (e) => !!e && e.getClientRects().length > 0
            && getComputedStyle(e).visibility !== 'hidden';
        return {
            width: document.documentElement.scrollWidth,
            h1: rect(document.querySelector('h1')),
            signOut: rect(signOut),
            menu: shown(document.getElementById('fms-menu-button')),
            sidebar: shown(document.getElementById('fms-sidebar')),
        };
    }"""
    )
    if box["width"] > PHONE["width"]:
        problems.append(f"{path}: the page is {box['width']}px wide")
    h1 = box["h1"]
    if h1 is None or h1["bottom"] > PHONE["height"] or h1["width"] == 0:
        problems.append(f"{path}: the h1 is not on the first screen ({h1})")
    if not signed_in:
        return problems
    if not box["menu"]:
        problems.append(f"{path}: no menu button")
    if box["sidebar"]:
        problems.append(f"{path}: the sidebar shows before the menu is opened")
    out = box["signOut"]
    if (
        out is None
        or out["width"] == 0
        or out["x"] < 0
        or out["y"] < 0
        or out["right"] > PHONE["width"]
        or out["bottom"] > PHONE["height"]
    ):
        problems.append(f"{path}: Sign out is not fully on screen ({out})")
    return problems


def nav_paths(page) -> list[str]:
    return page.eval_on_selector_all(
        "#fms-sidebar nav a[href]", "links => links.map(a => a.getAttribute('href'))"
    )


@pytest.mark.parametrize(
    "role", ["org_admin", "procurement", "hiring_manager", "finance", "compliance", "freelancer"]
)
def test_main_pages_of_each_persona(app, live_fms, workspace, chromium, role):
    from fms.extensions import db

    membership = workspace["members"][role]
    cookie = session_cookie(app, db.session, live_fms, membership, workspace["org"])
    extra = [p.format(**workspace["ids"]) for p in EXTRA_PAGES.get(role, [])]
    problems = []
    for viewport in (WIDE, PHONE):
        phone = viewport is PHONE
        page = new_page(chromium, viewport, cookie)
        try:
            page.goto(live_fms + "/")
            paths = nav_paths(page)
            assert "/" in paths and len(paths) >= 2, paths
            if phone:
                problems += menu_problems(page)
            for path in paths + extra:
                problems += check_page(page, live_fms, path, phone=phone)
        finally:
            page.context.close()
    assert not problems, "\n".join(problems)


def menu_problems(page) -> list[str]:
    """The phone menu: closed, opened by its button (focus inside), closed by Escape."""
    from playwright.sync_api import expect

    menu = page.locator("#fms-menu-button")
    sidebar = page.locator("#fms-sidebar")
    try:
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(sidebar).to_be_hidden()
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(sidebar).to_be_visible()
        expect(sidebar.locator("a.active")).to_be_focused()
        page.keyboard.press("Escape")
        expect(sidebar).to_be_hidden()
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(menu).to_be_focused()
    except AssertionError as error:
        return [f"menu: {error}"]
    return []


def test_public_pages(live_fms, chromium):
    problems = []
    for viewport in (WIDE, PHONE):
        page = new_page(chromium, viewport)
        try:
            for path in ("/login", "/password/forgot"):
                problems += check_page(
                    page, live_fms, path, phone=viewport is PHONE, signed_in=False
                )
        finally:
            page.context.close()
    assert not problems, "\n".join(problems)


def focused(page) -> str:
    return page.evaluate(
        "(() => { const e = document.activeElement;"
        " return (e.id || e.getAttribute('name') || e.textContent || '').trim(); })()"
    )


def tab_to(page, name: str, *, limit: int = 60) -> None:
    """Press Tab until the focused element's id, name or text is `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == name:
            return
    raise AssertionError(f"Tab never reached {name!r} (last: {focused(page)!r})")


def test_a_requisition_with_the_keyboard_alone(app, live_fms, workspace, chromium):
    from fms.extensions import db

    manager = workspace["members"]["hiring_manager"]
    cookie = session_cookie(app, db.session, live_fms, manager, workspace["org"])
    page = new_page(chromium, WIDE, cookie)
    keys = page.keyboard
    try:
        page.goto(live_fms + "/")
        keys.press("Tab")
        assert focused(page) == "Skip to content"
        tab_to(page, "Requisitions")
        keys.press("Enter")
        page.wait_for_url("**/requisitions")
        keys.press("Tab")
        assert focused(page) == "Skip to content"
        keys.press("Enter")
        assert focused(page) == "content" or page.evaluate("document.activeElement.id") == "content"
        tab_to(page, "Request a freelancer")
        keys.press("Enter")
        page.wait_for_url("**/requisitions/new")
        keys.press("Tab")
        keys.press("Enter")  # skip to content
        tab_to(page, "title")
        keys.type("Platform engineer")
        keys.press("Tab")  # kind: keep the first choice
        keys.press("Tab")
        keys.type("Build the data platform.")
        for name in ("department_id", "cost_centre_id", "location_id"):
            # each unit is a type-ahead combobox: ArrowDown asks the server, again picks the
            # first match, Enter takes it (without submitting the form)
            tab_to(page, f"{name}_text", limit=3)
            keys.press("ArrowDown")
            page.wait_for_selector(f"#{name}_listbox [role=option]")
            keys.press("ArrowDown")
            keys.press("Enter")
        for name, typed in (("start_date", "12012026"), ("end_date", "05312027")):
            tab_to(page, name, limit=4)  # Tab also walks the date's month, day and year
            keys.type(typed)
        tab_to(page, "weekly_hours")
        keys.type("40")
        tab_to(page, "currency")
        keys.press("Control+A")
        keys.type("EUR")
        for name, typed in (("rate_min", "80"), ("rate_max", "100"), ("budget", "40000")):
            keys.press("Tab")
            assert focused(page) == name
            keys.type(typed)
        tab_to(page, "justification")
        keys.type("The backlog needs a second engineer.")
        tab_to(page, "submit_now")  # the "Submit for approval" button
        with page.expect_navigation():
            keys.press("Enter")
        errors = page.locator(".invalid-feedback, .alert-danger").all_inner_texts()
        assert re.search(r"/requisitions/\d+(#content)?$", page.url), (page.url, errors)
        assert not page.fms_errors, page.fms_errors
    finally:
        page.context.close()
    db.session.expire_all()
    with as_org(db.session, workspace["org"].id):
        made = db.session.scalars(
            select(Requisition).where(Requisition.title == "Platform engineer")
        ).one()
    assert made.state == "submitted"
    assert made.start_date == date(2026, 12, 1) and made.budget == 40000


def test_the_freelancers_compliance_onboarding_pages(app, live_fms, cworld, chromium):
    """My compliance, sign, upload and the questionnaire: empty, with an inline error, and
    done (templates/compliance/onboarding)."""
    from fms.extensions import db
    from fms.identity.models import Membership
    from tests.factories_compliance import HIGH_US

    world = cworld
    for kind in ("nda", "tax_form", "classification"):
        world.policy(kind)
    world.policy("insurance", requirement="optional")
    template_id = world.publish().id
    world.onboard()
    base = f"/compliance/my/{world.engagement.id}"
    membership = db.session.scalar(
        select(Membership).where(
            Membership.user_id == world.me.user_id, Membership.org_id == world.org.id
        )
    )
    # it commits; nothing read after this keeps SQLite locked for the live server
    cookie = session_cookie(app, db.session, live_fms, membership, world.org)
    before = [base, f"{base}/sign/{template_id}", f"{base}/upload/w9", f"{base}/classification"]
    problems = []
    for viewport in (WIDE, PHONE):
        phone = viewport is PHONE
        page = new_page(chromium, viewport, cookie)
        try:
            for path in before:
                problems += check_page(page, live_fms, path, phone=phone)
            if not phone:  # the inline errors of a refused signature and a missing answer
                page.goto(f"{live_fms}{base}/sign/{template_id}")
                page.fill("#typed_name", "Somebody Else")
                page.click(".cob-sign-form button[type=submit]")
                assert "Your name on record" in page.content()
                problems += [f"sign error: {v}" for v in axe_violations(page, live_fms)]
                page.goto(f"{live_fms}{base}/classification")
                page.click("main form button[type=submit]")
                assert "Answer yes or no." in page.content()
                problems += [f"questionnaire error: {v}" for v in axe_violations(page, live_fms)]
        finally:
            page.context.close()
    with as_org(db.session, world.org.id):
        document = world.upload("w9")
        signature = world.sign()
        world.assess(HIGH_US)
        after = [
            base,
            f"{base}/signatures/{signature.id}",
            f"{base}/upload/w9",
            f"{base}/classification",
        ]
        assert document.id
        db.session.commit()
    for viewport in (WIDE, PHONE):
        page = new_page(chromium, viewport, cookie)
        try:
            for path in after:
                problems += check_page(page, live_fms, path, phone=viewport is PHONE)
        finally:
            page.context.close()
    assert not problems, "\n".join(problems)
