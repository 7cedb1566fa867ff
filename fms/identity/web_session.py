"""Per-request sign-in state: cookie token -> server-side session -> Actor.

The browser's cookie (signed by Flask) carries only a random token; everything else is in
`SignInSession` on the server, looked up on every request. The current organization is
carried by that server-side session and changed only through "switch organization".
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, current_app, g, request, session
from werkzeug.exceptions import Unauthorized

from fms.extensions import db, login_manager
from fms.identity import services
from fms.identity.models import User
from fms.jobs import ACTOR_KEY
from fms.tenancy import scope_session

TOKEN_KEY = "sid"  # noqa: S105 - the cookie key, not a secret
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def init_app(app) -> None:
    login_manager.login_view = "identity.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # the server-side session does this job
    login_manager.request_loader(lambda _request: g.get("user"))
    login_manager.unauthorized_handler(_unauthorized)
    app.before_request(load_sign_in)


def _unauthorized():
    from flask import flash, redirect, url_for

    if request.path.startswith("/api/"):
        raise Unauthorized("Sign in first, or send `Authorization: Bearer <token>`.")
    flash(login_manager.login_message, "info")
    return redirect(url_for("identity.login", next=request.full_path.rstrip("?")))


def load_sign_in() -> None:
    """Build g.actor for this request (or leave it None), scoping the db session."""
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.actor = g.user = g.sign_in = None
    g.pop("_login_user", None)  # Flask-Login's cache: only what this request loads counts
    scope_session(db.session, None)
    if request.endpoint == "static" or request.path == "/healthz":
        return
    if request.path.startswith("/api/") and _has_bearer():
        return  # a token request: fms.api.auth authenticates it, and no cookie is used
    token = session.get(TOKEN_KEY)
    if not token:
        return
    config = current_app.config
    record = services.find_session(
        db.session,
        token=token,
        idle=timedelta(minutes=config["FMS_SESSION_IDLE_MINUTES"]),
        absolute=timedelta(hours=config["FMS_SESSION_MAX_HOURS"]),
    )
    channel = "api" if request.path.startswith("/api/") else "web"
    actor = None
    if record is not None:
        actor = services.actor_for(
            db.session, record, ip=client_ip(), request_id=g.request_id, channel=channel
        )
        if actor is None:  # membership in the current organization is gone
            record.ended_at, record.end_reason = services.utcnow(), "membership_inactive"
            record = None
    if db.session.dirty:
        db.session.commit()
    if record is None:
        session.pop(TOKEN_KEY, None)
        return
    g.sign_in = record
    g.user = db.session.get(User, record.user_id)
    g.actor = actor
    scope_session(db.session, actor.org_id)
    db.session.info[ACTOR_KEY] = actor


def _has_bearer() -> bool:
    return request.headers.get("Authorization", "")[:7].lower() == "bearer "


def org_today():
    """Today in the current organization's timezone (working days are organization dates)."""
    return services.today_of(db.session, current_actor().org_id)


def client_ip() -> str | None:
    # Behind a proxy, configure werkzeug's ProxyFix in wsgi.py; we trust remote_addr only.
    return request.remote_addr


def current_actor():
    """The Actor of this request; 401 when nobody is signed in."""
    actor = g.get("actor")
    if actor is None:
        abort(401)
    return actor


def anonymous_actor():
    """For audit entries of sign-in attempts, before anyone is signed in."""
    from fms.identity.actor import Actor

    return Actor(
        user_id=None,
        org_id=None,
        roles=frozenset(),
        ip=client_ip(),
        request_id=g.get("request_id"),
    )


def begin(started) -> None:
    """Put a fresh session token in the cookie, dropping everything the old one held."""
    session.clear()
    session[TOKEN_KEY] = started.token
    session.permanent = False


# A password sign-in waiting for its second step (a TOTP code, or the choice of
# organization): who, since when, and where to go. In the signed cookie, for a few minutes.
HELD_KEY = "held_sign_in"
HELD_FOR_SECONDS = 300


def hold_sign_in(user, *, next_url: str | None, stage: str, method: str) -> None:
    """`stage` is what the person does next ("code" or "organization"); `method` what
    they have proven so far ("password", "password_totp")."""
    import time

    session.clear()
    session[HELD_KEY] = {
        "user_id": user.id,
        "at": int(time.time()),
        "next": next_url,
        "stage": stage,
        "method": method,
        "stamp": services.sign_in_stamp(user),
    }


def held_sign_in(stage: str):
    """(held state, user) if a sign-in is held at this stage, recent, and still current
    (no password change or completed sign-in since); else (None, None)."""
    import time

    held = session.get(HELD_KEY)
    if (
        not isinstance(held, dict)
        or held.get("stage") != stage
        or time.time() - held.get("at", 0) > HELD_FOR_SECONDS
    ):
        return None, None
    user = db.session.get(User, held.get("user_id"))
    if user is None or services.sign_in_stamp(user) != held.get("stamp"):
        session.pop(HELD_KEY, None)
        return None, None
    return held, user


def forget() -> None:
    session.clear()


# A link or secret shown once after a redirect (post/redirect/get: a reload must not create
# twice). It waits in the signed cookie until the page after the redirect takes it.
SHOW_ONCE_KEY = "show_once_link"


def show_once(value: str, *, key: str = SHOW_ONCE_KEY) -> None:
    session[key] = value


def take_shown_once(*, key: str = SHOW_ONCE_KEY) -> str | None:
    return session.pop(key, None)


def then_show_once(url: str, secret, *, key: str = SHOW_ONCE_KEY):
    """For `fms.forms.submitted(then=...)`: keep `secret(result)` to show once on `url`,
    the page the redirect goes to (a reload of it creates nothing)."""

    def then(result) -> str:
        show_once(secret(result), key=key)
        return url

    return then


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect would help phishing."""
    from flask import url_for

    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("reports.home")
