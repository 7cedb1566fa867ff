"""Headcount at 10,000 freelancers: how long the SQL takes, against a floor in the same run.

    .venv/bin/python bench/headcount.py [--freelancers 10000] [--database-url URL]

Builds a throwaway database (SQLite in a temp dir unless --database-url names one; it is
emptied first), loads N freelancers with about 1.4 engagements each over two years, then
times each headcount query. The floor is a plain full scan of the terms table
(`SELECT count(*), sum(weekly_minutes)`), measured in the same run on the same data, so the
ratios compare machines fairly. Median of --repeat runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--freelancers", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fms-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from fms import create_app
    from fms.extensions import db
    from fms.workforce import queries
    from fms.workforce.models import (
        CostCentre,
        EngagementTerms,
    )

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "FMS_STORAGE_DIR": tmp, "TESTING": True})
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(revision="heads")
        session = db.session
        org, manager, units, people, rows, terms, today, started = load_scale_data(
            session, freelancers=args.freelancers
        )
        load_seconds = time.perf_counter() - started

        def timed(fn):
            samples = []
            for _ in range(args.repeat):
                begin = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - begin)
            return statistics.median(samples)

        floor = timed(
            lambda: session.execute(
                select(func.count(), func.sum(EngagementTerms.weekly_minutes))
            ).all()
        )
        cases = {
            "headcount total, one date": lambda: queries.headcount(
                session, org_id=org.id, on=today
            ),
            "headcount by cost centre": lambda: queries.headcount(
                session, org_id=org.id, on=today, group_by="cost_centre"
            ),
            "headcount by country, filtered": lambda: queries.headcount(
                session,
                org_id=org.id,
                on=today,
                group_by="country",
                filters={"cost_centre_id": units[CostCentre][0]},
            ),
            "trend, 12 month-ends": lambda: queries.trend(
                session, org_id=org.id, today=today, months=12
            ),
            "trend, per month (before)": lambda: [
                queries._figures(session, point, {}, None, queries.standard_week(session, org.id))
                for point in queries.month_ends(today, 12)
            ],
            "ending in 30/60/90 days": lambda: queries.ending_soon(session, today=today),
            "engagement list, first page": lambda: queries.engagement_list(
                session, on=today, page=1
            ),
        }
        result = queries.headcount(session, org_id=org.id, on=today)
        print(
            f"database: {db.engine.dialect.name}; {len(people):,} freelancers, "
            f"{len(rows):,} engagements, {len(terms):,} terms rows; loaded in "
            f"{load_seconds:.1f} s; {result.total.people:,} people at work today"
        )
        print(f"floor (full scan of terms): {floor * 1000:.1f} ms")
        print(f"{'query':<34}{'median ms':>10}{'x floor':>9}")
        for name, fn in cases.items():
            seconds = timed(fn)
            print(f"{name:<34}{seconds * 1000:>10.1f}{seconds / floor:>9.1f}")


def load_scale_data(session, *, freelancers: int, seed: int = 7):
    """The scale data: one organization, `freelancers` freelancers with about 1.4
    engagements each over two years, a quarter with a later change of terms. Returns
    (org, manager, units, people, engagement rows, terms, today, started)."""
    import time

    from sqlalchemy import insert, select, text

    from fms.extensions import db
    from fms.identity.models import Membership, Organization, User
    from fms.tenancy import scope_session
    from fms.workforce.models import (
        CostCentre,
        Department,
        Engagement,
        EngagementTerms,
        Freelancer,
        Location,
    )

    session = db.session
    today = date.today()  # noqa: DTZ011
    rng = random.Random(seed)
    started = time.perf_counter()
    org = Organization(name="Bench", slug="bench")
    manager = User(email="bench-manager@example.com", name="Manager")
    session.add_all([org, manager])
    session.flush()
    session.add(Membership(org_id=org.id, user_id=manager.id, roles=["hiring_manager"]))
    scope_session(session, org.id)
    units = {}
    for model, extra in ((Department, {}), (CostCentre, {}), (Location, {"country": "DE"})):
        rows = [
            {"org_id": org.id, "code": f"U{i}", "name": f"Unit {i}", "is_active": True, **extra}
            for i in range(25)
        ]
        session.execute(insert(model), rows)
        units[model] = list(session.scalars(select(model.id)))
    countries = ["DE", "GB", "NL", "PL", "IN", "US", "ES", "FR", "RO", "PT"]
    session.execute(
        insert(Freelancer),
        [
            {
                "org_id": org.id,
                "legal_name": f"F{i}",
                "display_name": f"F{i}",
                "email": f"f{i}@bench.example",
                "country": countries[i % 10],
                "timezone": "UTC",
                "currency": "EUR",
            }
            for i in range(freelancers)
        ],
    )
    people = list(session.scalars(select(Freelancer.id)))
    engagements = []
    for person in people + rng.sample(people, len(people) * 2 // 5):
        start = today - timedelta(days=rng.randint(0, 730))
        end = start + timedelta(days=rng.randint(60, 540))
        state = "ended" if end < today else "active"
        engagements.append(
            {
                "org_id": org.id,
                "title": "Bench",
                "kind": "hourly",
                "state": state,
                "freelancer_id": person,
                "currency": "EUR",
                "start_date": start,
                "end_date": end,
            }
        )
    session.execute(insert(Engagement), engagements)
    rows = session.execute(select(Engagement.id, Engagement.start_date)).all()
    terms = []
    for engagement_id, start in rows:
        base = {
            "org_id": org.id,
            "engagement_id": engagement_id,
            "rate": 90,
            "budget_cap": 50000,
            "hiring_manager_user_id": manager.id,
            "department_id": rng.choice(units[Department]),
            "cost_centre_id": rng.choice(units[CostCentre]),
            "location_id": rng.choice(units[Location]),
            "weekly_minutes": rng.choice([960, 1440, 2400]),
        }
        terms.append({**base, "effective_from": start})
        if engagement_id % 4 == 0:  # a quarter have a later change of terms
            terms.append({**base, "effective_from": start + timedelta(days=45), "rate": 95})
    session.execute(insert(EngagementTerms), terms)
    session.commit()
    with db.engine.connect() as conn:  # planner statistics, as autovacuum keeps them live
        conn.execute(text("ANALYZE"))
        conn.commit()
    scope_session(session, org.id)
    return org, manager, units, people, rows, terms, today, started


if __name__ == "__main__":
    main()
