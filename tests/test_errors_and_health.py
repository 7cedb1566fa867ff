"""Error pages in the layout, production headers, and /healthz with Redis."""

import pytest

from tests.conftest import make_app


@pytest.fixture
def fragile_app(tmp_path):
    """An app that does not propagate exceptions (as in production) with a broken route."""
    application = make_app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/fragile.sqlite3",
        PROPAGATE_EXCEPTIONS=False,
        TESTING=False,
    )

    @application.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    @application.get("/api/v1/boom")
    def api_boom():
        raise RuntimeError("secret internal detail")

    def duplicate_slugs():
        from fms.extensions import db
        from fms.identity.models import Organization

        db.session.add_all(
            Organization(name=name, slug="same-slug", base_currency="EUR") for name in "AB"
        )
        db.session.flush()  # IntegrityError: the session now needs a rollback

    application.add_url_rule("/db-boom", "db_boom", duplicate_slugs)
    application.add_url_rule("/api/v1/db-boom", "api_db_boom", duplicate_slugs)
    return application


def _signed_in_client(application):
    """A client signed in to a fresh database of `application` (its own file)."""
    from fms.extensions import db
    from fms.identity import services as identity
    from fms.identity.models import Membership, Organization, User
    from fms.identity.web_session import TOKEN_KEY
    from fms.tenancy import _ORG_KEY

    with application.app_context():
        db.create_all()
        org = Organization(name="Fragile", slug="fragile", base_currency="EUR")
        user = User(email="admin@fragile.example", name="Admin")
        db.session.add_all([org, user])
        db.session.flush()
        db.session.info[_ORG_KEY] = org.id
        db.session.add(Membership(org_id=org.id, user_id=user.id, roles=["org_admin"]))
        started = identity.start_session(
            db.session, user=user, method="password", ip="127.0.0.1", user_agent="t", org_id=org.id
        )
        db.session.commit()
        token = started.token
    web = application.test_client()
    with web.session_transaction() as cookie:
        cookie[TOKEN_KEY] = token
    return web


def test_an_unexpected_error_is_a_clean_500_page_without_internals(fragile_app):
    web = fragile_app.test_client()
    page = web.get("/boom")
    assert page.status_code == 500 and page.content_type.startswith("text/html")
    assert b"Something went wrong" in page.data and b"secret internal detail" not in page.data
    api = web.get("/api/v1/boom")
    assert api.status_code == 500 and api.content_type == "application/problem+json"
    assert "secret" not in api.get_data(as_text=True)


def test_a_database_error_still_gets_the_fms_error_page(fragile_app):
    """The 500 handler rolls the failed session back before it renders (the layout reads
    the organization), so the answer is ours, not Werkzeug's bare page."""
    web = _signed_in_client(fragile_app)
    page = web.get("/db-boom")
    assert page.status_code == 500 and b"Something went wrong" in page.data
    assert b"fms-sidebar" in page.data  # the normal layout: the session worked again
    api = web.get("/api/v1/db-boom")
    assert api.status_code == 500 and api.content_type == "application/problem+json"
    assert api.get_json()["title"] == "Internal Server Error"


def test_production_sends_hsts_and_secure_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("FMS_ENV", "production")
    monkeypatch.setenv("FMS_SECRET_KEY", "p" * 48)
    monkeypatch.setenv("FMS_ENCRYPTION_KEYS", "Zm1zLXRlc3QtZW5jcnlwdGlvbi1rZXktMzJieXRlcyE=")
    application = make_app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/p.sqlite3",
        FMS_DOMAIN_VERIFICATION="dns",
    )
    response = application.test_client().get("/login")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert application.config["SESSION_COOKIE_SECURE"] is True


def test_development_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_short_production_secret_is_refused(tmp_path, monkeypatch):
    from fms.config import ConfigError

    monkeypatch.setenv("FMS_ENV", "production")
    monkeypatch.setenv("FMS_SECRET_KEY", "short")
    with pytest.raises(ConfigError):
        make_app(tmp_path, SECRET_KEY="short")


def test_method_not_allowed_is_a_page(client):
    response = client.delete("/login")
    assert response.status_code == 405 and b"Not allowed here" in response.data
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_method_not_allowed_on_the_api_keeps_allow(client):
    response = client.put("/api/v1/me")
    assert response.status_code == 405 and response.content_type == "application/problem+json"
    assert "GET" in response.headers["Allow"].split(", ")


@pytest.mark.redis
def test_healthz_checks_redis_when_configured(app, client, monkeypatch):
    from tests.conftest import REDIS_URL

    monkeypatch.setitem(app.config, "FMS_REDIS_URL", REDIS_URL)
    body = client.get("/healthz").get_json()
    assert body["checks"]["redis"]["status"] == "ok"
    monkeypatch.setitem(app.config, "FMS_REDIS_URL", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert (
        response.status_code == 503 and response.get_json()["checks"]["redis"]["status"] == "error"
    )
