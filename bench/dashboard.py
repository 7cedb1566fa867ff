"""The reports dashboards at scale: p95 of each dashboard page and of the reads behind it.

    .venv/bin/python bench/dashboard.py [--freelancers 10000] [--weeks 52] [--repeat 20]
                                        [--reuse]   # time the tenant a previous run loaded

On PostgreSQL (FMS_BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/fms_bench; its schema is emptied) it loads
the scale data of `flask fms seed-scale` (N freelancers x W weekly sheets), signs a finance
user in and times, through the Flask test client (routing, SQL, template):

  GET /reports/spend (the default view: the last twelve months by month, base currency;
  with it the by-cost-centre panel, the top engagements, the budget alerts and the headcount
  trend), GET /reports/spend grouped by cost centre and supplier, GET /reports/budgets,
  GET /reports/rates; and the reads alone (spend_report, budget_report, rate_benchmarks),
  and the headcount trend (12 month-ends) as one grouped query against the former
  per-month computation (one query per month-end). After seeding it builds the monthly
  spend roll-up (`flask fms reports rebuild-rollup`); spend_report and budget_report are
  also timed from the raw rows alone (as before the roll-up) for comparison.

The floor, measured in the same run: a `SELECT 1` round trip. Target: every dashboard's
p95 under 300 ms at 10,000 freelancers x 52 weeks. Results are merged into
bench/results/latest.json (`page.spend_dashboard.p95_ms`, `headcount.trend.p95_ms`, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timesheets import DEFAULT_URL, ensure_database, loaded_tenant, p95, timed  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def merge_results(values: dict) -> None:
    """Update bench/results/latest.json with these keys (other benchmarks write there too)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    current.update(values)
    RESULTS.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


def per_month_trend(session, org_id, today, months=12):
    """The headcount trend as it was computed before: one query per month-end."""
    from fms.workforce import queries

    standard = queries.standard_week(session, org_id)
    return [
        queries._figures(session, point, {}, None, standard)
        for point in queries.month_ends(today, months)
    ]


