"""Single sign-on: OIDC and SAML connections, verified domains, SCIM and invitations."""

from __future__ import annotations

from fms.errors import DomainError


class SsoSignInFailed(DomainError):
    """An SSO sign-in was refused; `reason` is a short code for the audit log."""

    status = 401
    title = "Sign-in failed"

    def __init__(self, detail: str, *, reason: str, org_id: int | None, connection_id=None):
        super().__init__(detail)
        self.reason = reason
        self.org_id = org_id
        self.connection_id = connection_id
