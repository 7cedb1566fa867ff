"""Single sign-on pages: the OIDC round trip, and the SSO settings of org admins."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_required

from fms.errors import InvalidInput, RuleViolation
from fms.extensions import db
from fms.forms import apply_errors, submitted
from fms.identity import services, web_session
from fms.identity.lists import INVITATIONS
from fms.identity.models import Organization
from fms.identity.permissions import require
from fms.identity.sso import forms as sso_forms
from fms.identity.sso import invitations
from fms.identity.sso import services as sso
from fms.identity.sso.models import Invitation, ScimToken, SsoConnection, SsoDomain
from fms.identity.sso.scim import services as scim
from fms.identity.web_session import current_actor
from fms.lists import export_response, list_page
from fms.saved_views import views_for
from fms.tenancy import get_in_org

bp = Blueprint("sso", __name__)

BINDING_KEY = "sso_binding"


def callback_url() -> str:
    """The redirect URI to register at the IdP: one per FMS installation."""
    return current_app.config["FMS_BASE_URL"].rstrip("/") + url_for("sso.oidc_callback")


def _browser_binding() -> str:
    binding = session.get(BINDING_KEY)
    if not binding:
        binding = session[BINDING_KEY] = secrets.token_urlsafe(32)
    return binding


def failure_page(exc: sso.SsoSignInFailed):
    """Roll back, write the audit entry on its own, and show a clear page; no session."""
    db.session.rollback()
    sso.record_failure(
        db.session, failure=exc, ip=web_session.client_ip(), request_id=g.get("request_id")
    )
    db.session.commit()
    web_session.forget()
    return (
        render_template("errors/error.html", status=exc.status, title=exc.title, detail=exc.detail),
        exc.status,
    )


def finish_sign_in(signed_in: sso.SignedIn, *, method: str):
    """Start the FMS session (a fresh id) in the connection's organization."""
    started = services.start_session(
        db.session,
        user=signed_in.user,
        method=method,
        ip=web_session.client_ip(),
        user_agent=request.user_agent.string,
        org_id=signed_in.org_id,
        # kept on the server for RP-initiated logout: an ID token with many groups would
        # not fit in the 4 KB cookie, and the cookie need not carry it
        sso_connection_id=signed_in.connection.id,
        id_token=signed_in.id_token,
    )
    db.session.commit()
    web_session.begin(started)
    return redirect(web_session.safe_next(signed_in.next_url))


def invitation_refused_page(exc: invitations.InvitationRefused):
    """Roll back, audit the refusal in the invitation's organization, show why. A visitor
    who is signed in stays signed in (a link must not be a way to sign people out)."""
    db.session.rollback()
    invitations.record_refusal(
        db.session, refusal=exc, ip=web_session.client_ip(), request_id=g.get("request_id")
    )
    db.session.commit()
    return (
        render_template("errors/error.html", status=exc.status, title=exc.title, detail=exc.detail),
        exc.status,
    )


def _invitation_for(connection) -> int | None:
    """The invitation a sign-in redeems (from ?invitation=), checked against the connection."""
    token = request.args.get("invitation")
    if not token:  # a returning freelancer: their linked identity is checked on the way back
        return None
    invitation = invitations.open_invitation(db.session, token=token)
    if invitation.org_id != connection.org_id or connection.audience != "freelancers":
        raise invitations.InvitationRefused(
            "This sign-in option is not offered for your invitation.",
            reason="wrong_connection",
            org_id=invitation.org_id,
            invitation_id=invitation.id,
        )
    return invitation.id


@bp.get("/sso/oidc/<key>/start")
def oidc_start(key: str):
    connection = sso.connection_by_key(db.session, key=key)
    return _to_identity_provider(
        lambda: sso.begin_oidc(
            db.session,
            connection=connection,
            browser_binding=_browser_binding(),
            redirect_uri=callback_url(),
            next_url=request.args.get("next") or None,
            invitation_id=_invitation_for(connection),
        )
    )


def _to_identity_provider(begin):
    """Start a sign-in (OIDC or SAML): keep the request on the server, send the browser on."""
    try:
        url = begin()
    except sso.SsoSignInFailed as exc:
        return failure_page(exc)
    except invitations.InvitationRefused as exc:
        return invitation_refused_page(exc)
    db.session.commit()
    return redirect(url)


