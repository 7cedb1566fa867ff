"""The freelancer picker in a real browser (headless Chromium through Playwright): typed,
chosen with the keyboard only, and the draft saved with that freelancer."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from fms.identity.models import Membership, Organization, User
from fms.identity.permissions import STAFF_ROLES
from fms.tenancy import scope_session
from fms.workforce.models import CostCentre, Department, Engagement, Freelancer, Location
from tests.factories import PASSWORD, PASSWORD_HASH
from tests.factories_identity_sso import free_port

pytestmark = [pytest.mark.browser]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


@pytest.fixture
def live(app, committed):
    """FMS served on 127.0.0.1 from the committed database, in a thread."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def acme(committed):
    session = committed
    org = Organization(name="Acme", slug="acme-picker")
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    admin = User(email="buyer@acme.example", name="Bea Buyer", password_hash=PASSWORD_HASH)
    session.add(admin)
    session.flush()
    session.add(Membership(org_id=org.id, user_id=admin.id, roles=sorted(STAFF_ROLES)))
    for n in range(40):
        session.add(
            Freelancer(
                org_id=org.id,
                legal_name=f"Person {n}",
                display_name=f"Person {n:02d}",
                email=f"p{n}@example.net",
                country="DE",
                timezone="Europe/Berlin",
                currency="EUR",
            )
        )
    session.add(
        Freelancer(
            org_id=org.id,
            legal_name="Ines Costa",
            display_name="Ines Costa",
            email="ines@example.net",
            country="PT",
            timezone="Europe/Lisbon",
            currency="EUR",
        )
    )
    units = [
        Department(org_id=org.id, code="ENG", name="Engineering"),
        CostCentre(org_id=org.id, code="CC-100", name="Grid"),
        Location(org_id=org.id, code="BER", name="Berlin", country="DE", city="Berlin"),
    ]
    session.add_all(units)
    session.commit()
    return org


def _pick(page, field: str, typed: str, *, down: int = 1):
    box = page.locator(f"#{field}_text")
    box.click()
    box.type(typed, delay=30)
    page.wait_for_selector(f"#{field}_listbox [role=option]")
    for _ in range(down):
        box.press("ArrowDown")
    box.press("Enter")


def test_pick_a_freelancer_with_the_keyboard(live, acme, committed):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(f"{live}/login")
        page.fill("#email", "buyer@acme.example")
        page.fill("#password", PASSWORD)
        page.click("button[value=password]")
        page.wait_for_url(f"{live}/")
        page.goto(f"{live}/engagements/new")

        box = page.locator("#freelancer_id_text")
        assert box.get_attribute("role") == "combobox"
        assert box.get_attribute("aria-expanded") == "false"
        box.click()
        box.type("ines", delay=30)
        page.wait_for_selector("#freelancer_id_listbox [role=option]")
        assert box.get_attribute("aria-expanded") == "true"
        options = page.locator("#freelancer_id_listbox [role=option]")
        assert options.count() == 1
        box.press("ArrowDown")
        active = box.get_attribute("aria-activedescendant")
        assert active and page.locator(f"#{active}").get_attribute("aria-selected") == "true"
        box.press("Enter")  # picks; does not submit the form
        assert box.input_value() == "Ines Costa"
        assert box.get_attribute("aria-expanded") == "false"
        assert "PT" in page.locator("#freelancer_id_help").inner_text()
        assert page.url.endswith("/engagements/new")
        note = page.locator("#supplier-note")
        assert note.inner_text() == "Ines Costa works directly: the engagement has no supplier."

        # Escape closes the popup without choosing; "No matches" is said
        box2 = page.locator("#supplier_id_text")
        box2.click()
        box2.type("zzz", delay=30)
        page.wait_for_selector("#supplier_id_listbox .fms-combobox-empty")
        assert "No matches" in page.locator("#supplier_id_listbox").inner_text()
        box2.press("Escape")
        assert box2.get_attribute("aria-expanded") == "false"
        box2.press("Escape")  # a second Escape clears
        assert box2.input_value() == ""

        page.fill("#title", "Picker test")
        _pick(page, "department_id", "eng")
        _pick(page, "cost_centre_id", "cc-1")
        _pick(page, "location_id", "ber")
        _pick(page, "hiring_manager_user_id", "bea")
        page.fill("#start_date", "2027-01-04")
        page.fill("#end_date", "2027-03-31")
        page.fill("#weekly_hours", "40")
        page.fill("#rate", "90")
        page.fill("#budget_cap", "50000")
        with page.expect_navigation():
            page.get_by_role("button", name="Save draft").click()
        assert "Engagement drafted" in page.content(), page.content()[:3000]
        browser.close()

    committed.expire_all()
    engagement = committed.scalar(select(Engagement).where(Engagement.title == "Picker test"))
    chosen = committed.scalar(select(Freelancer).where(Freelancer.id == engagement.freelancer_id))
    assert chosen.display_name == "Ines Costa" and engagement.supplier_id is None
