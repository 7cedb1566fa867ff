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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.extension.algsupport import DigestMethod, SigningMethod
from saml2.metadata import entity_descriptor, metadata_tostring_fix
from saml2.sigver import MissingKey, SignatureError, SigverError
from saml2.validate import valid_instance

from fms.identity.sso.models import SsoConnection

log = logging.getLogger(__name__)
# pysaml2 logs whole responses (assertions, personal data) at every level, refusals
# included; FMS logs its own reason codes instead
logging.getLogger("saml2").setLevel(logging.CRITICAL)

MAX_RESPONSE_BYTES = 256 * 1024
CLOCK_SKEW_SECONDS = 60
_DS = "{http://www.w3.org/2000/09/xmldsig#}"
_SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
_SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
# the allow-list: SHA-256 and stronger (xmlsec1 as packaged offers no RSA-PSS)
SIGNATURE_ALGORITHMS = (
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
)
DIGEST_ALGORITHMS = (
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
)
CANONICALIZATIONS = (
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
)
# enveloped signatures canonicalised: never XSLT or XPath (code run on our side)
TRANSFORMS = ("http://www.w3.org/2000/09/xmldsig#enveloped-signature", *CANONICALIZATIONS)
SIGNATURE_ERRORS = (SignatureError, SigverError, MissingKey)

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
    """This organization's SP metadata, to upload at the IdP. It advertises the algorithms
    FMS accepts (pysaml2 would list whatever xmlsec1 supports, MD5 included)."""
    descriptor = entity_descriptor(_config(connection, base_url))
    if descriptor.extensions is not None:
        descriptor.extensions.extension_elements = [
            element
            for element in descriptor.extensions.extension_elements
            if element.tag not in ("SigningMethod", "DigestMethod")
        ]
        descriptor.extensions.add_extension_elements(
            [DigestMethod(algorithm=a) for a in DIGEST_ALGORITHMS]
            + [SigningMethod(algorithm=a) for a in SIGNATURE_ALGORITHMS]
        )
    valid_instance(descriptor)
    data = metadata_tostring_fix(descriptor, {"xs": "http://www.w3.org/2001/XMLSchema"}, None)
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


@dataclass(frozen=True)
class Checked:
    """What FMS read from a response itself, before pysaml2 verifies it."""

    xml: bytes
    in_response_to: str | None
    assertion_id: str
    response_signed: bool
    assertion_signed: bool


def precheck(saml_response: str) -> Checked:
    """Decode and inspect the raw response before pysaml2 does, each check with its own
    reason: size and DTD (XXE), one assertion where it belongs and every signature over its
    own parent (signature wrapping), the algorithms of every signature (allow-list), and a
    signature on the response or the assertion."""
    if not saml_response or len(saml_response) > MAX_RESPONSE_BYTES:
        raise SamlError("bad_response", "The identity provider sent no usable answer.")
    try:
        xml = base64.b64decode(saml_response, validate=False)
        root = SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True)
    except (binascii.Error, ValueError, DefusedXmlException, SafeET.ParseError):
        raise SamlError("bad_response", "The identity provider's answer is not valid.") from None
    if root.tag != _SAMLP + "Response":
        raise SamlError("bad_response", "The identity provider's answer is not a SAML response.")
    if any(True for _ in root.iter(_SAML + "EncryptedAssertion")):
        raise SamlError("encrypted_assertion", _message("encrypted_assertion"))
    assertions = list(root.iter(_SAML + "Assertion"))
    if not assertions:
        raise SamlError("no_assertion", _message("no_assertion"))
    assertion = assertions[0]
    if len(assertions) > 1 or assertion not in list(root):
        raise SamlError("xsw", _message("xsw"))  # one assertion, a child of the response
    ids = [e.get("ID") for e in root.iter() if e.get("ID") is not None]
    if len(ids) != len(set(ids)) or not assertion.get("ID"):
        raise SamlError("xsw", _message("xsw"))
    parents = {child: parent for parent in root.iter() for child in parent}
    signed_parents = []
    for signature in root.iter(_DS + "Signature"):
        parent = parents.get(signature)
        if parent is not root and parent is not assertion:
            raise SamlError("xsw", _message("xsw"))  # a signature somewhere else
        _check_signature(signature, parent)
        signed_parents.append(parent)
    if not signed_parents:
        raise SamlError("unsigned", _message("unsigned"))
    return Checked(
        xml=xml,
        in_response_to=root.get("InResponseTo"),
        assertion_id=assertion.get("ID"),
        response_signed=any(p is root for p in signed_parents),
        assertion_signed=any(p is assertion for p in signed_parents),
    )


