"""Every list page and export at 5,000 freelancers, against a floor measured in the same run.

    .venv/bin/python bench/lists.py [--freelancers 5000] [--database-url URL] [--repeat 5]

Loads the scale data of bench/headcount.py (N freelancers, about 1.4 engagements each,
reviews for a third of them, 200 suppliers), signs an org admin in and times whole HTTP
requests through the app (routing, SQL, templates): each list's first page, a sorted and
filtered page, a deep page, and the CSV and XLSX exports of every engagement. The floor
is a plain full scan of the engagement table, measured in the same run on the same data,
so the ratios compare machines fairly. Median of --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--freelancers", type=int, default=5_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fms-bench-lists-")
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"

    from flask_migrate import upgrade
    from headcount import load_scale_data
    from sqlalchemy import func, insert, select, text

    from fms import create_app
    from fms.extensions import db
    from fms.identity import services as identity
    from fms.identity.models import Membership
    from fms.identity.permissions import ROLES
    from fms.identity.web_session import TOKEN_KEY
    from fms.workforce.models import Engagement, PerformanceReview, Supplier

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "FMS_STORAGE_DIR": tmp,
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "FMS_EXPORT_INLINE_ROWS": 100_000,  # time the streamed export, not the job
        }
    )
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(revision="heads")
        session = db.session
        org, manager, _units, people, rows, _terms, _today, _started = load_scale_data(
            session, freelancers=args.freelancers
        )
        session.execute(
            insert(Supplier),
            [{"org_id": org.id, "name": f"Agency {i}", "country": "DE"} for i in range(200)],
        )
        reviewed = session.execute(
            select(Engagement.id, Engagement.freelancer_id).where(Engagement.id % 3 == 0)
        ).all()
        session.execute(
            insert(PerformanceReview),
            [
                {
                    "org_id": org.id,
                    "engagement_id": e,
                    "freelancer_id": f,
                    "rating": 1 + e % 5,
                    "comment": "",
                    "reviewer_user_id": manager.id,
                }
                for e, f in reviewed
            ],
        )
        membership = session.scalar(select(Membership).where(Membership.user_id == manager.id))
        membership.roles = sorted(r for r in ROLES if r != "freelancer")
        session.commit()
        started = identity.start_session(
            session,
            user=manager,
            method="password",
            ip="127.0.0.1",
            user_agent="bench",
            org_id=org.id,
        )
        session.commit()
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie[TOKEN_KEY] = started.token

        def timed(fn):
            samples = []
            for _ in range(args.repeat):
                begin = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - begin)
            return statistics.median(samples)

        def get(path):
            def fetch():
                response = client.get(path)
                body = response.get_data()
                assert response.status_code == 200, (path, response.status_code, body[:200])

            return fetch

        floor = timed(
            lambda: session.execute(
                select(func.count(), func.max(Engagement.title), func.min(Engagement.start_date))
            ).all()
        )
        cases = [
            "/engagements",
            "/engagements?sort=-rate&state=active&per_page=200",
            "/engagements?sort=freelancer&page=100&per_page=50",
            "/engagements?q=F12&sort=end_date",
            "/engagements/export.csv",
            "/engagements/export.xlsx",
            "/freelancers",
            "/freelancers?sort=-rating&per_page=200",
            "/freelancers?country=DE&min_rating=3&page=5",
            "/freelancers/export.csv?sort=-rating",
            "/requisitions?view=all",
            "/suppliers?sort=-name",
            "/api/v1/engagements?sort=-start_date&per_page=200",
        ]
        total = session.scalar(select(func.count()).select_from(Engagement))
        print(
            f"database: {db.engine.dialect.name}; {len(people):,} freelancers, {total:,} "
            f"engagements, {len(reviewed):,} reviews"
        )
        print(f"floor (full scan of engagements): {floor * 1000:.1f} ms")
        print(f"{'request':<54}{'median ms':>10}{'x floor':>9}")
        for path in cases:
            seconds = timed(get(path))
            print(f"{path:<54}{seconds * 1000:>10.1f}{seconds / floor:>9.1f}")


if __name__ == "__main__":
    main()
