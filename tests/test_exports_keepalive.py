"""Streamed CSV exports on a real server, in a process of its own as in production: once a
download ends, its database connection is back in the pool.

The rows of a streamed CSV are read after the view returned. They used to be read through
the request's session, which Flask had already removed, and which nobody closed afterwards:
its connection stayed checked out (until a garbage collection), in a transaction. On SQLite
that transaction held the writer lock, so every later request that wrote — on any
connection — failed with "database is locked" after the busy timeout; on PostgreSQL the
connection stayed "idle in transaction".
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import select, text

from fms.extensions import db
from fms.identity import services as identity
from fms.identity.actor import system_actor
from fms.reports.models import SpendPackSubscription
from fms.tenancy import scope_session
from fms.workforce import services as workforce
from tests.conftest import ON_POSTGRES
from tests.factories_identity_sso import free_port

PASSWORD = "correct horse battery staple"
APP_NAME = "fms-keepalive-test"  # the server's connections, in pg_stat_activity
SERVER = """
import sys
from werkzeug.serving import make_server
from fms import create_app

server = make_server("127.0.0.1", int(sys.argv[1]), create_app(), threaded=True)
print("serving", flush=True)
server.serve_forever()
"""
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')  # WTForms' field or by hand


def _organization(session, slug: str, supplier: str):
    org, admin = identity.create_organization(
        session,
        name=slug.title(),
        slug=slug,
        admin_email=f"admin@{slug}.example",
        admin_name="Ada Admin",
        admin_password=PASSWORD,
        actor=system_actor(None),
    )
    scope_session(session, org.id)
    workforce.create_supplier(session, actor=system_actor(org.id), name=supplier, country="DE")
    ids = (org.id, admin.id, admin.email)
    session.commit()  # and no transaction left open here: on SQLite it would lock the server out
    scope_session(session, None)
    return ids


@pytest.fixture
def server(app, committed, tmp_path):
    """FMS served by werkzeug (threaded, HTTP/1.1) in another process, on the tests' database
    (committed data); its base URL."""
    url = db.engine.url
    if ON_POSTGRES:
        url = url.update_query_dict({"application_name": APP_NAME})
    port = free_port()
    env = {
        **os.environ,
        "FMS_DATABASE_URL": url.render_as_string(hide_password=False),
        "FMS_STORAGE_DIR": str(tmp_path / "storage"),
        "FMS_RATELIMIT_ENABLED": "0",
        "FMS_REDIS_URL": "",
        "PYTHONPATH": os.getcwd(),
    }
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", SERVER, str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = []
        while not output or output[-1] != "serving\n":  # after the app's start-up logs
            output.append(process.stdout.readline())
            assert output[-1], "".join(output)  # the server stopped
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        # the server's connections are gone before the tables are emptied
        db.engine.dispose()


def _sign_in(base: str, email: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(base + "/login", timeout=20)
    answer = browser.post(
        base + "/login",
        data={"csrf_token": _TOKEN.search(page.text)[1], "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=20,
    )
    assert answer.status_code == 302, answer.text
    return browser


def _download(browser: requests.Session, url: str) -> list[list[str]]:
    answer = browser.get(url, timeout=20)
    assert answer.status_code == 200, (url, answer.status_code)
    assert answer.headers["Content-Type"].startswith("text/csv"), url
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def _subscription_form(browser: requests.Session, base: str) -> dict:
    page = browser.get(base + "/reports/subscriptions", timeout=30)
    assert page.status_code == 200, page.status_code  # on SQLite it too began a write
    return {"csrf_token": _TOKEN.search(page.text)[1]}


def _idle_in_transaction() -> list:
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT pid, query FROM pg_stat_activity "
                "WHERE application_name = :name AND state = 'idle in transaction'"
            ),
            {"name": APP_NAME},
        ).all()


def test_after_streamed_csv_downloads_the_server_still_writes(server, committed):
    session = committed
    org_id, admin_id, email = _organization(session, "northwind", "Northwind Staffing")
    _organization(session, "southwind", "Southwind Staffing")  # never in Northwind's files
    browser = _sign_in(server, email)

    suppliers = _download(browser, server + "/suppliers/export.csv")
    assert [row[suppliers[0].index("Supplier")] for row in suppliers[1:]] == ["Northwind Staffing"]
    spend = _download(browser, server + "/reports/exports/spend.csv?from=2026-01-01&to=2026-11-30")
    assert spend[0][0] == "Item" and spend[1:] == []  # no approved time yet: the header
    audit = _download(browser, server + "/admin/audit.csv")
    assert audit[1:] and not any("southwind" in cell.lower() for row in audit for cell in row)
    if ON_POSTGRES:
        assert _idle_in_transaction() == []

    # a write on the browser's connection (kept alive for non-streamed answers) ...
    started = time.monotonic()
    subscribed = browser.post(
        server + "/reports/subscriptions",
        data={**_subscription_form(browser, server), "action": "subscribe"},
        allow_redirects=False,
        timeout=30,
    )
    assert subscribed.status_code == 302, subscribed.status_code
    assert time.monotonic() - started < 5  # not after waiting for a lock
    with db.engine.connect() as conn:
        holders = conn.scalars(
            select(SpendPackSubscription.user_id).where(SpendPackSubscription.org_id == org_id)
        ).all()
    assert holders == [admin_id]

    # ... and on a new connection, after another streamed download
    _download(browser, server + "/engagements/export.csv")
    form = _subscription_form(browser, server)
    fresh = requests.post(
        server + "/reports/subscriptions",
        data={**form, "action": "unsubscribe"},
        cookies=browser.cookies,
        headers={"Connection": "close"},
        allow_redirects=False,
        timeout=30,
    )
    assert fresh.status_code == 302, fresh.status_code
    with db.engine.connect() as conn:
        assert conn.scalar(select(SpendPackSubscription.id)) is None
    if ON_POSTGRES:
        assert _idle_in_transaction() == []


def test_a_download_left_half_way_gives_its_connection_back(app, committed):
    """A client that goes away mid-file: the server closes the stream, and the stream its
    session. While it streams, it reads without holding SQLite's writer lock."""
    from fms.exports import csv_stream_response
    from fms.workforce.models import Supplier

    org_id, _, _ = _organization(committed, "eastwind", "Eastwind Staffing")
    committed.close()
    pool = db.engine.pool
    assert pool.checkedout() == 0
    with app.test_request_context("/suppliers/export.csv"):
        scope_session(db.session(), org_id)
        response = csv_stream_response(
            "suppliers.csv", ["Supplier"], lambda s: ([n] for n in s.scalars(select(Supplier.name)))
        )
        chunks = iter(response.response)
        assert next(chunks).decode("utf-8-sig") == "Supplier\r\n"
        assert next(chunks) == b"Eastwind Staffing\r\n"
        assert pool.checkedout() == 1  # the stream's own connection, mid-file
        started = time.monotonic()
        with db.engine.begin() as conn:  # another request writes meanwhile
            conn.execute(text("UPDATE supplier SET name = 'Eastwind Talent'"))
        assert time.monotonic() - started < 2  # without waiting for the stream to end
        response.close()  # what the server does when the client has gone
        assert pool.checkedout() == 0
