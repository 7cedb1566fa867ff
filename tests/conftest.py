"""Test fixtures: one app per session; each test in a transaction that is rolled back.

The whole suite runs on SQLite, and again on PostgreSQL when FMS_TEST_DATABASE_URL is
set. Service-backed tests carry a marker (postgres, redis, ...); with
FMS_REQUIRE_SERVICES=1 a test that would be skipped for a missing service fails instead.
"""

from __future__ import annotations

import html
import os
import re
import socket
import threading
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, text
from werkzeug.serving import make_server

from fms import create_app
from fms.extensions import db

DATABASE_URL = os.environ.get("FMS_TEST_DATABASE_URL") or None
REDIS_URL = os.environ.get("FMS_TEST_REDIS_URL") or None
REQUIRE_SERVICES = os.environ.get("FMS_REQUIRE_SERVICES") == "1"
ON_POSTGRES = bool(DATABASE_URL and DATABASE_URL.startswith("postgresql"))
# pytest-xdist runs the suite in several processes ("gw0", "gw1", ...): each gets its own
# PostgreSQL database and Redis database, since tests empty and rebuild both.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _per_worker_services() -> None:
    global DATABASE_URL, REDIS_URL
    if not XDIST_WORKER:
        return
    number = int(XDIST_WORKER.removeprefix("gw"))
    if ON_POSTGRES:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        url = make_url(DATABASE_URL)
        name = f"{url.database}_{XDIST_WORKER}"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        DATABASE_URL = url.set(database=name).render_as_string(hide_password=False)
    if REDIS_URL:
        from redis.connection import parse_url

        base = int(parse_url(REDIS_URL).get("db") or 0)
        # count down from the configured database (15 by default): 15, 14, ...
        REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + f"/{(base - number) % 16}"


_per_worker_services()

pytest_plugins = [
    "tests.factories",
    "tests.factories_workforce",
    "tests.factories_identity_sso",
    "tests.factories_lists",
    "tests.factories_timesheets",
    "tests.factories_compliance",
    "tests.factories_invoicing",
]


def _missing(marker: str) -> str | None:
    if marker == "postgres" and not ON_POSTGRES:
        return "needs PostgreSQL: set FMS_TEST_DATABASE_URL"
    if marker == "redis" and not REDIS_URL:
        return "needs Redis: set FMS_TEST_REDIS_URL"
    if marker == "office":
        import shutil

        return None if shutil.which("soffice") else "needs LibreOffice (soffice)"
    if marker in ("idp", "browser"):
        from tests.factories_identity_sso import missing_component

        return missing_component(marker)
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker in ("postgres", "redis", "idp", "browser", "office"):
            if marker in item.keywords:
                reason = _missing(marker)
                if reason and REQUIRE_SERVICES:
                    item.add_marker(pytest.mark.usefixtures("_service_required_" + marker))
                elif reason:
                    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def _service_required_postgres():
    pytest.fail("FMS_REQUIRE_SERVICES=1 but " + _missing("postgres"))


@pytest.fixture
def _service_required_redis():
    pytest.fail("FMS_REQUIRE_SERVICES=1 but " + _missing("redis"))


@pytest.fixture
def _service_required_office():
    pytest.fail("FMS_REQUIRE_SERVICES=1 but " + _missing("office"))


@pytest.fixture
def _service_required_idp():
    pytest.fail("FMS_REQUIRE_SERVICES=1 but " + _missing("idp"))


@pytest.fixture
def _service_required_browser():
    pytest.fail("FMS_REQUIRE_SERVICES=1 but " + _missing("browser"))


@pytest.fixture(autouse=True)
def _no_outbound_network(monkeypatch):
    """Tests talk to 127.0.0.1 only: no real SMTP, no outbound HTTP."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        local = ("127.0.0.1", "localhost", "::1", "127.0.0.2")
        if isinstance(address, tuple) and host not in local:
            raise RuntimeError(f"test tried to reach {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


_TOKEN_INPUT = re.compile(r'<input[^>]*name="([\w-]*form_token)"[^>]*value="([^"]*)"')


class FormClient(FlaskClient):
    """The test client, with `post_form`: a POST as a browser sends it from the page."""

    def post_form(self, url: str, data=None, *, page: str | None = None, **kwargs):
        """GET the page that shows the form (`page`, by default `url`) and POST `data` with
        the page's one-time form tokens added, as a browser would; a token given in `data`
        wins. Forms that create records refuse a POST without its token."""
        shown = self.get(page or url)
        assert shown.status_code == 200, f"GET {page or url}: {shown.status_code}"
        values = dict(data.lists()) if hasattr(data, "lists") else dict(data or {})
        for name, value in _TOKEN_INPUT.findall(shown.get_data(as_text=True)):
            values.setdefault(name, html.unescape(value))
        return self.post(url, data=values, **kwargs)


def make_app(tmp_dir, **overrides):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL or f"sqlite:///{tmp_dir}/fms-test.sqlite3",
        "SECRET_KEY": "test-secret-key-test-secret-key-0123456789",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "FMS_REDIS_URL": None,
        "FMS_STORAGE_DIR": str(tmp_dir / "storage"),
        # tests reach no DNS; tests/test_domain_verification.py covers the dns mode
        "FMS_DOMAIN_VERIFICATION": "manual",
    }
    config.update(overrides)
    application = create_app(config)
    application.test_client_class = FormClient
    return application


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The app, on a database built by the migrations (so they are exercised too)."""
    from flask_migrate import upgrade

    tmp_dir = tmp_path_factory.mktemp("fms")
    application = make_app(tmp_dir)
    with application.app_context():
        if ON_POSTGRES:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(revision="heads")
    application.config["FMS_TEST_TMP"] = tmp_dir
    yield application
    with application.app_context():
        db.engine.dispose()


class BoundSession(FlaskSession):
    """Flask-SQLAlchemy 3.1 ignores `bind=` (its issue #1167): honour it for tests."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if self.bind is not None:
            return self.bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


@pytest.fixture
def session(app):
    """A database session whose work, commits included, is rolled back after the test."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {
                "class_": BoundSession,
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
            }
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def committed(app):
    """For tests other connections must see (threads, workers): data is really committed,
    and every table is emptied afterwards."""
    with app.app_context():
        yield db.session
        db.session.remove()
        _truncate_all()


def _truncate_all():
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if ON_POSTGRES:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def client(app, session):
    return app.test_client()


@pytest.fixture
def query_counter(app, session):
    """Counts SQL statements (savepoint bookkeeping aside) inside `with query_counter() as n`."""

    @contextmanager
    def counting():
        statements = []

        def before(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(db.engine, "before_cursor_execute", before)

    return counting


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def live_fms(app, committed, monkeypatch):
    """The app served on 127.0.0.1 from a thread, over the committed database; its base URL."""
    from tests.factories_identity_sso import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setitem(app.config, "FMS_BASE_URL", base)
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1 127.0.0.2")
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def chromium():
    """Headless Debian Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
