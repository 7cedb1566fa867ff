"""Scale data: an enterprise tenant with N freelancers and W weeks of timesheets.

`flask fms seed-scale --freelancers N --weeks W [--org SLUG]` calls `seed_scale()`. The
small, slow-changing things (the organization, its staff, structure, suppliers, exchange
rates, task codes) go through the services, so they are audited like any other change; the
bulk rows (freelancers, engagements, amendments, terms, sheets, day entries, milestones)
go through one `BulkWriter`: COPY on PostgreSQL (psycopg 3 `cursor.copy`), executemany in
batches on SQLite. Everything above the writer is the same code on both databases.

The rows obey the app's own rules, so its services and reads take them as they are: org_id
on every row; ids taken from each table's sequence (the writer reserves a block and moves
the sequence past it); every timesheet inside its engagement's dates, one per engagement
and week, at most 24 h a day per person; each sheet's state reached by the transition table
(draft, submitted, approved, rejected with a comment) with the reviewer of its week as its
decider; effective-dated terms rows for rate changes and manager transfers, each pointing
at its approved amendment. One audit entry records the load itself.

Deterministic: the rows are a function of the arguments, the date and the ids handed out.
The load refuses an organization that already holds engagements, so it never doubles a
tenant. Invoicing and reports extend it by adding their own `build_*` step that takes the
`ScaleData` this returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from fms import money
from fms.audit import services as audit
from fms.identity import services as identity
from fms.identity.actor import Actor, system_actor
from fms.identity.models import Organization
from fms.tenancy import scope_session
from fms.timesheets import services as timesheet_services
from fms.timesheets.models import Milestone, Timesheet, TimesheetEntry
from fms.workforce import services as workforce
from fms.workforce.engagements import TERMS_FIELDS
from fms.workforce.models import (
    Amendment,
    Engagement,
    EngagementTerms,
    Freelancer,
)

DEFAULT_SLUG = "scale"
QUEUE_SHEETS = 500  # the sheets waiting for one manager (the bench's queue)
FREELANCERS_PER_MANAGER = 40
BATCH = 10_000  # rows per executemany on SQLite (a multiple divides PROGRESS_EVERY)
PROGRESS_EVERY = 500_000

Progress = Callable[[str], None]

# ~60 countries: code, currency, timezone (the workforce spreads over all of them)
COUNTRIES = [
    tuple(line.split())
    for line in """
DE EUR Europe/Berlin
FR EUR Europe/Paris
NL EUR Europe/Amsterdam
BE EUR Europe/Brussels
ES EUR Europe/Madrid
IT EUR Europe/Rome
PT EUR Europe/Lisbon
AT EUR Europe/Vienna
IE EUR Europe/Dublin
FI EUR Europe/Helsinki
GR EUR Europe/Athens
SK EUR Europe/Bratislava
SI EUR Europe/Ljubljana
EE EUR Europe/Tallinn
LV EUR Europe/Riga
LT EUR Europe/Vilnius
HR EUR Europe/Zagreb
LU EUR Europe/Luxembourg
GB GBP Europe/London
CH CHF Europe/Zurich
PL PLN Europe/Warsaw
CZ CZK Europe/Prague
HU HUF Europe/Budapest
RO RON Europe/Bucharest
BG BGN Europe/Sofia
SE SEK Europe/Stockholm
NO NOK Europe/Oslo
DK DKK Europe/Copenhagen
RS RSD Europe/Belgrade
UA UAH Europe/Kyiv
TR TRY Europe/Istanbul
IL ILS Asia/Jerusalem
AE AED Asia/Dubai
SA SAR Asia/Riyadh
EG EGP Africa/Cairo
ZA ZAR Africa/Johannesburg
KE KES Africa/Nairobi
NG NGN Africa/Lagos
MA MAD Africa/Casablanca
IN INR Asia/Kolkata
PK PKR Asia/Karachi
BD BDT Asia/Dhaka
LK LKR Asia/Colombo
SG SGD Asia/Singapore
MY MYR Asia/Kuala_Lumpur
TH THB Asia/Bangkok
VN VND Asia/Ho_Chi_Minh
PH PHP Asia/Manila
ID IDR Asia/Jakarta
JP JPY Asia/Tokyo
KR KRW Asia/Seoul
CN CNY Asia/Shanghai
AU AUD Australia/Sydney
NZ NZD Pacific/Auckland
US USD America/New_York
CA CAD America/Toronto
MX MXN America/Mexico_City
BR BRL America/Sao_Paulo
AR ARS America/Argentina/Buenos_Aires
CO COP America/Bogota
CL CLP America/Santiago
""".strip().splitlines()
]
# units of EUR (the tenant's base currency) per unit; a fixed, plausible table
EUR_PER_UNIT = dict(
    pair.split("=")
    for line in """
