"""The demo organization's single sign-on (connections to the bundled test IdPs)."""

from sqlalchemy import func, select

from fms.identity.actor import system_actor
from fms.identity.models import Organization
from fms.identity.sso.demo import load_sso_demo
from fms.identity.sso.models import SsoConnection, SsoDomain
from tests.factories import as_org


def test_load_sso_demo_is_idempotent(session, org_admin):
    org = session.get(Organization, org_admin.org_id)
    with as_org(session, org.id):
        lines = load_sso_demo(session, org=org, actor=system_actor(org.id))
        load_sso_demo(session, org=org, actor=system_actor(org.id))
        connections = session.scalars(select(SsoConnection).order_by(SsoConnection.id)).all()
        domains = session.scalar(select(func.count(SsoDomain.id)))
    assert [(c.protocol, c.audience) for c in connections] == [
        ("oidc", "staff"),
        ("oidc", "freelancers"),
        ("saml", "staff"),
    ]
    assert domains == 2  # the verified demo domain and the subsidiary waiting for its check
    assert connections[0].group_roles["fms-admins"] == ["org_admin"]
    assert any("single sign-on" in line for line in lines)