def raw_rows(fn, rollup):
    """fn computed from the raw rows only, as before the roll-up (the same figures)."""
    kept_lines = rollup.kept_lines
    rollup.kept_lines = lambda *args, **kwargs: None
    try:
        return fn()
    finally:
        rollup.kept_lines = kept_lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--freelancers", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="Time the tenant loaded before.")
    parser.add_argument("--no-save", action="store_true", help="Do not write latest.json.")
    args = parser.parse_args()
    url = os.environ.get("FMS_BENCH_DATABASE_URL") or DEFAULT_URL
    ensure_database(url)
    tmp = tempfile.mkdtemp(prefix="fms-bench-dashboard-")

    from flask_migrate import upgrade
    from sqlalchemy import event, func, select, text

    from fms import create_app
    from fms.extensions import db
    from fms.identity import services as identity
    from fms.identity.actor import Actor
    from fms.identity.models import Membership, User
    from fms.identity.web_session import TOKEN_KEY
    from fms.reports import budget, rates, rollup, spend
    from fms.tenancy import scope_session
    from fms.timesheets import scale
    from fms.timesheets.models import Timesheet
    from fms.workforce import queries as workforce_queries
    from fms.workforce.models import Freelancer

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
            data = loaded_tenant(session)
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
            building = time.perf_counter()
            scope_session(session, data.org_id)
            cells = rollup.rebuild(session, data.org_id)  # as `flask fms reports rebuild-rollup`
            session.commit()
            print(f"roll-up built in {time.perf_counter() - building:.1f} s: {cells:,} cells")
            scale.analyze(session)
            print(f"seeded and analysed in {time.perf_counter() - started:.1f} s")
        scope_session(session, data.org_id)
        email = f"bench.finance@{data.slug}.example"
        finance = session.scalar(select(User).where(User.email == email))
        if finance is None:
            finance = User(email=email, name="Bench Finance")
            session.add(finance)
            session.flush()
            session.add(Membership(org_id=data.org_id, user_id=finance.id, roles=["finance"]))
            session.commit()
        signed_in = identity.start_session(
            session,
            user=finance,
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
            user_id=finance.id, org_id=data.org_id, roles=frozenset({"finance"}), channel="web"
        )
        scope_session(session, data.org_id)
        sheets = session.scalar(select(func.count(Timesheet.id)))
        people = session.scalar(select(func.count(Freelancer.id)))
        today = data.today

        # the statements of each page request: their time in all, and the slowest one
        statements: list[float] = []
        sql_of: dict[str, list[tuple[float, float]]] = {}

        @event.listens_for(db.engine, "before_cursor_execute")
        def _started(conn, *_args):
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(db.engine, "after_cursor_execute")
        def _finished(conn, *_args):
            statements.append(time.perf_counter() - conn.info.pop("bench_started"))

        def get(path):
            def fetch():
                statements.clear()
                response = client.get(path)
                response.get_data()
                assert response.status_code == 200, (path, response.status_code)
                sql_of.setdefault(path, []).append((sum(statements), max(statements)))

            return fetch

        def rolled_back(fn):
            def run():
                fn()
                session.rollback()
                scope_session(session, data.org_id)

            return run

        year = spend.parse_spend_query({}, today=today)
        cases = {
            "GET /reports/spend": get("/reports/spend"),
            "GET /reports/spend by cost centre x supplier": get(
                "/reports/spend?group_by=cost_centre,supplier"
            ),
            "GET /reports/budgets": get("/reports/budgets"),
            "GET /reports/rates": get("/reports/rates"),
            "spend_report, 12 months by month": rolled_back(
                lambda: spend.spend_report(session, actor=actor, query=year)
            ),
            "spend_report, 12 months, raw rows (before)": rolled_back(
                lambda: raw_rows(
                    lambda: spend.spend_report(session, actor=actor, query=year), rollup
                )
            ),
            "budget_report, raw rows (before)": rolled_back(
                lambda: raw_rows(
                    lambda: budget.budget_report(session, actor=actor, today=today), rollup
                )
            ),
            "spend_report by cost centre": rolled_back(
                lambda: spend.spend_report(
                    session,
                    actor=actor,
                    query=spend.SpendQuery(year.start, year.end, "month", ("cost_centre",)),
                )
            ),
            "spend_report, one month": rolled_back(
                lambda: spend.spend_report(
                    session,
                    actor=actor,
                    query=spend.SpendQuery(today.replace(day=1), today),
                )
            ),
            "budget_report": rolled_back(
                lambda: budget.budget_report(session, actor=actor, today=today)
            ),
            "rate_benchmarks": rolled_back(
                lambda: rates.rate_benchmarks(session, actor=actor, today=today)
            ),
            "headcount trend, one grouped query": rolled_back(
                lambda: workforce_queries.trend(session, org_id=data.org_id, today=today, months=12)
            ),
            "headcount trend, per month (before)": rolled_back(
                lambda: per_month_trend(session, data.org_id, today)
            ),
        }
        floor = p95(timed(lambda: session.execute(select(1)).all(), args.repeat * 5))
        print(
            f"database: {db.engine.dialect.name}; {people:,} freelancers, "
            f"{sheets:,} sheets; floor (SELECT 1) p95 {floor * 1000:.2f} ms"
        )
        print(f"{'case':<48}{'p95 ms':>10}{'median ms':>11}")
        results = {}
        for name, fn in cases.items():
            fn()  # warm up
            samples = timed(fn, args.repeat)
            results[name] = samples
            median = sorted(samples)[len(samples) // 2]
            print(f"{name:<48}{p95(samples) * 1000:>10.1f}{median * 1000:>11.1f}")
        print(f"\n{'page: its SQL statements':<48}{'all p95':>10}{'slowest p95':>13}")
        sql = {}
        for path, pairs in sql_of.items():
            pairs = pairs[1:]  # not the warm-up
            sql[path] = (p95([a for a, _ in pairs]), p95([b for _, b in pairs]))
            print(f"{path:<48}{sql[path][0] * 1000:>10.1f}{sql[path][1] * 1000:>13.1f}")
        if not args.no_save:

            def ms(name):
                return round(p95(results[name]) * 1000, 1)

            merge_results(
                {
                    "page.spend_dashboard.p95_ms": ms("GET /reports/spend"),
                    "page.spend_dashboard_grouped.p95_ms": ms(
                        "GET /reports/spend by cost centre x supplier"
                    ),
                    "page.budgets.p95_ms": ms("GET /reports/budgets"),
                    "page.rates.p95_ms": ms("GET /reports/rates"),
                    "reports.spend_report.p95_ms": ms("spend_report, 12 months by month"),
                    "reports.spend_report_raw.p95_ms": ms(
                        "spend_report, 12 months, raw rows (before)"
                    ),
                    "reports.budget_report.p95_ms": ms("budget_report"),
                    "reports.budget_report_raw.p95_ms": ms("budget_report, raw rows (before)"),
                    "page.spend_dashboard.sql_p95_ms": round(sql["/reports/spend"][0] * 1000, 1),
                    "page.spend_dashboard.slowest_query_p95_ms": round(
                        sql["/reports/spend"][1] * 1000, 1
                    ),
                    "page.budgets.slowest_query_p95_ms": round(
                        sql["/reports/budgets"][1] * 1000, 1
                    ),
                    "floor.select_1.p95_ms": round(floor * 1000, 2),
                    "headcount.trend.p95_ms": ms("headcount trend, one grouped query"),
                    "headcount.trend_per_month.p95_ms": ms("headcount trend, per month (before)"),
                    "page.spend_dashboard.data": (
                        f"{db.engine.dialect.name}, {people} freelancers, {sheets} sheets"
                    ),
                }
            )
            print(f"merged into {RESULTS}")


if __name__ == "__main__":
    main()
