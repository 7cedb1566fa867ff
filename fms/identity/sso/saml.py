"""SAML 2.0 service provider, one per connection, built with pysaml2 from the database.

pysaml2 is configured explicitly whatever its defaults: a signature by the IdP's key is
required on the response *or* on the assertion (Entra ID signs only the assertion), and
FMS itself adds what pysaml2 leaves to its caller: SHA-1 refused, DTDs refused before
parsing (XXE), the audience required to be ours, `Recipient` checked (pysaml2 does it only
when given `conv_info`), `InResponseTo` matched against requests kept on the server (the
IdP's cross-site POST arrives without our SameSite=Lax cookie), unsolicited responses
only where the organization allows them, and an assertion-ID replay cache.
"""

from __future__ import annotations

import base64
import binascii
import logging
import shutil
from datetime import UTC, datetime, timedelta

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string

from fms.identity.sso.models import SsoConnection

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 256 * 1024
CLOCK_SKEW_SECONDS = 60
_SHA1 = ("sha1", "rsa-sha1", "dsa-sha1")
_DS = "{http://www.w3.org/2000/09/xmldsig#}"
_SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"

EMAIL_ATTRIBUTES = (
    "email",
    "mail",
    "emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
)
NAME_ATTRIBUTES = (
    "displayName",
    "name",
    "cn",
    "http://schemas.microsoft.com/identity/claims/displayname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "urn:oid:2.16.840.1.113730.3.1.241",
)
GROUP_ATTRIBUTES = (
    "groups",
    "memberOf",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
)


class SamlError(Exception):
    """The IdP's answer cannot be trusted; `reason` goes to the audit log."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def xmlsec_binary() -> str:
    path = shutil.which("xmlsec1")
    if not path:
        raise SamlError("xmlsec1_missing", "SAML needs the xmlsec1 program (apt install xmlsec1).")
    return path


def urls(connection: SsoConnection, base_url: str) -> dict:
    base = base_url.rstrip("/") + f"/sso/saml/{connection.public_key}"
    return {"entity_id": base + "/metadata", "acs": base + "/acs", "metadata": base + "/metadata"}


def _config(connection: SsoConnection, base_url: str) -> SPConfig:
    addresses = urls(connection, base_url)
    settings = {
        "entityid": addresses["entity_id"],
        "xmlsec_binary": xmlsec_binary(),
        "crypto_backend": "xmlsec1",
        "accepted_time_diff": CLOCK_SKEW_SECONDS,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "name": f"FMS ({connection.name})",
                "endpoints": {
                    "assertion_consumer_service": [(addresses["acs"], BINDING_HTTP_POST)]
                },
                # one of the two must be signed by the IdP: see module docstring
                "want_response_signed": False,
                "want_assertions_signed": False,
                "want_assertions_or_response_signed": True,
                "authn_requests_signed": False,
                "allow_unsolicited": bool(connection.allow_idp_initiated),
                "name_id_format_allow_create": True,
            }
        },
    }
    if connection.idp_metadata_xml:
        settings["metadata"] = {"inline": [connection.idp_metadata_xml]}
    config = SPConfig()
    config.load(settings)
    return config


def client(connection: SsoConnection, base_url: str) -> Saml2Client:
    return Saml2Client(config=_config(connection, base_url))


def sp_metadata(connection: SsoConnection, base_url: str) -> str:
    """This organization's SP metadata, to upload at the IdP."""
    data = create_metadata_string(None, config=_config(connection, base_url), valid=None)
    return data.decode() if isinstance(data, bytes) else data


def parse_idp_metadata(xml: str) -> str:
    """The entity ID of an IdP metadata document; DTDs and anything but an IdP refused."""
    if not xml or len(xml) > 1024 * 1024:
        raise SamlError("bad_metadata", "Upload the identity provider's metadata XML.")
    try:
        root = SafeET.fromstring(xml, forbid_dtd=True)
    except (DefusedXmlException, SafeET.ParseError) as exc:
        raise SamlError("bad_metadata", f"The metadata is not usable XML: {exc}") from None
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    entity = root if root.tag == md + "EntityDescriptor" else root.find(md + "EntityDescriptor")
    if entity is None or entity.find(md + "IDPSSODescriptor") is None:
        raise SamlError("bad_metadata", "This metadata describes no identity provider.")
    entity_id = entity.get("entityID")
    if not entity_id:
        raise SamlError("bad_metadata", "The metadata has no entityID.")
    return entity_id


def begin(connection: SsoConnection, base_url: str, *, relay_state: str) -> tuple[str, str]:
    """An AuthnRequest by HTTP-Redirect: (request id, URL to send the browser to)."""
    sp = client(connection, base_url)
    try:
        request_id, info = sp.prepare_for_authenticate(
            entityid=connection.idp_entity_id,
            relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT,
        )
    except Exception as exc:  # pysaml2 raises many kinds for unusable metadata
        raise SamlError("bad_metadata", f"The IdP's metadata is not usable: {exc}") from None
    location = dict(info["headers"])["Location"]
    return request_id, location


