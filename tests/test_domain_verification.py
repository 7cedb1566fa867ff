"""Claimed email domains are verified by their DNS TXT token (FMS_DOMAIN_VERIFICATION=dns)."""

import pytest

from fms.errors import RuleViolation
from fms.identity.sso import services as sso
from fms.tenancy import scope_session
from tests.factories_identity_sso import _admin_actor


@pytest.fixture
def dns_mode(app, monkeypatch):
    monkeypatch.setitem(app.config, "FMS_DOMAIN_VERIFICATION", "dns")


@pytest.fixture
def claim(session, make_org):
    org = make_org()
    scope_session(session, org.id)
    actor = _admin_actor(org)
    return actor, sso.add_domain(session, actor=actor, domain="acme.example")


def test_unpublished_token_is_refused(dns_mode, session, claim, monkeypatch):
    actor, domain = claim
    monkeypatch.setattr(sso, "txt_records", lambda name: ["v=spf1 -all"])
    with pytest.raises(RuleViolation, match="was not found at acme.example"):
        sso.verify_domain(session, actor=actor, domain_id=domain.id)
    assert domain.verified_at is None and domain.verified_domain is None


def test_published_token_verifies(dns_mode, session, claim, monkeypatch):
    actor, domain = claim
    asked = []
    monkeypatch.setattr(
        sso, "txt_records", lambda name: asked.append(name) or [domain.verification_token]
    )
    sso.verify_domain(session, actor=actor, domain_id=domain.id)
    assert asked == ["acme.example"] and domain.verified_domain == "acme.example"


def test_dns_failures_read_as_no_records(monkeypatch):
    import dns.resolver

    def fail(*args, **kwargs):
        raise dns.resolver.NXDOMAIN()

    monkeypatch.setattr(dns.resolver, "resolve", fail)
    assert sso.txt_records("nothing-here.example") == []
