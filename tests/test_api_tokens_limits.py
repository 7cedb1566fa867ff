"""Every /api/v1 route has a scope, and the rate limit answers 429 with Retry-After, on the
in-process store and on Redis."""

from __future__ import annotations

import uuid

import pytest

from fms.api import api
from fms.api.auth import scope_of
from fms.api.ratelimit import EXTENSION_KEY, RateLimit
from fms.identity.tokens import services as tokens
from tests.conftest import REDIS_URL
from tests.factories import as_org

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def test_every_api_route_has_a_scope(app):
    """A route missing from fms.api.auth's table is closed to tokens: add it there."""
    missing = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint not in api.guarded_blueprints:
            continue
        for method in sorted(set(rule.methods) & set(METHODS)):
            if scope_of(rule.endpoint, method) is None:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes without a scope:\n" + "\n".join(missing)
    assert len(api.guarded_blueprints) >= 8


def test_scopes_follow_the_method_unless_the_table_says_otherwise():
    assert scope_of("timesheets_api.Timesheets", "GET").needed("GET") == "timesheets:read"
    assert scope_of("timesheets_api.Timesheets", "POST").needed("POST") == "timesheets:write"
    preview = scope_of("timesheets_api.BulkPreview", "POST")
    assert preview.needed("POST") == "timesheets:read"
    assert scope_of("workforce_api.Headcount", "GET").needed("GET") == "reports:read"
    assert scope_of("nobody_api.Thing", "GET") is None


@pytest.fixture
def limited(app, monkeypatch):
    """Rate limits on, at 3 requests a minute, on a store of the test's own."""

    def install(storage_uri: str) -> RateLimit:
        limiter = RateLimit(
            limit="3 per minute", storage_uri=storage_uri, namespace=f"test-{uuid.uuid4().hex}"
        )
        monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
        monkeypatch.setitem(app.extensions, EXTENSION_KEY, limiter)
        return limiter

    return install


def _token(session, actor_of, membership, scopes):
    with as_org(session, membership.org_id):
        _, secret = tokens.create_personal_token(
            session, actor=actor_of(membership), name="burst", scopes=scopes
        )
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _burst(client, headers, *, times: int):
    return [client.get("/api/v1/departments", headers=headers) for _ in range(times)]


def _check_429(client, session, actor_of, org_admin, make_member):
    headers = _token(session, actor_of, org_admin, ["workforce:read"])
    answers = _burst(client, headers, times=4)
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.content_type == "application/problem+json"
    assert refused.get_json()["status"] == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # the limit is per token: another token (of another person) still gets through
    from fms.identity.models import Organization

    other = make_member(session.get(Organization, org_admin.org_id), roles=("procurement",))
    other_headers = _token(session, actor_of, other, ["workforce:read"])
    assert client.get("/api/v1/departments", headers=other_headers).status_code == 200


def test_429_with_retry_after_in_process(
    client, session, actor_of, org_admin, make_member, limited
):
    limited("memory://")
    _check_429(client, session, actor_of, org_admin, make_member)


@pytest.mark.redis
def test_429_with_retry_after_on_redis(client, session, actor_of, org_admin, make_member, limited):
    limited(REDIS_URL)
    _check_429(client, session, actor_of, org_admin, make_member)


def test_sessions_are_limited_per_person(client, session, org_admin, sign_in, limited):
    from fms.identity.models import Organization, User

    limited("memory://")
    sign_in(
        client, session.get(User, org_admin.user_id), session.get(Organization, org_admin.org_id)
    )
    codes = [client.get("/api/v1/departments").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.mark.redis
def test_the_redis_store_is_shared_between_limiters():
    """Two processes (here: two limiters) on one Redis count together."""
    namespace = f"test-{uuid.uuid4().hex}"
    first = RateLimit(limit="2 per minute", storage_uri=REDIS_URL, namespace=namespace)
    second = RateLimit(limit="2 per minute", storage_uri=REDIS_URL, namespace=namespace)
    assert first.hit("token:1") is None and second.hit("token:1") is None
    wait = first.hit("token:1")
    assert wait is not None and 1 <= wait <= 60


def test_an_unreachable_store_lets_requests_through():
    limiter = RateLimit(
        limit="1 per minute", storage_uri="redis://127.0.0.1:1/0", namespace="unreachable"
    )
    assert limiter.hit("token:1") is None and limiter.hit("token:1") is None


def test_the_document_names_each_operation_s_scope(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    paths = spec["paths"]
    assert paths["/api/v1/timesheets"]["get"]["security"][0] == {"bearer": ["timesheets:read"]}
    assert paths["/api/v1/timesheets"]["post"]["security"][0] == {"bearer": ["timesheets:write"]}
    assert paths["/api/v1/headcount"]["get"]["security"][0] == {"bearer": ["reports:read"]}
    assert paths["/api/v1/me"]["get"]["security"][0] == {"bearer": []}
    assert "429" in paths["/api/v1/timesheets"]["get"]["responses"]


def test_a_malformed_limit_setting_is_refused_at_start(tmp_path):
    from fms.config import ConfigError
    from tests.conftest import make_app

    with pytest.raises(ConfigError, match="FMS_API_RATE_LIMIT"):
        make_app(tmp_path, FMS_API_RATE_LIMIT="lots")
