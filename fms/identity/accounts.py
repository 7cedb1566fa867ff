"""A person's own account: password links (reset, first password) and TOTP.

Only the person sets their password — through a mailed, single-use, expiring link
(`PasswordLink`, the same signed-link mechanism as invitations) — never an admin.
TOTP (RFC 6238, pyotp) is the second factor for local passwords; break-glass admins
need it to enter an organization that requires single sign-on.

Services flush and never commit.
"""

from __future__ import annotations

from datetime import timedelta

import pyotp
from flask import render_template
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.encryption import decrypt, encrypt
from fms.errors import InvalidInput, RuleViolation
from fms.identity import links
from fms.identity.actor import Actor
from fms.identity.models import PasswordLink, User
from fms.identity.services import (
    end_sessions,
    hash_password,
    normalise_email,
    organizations_of,
)
from fms.timekeeping import utcnow

PASSWORD_LINK_VALIDITY = timedelta(hours=1)
TOTP_ISSUER = "FMS"


class LinkRefused(RuleViolation):
    """A password link that is not genuine, was used, or expired."""

    status = 400
    title = "This link cannot be used"


def _record(session: Session, user: User, action: str, *, ip: str | None = None) -> None:
    """An account's security changes go to the audit log of every organization the person
    works in (each sees that it happened to one of its people; no values)."""
    for org in organizations_of(session, user.id):
        actor = Actor(user_id=user.id, org_id=org.id, ip=ip, channel="web")
        audit.record(session, actor, action, user, org_id=org.id)


# --- password links ------------------------------------------------------------------------


def request_password_reset(session: Session, *, email: str, ip: str | None) -> None:
    """Mail a reset link to the address if it has an active account; say nothing either way
    (the page answers the same, so it reveals no accounts)."""
    from fms.notifications.services import queue_mail

    try:
        email = normalise_email(email)
    except InvalidInput:
        return
    user = session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
    if user is None:
        return
    link, url = new_password_link(session, valid_for=PASSWORD_LINK_VALIDITY, ip=ip, user_id=user.id)
    queue_mail(
        session,
        org_id=None,
        kind="password_reset",
        to=user.email,
        subject="Set your FMS password",
        body_text=render_template(
            "mail/password_reset.txt", name=user.name, link=url, expires_at=link.expires_at
        ),
    )


def new_password_link(session: Session, *, valid_for: timedelta, ip: str | None, **owner):
    """A fresh password link row (for `user_id`, or an invitation's new account: `email`,
    `name`, `invitation_id`) and the URL to mail; only the secret's hash is stored."""
    secret, secret_hash = links.new_secret()
    link = PasswordLink(
        secret_hash=secret_hash, expires_at=utcnow() + valid_for, requested_ip=ip, **owner
    )
    session.add(link)
    session.flush()
    url = links.absolute_url("/password/reset/" + links.token_for("password", link.id, secret))
    return link, url


def open_password_link(session: Session, *, token: str) -> PasswordLink:
    """The link's row if it is genuine, unused and not expired."""
    read = links.read_token("password", token)
    link = session.get(PasswordLink, read[0]) if read else None
    if link is None or not links.matches(link.secret_hash, read[1]):
        raise LinkRefused("This link is not valid. Ask for a new one.")
    if link.used_at is not None:
        raise LinkRefused("This link was already used. Ask for a new one if you need it.")
    if link.expires_at <= utcnow():
        raise LinkRefused("This link has expired. Ask for a new one.")
    return link