GBP=1.16 CHF=1.05 PLN=0.232 CZK=0.0405 HUF=0.00254 RON=0.201 BGN=0.511 SEK=0.0875
NOK=0.0855 DKK=0.134 RSD=0.00854 UAH=0.0225 TRY=0.0268 ILS=0.249 AED=0.251 SAR=0.246
EGP=0.0189 ZAR=0.0508 KES=0.00714 NGN=0.000601 MAD=0.0925 INR=0.011 PKR=0.00331 BDT=0.00771
LKR=0.00309 SGD=0.69 MYR=0.206 THB=0.0262 VND=0.000037 PHP=0.0159 IDR=0.000057 JPY=0.00611
KRW=0.000668 CNY=0.128 AUD=0.605 NZD=0.552 USD=0.92 CAD=0.676 MXN=0.0536 BRL=0.169
ARS=0.00101 COP=0.000229 CLP=0.00098
""".strip().splitlines()
    for pair in line.split()
)
FIRST_NAMES = [
    "Lena",
    "Tobias",
    "Amelia",
    "Oliver",
    "Sanne",
    "Lucía",
    "Piotr",
    "Aarav",
    "Meera",
    "Emily",
    "Jacob",
    "Ioana",
    "Tiago",
    "Nina",
    "Yuki",
    "Chen",
    "Fatima",
    "Omar",
    "Zanele",
    "Kwame",
    "Sofia",
    "Mateo",
    "Aiko",
    "Lars",
    "Ingrid",
    "Hannah",
    "Ravi",
    "Priya",
    "Diego",
    "Camila",
]
LAST_NAMES = [
    "Fischer",
    "Hartmann",
    "Whitfield",
    "Okafor",
    "de Vries",
    "García",
    "Nowak",
    "Sharma",
    "Iyer",
    "Carter",
    "Nguyen",
    "Popescu",
    "Ferreira",
    "Meier",
    "Tanaka",
    "Wang",
    "Haddad",
    "Mensah",
    "Dlamini",
    "Johansson",
    "Rossi",
    "Silva",
    "Kim",
    "Novak",
    "Kowalski",
    "Müller",
]
TITLES = [
    "Senior Python engineer",
    "Data engineer",
    "SAP finance consultant",
    "UX researcher",
    "Cloud security architect",
    "Power-systems engineer",
    "ML engineer",
    "Frontend engineer",
    "IFRS controller",
    "Contract lawyer",
    "Scrum master",
    "Platform engineer",
]
TASK_CODES = [
    ("PRJ-GRID", "Grid modernisation"),
    ("PRJ-TRADE", "Trading platform"),
    ("PRJ-ERP", "ERP roll-out"),
    ("OPS", "Operations"),
    ("ADMIN", "Administration"),
]
TIME_KIND_CYCLE = ["hourly", "hourly", "hourly", "daily", "hourly"]  # 80 % hourly, 20 % daily


class ScaleRefused(RuntimeError):
    """The organization already holds data: scale data is loaded into a fresh tenant once."""


# --- the writer: the only place that knows COPY from executemany ---------------------------------


class BulkWriter:
    """Writes many rows of one table: COPY on PostgreSQL, executemany batches on SQLite,
    in the session's transaction. Ids come from the table's own sequence (PostgreSQL) or
    after its largest rowid (SQLite): `reserve_ids` hands out a block and moves the
    sequence past it, so rows the app inserts later never collide."""

    def __init__(self, session: Session, progress: Progress | None = None):
        self.session = session
        self.dialect = session.get_bind().dialect
        self.copy = self.dialect.name == "postgresql"
        self.counts: dict[str, int] = {}
        self.progress = progress or _quiet

    def _tick(self, table: Table, written: int) -> None:
        if written % PROGRESS_EVERY == 0:
            self.progress(f"    {table.name}: {written:,} rows")

    def reserve_ids(self, table: Table, n: int) -> int:
        """The first of `n` consecutive free ids of `table` (the block is taken now)."""
        name = table.name
        if not self.copy:
            return (self.session.scalar(select(func.max(table.c.id))) or 0) + 1
        seq = self.session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name})
        # the table is ours until the commit (readers go on), so max(id) stays put
        self.session.execute(text(f'LOCK TABLE "{name}" IN EXCLUSIVE MODE'))
        # both names come from the table metadata and the catalog, never from input
        largest = f'SELECT coalesce(max(id), 0) FROM "{name}"'  # noqa: S608
        issued = f"SELECT last_value FROM {seq}"  # noqa: S608
        first = self.session.scalar(text(f"SELECT greatest(({largest}), ({issued})) + 1"))
        if n:  # the app's next insert takes the id after the block
            self.session.execute(
                text("SELECT setval(:seq, :last)"), {"seq": seq, "last": first + n - 1}
            )
        return first

    def write(self, table: Table, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
        """Insert `rows` (tuples in the order of `columns`); returns how many."""
        written = (
            self._copy(table, columns, rows) if self.copy else self._many(table, columns, rows)
        )
        self.counts[table.name] = self.counts.get(table.name, 0) + written
        return written

    def _copy(self, table: Table, columns, rows) -> int:
        processors = [
            table.c[c].type.dialect_impl(self.dialect).bind_processor(self.dialect) for c in columns
        ]
        converting = [(i, p) for i, p in enumerate(processors) if p is not None]
        raw = self.session.connection().connection.driver_connection
        names = ", ".join(f'"{c}"' for c in columns)
        written = 0
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as cp:
            for row in rows:
                if converting:
                    row = list(row)
                    for i, processor in converting:
                        row[i] = processor(row[i])
                cp.write_row(row)
                written += 1
                self._tick(table, written)
        return written

    def _many(self, table: Table, columns, rows) -> int:
        written, batch = 0, []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) >= BATCH:
                self.session.execute(insert(table), batch)
                written += len(batch)
                batch = []
                self._tick(table, written)
        if batch:
            self.session.execute(insert(table), batch)
            written += len(batch)
        return written


# --- what the load builds, for the steps after it (and for invoicing and reports) ---------------


@dataclass
class Plan:
    """One engagement as generated (what later steps need without reading it back)."""

    id: int
    freelancer_id: int
    kind: str
    currency: str
    start: date
    end: date
    rate: Decimal
    # (effective_from, hiring manager) in order; the last one reviews the recent weeks
    managers: list[tuple[date, int]]
    queue: bool = False


@dataclass
class ScaleData:
    org_id: int
    slug: str
    today: date
    week_starts: list[date]
    manager_ids: list[int]
    queue_manager_id: int
    queue_manager_email: str
    procurement_id: int
    first_sheet_id: int = 0
    queue_target: int = 0  # sheets waiting for the queue manager
    plans: list[Plan] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _quiet(_: str) -> None:
    return None


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def seed_scale(
    session: Session,
    *,
    freelancers: int,
    weeks: int,
    slug: str = DEFAULT_SLUG,
    today: date | None = None,
    queue_sheets: int = QUEUE_SHEETS,
    progress: Progress = _quiet,
) -> ScaleData:
    """Build the tenant `slug` with `freelancers` freelancers and `weeks` weekly sheets each,
    in the session's transaction (the caller commits). Refuses an organization that already
    holds engagements."""
    if freelancers < 1 or weeks < 1:
        raise ValueError("at least one freelancer and one week")
    started = time.perf_counter()
    org, actor = create_tenant(session, slug=slug)
    today = today or _org_today(org)
    data = ScaleData(
        org_id=org.id,
        slug=org.slug,
        today=today,
        week_starts=[monday_of(today) - timedelta(weeks=weeks - i) for i in range(weeks)],
        manager_ids=[],
        queue_manager_id=0,
        queue_manager_email="",
        procurement_id=0,
    )
    writer = BulkWriter(session, progress)

    def step(label: str, fn, *args):
        begin = time.perf_counter()
        result = fn(*args)
        progress(f"  {label}: {time.perf_counter() - begin:.1f} s")
        return result

    progress(
        f"Seeding {org.slug!r}: {freelancers:,} freelancers x {weeks} weeks ({writer.dialect.name})"
    )
    structure = step(
        "staff, structure, suppliers, rates",
        build_structure,
        session,
        actor,
        org,
        data,
        freelancers,
    )
    people = step("freelancers", build_freelancers, writer, data, structure, freelancers)
    step(
        "engagements, amendments, terms",
        build_engagements,
        writer,
        data,
        structure,
        people,
        queue_sheets,
    )
    step("timesheets", build_timesheets, writer, data)
    step("day entries", build_entries, writer, data, structure)
    step("milestones", build_milestones, writer, data)
    data.counts = dict(writer.counts)
    audit.record(
        session,
        actor,
        "organization.scale_data_loaded",
        org,
        after={"freelancers": freelancers, "weeks": weeks, **data.counts},
    )
    session.flush()
    data.seconds = time.perf_counter() - started
    progress("  rows: " + ", ".join(f"{name} {count:,}" for name, count in data.counts.items()))
    return data


def analyze(session: Session) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL; after the commit)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE"))
        session.commit()


# --- steps ------------------------------------------------------------------------------------


def _org_today(org: Organization) -> date:
    from fms.timekeeping import today_in

    return today_in(org.timezone)


def create_tenant(session: Session, *, slug: str) -> tuple[Organization, Actor]:
    """The organization (created, or an existing one still without engagements) and the
    system actor that loads it; ScaleRefused for one that holds data already."""
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        org, _ = identity.create_organization(
            session,
            name=f"{slug.replace('-', ' ').title()} Group (scale data)",
            slug=slug,
            admin_email=f"admin@{slug}.example",
            admin_name="Scale Admin",
            admin_password=None,
            base_currency="EUR",
            timezone="Europe/Berlin",
            actor=system_actor(None),
        )
    scope_session(session, org.id)
    have = session.scalar(select(func.count(Engagement.id)))
    if have:
        sheets = session.scalar(select(func.count(Timesheet.id)))
        raise ScaleRefused(
            f"Organization {slug!r} already holds {have:,} engagements and {sheets:,} "
            "timesheets: scale data loads into a fresh tenant once. Choose another --org "
            "(or drop the database)."
        )
    return org, system_actor(org.id)


@dataclass
class Structure:
    departments: list[int]
    cost_centres: list[int]
    locations_by_country: dict[str, int]
    suppliers_by_country: dict[str, int]
    task_codes: list[int]


def build_structure(session, actor, org, data: ScaleData, freelancers: int) -> Structure:
    """Staff (managers, procurement, finance), departments, cost centres, a location per
    country, suppliers, exchange rates and task codes: through the services (audited)."""
    managers = max(2, math.ceil(freelancers / FREELANCERS_PER_MANAGER))
    slug = org.slug

    def member(email, name, roles):
        return identity.create_local_member(
            session, org=org, actor=actor, email=email, name=name, password=None, roles=roles
        ).id

    data.procurement_id = member(f"procurement@{slug}.example", "Pat Procurement", ["procurement"])
    member(f"finance@{slug}.example", "Fin Finance", ["finance"])
    data.queue_manager_email = f"queue.manager@{slug}.example"
    data.queue_manager_id = member(data.queue_manager_email, "Quinn Queue", ["hiring_manager"])
    data.manager_ids = [
        member(f"manager{i:04d}@{slug}.example", f"Manager {i:04d}", ["hiring_manager"])
        for i in range(managers)
    ]
    departments = [
        workforce.create_unit(
            session, actor=actor, kind="department", code=f"D{i:02d}", name=f"Department {i:02d}"
        ).id
        for i in range(30)
    ]
    cost_centres = [
        workforce.create_unit(
            session,
            actor=actor,
            kind="cost_centre",
            code=f"CC-{4000 + i}",
            name=f"Cost centre {4000 + i}",
        ).id
        for i in range(60)
    ]
    locations = {
        country: workforce.create_unit(
            session,
            actor=actor,
            kind="location",
            code=f"L-{country}",
            name=f"Office {country}",
            country=country,
            city=None,
        ).id
        for country, _, _ in COUNTRIES
    }
    suppliers = {}
    for country, _, _ in COUNTRIES[::3]:  # an agency in every third country
        suppliers[country] = workforce.create_supplier(
            session, actor=actor, name=f"Talent Partners {country}", country=country
        ).id
    since = data.week_starts[0] - timedelta(days=400)
    for currency in sorted({c for _, c, _ in COUNTRIES} - {org.base_currency}):
        workforce.add_exchange_rate(
            session,
            actor=actor,
            currency=currency,
            rate=EUR_PER_UNIT[currency],
            effective_from=since,
        )
    codes = [
        timesheet_services.add_task_code(session, actor=actor, code=code, name=name).id
        for code, name in TASK_CODES
    ]
    session.flush()
    return Structure(departments, cost_centres, locations, suppliers, codes)


def build_freelancers(writer: BulkWriter, data, structure: Structure, n: int) -> list[tuple]:
    """N freelancer profiles spread over the countries; 60 % supplied by an agency of
    their country where there is one. Returns (id, country, currency, supplier) each."""
    table = Freelancer.__table__
    first = writer.reserve_ids(table, n)
    now = datetime.now(UTC)
    people = []
    for i in range(n):
        country, currency, tz = COUNTRIES[i % len(COUNTRIES)]
        supplier = structure.suppliers_by_country.get(country) if i % 5 < 3 else None
        people.append((first + i, country, currency, tz, supplier))

    def rows():
        for i, (pid, country, currency, tz, supplier) in enumerate(people):
            name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // 7) % len(LAST_NAMES)]}"
            yield (
                pid,
                data.org_id,
                name,
                name,
                f"f{i:06d}@{data.slug}.example",
                country,
                tz,
                currency,
                TITLES[i % len(TITLES)],
                supplier,
                now,
            )

    columns = (
        "id",
        "org_id",
        "legal_name",
        "display_name",
        "email",
        "country",
        "timezone",
        "currency",
        "headline",
        "supplier_id",
        "created_at",
    )
    writer.write(table, columns, rows())
    return people


def _hourly_rate(currency: str, i: int) -> Decimal:
    """A plausible hourly rate in the currency (60-150 EUR worth), to its minor unit."""
    eur = Decimal(60 + (i * 37) % 91)
    per_unit = Decimal(EUR_PER_UNIT.get(currency, "1"))
    digits = money.minor_units(currency)
    value = (eur / per_unit).quantize(Decimal(1).scaleb(-digits))
    if value >= 1000:  # whole units where a unit is worth little
        value = value.quantize(Decimal(1))
    return value


def build_engagements(writer, data: ScaleData, structure: Structure, people, queue_sheets):
    """One time engagement per freelancer (hourly or daily-rate) covering every week, and
    a fixed-fee one for every 25th; 15 % with a mid-week rate change and 5 % with a manager
    transfer, each an approved amendment with its terms row. The queue manager manages
    just enough engagements for `queue_sheets` sheets to wait for them."""
    weeks = len(data.week_starts)
    first_week, today = data.week_starts[0], data.today
    waiting_weeks = min(weeks, 4)
    queue_target = data.queue_target = min(queue_sheets, len(people) * weeks // 4) or 1
    queue_count = min(len(people), math.ceil(queue_target / waiting_weeks))
    plans: list[Plan] = []
    n_fixed = max(1, len(people) // 25)
    e_first = writer.reserve_ids(Engagement.__table__, len(people) + n_fixed)
    for i, (pid, _country, currency, _tz, _supplier) in enumerate(people):
        kind = TIME_KIND_CYCLE[i % len(TIME_KIND_CYCLE)]
        hourly = _hourly_rate(currency, i)
        rate = hourly * 8 if kind == "daily" else hourly
        start = first_week - timedelta(days=(i * 13) % 180)
        end = today + timedelta(days=90 + (i * 17) % 300)
        queue = i < queue_count
        manager = data.queue_manager_id if queue else data.manager_ids[i % len(data.manager_ids)]
        plans.append(
            Plan(e_first + i, pid, kind, currency, start, end, rate, [(start, manager)], queue)
        )
    for j in range(n_fixed):
        pid, _country, currency, _tz, supplier = people[(j * 25 + 1) % len(people)]
        start = first_week - timedelta(days=30)
        amount = _hourly_rate(currency, j) * 8 * 20  # about a month's work
        manager = data.manager_ids[j % len(data.manager_ids)]
        plans.append(
            Plan(
                e_first + len(people) + j,
                pid,
                "fixed",
                currency,
                start,
                today + timedelta(days=120),
                amount,
                [(start, manager)],
            )
        )

    # amendments: effective on a Wednesday half-way through the weeks (a mid-week change)
    middle = data.week_starts[weeks // 2] + timedelta(days=2)
    amendments = []  # (plan, kind, effective_from, new_rate, new_manager)
    for i, plan in enumerate(plans[: len(people)]):
        if plan.queue or middle <= plan.start:
            continue
        if i % 20 == 7:  # a manager transfer
            old = plan.managers[0][1]
            new = data.manager_ids[(data.manager_ids.index(old) + 1) % len(data.manager_ids)]
            if new != old:
                amendments.append((plan, "manager_transfer", middle, None, new))
        elif i % 7 == 3:  # a rate change
            amendments.append((plan, "rate_change", middle, plan.rate * Decimal("1.05"), None))
    a_first = writer.reserve_ids(Amendment.__table__, len(amendments))
    decided = datetime.combine(middle - timedelta(days=10), datetime.min.time(), UTC)
    writer.write(
        Engagement.__table__,
        (
            "id",
            "org_id",
            "title",
            "kind",
            "state",
            "freelancer_id",
            "supplier_id",
            "currency",
            "po_number",
            "start_date",
            "end_date",
            "created_by_user_id",
            "created_at",
        ),
        (
            (
                p.id,
                data.org_id,
                TITLES[p.id % len(TITLES)] + (" (fixed fee)" if p.kind == "fixed" else ""),
                p.kind,
                "active",
                p.freelancer_id,
                people_supplier,
                p.currency,
                f"PO-{7000000 + p.id}",
                p.start,
                p.end,
                data.procurement_id,
                datetime.combine(p.start - timedelta(days=14), datetime.min.time(), UTC),
            )
            for p, people_supplier in _with_supplier(plans, people)
        ),
    )
    writer.write(
        Amendment.__table__,
        (
            "id",
            "org_id",
            "engagement_id",
            "kind",
            "effective_from",
            "new_rate",
            "new_hiring_manager_user_id",
            "reason",
            "state",
            "requested_by_user_id",
            "decided_by_user_id",
            "decided_at",
            "created_at",
        ),
        (
            (
                a_first + k,
                data.org_id,
                plan.id,
                kind,
                when,
                new_rate,
                new_manager,
                "Annual rate review" if kind == "rate_change" else "Team reorganisation",
                "approved",
                data.procurement_id,
                data.procurement_id,
                decided,
                decided,
            )
            for k, (plan, kind, when, new_rate, new_manager) in enumerate(amendments)
        ),
    )
    by_plan = {
        plan.id: (a_first + k, kind, when, r, m)
        for k, (plan, kind, when, r, m) in enumerate(amendments)
    }
    terms = []
    for i, plan in enumerate(plans):
        weekly = 2400 if i % 4 else 1920
        hours_rate = plan.rate / 8 if plan.kind == "daily" else plan.rate
        cap = (
            plan.rate
            if plan.kind == "fixed"
            else (hours_rate * weekly / 60 * (weeks + 40)).quantize(Decimal(1))
        )
        overtime = (plan.rate * Decimal("1.25")) if plan.kind == "hourly" and i % 5 == 0 else None
        base = dict(
            rate=plan.rate,
            overtime_rate=overtime,
            budget_cap=cap,
            hiring_manager_user_id=plan.managers[0][1],
            department_id=structure.departments[i % len(structure.departments)],
            cost_centre_id=structure.cost_centres[(i * 7) % len(structure.cost_centres)],
            location_id=structure.locations_by_country[COUNTRIES[i % len(COUNTRIES)][0]],
            weekly_minutes=weekly,
        )
        terms.append(
            {**base, "engagement_id": plan.id, "effective_from": plan.start, "amendment_id": None}
        )
        change = by_plan.get(plan.id)
        if change:
            amendment_id, kind, when, new_rate, new_manager = change
            if kind == "rate_change":
                later = {**base, "rate": new_rate}
                if overtime is not None:
                    later["overtime_rate"] = new_rate * Decimal("1.25")
            else:
                later = {**base, "hiring_manager_user_id": new_manager}
                plan.managers.append((when, new_manager))
            later.update(engagement_id=plan.id, effective_from=when, amendment_id=amendment_id)
            if kind == "rate_change":
                plan.rate = new_rate
            terms.append(later)
    t_first = writer.reserve_ids(EngagementTerms.__table__, len(terms))
    columns = ("id", "org_id", "engagement_id", "effective_from", *TERMS_FIELDS, "amendment_id")
    writer.write(
        EngagementTerms.__table__,
        columns,
        ((t_first + k, data.org_id, *(row[c] for c in columns[2:])) for k, row in enumerate(terms)),
    )
    data.plans = plans


def _with_supplier(plans, people):
    supplier_of = {pid: supplier for pid, _c, _cur, _tz, supplier in people}
    for plan in plans:
        yield plan, supplier_of.get(plan.freelancer_id)


def _mix(a: int, b: int) -> int:
    """A cheap deterministic 0-99 from two numbers (no random object per row)."""
    return ((a * 2654435761) ^ (b * 40503 + 12345)) % 100


# a few sheets whose state every load has, however small: (non-queue plan, age) -> state
FIXED_STATES = {(0, 0): "draft", (0, 1): "rejected", (1, 0): "submitted", (2, 0): "rejected"}


def sheet_state(plan: Plan, ordinal: int, age: int, queue_waiting: bool) -> str:
    """The state of the sheet `age` weeks old of the `ordinal`-th engagement outside the
    queue: mostly approved; the last weeks partly submitted or still drafts; a few
    rejected (sent back with a comment)."""
    if plan.queue:
        return "submitted" if queue_waiting else "approved"
    if (ordinal, age) in FIXED_STATES:
        return FIXED_STATES[ordinal, age]
    roll = _mix(plan.id, age)
    if age == 0:
        return "submitted" if roll < 45 else ("draft" if roll < 80 else "approved")
    if age == 1:
        return "submitted" if roll < 15 else ("draft" if roll < 18 else "approved")
    if age <= 3 and roll < 3:
        return "rejected"
    return "approved"


def _manager_on(plan: Plan, day: date) -> int:
    manager = plan.managers[0][1]
    for since, who in plan.managers:
        if since <= day:
            manager = who
    return manager


def build_timesheets(writer, data: ScaleData) -> None:
    """W weekly sheets per time engagement, Monday to Sunday (the default week), each in
    the state `sheet_state` gives, decided by the week's reviewer. Exactly `queue_sheets`
    (or fewer on a small load) wait for the queue manager: the last four weeks of their
    engagements, the oldest of those approved where the count overshoots."""
    weeks = data.week_starts
    time_plans = [p for p in data.plans if p.kind != "fixed"]
    queue_plans = [p for p in time_plans if p.queue]
    waiting_weeks = min(len(weeks), 4)
    overshoot = len(queue_plans) * waiting_weeks - data.queue_target
    first = data.first_sheet_id = writer.reserve_ids(
        Timesheet.__table__, len(time_plans) * len(weeks)
    )
    comment = "Please split the workshop hours by task code and resubmit."
    now = datetime.now(UTC)

    def rows() -> Iterator[tuple]:
        sheet_id = first
        for q, plan in enumerate(time_plans):
            for w, week_start in enumerate(weeks):
                age = len(weeks) - 1 - w
                waiting = plan.queue and age < waiting_weeks
                if waiting and q < overshoot and age == waiting_weeks - 1:
                    waiting = False
                state = sheet_state(plan, q - len(queue_plans), age, waiting)
                week_end = week_start + timedelta(days=6)
                created = datetime.combine(week_start + timedelta(days=4), datetime.min.time(), UTC)
                submitted = decided = decider = note = None
                if state != "draft":
                    submitted = min(created + timedelta(days=3, hours=9), now)
                if state in ("approved", "rejected"):
                    decided = min(submitted + timedelta(days=1, hours=2), now)
                    decider = _manager_on(plan, week_start + timedelta(days=4))
                    note = comment if state == "rejected" else None
                yield (
                    sheet_id,
                    data.org_id,
                    plan.id,
                    plan.freelancer_id,
                    week_start,
                    week_end,
                    state,
                    submitted,
                    decided,
                    decider,
                    note,
                    created,
                )
                sheet_id += 1

    writer.write(
        Timesheet.__table__,
        (
            "id",
            "org_id",
            "engagement_id",
            "freelancer_id",
            "week_start",
            "week_end",
            "state",
            "submitted_at",
            "decided_at",
            "decided_by_user_id",
            "decision_comment",
            "created_at",
        ),
        rows(),
    )


def build_entries(writer, data: ScaleData, structure: Structure) -> None:
    """Monday to Friday per sheet: 7-9 hours (some days past the 8-hour standard day, so
    overtime is priced) on hourly engagements; a full day, now and then a half day, on
    daily-rate ones. Half the days carry a task code."""
    weeks = data.week_starts
    time_plans = [p for p in data.plans if p.kind != "fixed"]
    sheet_first = data.first_sheet_id
    first = writer.reserve_ids(TimesheetEntry.__table__, len(time_plans) * len(weeks) * 5)
    codes = structure.task_codes

    def rows() -> Iterator[tuple]:
        entry_id, sheet_id = first, sheet_first
        for plan in time_plans:
            daily = plan.kind == "daily"
            for week_start in weeks:
                for day in range(5):
                    roll = (sheet_id * 7 + day * 13) % 17
                    if daily:
                        minutes, half_days = 0, (1 if roll == 0 else 2)
                    else:
                        minutes, half_days = 420 + roll * 8, None  # 7:00 to 9:08
                    code = codes[(sheet_id + day) % len(codes)] if roll % 2 else None
                    yield (
                        entry_id,
                        data.org_id,
                        sheet_id,
                        plan.id,
                        week_start + timedelta(days=day),
                        minutes,
                        half_days,
                        code,
                        "",
                    )
                    entry_id += 1
                sheet_id += 1

    writer.write(
        TimesheetEntry.__table__,
        (
            "id",
            "org_id",
            "timesheet_id",
            "engagement_id",
            "work_date",
            "minutes",
            "half_days",
            "task_code_id",
            "note",
        ),
        rows(),
    )


def build_milestones(writer, data: ScaleData) -> None:
    """Three milestones per fixed-fee engagement: accepted, delivered (waiting) and draft."""
    fixed = [p for p in data.plans if p.kind == "fixed"]
    first = writer.reserve_ids(Milestone.__table__, len(fixed) * 3)
    now = datetime.now(UTC)

    def rows():
        mid = first
        for plan in fixed:
            share = (plan.rate / 3).quantize(Decimal(1).scaleb(-money.minor_units(plan.currency)))
            for k, state in enumerate(("accepted", "delivered", "draft")):
                due = plan.start + timedelta(days=30 * (k + 1))
                delivered = now - timedelta(days=20 - 5 * k) if state != "draft" else None
                decided = delivered + timedelta(days=2) if state == "accepted" else None
                yield (
                    mid,
                    data.org_id,
                    plan.id,
                    f"Deliverable {k + 1}",
                    share,
                    plan.currency,
                    due,
                    state,
                    delivered,
                    decided,
                    plan.managers[-1][1] if decided else None,
                    now,
                )
                mid += 1

    writer.write(
        Milestone.__table__,
        (
            "id",
            "org_id",
            "engagement_id",
            "title",
            "amount",
            "currency",
            "due_date",
            "state",
            "delivered_at",
            "decided_at",
            "decided_by_user_id",
            "created_at",
        ),
        rows(),
    )
