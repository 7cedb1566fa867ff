"""Token pages: a person's own tokens (their account), and org admins' integrations."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from fms.errors import RuleViolation
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity import web_session
from fms.identity.forms import EmptyForm
from fms.identity.permissions import require
from fms.identity.tokens import forms, services
from fms.identity.web_session import current_actor

bp = Blueprint("tokens", __name__)

NEW_TOKEN_KEY = "show_once_api_token"  # noqa: S105 - a session key, not a secret
CREATED = "Token created. Copy it now: it will not be shown again."


def _create_token(form, create, back: str):
    """Create a token from the form; its secret waits (in the signed cookie) for the page
    after the redirect, which shows it once."""
    return submitted(
        form,
        lambda: create(
            name=form.name.data,
            scopes=form.scopes.data,
            expires_in_days=form.expires_in_days.data or None,
        ),
        success=CREATED,
        then=web_session.then_show_once(back, lambda created: created[1], key=NEW_TOKEN_KEY),
    )


def _revoke(token_id: int, back: str, *, kind: str, service_account_id: int | None = None):
    from fms.errors import NotFound

    actor = current_actor()
    token = services.get_token(db.session, actor=actor, token_id=token_id)  # 404 unless theirs
    if token.kind != kind or token.service_account_id != service_account_id:
        raise NotFound("No such token.")
    if EmptyForm().validate_on_submit():
        try:
            services.revoke_token(db.session, actor=actor, token_id=token_id)
        except RuleViolation as exc:
            db.session.rollback()
            flash(exc.detail, "danger")
        else:
            db.session.commit()
            flash("Token revoked: requests with it are refused from now on.", "success")
    return redirect(back)


# --- a person's own tokens ----------------------------------------------------------------


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def personal():
    actor = current_actor()
    form = forms.TokenForm()
    back = url_for("tokens.personal")
    done = _create_token(
        form,
        lambda **data: services.create_personal_token(db.session, actor=actor, **data),
        back,
    )
    if done:
        return done
    return render_template(
        "identity/tokens/personal.html",
        form=form,
        tokens=services.personal_tokens(db.session, actor=actor),
        new_token=web_session.take_shown_once(key=NEW_TOKEN_KEY),
        status=services.status,
    ), status_of(form)


@bp.post("/account/tokens/<int:personal_token_id>/revoke")
@login_required
def revoke_personal(personal_token_id: int):
    return _revoke(personal_token_id, url_for("tokens.personal"), kind="personal")


# --- integrations (org admins) ------------------------------------------------------------


@bp.route("/admin/integrations", methods=["GET", "POST"])
@login_required
def integrations():
    actor = current_actor()
    require(actor, "integrations.manage")
    form = forms.ServiceAccountForm()
    done = submitted(
        form,
        lambda: services.create_service_account(
            db.session,
            actor=actor,
            name=form.name.data,
            description=form.description.data,
            roles=form.roles.data,
        ),
        success="Integration added. Give it a token to connect.",
        then=lambda account: url_for("tokens.integration", service_account_id=account.id),
    )
    if done:
        return done
    return render_template(
        "identity/tokens/integrations.html",
        form=form,
        accounts=services.list_service_accounts(db.session, actor=actor),
        live=services.live_token_counts(db.session, actor=actor),
    ), status_of(form)


@bp.route("/admin/integrations/<int:service_account_id>", methods=["GET", "POST"])
@login_required
def integration(service_account_id: int):
    actor = current_actor()
    account = services.get_service_account(
        db.session, actor=actor, service_account_id=service_account_id
    )
    back = url_for("tokens.integration", service_account_id=account.id)
    action = request.form.get("action")
    edit = forms.ServiceAccountEditForm(
        prefix="edit",
        formdata=request.form if action == "edit" else None,
        data={
            "name": account.name,
            "description": account.description,
            "roles": account.roles,
            "is_active": account.is_active,
        },
    )
    token_form = forms.TokenForm(
        prefix="token", formdata=request.form if action == "token" else None
    )
    if action == "edit":
        done = submitted(
            edit,
            lambda: services.update_service_account(
                db.session,
                actor=actor,
                service_account_id=account.id,
                name=edit.name.data,
                description=edit.description.data or "",
                roles=edit.roles.data,
                is_active=edit.is_active.data,
            ),
            success="Integration saved.",
            then=back,
        )
        if done:
            return done
    elif action == "token":
        done = _create_token(
            token_form,
            lambda **data: services.create_integration_token(
                db.session, actor=actor, service_account_id=account.id, **data
            ),
            back,
        )
        if done:
            return done
    return render_template(
        "identity/tokens/integration.html",
        integration=account,  # not "account": base.html has a macro of that name
        edit=edit,
        form=token_form,
        tokens=services.integration_tokens(db.session, actor=actor, service_account_id=account.id),
        new_token=web_session.take_shown_once(key=NEW_TOKEN_KEY),
        status=services.status,
    ), status_of(edit, token_form)


@bp.post("/admin/integrations/<int:service_account_id>/tokens/<int:integration_token_id>/revoke")
@login_required
def revoke_integration_token(service_account_id: int, integration_token_id: int):
    actor = current_actor()
    services.get_service_account(db.session, actor=actor, service_account_id=service_account_id)
    return _revoke(
        integration_token_id,
        url_for("tokens.integration", service_account_id=service_account_id),
        kind="integration",
        service_account_id=service_account_id,
    )
