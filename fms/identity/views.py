"""Sign-in, organization switching, members and organization settings pages."""

from __future__ import annotations

from zoneinfo import available_timezones

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
from fms.extensions import db, limiter
from fms.forms import apply_errors, status_of, submitted, whole_number
from fms.identity import accounts, forms, memberships, services, web_session
from fms.identity.lists import MEMBERS
from fms.identity.models import Organization, User
from fms.identity.permissions import require
from fms.identity.sso import invitations, provisioning
from fms.identity.sso import services as sso
from fms.identity.sso import views as sso_views
from fms.identity.web_session import current_actor
from fms.lists import export_response, list_page
from fms.saved_views import views_for

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
    user = g.get("user")
    g.display_locale = (user.locale if user is not None else None) or (
        current.locale if current else None
    )
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
                sso.mail_freelancer_sign_in_link(
                    db.session,
                    email=form.email.data,
                    start_url=lambda c: (
                        current_app.config["FMS_BASE_URL"].rstrip("/")
                        + sso_views.start_url(c, form.next.data)
                    ),
                )
                db.session.commit()
                # the same answer for every address: it reveals no account
                form.form_errors.append(
                    "Single sign-on is not set up for this email's domain. If the address "
                    "belongs to a freelancer account, we have mailed it a link to sign in. "
                    "Otherwise sign in with your password, or ask your FMS administrator."
                )
            else:
                form.password.errors.append("This field is required.")
        else:
            try:
                user = services.authenticate(
                    db.session, email=form.email.data, password=form.password.data
                )
            except services.InvalidCredentials as exc:
                db.session.rollback()
                form.form_errors.append(exc.detail)
            else:
                if accounts.totp_enabled(user):
                    web_session.hold_sign_in(
                        user, next_url=form.next.data, stage="code", method="password"
                    )
                    return redirect(url_for("identity.login_code"))
                return _finish_password_sign_in(user, method="password", next_url=form.next.data)
    failed = form.is_submitted() and (form.form_errors or form.errors)
    status = 401 if failed else 200
    return render_template("identity/login.html", form=form), status


def _finish_password_sign_in(user: User, *, method: str, next_url, org_id: int | None = None):
    """The password (and code) are right: start the session where the person works —
    the organization they last used, their only one, or the one they choose now."""
    if accounts.totp_enabled(user) and method != "password_totp":
        return redirect(url_for("identity.login"))  # the code step cannot be skipped
    try:
        started = services.start_session(
            db.session,
            user=user,
            method=method,
            ip=web_session.client_ip(),
            user_agent=request.user_agent.string,
            org_id=org_id,
        )
    except services.ChooseOrganization as choice:
        db.session.rollback()
        web_session.hold_sign_in(user, next_url=next_url, stage="organization", method=method)
        form = forms.ChooseOrganizationForm()
        form.org_id.choices = [(o.id, f"{o.name} ({o.slug})") for o in choice.organizations]
        return render_template("identity/choose_organization.html", form=form)
    except services.InvalidCredentials:
        db.session.rollback()
        web_session.forget()
        form = forms.SignInForm(formdata=None, email=user.email, next=next_url or "")
        form.form_errors.append(
            "Your organization requires single sign-on: use “Continue with single sign-on”."
            + (
                " (Break-glass admins sign in with their password and a code: they turn on "
                "two-step verification first.)"
                if not accounts.totp_enabled(user)
                else ""
            )
        )
        return render_template("identity/login.html", form=form), 401
    db.session.commit()
    web_session.begin(started)
    return redirect(web_session.safe_next(next_url))


def _held_account_key() -> str:
    # codes are guessed against an account, from any number of addresses: count per account
    held = session.get(web_session.HELD_KEY)
    user_id = held.get("user_id") if isinstance(held, dict) else None
    return f"totp:{user_id}"


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["FMS_LOGIN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=_held_account_key,
)
def login_code():
    """The second step for accounts with TOTP: a code from the authenticator app."""
    held, user = web_session.held_sign_in("code")
    if held is None:
        flash("Please sign in again.", "info")
        return redirect(url_for("identity.login"))
    form = forms.CodeForm()
    if form.validate_on_submit():
        if accounts.verify_totp(db.session, user=user, code=form.code.data):
            db.session.commit()
            return _finish_password_sign_in(user, method="password_totp", next_url=held.get("next"))
        db.session.rollback()
        form.code.errors.append("That code does not match (or was used already).")
    status = 401 if form.is_submitted() else 200
    return render_template("identity/login_code.html", form=form), status


@bp.post("/login/organization")
def login_organization():
    """The organization chosen after a password sign-in (several, none used last)."""
    held, user = web_session.held_sign_in("organization")
    if held is None or not forms.EmptyForm().validate_on_submit():
        flash("Please sign in again.", "info")
        return redirect(url_for("identity.login"))
    try:
        org_id = whole_number(request.form.get("org_id", ""))
    except ValueError:
        org_id = -1
    return _finish_password_sign_in(
        user, method=held["method"], next_url=held.get("next"), org_id=org_id
    )