def set_password_with_link(
    session: Session, *, token: str, password: str, ip: str | None = None
) -> User:
    """Use the link once: the new password applies and every session of the account ends
    (or, for an invitation's new account, the account and its membership begin)."""
    link = open_password_link(session, token=token)
    password_hash = hash_password(password)
    used = session.execute(
        update(PasswordLink)
        .where(PasswordLink.id == link.id, PasswordLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        raise LinkRefused("This link was already used. Ask for a new one if you need it.")
    if link.user_id is None:  # an invitation's new account: it begins now
        from fms.identity.sso import invitations

        return invitations.create_invited_account(
            session, link=link, password_hash=password_hash, ip=ip
        )
    user = session.get(User, link.user_id)
    user.password_hash = password_hash
    # other links of the account stop working too: the newest decision wins
    session.execute(
        update(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    end_sessions(session, user_id=user.id, org_id=None, reason="password_changed")
    session.flush()
    _record(session, user, "user.password_set")
    return user


# --- TOTP ----------------------------------------------------------------------------------


def totp_enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret_encrypted)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def totp_qr_svg(uri: str) -> str:
    """The setup link as an inline SVG QR code (no script, no data: URL for the CSP)."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=4, title="Scan with your authenticator app")


def _matching_step(secret: str, code: str, *, now=None) -> int | None:
    """The time step a code belongs to (this one or its neighbours, for clock drift)."""
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    moment = now or utcnow()
    for offset in (0, -1, 1):
        at = moment + timedelta(seconds=offset * totp.interval)
        if totp.verify(code, for_time=at, valid_window=0):
            return totp.timecode(at)
    return None


def enable_totp(session: Session, *, user: User, secret: str, code: str) -> User:
    """Turn TOTP on once the person proves their app has the secret (a correct code)."""
    if totp_enabled(user):
        raise RuleViolation("Two-step verification is already on.")
    step = _matching_step(secret, code)
    if step is None:
        raise InvalidInput(
            "That code does not match. Check your app's clock and try the current code.",
            errors={"code": ["Wrong code."]},
        )
    user.totp_secret_encrypted = encrypt(secret)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    session.flush()
    _record(session, user, "user.totp_enabled")
    return user


def verify_totp(session: Session, *, user: User, code: str) -> bool:
    """Check a sign-in code; each code is accepted once (a conditional update on the step)."""
    secret = decrypt(user.totp_secret_encrypted) if totp_enabled(user) else None
    if not secret:
        return False
    step = _matching_step(secret, code)
    if step is None:
        return False
    taken = session.execute(
        update(User)
        .where(
            User.id == user.id,
            (User.totp_last_step.is_(None)) | (User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    return taken == 1


def disable_totp(session: Session, *, user: User, code: str) -> User:
    """Turn TOTP off; it takes a current code, so a borrowed session cannot. Break-glass
    admins keep it (it is what lets them in when single sign-on is required)."""
    from fms.identity.models import Membership
    from fms.tenancy import ALL_TENANTS

    glass = session.scalar(
        select(Membership.id)
        .where(
            Membership.user_id == user.id,
            Membership.is_active.is_(True),
            Membership.break_glass.is_(True),
        )
        .execution_options(**{ALL_TENANTS: True})
    )
    if glass is not None:
        raise RuleViolation(
            "You are a break-glass admin: two-step verification stays on. Ask another org "
            "admin to remove your break-glass access first."
        )
    if not verify_totp(session, user=user, code=code):
        raise InvalidInput("That code does not match.", errors={"code": ["Wrong code."]})
    user.totp_secret_encrypted = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.flush()
    _record(session, user, "user.totp_disabled")
    return user


# --- preferences ---------------------------------------------------------------------------


def set_locale(session: Session, *, user: User, locale: str | None) -> User:
    """The person's own locale for numbers, dates and money; empty follows the organization."""
    from fms import formatting

    if locale in (None, ""):
        chosen = None
    else:
        try:
            chosen = formatting.check_locale(locale)
        except formatting.LocaleError as exc:
            raise InvalidInput(
                "Check the highlighted fields.", errors={"locale": [str(exc)]}
            ) from exc
    if user.locale != chosen:
        user.locale = chosen
        _record(session, user, "user.locale_changed")
    session.flush()
    return user