@bp.get("/sso/oidc/callback")
def oidc_callback():
    try:
        signed_in = sso.complete_oidc(
            db.session,
            state=request.args.get("state", ""),
            code=request.args.get("code"),
            error=request.args.get("error"),
            iss=request.args.get("iss"),
            browser_binding=session.get(BINDING_KEY),
            redirect_uri=callback_url(),
            ip=web_session.client_ip(),
        )
        return finish_sign_in(signed_in, method="oidc")
    except sso.SsoSignInFailed as exc:
        return failure_page(exc)
    except services.InvalidCredentials as exc:
        return failure_page(sso.SsoSignInFailed(exc.detail, reason="no_membership", org_id=None))


# --- org admins: SSO settings --------------------------------------------------------------

NEW_SCIM_TOKEN_KEY = "show_once_scim_token"  # noqa: S105 - a session key, not a secret


@bp.route("/admin/sso", methods=["GET", "POST"])
@login_required
def settings():
    actor = current_actor()
    require(actor, "sso.manage")
    org = db.session.get(Organization, actor.org_id)
    policy_form = sso_forms.PolicyForm(prefix="policy")
    domain_form = sso_forms.DomainForm(prefix="domain")
    if request.method == "GET":
        policy_form.sso_required.data = org.sso_required
    action = request.form.get("action")
    if action == "policy" and policy_form.validate_on_submit():
        try:
            sso.update_policy(
                db.session,
                actor=actor,
                sso_required=policy_form.sso_required.data,
            )
        except (InvalidInput, RuleViolation) as exc:
            db.session.rollback()
            apply_errors(policy_form, exc)
        else:
            db.session.commit()
            flash("Single sign-on policy saved.", "success")
            return redirect(url_for("sso.settings"))
    elif action == "domain":
        done = submitted(
            domain_form,
            lambda: sso.add_domain(db.session, actor=actor, domain=domain_form.domain.data),
            success="Domain added. Publish its TXT record, then confirm it.",
            then=url_for("sso.settings"),
        )
        if done:
            return done
    token_form = sso_forms.ScimTokenForm(prefix="scim")
    if action == "scim_token":
        done = submitted(
            token_form,
            lambda: scim.create_token(
                db.session,
                actor=actor,
                name=token_form.name.data,
                connection_id=token_form.connection_id.data or None,
            ),
            success="Token created. Copy it now: it will not be shown again.",
            then=web_session.then_show_once(
                url_for("sso.settings"), lambda created: created[1], key=NEW_SCIM_TOKEN_KEY
            ),
        )
        if done:
            return done
        for messages in token_form.errors.values():  # the card shows a fresh form: say why here
            for message in messages:
                flash(message, "danger")
    new_token = web_session.take_shown_once(key=NEW_SCIM_TOKEN_KEY)
    connections = sso.list_connections(db.session, actor=actor)
    domains = sso.list_domains(db.session, actor=actor)
    tokens = scim.list_tokens(db.session, actor=actor)
    warnings = [w for c in connections for w in sso.group_mapping_warnings(c)]
    staff_connections = [c for c in connections if c.audience == "staff"]
    failed = policy_form.errors or policy_form.form_errors or domain_form.errors
    failed = failed or domain_form.form_errors
    return (
        render_template(
            "identity/sso_settings.html",
            org=org,
            connections=connections,
            domains=domains,
            policy_form=policy_form,
            domain_form=domain_form,
            callback_url=callback_url(),
            tokens=tokens,
            new_token=new_token,
            token_form=_token_form(staff_connections),
            connection_names={c.id: c.name for c in connections},
            scim_url=current_app.config["FMS_BASE_URL"].rstrip("/") + "/scim/v2",
            warnings=warnings,
            staff_connections=staff_connections,
        ),
        422 if failed else 200,
    )


