"""Timesheets at enterprise scale: the reviewer's queue and bulk approval of 500 sheets.

    .venv/bin/python bench/timesheets.py [--freelancers 10000] [--weeks 52] [--repeat 20]
                                         [--reuse]   # time the tenant a previous run loaded

On PostgreSQL (FMS_BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/fms_bench; the database is created when
missing and its schema emptied) it loads the scale data of `flask fms seed-scale` (N
freelancers x W weekly sheets, COPY), signs the queue manager in (the one manager with 500
sheets waiting) and times:

  (a) GET /timesheets/review through the Flask test client (routing, SQL, template), p95
      of --repeat requests; while that page does not exist yet (404) it times
      `queries.review_queue` instead and says so;
  (b) `services.bulk_approve` of those 500 sheets with its audit entries (flushed, then
      rolled back so each repetition starts from the same queue), p95 and statements.

The floors, measured in the same run: a `SELECT 1` round trip and GET /healthz (a page the
app already has), so the ratios compare machines fairly. Targets: queue p95 < 300 ms,
bulk approval < 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/fms_bench"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` when it does not exist."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        begin = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - begin)
    return samples


def loaded_tenant(session):
    """The ScaleData of the tenant an earlier run loaded (for --reuse)."""
    from sqlalchemy import func, select

    from fms.identity.models import Organization, User
    from fms.tenancy import scope_session
    from fms.timekeeping import today_in
    from fms.timesheets import scale
    from fms.timesheets.models import Timesheet, TimesheetEntry

    org = session.scalar(select(Organization).where(Organization.slug == scale.DEFAULT_SLUG))
    scope_session(session, org.id)
    email = f"queue.manager@{org.slug}.example"
    data = scale.ScaleData(
        org_id=org.id,
        slug=org.slug,
        today=today_in(org.timezone),
        week_starts=[],
        manager_ids=[],
        queue_manager_id=session.scalar(select(User.id).where(User.email == email)),
        queue_manager_email=email,
        procurement_id=0,
    )
    data.counts = {
        "timesheet": session.scalar(select(func.count(Timesheet.id))),
        "timesheet_entry": session.scalar(select(func.count(TimesheetEntry.id))),
    }
    session.rollback()
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--freelancers", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--bulk-repeat", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="Time the tenant an earlier run loaded (no seed)."
    )
    args = parser.parse_args()
    url = os.environ.get("FMS_BENCH_DATABASE_URL") or DEFAULT_URL
    ensure_database(url)
    tmp = tempfile.mkdtemp(prefix="fms-bench-timesheets-")

    from flask_migrate import upgrade
    from sqlalchemy import event, select, text

    from fms import create_app
    from fms.extensions import db
    from fms.identity import services as identity
    from fms.identity.actor import Actor
    from fms.identity.models import User
    from fms.identity.web_session import TOKEN_KEY
    from fms.tenancy import scope_session
    from fms.timesheets import queries, scale
    from fms.timesheets import services as ts

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "FMS_STORAGE_DIR": tmp,
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        session = db.session
        if args.reuse:
            data, seeded, analyzed = loaded_tenant(session), 0.0, 0.0
        else:
            if url.startswith("postgresql"):
                with db.engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            upgrade(revision="heads")
            started = time.perf_counter()
            data = scale.seed_scale(
                session, freelancers=args.freelancers, weeks=args.weeks, progress=print
            )
            session.commit()
            seeded = time.perf_counter() - started
            scale.analyze(session)
            analyzed = time.perf_counter() - started
        scope_session(session, data.org_id)

        manager = session.get(User, data.queue_manager_id)
        signed_in = identity.start_session(
            session,
            user=manager,
            method="password",
            ip="127.0.0.1",
            user_agent="bench",
            org_id=data.org_id,
        )
        session.commit()
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie[TOKEN_KEY] = signed_in.token
        actor = Actor(
            user_id=manager.id,
            org_id=data.org_id,
            roles=frozenset({"hiring_manager"}),
            channel="web",
        )
        scope_session(session, data.org_id)

        def get(path):
            def fetch():
                response = client.get(path)
                response.get_data()
                assert response.status_code == 200, (path, response.status_code)

            return fetch

        select_one = timed(lambda: session.execute(select(1)).all(), args.repeat * 5)
        healthz = timed(get("/healthz"), args.repeat)

        probe = client.get("/timesheets/review")
        if probe.status_code == 200:
            queue_label = "GET /timesheets/review (page)"
            queue_samples = timed(get("/timesheets/review"), args.repeat)
            note = "the reviewer's queue page, through the test client"
        else:
            queue_label = "queries.review_queue (no page yet)"
            note = (
                f"GET /timesheets/review answered {probe.status_code}: the page is not built "
                "yet, so this times queries.review_queue (the page's read) instead"
            )

            def read_queue():
                queries.review_queue(session, actor=actor, today=data.today)
                session.rollback()

            queue_samples = timed(read_queue, args.repeat)
        scope_session(session, data.org_id)
        waiting = queries.review_queue(session, actor=actor, today=data.today)
        ids = [row.sheet.id for row in waiting]
        session.rollback()

        statements = []

        def count(*_args, **_kw):
            statements.append(1)

        def approve_all():
            scope_session(session, data.org_id)
            result = ts.bulk_approve(session, actor=actor, timesheet_ids=ids)
            session.flush()
            assert len(result.approved) == len(ids), result
            session.rollback()

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        approve_all()
        event.remove(engine, "before_cursor_execute", count)
        per_bulk = len(statements)
        bulk_samples = timed(approve_all, args.bulk_repeat)

        floor = statistics.median(select_one)
        print()
        load = (
            "loaded by an earlier run"
            if args.reuse
            else f"seeded in {seeded:.0f} s (+ ANALYZE: {analyzed:.0f} s in all)"
        )
        print(
            f"database: {engine.dialect.name}; {data.counts.get('timesheet', 0):,} sheets, "
            f"{data.counts.get('timesheet_entry', 0):,} day entries; {load}"
        )
        print(f"queue: {len(ids)} sheets waiting for {data.queue_manager_email}; {note}")
        print(f"floor: SELECT 1 round trip, median {floor * 1000:.2f} ms")
        print(f"{'case':<42}{'median ms':>10}{'p95 ms':>9}{'target':>9}{'x floor':>9}")
        rows = [
            ("GET /healthz (a page the app has)", healthz, None),
            (queue_label, queue_samples, 300),
            (f"bulk_approve {len(ids)} sheets ({per_bulk} stmts)", bulk_samples, 2000),
        ]
        for label, samples, target in rows:
            median, high = statistics.median(samples), p95(samples)
            shown = f"< {target}" if target else ""
            print(
                f"{label:<42}{median * 1000:>10.1f}{high * 1000:>9.1f}{shown:>9}"
                f"{median / floor:>9.0f}"
            )


if __name__ == "__main__":
    main()