def _check_signature(signature, parent) -> None:
    """One enveloped signature over its parent, with allowed algorithms only."""
    signed_info = signature.find(_DS + "SignedInfo")
    if signed_info is None:
        raise SamlError("signature_invalid", _message("signature_invalid"))
    method = signed_info.find(_DS + "SignatureMethod")
    if method is None or method.get("Algorithm") not in SIGNATURE_ALGORITHMS:
        raise SamlError("weak_algorithm", _message("weak_algorithm"))
    c14n = signed_info.find(_DS + "CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALIZATIONS:
        raise SamlError("transform_refused", _message("transform_refused"))
    references = signed_info.findall(_DS + "Reference")
    if len(references) != 1 or references[0].get("URI") != "#" + (parent.get("ID") or ""):
        raise SamlError("xsw", _message("xsw"))  # it must sign the element it sits in
    digest = references[0].find(_DS + "DigestMethod")
    if digest is None or digest.get("Algorithm") not in DIGEST_ALGORITHMS:
        raise SamlError("weak_algorithm", _message("weak_algorithm"))
    for transform in references[0].iter(_DS + "Transform"):
        if transform.get("Algorithm") not in TRANSFORMS:
            raise SamlError("transform_refused", _message("transform_refused"))


def check_conditions(checked: Checked, *, entity_id: str, acs: str, idp_entity_id: str) -> None:
    """Issuer, validity window, audience and recipient, read from the response itself: each
    refusal says which of them failed (pysaml2 checks them again, with its signature)."""
    root = SafeET.fromstring(checked.xml, forbid_dtd=True, forbid_entities=True)
    assertion = root.find(_SAML + "Assertion")
    issuers = [
        e.text.strip()
        for e in (root.find(_SAML + "Issuer"), assertion.find(_SAML + "Issuer"))
        if e is not None and e.text
    ]
    if not issuers or any(i != idp_entity_id for i in issuers):
        raise SamlError("wrong_issuer", _message("wrong_issuer"))
    now = datetime.now(UTC)
    skew = timedelta(seconds=CLOCK_SKEW_SECONDS)
    conditions = assertion.find(_SAML + "Conditions")
    confirmations = list(assertion.iter(_SAML + "SubjectConfirmationData"))
    windows = [e for e in [conditions, *confirmations] if e is not None]
    starts = [_read_time(e.get("NotBefore")) for e in windows if e.get("NotBefore")]
    ends = [_read_time(e.get("NotOnOrAfter")) for e in windows if e.get("NotOnOrAfter")]
    if any(start - skew > now for start in starts):
        raise SamlError("not_yet_valid", _message("not_yet_valid"))
    if any(end + skew <= now for end in ends):
        raise SamlError("expired", _message("expired"))
    audiences = [
        (audience.text or "").strip()
        for audience in (conditions.iter(_SAML + "Audience") if conditions is not None else [])
    ]
    if entity_id not in audiences:
        raise SamlError("wrong_audience", _message("wrong_audience"))
    destination = root.get("Destination")
    recipients = [c.get("Recipient") for c in confirmations if c.get("Recipient")]
    if (destination is not None and destination != acs) or any(r != acs for r in recipients):
        raise SamlError("wrong_recipient", _message("wrong_recipient"))


def _read_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SamlError("bad_response", "The identity provider's answer has a bad time.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(
    connection: SsoConnection,
    base_url: str,
    *,
    saml_response: str,
    outstanding: dict[str, str],
    remote_addr: str | None,
    checked: Checked | None = None,
):
    """pysaml2's verdict on a response FMS has checked itself first (see `precheck` and
    `check_conditions`): what is left for pysaml2 to refuse is the signature."""
    addresses = urls(connection, base_url)
    checked = checked or precheck(saml_response)
    check_conditions(
        checked,
        entity_id=addresses["entity_id"],
        acs=addresses["acs"],
        idp_entity_id=connection.idp_entity_id or "",
    )
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
    except SIGNATURE_ERRORS:
        reason = "signature_invalid"
        log.info("SAML response refused for connection %r: %s", connection.id, reason)
        raise SamlError(reason, _message(reason)) from None
    except Exception as exc:  # pysaml2 signals every refusal with an exception
        # everything FMS can name was checked above; the class says which pysaml2 check
        reason = "refused_by_pysaml2:" + type(exc).__name__[:40]
        log.info("SAML response refused for connection %r: %s", connection.id, reason)
        raise SamlError(reason, _message(reason)) from None
    if response is None or response.assertion is None:
        raise SamlError("no_assertion", _message("no_assertion"))
    if response.assertion.id != checked.assertion_id:
        raise SamlError("xsw", _message("xsw"))  # pysaml2 used another assertion
    if response.issuer() != connection.idp_entity_id:
        raise SamlError("wrong_issuer", _message("wrong_issuer"))
    conditions = response.assertion.conditions
    audiences = [
        (audience.text or "").strip()
        for restriction in (conditions.audience_restriction if conditions else [])
        for audience in restriction.audience
    ]
    if addresses["entity_id"] not in audiences:
        raise SamlError("wrong_audience", _message("wrong_audience"))
    return response


def _message(reason: str) -> str:
    return {
        "weak_algorithm": "The identity provider signs with an algorithm FMS refuses "
        "(SHA-256 or stronger is required).",
        "transform_refused": "The identity provider's signature uses a transform FMS refuses.",
        "signature_invalid": "The identity provider's answer is not signed with its key.",
        "unsigned": "The identity provider's answer is not signed.",
        "xsw": "The identity provider's answer is not shaped as a signed SAML response "
        "(one signed assertion) and was refused.",
        "no_assertion": "The identity provider's answer holds no assertion.",
        "encrypted_assertion": "The identity provider encrypts its assertions; FMS needs them "
        "signed, not encrypted.",
        "wrong_issuer": "The answer came from another identity provider.",
        "wrong_audience": "The answer was meant for another service.",
        "not_yet_valid": "The identity provider's answer is not valid yet. Check the clocks "
        "of the identity provider and FMS.",
        "expired": "The identity provider's answer has expired. Sign in again.",
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


def probe(connection: SsoConnection) -> dict:
    """ "Test connection" for SAML: the IdP's metadata (fetched again from its URL when it
    has one), its entity ID, signing certificates and their expiry, and SSO bindings."""
    from cryptography import x509

    from fms import outbound
    from fms.errors import InvalidInput

    findings: list[dict] = []
    details: dict = {}

    def note(level: str, text: str) -> None:
        findings.append({"level": level, "text": text})

    xml = connection.idp_metadata_xml or ""
    if connection.idp_metadata_url:
        try:
            response = outbound.fetch(connection.idp_metadata_url, field="idp_metadata_url")
            response.raise_for_status()
            xml = response.text
            note("ok", "Metadata fetched from its URL.")
        except InvalidInput as exc:
            note("error", f"Metadata URL refused: {exc.detail}")
        except Exception as exc:  # noqa: BLE001 - requests' errors; reported, not raised
            log.warning("SAML metadata fetch for %r failed: %r", connection.id, type(exc))
            note("error", "The metadata URL did not answer; showing the saved metadata.")
    try:
        entity_id = parse_idp_metadata(xml)
    except SamlError as exc:
        note("error", exc.message)
        return {"ok": False, "findings": findings, "details": details}
    details["entity_id"] = entity_id
    if entity_id == connection.idp_entity_id:
        note("ok", f"Entity ID: {entity_id}")
    else:
        note(
            "warning",
            f"The metadata names {entity_id}; the connection has "
            f"{connection.idp_entity_id}. Save the connection to take the new metadata.",
        )
    root = SafeET.fromstring(xml, forbid_dtd=True)
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    idp = next(root.iter(md + "IDPSSODescriptor"))
    bindings = sorted({s.get("Binding", "") for s in idp.iter(md + "SingleSignOnService")})
    details["sso_bindings"] = bindings
    if BINDING_HTTP_REDIRECT in bindings:
        note("ok", "Single sign-on by HTTP-Redirect (what FMS sends) is offered.")
    else:
        note("error", "The IdP offers no HTTP-Redirect single sign-on binding, which FMS uses.")
    certificates = []
    now = datetime.now(UTC)
    for descriptor in idp.iter(md + "KeyDescriptor"):
        if descriptor.get("use") not in (None, "signing"):
            continue
        for element in descriptor.iter(_DS + "X509Certificate"):
            try:
                der = base64.b64decode("".join((element.text or "").split()))
                cert = x509.load_der_x509_certificate(der)
            except (ValueError, binascii.Error):
                note("error", "A signing certificate in the metadata cannot be read.")
                continue
            expires = cert.not_valid_after_utc
            certificates.append({"subject": cert.subject.rfc4514_string(), "expires": expires})
            days = (expires - now).days
            if expires <= now:
                note("error", f"Signing certificate expired on {expires:%Y-%m-%d}.")
            elif days < 30:
                note("warning", f"Signing certificate expires in {days} days ({expires:%Y-%m-%d}).")
            else:
                note("ok", f"Signing certificate valid until {expires:%Y-%m-%d}.")
    if not certificates:
        note("error", "The metadata holds no signing certificate.")
    details["certificates"] = [
        {"subject": c["subject"], "expires": c["expires"].isoformat()} for c in certificates
    ]
    ok = not any(f["level"] == "error" for f in findings)
    return {"ok": ok, "findings": findings, "details": details}