def _connection_data(form) -> dict:
    return {
        "name": form.name.data,
        "audience": form.audience.data,
        "issuer": form.issuer.data,
        "client_id": form.client_id.data,
        "client_secret": form.client_secret.data or None,
        "token_endpoint_auth_method": form.token_endpoint_auth_method.data,
        "scopes": form.scopes.data,
        "claim_email": form.claim_email.data,
        "claim_name": form.claim_name.data,
        "claim_groups": form.claim_groups.data,
        "algorithms": form.algorithms.data,
        "roles_managed_by": form.roles_managed_by.data,
        "group_roles": form.group_roles.data,
        "default_roles": form.default_roles.data or None,
        "refuse_unmapped": form.refuse_unmapped.data,
        "is_active": form.is_active.data,
        "jit_provisioning": form.jit_provisioning.data,
    }


def _saml_data(form) -> dict:
    return {
        "name": form.name.data,
        "audience": form.audience.data,
        "idp_metadata_url": form.idp_metadata_url.data or None,
        "idp_metadata_xml": form.idp_metadata_xml.data or None,
        "allow_idp_initiated": form.allow_idp_initiated.data,
        "roles_managed_by": form.roles_managed_by.data,
        "group_roles": form.group_roles.data,
        "default_roles": form.default_roles.data or None,
        "refuse_unmapped": form.refuse_unmapped.data,
        "is_active": form.is_active.data,
        "jit_provisioning": form.jit_provisioning.data,
    }


def _saml_urls(connection) -> dict | None:
    from fms.identity.sso import saml

    return saml.urls(connection, _base_url()) if connection is not None else None


@bp.route("/admin/sso/saml/new", methods=["GET", "POST"])
@login_required
def new_saml_connection():
    actor = current_actor()
    require(actor, "sso.manage")
    form = sso_forms.SamlConnectionForm()
    if request.method == "GET":
        form.is_active.data = form.jit_provisioning.data = True
    done = submitted(
        form,
        lambda: sso.create_connection(db.session, actor=actor, protocol="saml", **_saml_data(form)),
        success="Connection added. Give the IdP the SP metadata shown here.",
        then=lambda connection: url_for("sso.connection", connection_id=connection.id),
    )
    if done:
        return done
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "identity/sso_saml_connection.html", form=form, connection=None, saml_urls=None
    ), status


@bp.route("/admin/sso/connections/new", methods=["GET", "POST"])
@login_required
def new_connection():
    actor = current_actor()
    require(actor, "sso.manage")
    form = sso_forms.ConnectionForm()
    if request.method == "GET":
        form.is_active.data = form.jit_provisioning.data = True
        form.algorithms.data = ["RS256", "PS256", "ES256"]
    done = submitted(
        form,
        lambda: sso.create_connection(db.session, actor=actor, **_connection_data(form)),
        success="Connection added. Try it from the sign-in page.",
        then=lambda connection: url_for("sso.connection", connection_id=connection.id),
    )
    if done:
        return done
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "identity/sso_connection.html", form=form, connection=None, callback_url=callback_url()
    ), status


@bp.route("/admin/sso/connections/<int:connection_id>", methods=["GET", "POST"])
@login_required
def connection(connection_id: int):
    actor = current_actor()
    record = sso.get_connection(db.session, actor=actor, connection_id=connection_id)
    saml_protocol = record.protocol == "saml"
    if saml_protocol:
        form = sso_forms.SamlConnectionForm(obj=record, one_time=False)
        if request.method == "GET":
            form.idp_metadata_xml.data = ""  # kept; pasted again only to replace it
    else:
        form = sso_forms.ConnectionForm(obj=record, one_time=False)
    if request.method == "POST" and request.form.get("action") == "delete":
        if sso_forms.EmptyForm().validate_on_submit():
            sso.delete_connection(db.session, actor=actor, connection_id=connection_id)
            db.session.commit()
            flash("Connection deleted.", "success")
        return redirect(url_for("sso.settings"))
    report = None
    if request.method == "POST" and request.form.get("action") == "test":
        if sso_forms.EmptyForm().validate_on_submit():
            report = sso.test_connection(db.session, actor=actor, connection_id=connection_id)
        form = (sso_forms.SamlConnectionForm if saml_protocol else sso_forms.ConnectionForm)(
            obj=record, formdata=None, one_time=False
        )
        if saml_protocol:
            form.idp_metadata_xml.data = ""
    elif form.validate_on_submit():
        data = _saml_data(form) if saml_protocol else _connection_data(form)
        try:
            sso.update_connection(db.session, actor=actor, connection_id=connection_id, **data)
        except (InvalidInput, RuleViolation) as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            db.session.commit()
            flash("Connection saved.", "success")
            return redirect(url_for("sso.connection", connection_id=connection_id))
    status = 422 if form.errors or form.form_errors else 200
    warnings = sso.group_mapping_warnings(record)
    if saml_protocol:
        return render_template(
            "identity/sso_saml_connection.html",
            form=form,
            connection=record,
            saml_urls=_saml_urls(record),
            report=report,
            warnings=warnings,
        ), status
    return render_template(
        "identity/sso_connection.html",
        form=form,
        connection=record,
        callback_url=callback_url(),
        report=report,
        warnings=warnings,
    ), status


