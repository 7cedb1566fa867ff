"""The demo organization: realistic, deterministic, and safe to load again."""

from __future__ import annotations

import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.identity import services as identity
from fms.identity.actor import system_actor
from fms.identity.models import Organization, User
from fms.tenancy import scope_session
from fms.workforce import services as workforce
from fms.workforce.models import Freelancer

DEMO_SLUG = "northbridge"
DEMO_PASSWORD = "northbridge-demo-2026"
DEMO_STAFF = [
    ("admin@northbridge.example", "Olivia Brandt", ["org_admin"]),
    ("procurement@northbridge.example", "Marcus Keller", ["procurement"]),
    ("manager@northbridge.example", "Priya Raman", ["hiring_manager"]),
    ("compliance@northbridge.example", "Jonas Weber", ["compliance"]),
    ("finance@northbridge.example", "Claire Dubois", ["finance"]),
]
DEMO_FREELANCER_LOGIN = "lena.fischer@freelance.example"

DEPARTMENTS = [
    ("ENG", "Engineering"),
    ("DATA", "Data & Analytics"),
    ("MKT", "Marketing"),
    ("FIN", "Finance"),
    ("OPS", "Operations"),
    ("LEG", "Legal & Compliance"),
    ("PPL", "People"),
]
COST_CENTRES = [
    ("CC-4100", "Grid Software"),
    ("CC-4200", "Trading Analytics"),
    ("CC-4300", "Field Operations"),
    ("CC-5100", "Brand & Campaigns"),
    ("CC-6100", "Corporate Finance"),
    ("CC-7100", "Legal Services"),
]
LOCATIONS = [
    ("BER", "Berlin HQ", "DE", "Berlin"),
    ("HAM", "Hamburg Port Office", "DE", "Hamburg"),
    ("LON", "London", "GB", "London"),
    ("AMS", "Amsterdam", "NL", "Amsterdam"),
    ("MAD", "Madrid", "ES", "Madrid"),
    ("WAW", "Warsaw Delivery Centre", "PL", "Warsaw"),
    ("BLR", "Bengaluru", "IN", "Bengaluru"),
    ("NYC", "New York", "US", "New York"),
]

# country, timezone, currency, first names, last names
_POOLS = [
    ("DE", "Europe/Berlin", "EUR", ["Lena", "Tobias", "Anja", "Felix", "Miriam", "Jan"],
     ["Fischer", "Hartmann", "Vogel", "Schulte", "Krüger", "Lorenz"]),
    ("GB", "Europe/London", "GBP", ["Oliver", "Amelia", "Harry", "Isla", "George"],
     ["Whitfield", "Patel", "Okafor", "Hughes", "Barnes"]),
    ("NL", "Europe/Amsterdam", "EUR", ["Daan", "Sanne", "Bram", "Femke"],
     ["de Vries", "Bakker", "Visser", "Smit"]),
    ("ES", "Europe/Madrid", "EUR", ["Lucía", "Javier", "Carmen", "Diego"],
     ["García", "Moreno", "Navarro", "Romero"]),
    ("PL", "Europe/Warsaw", "PLN", ["Katarzyna", "Piotr", "Agnieszka", "Marek", "Zofia"],
     ["Nowak", "Wiśniewski", "Kowalczyk", "Zieliński", "Lewandowska"]),
    ("IN", "Asia/Kolkata", "INR", ["Aarav", "Ananya", "Rohan", "Meera", "Vikram", "Kavya"],
     ["Sharma", "Iyer", "Nair", "Reddy", "Menon", "Gupta"]),
    ("US", "America/New_York", "USD", ["Emily", "Jacob", "Sophia", "Ethan", "Madison"],
     ["Carter", "Nguyen", "Brooks", "Ramirez", "Sullivan"]),
    ("RO", "Europe/Bucharest", "RON", ["Andrei", "Ioana", "Mihai", "Elena"],
     ["Popescu", "Ionescu", "Dumitru", "Stan"]),
    ("PT", "Europe/Lisbon", "EUR", ["Tiago", "Beatriz", "Rui", "Inês"],
     ["Ferreira", "Almeida", "Costa", "Sousa"]),
    ("CH", "Europe/Zurich", "CHF", ["Luca", "Nina", "Reto"],
     ["Meier", "Brunner", "Steiner"]),
]  # fmt: skip
_HEADLINES = [
    "Senior Python engineer (Flask, PostgreSQL)",
    "Data engineer, energy trading pipelines",
    "SAP S/4HANA finance consultant",
    "UX researcher and service designer",
    "Cloud security architect (AWS, ISO 27001)",
    "Power-systems engineer, grid connection studies",
    "Brand and campaign copywriter (EN/DE)",
    "Scrum master and delivery lead",
    "Machine-learning engineer, load forecasting",
    "Contract lawyer, energy procurement",
    "Frontend engineer (TypeScript, accessibility)",
    "Financial controller, IFRS reporting",
]


def _ascii(text: str) -> str:
    """'Wiśniewski' -> 'wisniewski', 'de Vries' -> 'devries' (for demo email addresses)."""
    text = text.lower().replace("ł", "l").replace("ß", "ss").replace(" ", "")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def demo_freelancers() -> list[dict]:
    """About 50 freelancers across ten countries and six currencies, always the same."""
    people = []
    index = 0
    for country, tz, currency, firsts, lasts in _POOLS:
        for first, last in zip(firsts, lasts, strict=True):
            email = f"{_ascii(first)}.{_ascii(last)}@freelance.example"
            people.append(
                {
                    "legal_name": f"{first} {last}",
                    "display_name": f"{first} {last}",
                    "email": email,
                    "country": country,
                    "timezone": tz,
                    "currency": currency,
                    "headline": _HEADLINES[index % len(_HEADLINES)],
                }
            )
            index += 1
    return people


