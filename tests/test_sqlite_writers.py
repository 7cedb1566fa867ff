"""The embedded default (a SQLite file) takes parallel writers without "database is locked".

A transaction that reads and then writes cannot wait for another writer on SQLite: with a
deferred BEGIN, the upgrade from reading to writing fails at once (SQLITE_BUSY, the busy
timeout does not apply). fms/database.py therefore begins every SQLite transaction
IMMEDIATE. These tests run a real app on its own file, with real threads and commits.
"""

from __future__ import annotations

import threading
import time

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from fms.extensions import db
from fms.identity import services as identity
from fms.identity.models import Membership, Organization, User
from fms.identity.permissions import STAFF_ROLES
from fms.identity.web_session import TOKEN_KEY
from fms.tenancy import scope_session
from fms.workforce.models import Department
from tests.conftest import ON_POSTGRES, make_app
from tests.factories import PASSWORD, PASSWORD_HASH

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's writer lock (embedded default)")

THREADS = 8
WRITES = 4


@pytest.fixture
def sqlite_app(tmp_path):
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/writers.sqlite3")
    with app.app_context():
        upgrade(revision="heads")
        org = Organization(name="Parallel AG", slug="parallel", base_currency="EUR")
        db.session.add(org)
        db.session.flush()
        scope_session(db.session, org.id)
        for n in range(THREADS):
            user = User(email=f"writer{n}@example.com", name=f"Writer {n}")
            user.password_hash = PASSWORD_HASH
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(org_id=org.id, user_id=user.id, roles=sorted(STAFF_ROLES)))
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def _in_parallel(work):
    """Run work(n) in THREADS threads released together; return their results or raise."""
    barrier = threading.Barrier(THREADS, timeout=10)
    results, errors = [None] * THREADS, []

    def run(n):
        try:
            barrier.wait()
            results[n] = work(n)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


def _sign_in(client, n):
    return client.post("/login", data={"email": f"writer{n}@example.com", "password": PASSWORD})


def test_parallel_password_sign_ins_all_succeed(sqlite_app):
    clients = [sqlite_app.test_client() for _ in range(THREADS)]
    statuses = _in_parallel(lambda n: _sign_in(clients[n], n).status_code)
    assert statuses == [302] * THREADS
    for client in clients:
        assert client.get("/api/v1/me").status_code == 200


def test_parallel_api_writers_all_land(sqlite_app):
    clients = [sqlite_app.test_client() for _ in range(THREADS)]
    with sqlite_app.app_context():  # signed in without the (slow) password hash
        for n, client in enumerate(clients):
            user = db.session.scalar(select(User).where(User.email == f"writer{n}@example.com"))
            started = identity.start_session(
                db.session, user=user, method="password", ip=None, user_agent=None
            )
            db.session.commit()
            with client.session_transaction() as cookie:
                cookie[TOKEN_KEY] = started.token
        db.session.remove()

    def write(n):
        statuses = []
        for i in range(WRITES):
            body = {"code": f"D{n}-{i}", "name": f"Department {n}/{i}"}
            statuses.append(clients[n].post("/api/v1/departments", json=body).status_code)
            org = clients[n].get("/api/v1/me").get_json()["organization"]
            patch = {"name": f"Parallel AG {n}/{i}"}
            response = clients[n].patch(f"/api/v1/organizations/{org['id']}", json=patch)
            statuses.append(response.status_code)
        return statuses

    started = time.monotonic()
    statuses = _in_parallel(write)
    elapsed = time.monotonic() - started
    assert all(s in (200, 201) for per_thread in statuses for s in per_thread), statuses
    with sqlite_app.app_context():
        count = db.session.scalar(
            select(func.count(Department.id)).execution_options(all_tenants=True)
        )
    assert count == THREADS * WRITES
    assert elapsed < 10