def _token_form(staff_connections):
    form = sso_forms.ScimTokenForm(prefix="scim", formdata=None)
    form.connection_id.choices = [(0, "None: groups use the organization's mapping")] + [
        (c.id, c.name) for c in staff_connections
    ]
    if staff_connections:
        form.connection_id.data = staff_connections[0].id
    return form


@bp.post("/admin/sso/scim-tokens/<int:token_id>/revoke")
@login_required
def revoke_scim_token(token_id: int):
    actor = current_actor()
    require(actor, "sso.manage")
    get_in_org(db.session, ScimToken, token_id, what="token")  # 404 for other organizations
    if sso_forms.EmptyForm().validate_on_submit():
        scim.revoke_token(db.session, actor=actor, token_id=token_id)
        db.session.commit()
        flash("Token revoked: provisioning with it stops now.", "success")
    return redirect(url_for("sso.settings"))


@bp.post("/admin/sso/domains/<int:domain_id>")
@login_required
def domain(domain_id: int):
    actor = current_actor()
    require(actor, "sso.manage")
    get_in_org(db.session, SsoDomain, domain_id, what="domain")  # 404 for other organizations
    if sso_forms.EmptyForm().validate_on_submit():
        action = request.form.get("action")
        if action == "verify":
            sso.verify_domain(db.session, actor=actor, domain_id=domain_id)
            flash("Domain verified: sign-ins with it now go to your identity provider.", "success")
        elif action == "connection":
            chosen = _chosen_connection(request.form.get("connection_id"))
            try:
                sso.set_domain_connection(
                    db.session, actor=actor, domain_id=domain_id, connection_id=chosen
                )
            except InvalidInput as exc:
                db.session.rollback()
                flash(exc.detail, "danger")
                return redirect(url_for("sso.settings"))
            flash("Saved: people of this domain sign in with the chosen connection.", "success")
        else:
            sso.remove_domain(db.session, actor=actor, domain_id=domain_id)
            flash("Domain removed.", "success")
        db.session.commit()
    return redirect(url_for("sso.settings"))


