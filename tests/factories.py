"""Factory fixtures: real rows through the models, with sensible defaults to override."""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import pytest
from werkzeug.security import generate_password_hash

from fms.identity import services as identity
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.identity.permissions import STAFF_ROLES
from fms.identity.web_session import TOKEN_KEY
from fms.jobs import JobRun
from fms.tenancy import _ORG_KEY, session_org_id
from fms.workforce.models import CostCentre, Department, Freelancer, Location

PASSWORD = "correct-horse-battery-staple"
PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt")
_seq = itertools.count(1)


@contextmanager
def as_org(session, org_id):
    """Temporarily scope the session to one organization (factories write in any org)."""
    previous = session_org_id(session)
    session.info[_ORG_KEY] = org_id
    try:
        yield
    finally:
        session.info[_ORG_KEY] = previous


@pytest.fixture
def make_org(session):
    def make(**overrides) -> Organization:
        n = next(_seq)
        values = {"name": f"Org {n}", "slug": f"org-{n}", "base_currency": "EUR"}
        values.update(overrides)
        org = Organization(**values)
        session.add(org)
        session.flush()
        return org

    return make


@pytest.fixture
def make_user(session):
    def make(**overrides) -> User:
        n = next(_seq)
        values = {"email": f"person{n}@example.com", "name": f"Person {n}"}
        values["password_hash"] = PASSWORD_HASH
        values.update(overrides)
        user = User(**values)
        session.add(user)
        session.flush()
        return user

    return make


@pytest.fixture
def make_member(session, make_user):
    def make(org, roles=("org_admin",), user=None, **overrides) -> Membership:
        user = user or make_user()
        with as_org(session, org.id):
            membership = Membership(org_id=org.id, user_id=user.id, roles=sorted(roles))
            for key, value in overrides.items():
                setattr(membership, key, value)
            session.add(membership)
            session.flush()
        return membership

    return make


@pytest.fixture
def make_unit(session):
    models = {"department": Department, "cost_centre": CostCentre, "location": Location}

    def make(org, kind="department", **overrides):
        n = next(_seq)
        values = {"org_id": org.id, "code": f"U{n}", "name": f"Unit {n}"}
        if kind == "location":
            values.update(country="DE", city="Berlin")
        values.update(overrides)
        with as_org(session, org.id):
            unit = models[kind](**values)
            session.add(unit)
            session.flush()
        return unit

    return make


@pytest.fixture
def make_freelancer(session):
    def make(org, **overrides) -> Freelancer:
        n = next(_seq)
        values = {
            "org_id": org.id,
            "legal_name": f"Freelancer {n}",
            "display_name": f"Freelancer {n}",
            "email": f"freelancer{n}@example.net",
            "country": "DE",
            "timezone": "Europe/Berlin",
            "currency": "EUR",
        }
        values.update(overrides)
        with as_org(session, org.id):
            profile = Freelancer(**values)
            session.add(profile)
            session.flush()
        return profile

    return make


@pytest.fixture
def make_job_run(session):
    def make(org, **overrides) -> JobRun:
        values = {"id": f"{next(_seq):032x}", "org_id": org.id, "name": "fms.jobs.x", "args": []}
        values.update(overrides)
        with as_org(session, org.id):
            run = JobRun(**values)
            session.add(run)
            session.flush()
        return run

    return make


@pytest.fixture
def actor_of():
    def make(membership: Membership, **overrides) -> Actor:
        values = {
            "user_id": membership.user_id,
            "org_id": membership.org_id,
            "roles": frozenset(membership.roles),
            "ip": "127.0.0.1",
            "request_id": "test",
        }
        values.update(overrides)
        return Actor(**values)

    return make


@pytest.fixture
def sign_in(session):
    """Sign a test client in as a user without the password form (fast path)."""

    def do(client, user: User, org: Organization | None = None, method: str = "password"):
        started = identity.start_session(
            session,
            user=user,
            method=method,
            ip="127.0.0.1",
            user_agent="pytest",
            org_id=org.id if org else None,
        )
        session.commit()
        with client.session_transaction() as cookie:
            cookie.clear()
            cookie[TOKEN_KEY] = started.token
        return started

    return do


@pytest.fixture
def org_admin(make_org, make_member):
    """An organization with an admin holding every staff role."""
    org = make_org()
    membership = make_member(org, roles=STAFF_ROLES)
    return membership