def precheck(saml_response: str) -> tuple[bytes, str | None]:
    """Decode and inspect the raw response before pysaml2 does: size, DTD (XXE), SHA-1.
    Returns the XML and its InResponseTo."""
    if not saml_response or len(saml_response) > MAX_RESPONSE_BYTES:
        raise SamlError("bad_response", "The identity provider sent no usable answer.")
    try:
        xml = base64.b64decode(saml_response, validate=False)
        root = SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True)
    except (binascii.Error, ValueError, DefusedXmlException, SafeET.ParseError):
        raise SamlError("bad_response", "The identity provider's answer is not valid.") from None
    if root.tag != _SAMLP + "Response":
        raise SamlError("bad_response", "The identity provider's answer is not a SAML response.")
    for tag in ("SignatureMethod", "DigestMethod"):
        for element in root.iter(_DS + tag):
            algorithm = (element.get("Algorithm") or "").lower()
            if algorithm.endswith(_SHA1):
                raise SamlError(
                    "sha1_refused", "The identity provider signs with SHA-1, which FMS refuses."
                )
    return xml, root.get("InResponseTo")


def parse(
    connection: SsoConnection,
    base_url: str,
    *,
    saml_response: str,
    outstanding: dict[str, str],
    remote_addr: str | None,
):
    """pysaml2's verdict on a response, with Recipient and audience checked too."""
    addresses = urls(connection, base_url)
    sp = client(connection, base_url)
    try:
        response = sp.parse_authn_request_response(
            saml_response,
            BINDING_HTTP_POST,
            outstanding=outstanding,
            conv_info={
                "entity_id": addresses["entity_id"],
                "remote_addr": remote_addr,
                "request_uri": addresses["acs"],
            },
        )
    except Exception as exc:  # pysaml2 signals every refusal with an exception
        reason = "expired" if _expired(saml_response) else _reason(exc)
        log.info("SAML response refused for connection %r: %s", connection.id, reason)
        raise SamlError(reason, _message(reason)) from None
    if response is None or response.assertion is None:
        raise SamlError("bad_response", "The identity provider's answer holds no assertion.")
    if response.issuer() != connection.idp_entity_id:
        raise SamlError("wrong_issuer", "The answer came from another identity provider.")
    conditions = response.assertion.conditions
    audiences = [
        (audience.text or "").strip()
        for restriction in (conditions.audience_restriction if conditions else [])
        for audience in restriction.audience
    ]
    if addresses["entity_id"] not in audiences:
        raise SamlError("wrong_audience", _message("wrong_audience"))
    return response


def _expired(saml_response: str) -> bool:
    """Whether the (refused) response's assertion is past its NotOnOrAfter: pysaml2 reports
    that as a generic verification error, admins need to hear "expired" (clock skew?)."""
    try:
        root = SafeET.fromstring(base64.b64decode(saml_response), forbid_dtd=True)
    except Exception:
        return False
    now = datetime.now(UTC)
    for element in root.iter():
        value = element.get("NotOnOrAfter")
        if value:
            try:
                if _parse_time(value) <= now:
                    return True
            except ValueError:
                continue
    return False


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    text = str(exc).lower()
    if "audience" in text or name == "AudienceError":
        return "wrong_audience"
    if name in ("ResponseLifetimeExceed", "ToEarly") or "lifetime" in text or "too old" in text:
        return "expired"
    if (
        "signature" in text
        or "signed" in text
        or name in ("SignatureError", "SigverError", "MissingKey")
    ):
        return "bad_signature"
    if name == "UnsolicitedResponse" or "unsolicited" in text:
        return "unsolicited"
    if "recipient" in text:
        return "wrong_recipient"
    return "invalid_response:" + name[:40]


def _message(reason: str) -> str:
    return {
        "wrong_audience": "The answer was meant for another service.",
        "expired": "The identity provider's answer has expired. Sign in again.",
        "bad_signature": "The identity provider's answer is not signed with its key.",
        "unsolicited": "FMS did not ask for this sign-in. Start from the sign-in page.",
        "wrong_recipient": "The answer was addressed to another service.",
    }.get(reason, "The identity provider's answer was refused.")


def not_on_or_after(response) -> datetime:
    """When the assertion stops being valid: how long its ID is kept for replay checks."""
    for subject_confirmation in response.assertion.subject.subject_confirmation or []:
        data = subject_confirmation.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            return _parse_time(data.not_on_or_after)
    conditions = response.assertion.conditions
    if conditions is not None and conditions.not_on_or_after:
        return _parse_time(conditions.not_on_or_after)
    return datetime.now(UTC) + timedelta(hours=1)


def _parse_time(value: str) -> datetime:
    value = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed + timedelta(seconds=CLOCK_SKEW_SECONDS)


def identity_of(response, *, attribute_names=None) -> dict:
    """Subject, email, name and groups from a verified response."""
    attributes = response.ava or {}
    lowered = {k.lower(): v for k, v in attributes.items()}

    def first(names):
        for name in names:
            values = lowered.get(name.lower())
            if values:
                return values[0]
        return None

    groups: list[str] = []
    for name in GROUP_ATTRIBUTES:
        groups.extend(lowered.get(name.lower()) or [])
    name_id = response.assertion.subject.name_id
    subject = (name_id.text or "").strip() if name_id is not None else ""
    email = first(EMAIL_ATTRIBUTES)
    if not email and name_id is not None and "emailAddress" in (name_id.format or ""):
        email = subject
    return {"subject": subject, "email": email, "name": first(NAME_ATTRIBUTES), "groups": groups}