def _chosen_connection(raw: str | None) -> int | None:
    """The connection id from the domain's select: empty means none chosen; anything that
    is not an id is a connection nobody has (404)."""
    from fms.errors import NotFound

    raw = (raw or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound("No such connection.")
    return int(raw)


def idp_logout_url() -> str | None:
    """Where to end the IdP's session after ours, when the IdP advertises it: the connection
    and ID token hint come from this request's sign-in session row (g.sign_in)."""
    from fms.identity.sso import oidc
    from fms.identity.sso.models import SsoConnection
    from fms.tenancy import ALL_TENANTS

    record = g.get("sign_in")
    if record is None or record.sso_connection_id is None or not record.id_token:
        return None
    connection = db.session.scalar(
        db.select(SsoConnection)
        .where(SsoConnection.id == record.sso_connection_id, SsoConnection.protocol == "oidc")
        .execution_options(**{ALL_TENANTS: True})
    )
    if connection is None:
        return None
    return oidc.end_session_url(
        connection,
        id_token_hint=record.id_token,
        post_logout_redirect_uri=current_app.config["FMS_BASE_URL"].rstrip("/")
        + url_for("identity.login"),
    )


def start_url(connection, next_url: str | None = None, invitation: str | None = None) -> str:
    endpoint = "sso.saml_start" if connection.protocol == "saml" else "sso.oidc_start"
    return url_for(
        endpoint, key=connection.public_key, next=next_url or None, invitation=invitation
    )


# --- invitations ---------------------------------------------------------------------------


@bp.get("/invitations/<token>")
def invitation(token: str):
    """The invitation link: who invites, and the identity providers to sign in with."""
    try:
        record = invitations.open_invitation(db.session, token=token)
    except invitations.InvitationRefused as exc:
        return invitation_refused_page(exc)
    return render_template(
        "identity/invitation.html",
        invitation=record,
        organization=invitations.organization_name(db.session, record),
        connections=invitations.connections_for(db.session, record),
        token=token,
    )


@bp.route("/admin/invitations", methods=["GET", "POST"])
@login_required
def invitations_admin():
    actor = current_actor()
    require(actor, "invitations.manage")
    form = sso_forms.InvitationForm()
    link = None
    done = submitted(
        form,
        lambda: invitations.create_invitation(
            db.session,
            actor=actor,
            email=form.email.data,
            allow_other_email=form.allow_other_email.data,
        ),
        success="Invitation mailed. You can also send the person this link; it works once.",
        then=web_session.then_show_once(
            url_for("sso.invitations_admin"), lambda created: invitations.invitation_url(created[1])
        ),
    )
    if done:
        return done
    if request.method == "GET":
        link = web_session.take_shown_once()
    page = list_page(INVITATIONS, actor, context={})
    has_connection = any(
        c.audience == "freelancers" and c.is_active
        for c in db.session.scalars(db.select(SsoConnection))
    )
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "identity/invitations.html",
        form=form,
        lp=page,
        views=views_for(db.session, actor=actor, list_key=INVITATIONS.key),
        link=link,
        status_of=invitations.status,
        has_connection=has_connection,
    ), status


@bp.get("/admin/invitations/export.<fmt>")
@login_required
def invitations_admin_export(fmt: str):
    return export_response(INVITATIONS, fmt, actor=current_actor(), context={})


@bp.post("/admin/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    actor = current_actor()
    require(actor, "invitations.manage")
    get_in_org(db.session, Invitation, invitation_id, what="invitation")
    if sso_forms.EmptyForm().validate_on_submit():
        invitations.revoke_invitation(db.session, actor=actor, invitation_id=invitation_id)
        db.session.commit()
        flash("Invitation withdrawn.", "success")
    return redirect(url_for("sso.invitations_admin"))


def _base_url() -> str:
    return current_app.config["FMS_BASE_URL"].rstrip("/")


# --- SAML 2.0 ------------------------------------------------------------------------------


@bp.get("/sso/saml/<key>/start")
def saml_start(key: str):
    connection = sso.connection_by_key(db.session, key=key, protocol="saml")
    return _to_identity_provider(
        lambda: sso.begin_saml(
            db.session,
            connection=connection,
            base_url=_base_url(),
            next_url=request.args.get("next") or None,
            invitation_id=_invitation_for(connection),
        )
    )


@bp.post("/sso/saml/<key>/acs")
def saml_acs(key: str):
    """The IdP's cross-site POST: no CSRF token (it carries the IdP's signature instead)."""
    connection = sso.connection_by_key(db.session, key=key, protocol="saml")
    try:
        signed_in = sso.complete_saml(
            db.session,
            connection=connection,
            saml_response=request.form.get("SAMLResponse", ""),
            base_url=_base_url(),
            ip=web_session.client_ip(),
        )
        return finish_sign_in(signed_in, method="saml")
    except sso.SsoSignInFailed as exc:
        return failure_page(exc)


@bp.get("/sso/saml/<key>/metadata")
def saml_metadata(key: str):
    """The service provider metadata of this connection, to upload at the IdP."""
    from fms.identity.sso import saml

    connection = sso.connection_by_key(db.session, key=key, protocol="saml")
    try:
        xml = saml.sp_metadata(connection, _base_url())
    except saml.SamlError as exc:
        return failure_page(
            sso.SsoSignInFailed(exc.message, reason=exc.reason, org_id=connection.org_id)
        )
    return current_app.response_class(xml, mimetype="application/samlmetadata+xml")
