"""Sign-in, organization switching, members and organization settings pages."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import login_required

from fms.extensions import db, limiter
from fms.forms import page_arg, status_of, submitted
from fms.identity import forms, services, web_session
from fms.identity.models import Organization
from fms.identity.permissions import require
from fms.identity.sso import services as sso
from fms.identity.sso import views as sso_views
from fms.identity.web_session import current_actor

bp = Blueprint("identity", __name__)


@bp.app_context_processor
def layout_context():
    """What the layout needs on every page: who is signed in, where, and what they may do."""
    actor = g.get("actor")
    if actor is None:
        return {"actor": None, "current_user_record": None}
    orgs = services.organizations_of(db.session, actor.user_id)
    current = next((o for o in orgs if o.id == actor.org_id), None)
    g.display_tz = current.timezone if current else "UTC"
    return {
        "actor": actor,
        "current_user_record": g.get("user"),
        "current_org": current,
        "my_organizations": orgs,
        "switch_form": forms.EmptyForm(),
    }


def _account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed_attempt(response) -> bool:
    # 302: signed in; 200: sent on to single sign-on (home-realm discovery)
    return response.status_code not in (200, 302)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["FMS_LOGIN_LIMIT_PER_IP"],
    methods=["POST"],
    deduct_when=_failed_attempt,
)
@limiter.limit(
    lambda: current_app.config["FMS_LOGIN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=_account_key,
    deduct_when=_failed_attempt,
)
def login():
    if g.get("actor") is not None:
        return redirect(url_for("reports.home"))
    form = forms.SignInForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        # no password: single sign-on (Enter in the email field presses the first button,
        # so a typed password decides, not which button was pressed)
        if not form.password.data:
            # home-realm discovery: a verified domain sends its people to their IdP
            connection = sso.connection_for_email(db.session, email=form.email.data)
            if connection is not None:
                # a page that moves on by itself, not a redirect: the sign-in form's
                # CSP (form-action 'self') would stop a redirect chain leaving for the IdP
                return render_template(
                    "identity/sso_continue.html",
                    target=sso_views.start_url(connection, form.next.data),
                    heading=f"Continuing to {connection.name}",
                    text="Your organization signs you in through its identity provider.",
                )
            if request.form.get("action") == "sso":
                form.form_errors.append(
                    "Single sign-on is not set up for this email's domain. "
                    "Sign in with your password, or ask your FMS administrator."
                )
            else:
                form.password.errors.append("This field is required.")
        else:
            try:
                user = services.authenticate(
                    db.session, email=form.email.data, password=form.password.data
                )
                open_orgs = sso.password_org_ids(db.session, user_id=user.id)
                if not open_orgs:
                    raise services.InvalidCredentials(
                        "Your organization requires single sign-on: "
                        "use “Continue with single sign-on”."
                    )
                started = services.start_session(
                    db.session,
                    user=user,
                    method="password",
                    ip=web_session.client_ip(),
                    user_agent=request.user_agent.string,
                    org_id=open_orgs[0],
                )
            except services.InvalidCredentials as exc:
                db.session.rollback()
                form.form_errors.append(exc.detail)
            else:
                db.session.commit()
                web_session.begin(started)
                return redirect(web_session.safe_next(form.next.data))
    failed = form.is_submitted() and (form.form_errors or form.errors)
    status = 401 if failed else 200
    return render_template("identity/login.html", form=form), status


@bp.post("/logout")
def logout():
    form = forms.EmptyForm()
    idp_logout = None
    if form.validate_on_submit() and g.get("sign_in") is not None:
        services.end_session(db.session, record=g.sign_in, actor=g.actor)
        db.session.commit()
        idp_logout = sso_views.idp_logout_url()
    web_session.forget()
    if idp_logout:  # RP-initiated logout: end the IdP's session too; it sends people back
        # (a page, not a redirect: form-action 'self' would stop a form's redirect off-site)
        return render_template(
            "identity/sso_continue.html",
            target=idp_logout,
            heading="You have been signed out of FMS",
            text="Signing you out of your identity provider too…",
        )
    flash("You have been signed out.", "info")
    return redirect(url_for("identity.login"))


@bp.post("/switch-organization")
@login_required
def switch_organization():
    actor = current_actor()
    try:
        org_id = int(request.form.get("org_id", ""))
    except ValueError:
        org_id = -1
    form = forms.EmptyForm()
    if form.validate_on_submit():
        services.get_organization(db.session, actor=actor, org_id=org_id)  # 404 otherwise
        if g.sign_in.method == "password" and org_id not in sso.password_org_ids(
            db.session, user_id=actor.user_id
        ):
            flash("That organization requires single sign-on: sign in through it.", "danger")
            return redirect(url_for("reports.home"))
        org = services.switch_organization(db.session, record=g.sign_in, org_id=org_id, actor=actor)
        db.session.commit()
        flash(f"You are now working in {org.name}.", "success")
    return redirect(url_for("reports.home"))


# --- members -----------------------------------------------------------------------------


@bp.route("/admin/members", methods=["GET", "POST"])
@login_required
def members():
    actor = current_actor()
    require(actor, "members.read")
    form = forms.AddMemberForm()
    if request.method == "POST":
        require(actor, "members.manage")
        done = submitted(
            form,
            lambda: services.add_member(
                db.session,
                actor=actor,
                email=form.email.data,
                name=form.name.data,
                roles=form.roles.data,
                password=form.password.data or None,
            ),
            success=f"{(form.name.data or '').strip()} was added.",
            then=url_for("identity.members"),
        )
        if done:
            return done
    page = request.args.get("page", 1, type=page_arg) or 1
    rows, total = services.list_members(db.session, actor=actor, page=max(page, 1), per_page=50)
    return render_template(
        "identity/members.html", rows=rows, total=total, page=page, per_page=50, form=form
    ), status_of(form)


@bp.route("/admin/members/<int:membership_id>", methods=["GET", "POST"])
@login_required
def member(membership_id: int):
    actor = current_actor()
    membership = services.get_membership(db.session, actor=actor, membership_id=membership_id)
    name = membership.user.name
    form = forms.RolesForm(roles=list(membership.roles or []))
    if request.method == "POST":
        require(actor, "members.manage")
        action = request.form.get("action", "roles")
        if action in ("break_glass_on", "break_glass_off"):
            if forms.EmptyForm().validate_on_submit():
                sso.set_break_glass(
                    db.session,
                    actor=actor,
                    membership_id=membership_id,
                    break_glass=action == "break_glass_on",
                )
                db.session.commit()
                flash("Break-glass access saved.", "success")
            return redirect(url_for("identity.member", membership_id=membership_id))
        if action in ("deactivate", "activate"):
            if forms.EmptyForm().validate_on_submit():
                services.set_membership_active(
                    db.session,
                    actor=actor,
                    membership_id=membership_id,
                    active=action == "activate",
                )
                db.session.commit()
                verb = "reactivated" if action == "activate" else "deactivated"
                flash(f"{name} was {verb}.", "success")
            return redirect(url_for("identity.member", membership_id=membership_id))
        done = submitted(
            form,
            lambda: services.change_roles(
                db.session, actor=actor, membership_id=membership_id, roles=form.roles.data
            ),
            success="Roles saved. They apply from the member's next click.",
            then=url_for("identity.member", membership_id=membership_id),
        )
        if done:
            return done
    return render_template("identity/member.html", membership=membership, form=form), status_of(
        form
    )


# --- organization settings ---------------------------------------------------------------


@bp.route("/admin/organization", methods=["GET", "POST"])
@login_required
def organization():
    actor = current_actor()
    require(actor, "organization.manage")
    org = db.session.get(Organization, actor.org_id)
    form = forms.OrganizationForm(obj=org)
    form.timezone.choices = sorted(available_timezones())
    done = submitted(
        form,
        lambda: services.update_organization(
            db.session,
            actor=actor,
            name=form.name.data,
            base_currency=form.base_currency.data,
            timezone=form.timezone.data,
        ),
        success="Organization settings saved.",
        then=url_for("identity.organization"),
    )
    if done:
        return done
    return render_template("identity/organization.html", form=form, org=org), status_of(form)
