"""Single sign-on for the demo organization: connections to the bundled test IdPs.

`make run` starts them (tests/idp/): an OpenID Provider (npm oidc-provider) on
http://127.0.0.1:9010 and a SAML IdP (pysaml2) on http://127.0.0.2:9020. Their demo
accounts are in tests/idp/demo-accounts.json. Safe to run again: what exists is kept, and
the SAML metadata is refreshed when the IdP answers.
"""

from __future__ import annotations

import logging

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.encryption import encrypt
from fms.identity.actor import Actor
from fms.identity.models import Organization
from fms.identity.sso import saml
from fms.identity.sso.models import SsoConnection, SsoDomain
from fms.timekeeping import utcnow

log = logging.getLogger(__name__)

OIDC_ISSUER = "http://127.0.0.1:9010"
OIDC_CLIENT_ID = "fms"
OIDC_CLIENT_SECRET = "fms-demo-idp-client-secret"  # noqa: S105 - the bundled test IdP's
SAML_METADATA_URL = "http://127.0.0.2:9020/metadata"
DEMO_DOMAIN = "northbridge.example"
GROUP_ROLES = {
    "fms-admins": ["org_admin"],
    "fms-managers": ["hiring_manager"],
    "fms-procurement": ["procurement"],
}


def _fetch_saml_metadata() -> str | None:
    try:
        response = requests.get(SAML_METADATA_URL, timeout=3)
        response.raise_for_status()
        saml.parse_idp_metadata(response.text)
        return response.text
    except (requests.RequestException, saml.SamlError):
        return None


SUBSIDIARY_DOMAIN = "northbridge-grid.example"


def load_sso_demo(session: Session, *, org: Organization, actor: Actor) -> list[str]:
    """Give the demo organization working OIDC and SAML connections (idempotent); returns
    lines to print."""
    lines: list[str] = []
    existing = {
        c.name: c
        for c in session.scalars(select(SsoConnection).where(SsoConnection.org_id == org.id))
    }
    if session.scalar(select(SsoDomain.id).where(SsoDomain.verified_domain == DEMO_DOMAIN)) is None:
        claim = SsoDomain(
            org_id=org.id, domain=DEMO_DOMAIN, verified_domain=DEMO_DOMAIN, verified_at=utcnow()
        )
        session.add(claim)
        session.flush()
        audit.record(session, actor, "sso_domain.verified", claim, after={"domain": DEMO_DOMAIN})
        # the subsidiary's domain is claimed but not verified yet: the org admin's first to-do
        session.add(SsoDomain(org_id=org.id, domain=SUBSIDIARY_DOMAIN))
        session.flush()

    def add(name: str, **values) -> SsoConnection:
        connection = existing.get(name)
        if connection is None:
            connection = SsoConnection(org_id=org.id, name=name, **values)
            session.add(connection)
            session.flush()
            audit.record(
                session,
                actor,
                "sso_connection.created",
                connection,
                after={"name": name, "protocol": connection.protocol, "demo": True},
            )
        return connection

    oidc_values = {
        "protocol": "oidc",
        "issuer": OIDC_ISSUER,
        "client_id": OIDC_CLIENT_ID,
        "client_secret_encrypted": encrypt(OIDC_CLIENT_SECRET),
        "scopes": "openid email profile groups",
    }
    add(
        "Northbridge OIDC (bundled test IdP)",
        audience="staff",
        group_roles=dict(GROUP_ROLES),
        **oidc_values,
    )
    add("Guest accounts (bundled test IdP)", audience="freelancers", **oidc_values)
    metadata = _fetch_saml_metadata()
    connection = add(
        "Northbridge SAML (bundled test IdP)",
        protocol="saml",
        audience="staff",
        group_roles=dict(GROUP_ROLES),
        is_active=metadata is not None,
        idp_metadata_url=SAML_METADATA_URL,
        idp_metadata_xml=metadata,
        idp_entity_id=saml.parse_idp_metadata(metadata) if metadata else None,
    )
    if metadata and connection.idp_metadata_xml != metadata:
        connection.idp_metadata_xml = metadata
        connection.idp_entity_id = saml.parse_idp_metadata(metadata)
        connection.is_active = True
    session.flush()
    lines.append(
        f"Single sign-on: people @{DEMO_DOMAIN} can continue with single sign-on at /login "
        f"(bundled OpenID Provider at {OIDC_ISSUER}; accounts in tests/idp/demo-accounts.json,"
        " any password)."
    )
    if metadata:
        lines.append(
            f"SAML: /sso/saml/{connection.public_key}/start signs in through the bundled "
            "SAML IdP on 127.0.0.2."
        )
    else:
        lines.append(
            "SAML: the bundled SAML IdP did not answer, so its connection is switched off; "
            "`make run` starts it (needs xmlsec1)."
        )
    return lines