class DemoRefused(RuntimeError):
    """The demo's public passwords must not reach a real installation."""


def check_demo_allowed(config) -> None:
    """The demo (accounts with a published password) loads in development and test only."""
    from fms.config import is_relaxed

    if not is_relaxed(config):
        raise DemoRefused(
            f"FMS_ENV={config.get('FMS_ENV')}: the demo creates accounts whose password is "
            "published, so it only loads when FMS_ENV is development or test."
        )


def load_demo(session: Session) -> str:
    """Create (or complete) the demo organization; returns what to sign in with."""
    from flask import current_app

    check_demo_allowed(current_app.config)
    org = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    if org is None:
        admin_email, admin_name, _ = DEMO_STAFF[0]
        org, _ = identity.create_organization(
            session,
            name="Northbridge Energy AG",
            slug=DEMO_SLUG,
            admin_email=admin_email,
            admin_name=admin_name,
            admin_password=DEMO_PASSWORD,
            base_currency="EUR",
            timezone="Europe/Berlin",
            actor=system_actor(None),
        )
    scope_session(session, org.id)
    actor = system_actor(org.id)
    existing = set(session.scalars(select(User.email)))
    staff = [*DEMO_STAFF, (DEMO_FREELANCER_LOGIN, "Lena Fischer", ["freelancer"])]
    for email, name, roles in staff:
        if email not in existing:
            identity.create_local_member(
                session,
                org=org,
                actor=actor,
                email=email,
                name=name,
                roles=roles,
                password=DEMO_PASSWORD,
            )
    for kind, rows in (("department", DEPARTMENTS), ("cost_centre", COST_CENTRES)):
        have = {u.code for u in workforce.list_units(session, actor=actor, kind=kind)}
        for code, name in rows:
            if code not in have:
                workforce.create_unit(session, actor=actor, kind=kind, code=code, name=name)
    have = {u.code for u in workforce.list_units(session, actor=actor, kind="location")}
    for code, name, country, city in LOCATIONS:
        if code not in have:
            workforce.create_unit(
                session, actor=actor, kind="location", code=code, name=name,
                country=country, city=city,
            )  # fmt: skip
    known = set(session.scalars(select(Freelancer.email)))
    freelancer_user = session.scalar(select(User).where(User.email == DEMO_FREELANCER_LOGIN))
    for person in demo_freelancers():
        if person["email"] in known:
            continue
        profile = Freelancer(org_id=org.id, **person)
        if person["email"] == DEMO_FREELANCER_LOGIN and freelancer_user is not None:
            profile.user_id = freelancer_user.id
        session.add(profile)
        session.flush()
        audit.record(session, actor, "freelancer.created", profile, after=person)
    session.flush()
    from fms.compliance.demo import load_compliance_demo
    from fms.identity.sso.demo import load_sso_demo
    from fms.invoicing.demo import load_invoicing_demo
    from fms.timekeeping import today_in
    from fms.timesheets.demo import freelancer_logins, load_timesheets_demo
    from fms.workforce.demo import EXTRA_STAFF, load_workforce_demo

    workforce_summary = load_workforce_demo(
        session, actor=actor, password=DEMO_PASSWORD, today=today_in(org.timezone)
    )
    timesheets_summary = load_timesheets_demo(
        session, actor=actor, password=DEMO_PASSWORD, today=today_in(org.timezone)
    )
    compliance_summary = load_compliance_demo(session, actor=actor, today=today_in(org.timezone))
    invoicing_summary = load_invoicing_demo(session, actor=actor, today=today_in(org.timezone))
    sso_lines = load_sso_demo(session, org=org, actor=actor)
    people = staff + EXTRA_STAFF + freelancer_logins(session, besides=DEMO_FREELANCER_LOGIN)
    mail_line = _queue_welcome_mail(session, org=org, people=people)
    lines = [
        f"Demo organization: {org.name} ({org.slug}).",
        workforce_summary,
        timesheets_summary,
        compliance_summary,
        invoicing_summary,
        *sso_lines,
        mail_line,
        f"Sign in at /login with any of these (password: {DEMO_PASSWORD}):",
    ]
    lines += [f"  {email:<34} {', '.join(roles)}" for email, _, roles in people]
    return "\n".join(lines)


def _queue_welcome_mail(session: Session, *, org: Organization, people) -> str:
    """A welcome mail per demo account, once, so the Outbox page has something to show."""
    from flask import current_app

    from fms.notifications.models import OutboxMessage
    from fms.notifications.services import queue_mail

    already = session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.org_id == org.id, OutboxMessage.kind == "welcome"
        )
    )
    if already is None:
        login = current_app.config["FMS_BASE_URL"].rstrip("/") + "/login"
        for email, name, _ in people:
            queue_mail(
                session,
                org_id=org.id,
                kind="welcome",
                to=email,
                subject=f"Welcome to {org.name} on FMS",
                body_text=(
                    f"Hello {name},\n\n{org.name} now runs its freelancer management on FMS."
                    f"\nSign in at {login}\n"
                ),
            )
    return "Outbox: welcome mail for every demo account (Administration → Outbox)."