# --- password links and two-step verification ---------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["FMS_LOGIN_LIMIT_PER_IP"], methods=["POST"])
def forgot_password():
    form = forms.ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(
            db.session, email=form.email.data, ip=web_session.client_ip()
        )
        db.session.commit()
        # the same answer whether or not the account exists
        flash(
            "If an FMS account uses that address, a link to set its password is on its way. "
            "It works once, for an hour.",
            "info",
        )
        return redirect(url_for("identity.login"))
    return render_template("identity/forgot_password.html", form=form), status_of(form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        accounts.open_password_link(db.session, token=token)
    except accounts.LinkRefused as exc:
        return render_template(
            "errors/error.html", status=exc.status, title=exc.title, detail=exc.detail
        ), exc.status
    form = forms.NewPasswordForm()
    done = submitted(
        form,
        lambda: accounts.set_password_with_link(
            db.session, token=token, password=form.password.data, ip=web_session.client_ip()
        ),
        success="Your password is set. Sign in with it now.",
        then=url_for("identity.login"),
    )
    if done:
        web_session.forget()
        return done
    return render_template("identity/reset_password.html", form=form), status_of(form)


@bp.route("/account/security", methods=["GET", "POST"])
@login_required
def security():
    """The person's own account: two-step verification (TOTP) and display locale."""
    user = g.user
    form = forms.CodeForm()
    org = db.session.get(Organization, current_actor().org_id) if current_actor().org_id else None
    locale_form = forms.LocaleForm(prefix="display", data={"locale": user.locale or ""})
    locale_form.locale.choices = forms.locale_choices(follow=org.locale if org else "en")
    secret = None
    if not accounts.totp_enabled(user):
        # the secret waits in the signed cookie until a correct code confirms it
        secret = session.get("totp_pending") or accounts.new_totp_secret()
        session["totp_pending"] = secret
    if request.method == "POST" and request.form.get("action") == "locale":
        done = submitted(
            locale_form,
            lambda: accounts.set_locale(db.session, user=user, locale=locale_form.locale.data),
            success="Display settings saved.",
            then=url_for("identity.security"),
        )
        if done:
            return done
    elif request.method == "POST":
        action = request.form.get("action", "enable")
        if action == "enable":

            def change():
                return accounts.enable_totp(
                    db.session, user=user, secret=secret, code=form.code.data
                )
        else:

            def change():
                return accounts.disable_totp(db.session, user=user, code=form.code.data)

        done = submitted(
            form,
            change,
            success="Two-step verification is on."
            if action == "enable"
            else "Two-step verification is off.",
            then=url_for("identity.security"),
        )
        if done:
            session.pop("totp_pending", None)
            return done
    return render_template(
        "identity/security.html",
        form=form,
        locale_form=locale_form,
        enabled=accounts.totp_enabled(user),
        secret=secret,
        uri=accounts.totp_uri(user, secret) if secret else None,
        qr=accounts.totp_qr_svg(accounts.totp_uri(user, secret)) if secret else None,
    ), status_of(form, locale_form)


# --- accepting an invitation ---------------------------------------------------------------


@bp.post("/invitations/<token>/accept")
@login_required
def accept_invitation(token: str):
    """The signed-in owner of the invited address accepts."""
    if not forms.EmptyForm().validate_on_submit():
        return redirect(url_for("sso.invitation", token=token))
    try:
        membership = invitations.accept_signed_in(
            db.session, token=token, user=g.user, ip=web_session.client_ip()
        )
    except invitations.InvitationRefused as exc:
        return sso_views.invitation_refused_page(exc)
    db.session.commit()
    org = db.session.get(Organization, membership.org_id)
    flash(f"You joined {org.name}. Switch to it from the organization menu.", "success")
    return redirect(url_for("reports.home"))


_MAILED_KEY = "show_once_new_account_mailed"


@bp.route("/invitations/<token>/new-account", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["FMS_LOGIN_LIMIT_PER_IP"], methods=["POST"])
def invitation_new_account(token: str):
    """No account has the invited address yet: its owner gets a mailed link to choose
    their password (the invitation link alone, which the inviter may hold, is not enough)."""
    try:
        invitation = invitations.open_invitation(db.session, token=token)
    except invitations.InvitationRefused as exc:
        return sso_views.invitation_refused_page(exc)
    form = forms.NewAccountForm(name=invitation.name or "")
    mailed = False
    if request.method == "GET":  # after the redirect: say the link is on its way
        mailed = web_session.take_shown_once(key=_MAILED_KEY) == str(invitation.id)
    if form.validate_on_submit():
        try:
            invitations.request_new_account(
                db.session, token=token, name=form.name.data, ip=web_session.client_ip()
            )
        except invitations.InvitationRefused as exc:
            return sso_views.invitation_refused_page(exc)
        except invitations.AccountExists:
            db.session.rollback()
            flash("You already have an FMS account: sign in, then accept.", "info")
            return redirect(url_for("identity.login", next=url_for("sso.invitation", token=token)))
        except (InvalidInput, RuleViolation) as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            db.session.commit()
            web_session.show_once(str(invitation.id), key=_MAILED_KEY)
            return redirect(request.path)  # a reload mails nothing
    return render_template(
        "identity/invitation_new_account.html",
        form=form,
        invitation=invitation,
        mailed=mailed,
        organization=invitations.organization_name(db.session, invitation),
    ), status_of(form)


@bp.post("/logout")
def logout():
    form = forms.EmptyForm()
    idp_logout = None
    if form.validate_on_submit() and g.get("sign_in") is not None:
        idp_logout = sso_views.idp_logout_url()  # before the session row forgets the hint
        services.end_session(db.session, record=g.sign_in, actor=g.actor)
        db.session.commit()
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
        org_id = whole_number(request.form.get("org_id", ""))
    except ValueError:
        org_id = -1
    form = forms.EmptyForm()
    if form.validate_on_submit():
        try:
            org = services.switch_organization(
                db.session, record=g.sign_in, org_id=org_id, actor=actor
            )
        except services.SignInRequired as exc:
            db.session.rollback()
            flash(exc.detail, "danger")
            return redirect(url_for("reports.home"))
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
    link = None
    if request.method == "POST":
        require(actor, "members.manage")
        done = submitted(
            form,
            lambda: invitations.create_invitation(
                db.session,
                actor=actor,
                email=form.email.data,
                name=form.name.data,
                roles=form.roles.data,
            ),
            success=lambda created: (
                f"Invitation mailed to {created[0].email}. They join when they accept it."
            ),
            then=web_session.then_show_once(
                url_for("identity.members"), lambda created: invitations.invitation_url(created[1])
            ),
        )
        if done:
            return done
    else:
        link = web_session.take_shown_once()
    pending = invitations.open_staff_invitations(db.session, actor=actor)
    return render_template(
        "identity/members.html",
        lp=list_page(MEMBERS, actor),
        views=views_for(db.session, actor=actor, list_key=MEMBERS.key),
        form=form,
        pending=pending,
        link=link,
    ), status_of(form)


@bp.get("/admin/members/export.<fmt>")
@login_required
def members_export(fmt: str):
    return export_response(MEMBERS, fmt, actor=current_actor(), context={})


@bp.route("/admin/members/<int:membership_id>", methods=["GET", "POST"])
@login_required
def member(membership_id: int):
    actor = current_actor()
    membership = memberships.get_membership(db.session, actor=actor, membership_id=membership_id)
    name = membership.user.name
    form = forms.RolesForm(roles=list(membership.roles or []))
    if request.method == "POST":
        require(actor, "members.manage")
        action = request.form.get("action", "roles")
        if action in ("break_glass_on", "break_glass_off", "deactivate", "activate"):
            if forms.EmptyForm().validate_on_submit():
                try:
                    if action.startswith("break_glass"):
                        memberships.set_member_break_glass(
                            db.session,
                            actor=actor,
                            membership_id=membership_id,
                            break_glass=action == "break_glass_on",
                        )
                        message = "Break-glass access saved."
                    else:
                        memberships.set_member_active(
                            db.session,
                            actor=actor,
                            membership_id=membership_id,
                            active=action == "activate",
                        )
                        verb = "reactivated" if action == "activate" else "deactivated"
                        message = f"{name} was {verb}."
                except RuleViolation as exc:
                    db.session.rollback()
                    flash(exc.detail, "danger")
                else:
                    db.session.commit()
                    flash(message, "success")
            return redirect(url_for("identity.member", membership_id=membership_id))
        done = submitted(
            form,
            lambda: memberships.change_member_roles(
                db.session, actor=actor, membership_id=membership_id, roles=form.roles.data
            ),
            success="Roles saved. They apply from the member's next click.",
            then=url_for("identity.member", membership_id=membership_id),
        )
        if done:
            return done
    return render_template(
        "identity/member.html",
        membership=membership,
        form=form,
        idp_roles=provisioning.idp_manages_any_roles(db.session, org_id=actor.org_id),
    ), status_of(form)


# --- organization settings ---------------------------------------------------------------


@bp.route("/admin/organization", methods=["GET", "POST"])
@login_required
def organization():
    actor = current_actor()
    require(actor, "organization.manage")
    org = db.session.get(Organization, actor.org_id)
    form = forms.OrganizationForm(obj=org)
    form.timezone.choices = sorted(available_timezones())
    form.locale.choices = forms.locale_choices()
    done = submitted(
        form,
        lambda: services.update_organization(
            db.session,
            actor=actor,
            name=form.name.data,
            base_currency=form.base_currency.data,
            timezone=form.timezone.data,
            locale=form.locale.data,
        ),
        success="Organization settings saved.",
        then=url_for("identity.organization"),
    )
    if done:
        return done
    return render_template("identity/organization.html", form=form, org=org), status_of(form)
