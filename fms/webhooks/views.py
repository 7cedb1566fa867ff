"""Webhook pages for org admins: the endpoints, a form to add or change one, and an
endpoint's page with its delivery log, secret rotation and resend buttons."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from fms.extensions import db
from fms.forms import page_arg, status_of, submitted
from fms.identity import web_session
from fms.identity.forms import EmptyForm
from fms.identity.permissions import require
from fms.identity.web_session import current_actor
from fms.timekeeping import utcnow
from fms.webhooks import queries, services
from fms.webhooks.events import EVENTS
from fms.webhooks.forms import EndpointForm
from fms.webhooks.models import DELIVERY_STATES

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")
PER_PAGE = 50
SECRET_KEY = "show_once_webhook_secret"  # noqa: S105 - a session key, not a secret


@bp.get("")
@login_required
def index():
    actor = current_actor()
    rows, total = queries.list_endpoints(db.session, actor=actor, per_page=services.MAX_ENDPOINTS)
    return render_template(
        "webhooks/index.html",
        rows=rows,
        total=total,
        counts=queries.failing_counts(db.session, [e.id for e in rows]),
        labels={e.name: e.label for e in EVENTS.values()},
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    actor = current_actor()
    require(actor, services.PERMISSION)
    form = EndpointForm()
    done = submitted(
        form,
        lambda: services.create_endpoint(db.session, actor=actor, **form.values()),
        success="Endpoint added. Copy its signing secret now: it is not shown again.",
        then=lambda created: _show_secret(created),
    )
    if done:
        return done
    return render_template("webhooks/form.html", form=form, endpoint=None), status_of(form)


def _show_secret(created) -> str:
    endpoint, secret = created
    web_session.show_once(secret, key=SECRET_KEY)
    return url_for(".endpoint", endpoint_id=endpoint.id)


@bp.get("/<int:endpoint_id>")
@login_required
def endpoint(endpoint_id: int):
    actor = current_actor()
    found = services.get_endpoint(db.session, actor=actor, endpoint_id=endpoint_id)
    state = request.args.get("state")
    state = state if state in DELIVERY_STATES else None
    page = max(request.args.get("page", 1, type=page_arg) or 1, 1)
    rows, total = queries.deliveries(
        db.session, endpoint_id=found.id, state=state, page=page, per_page=PER_PAGE
    )
    return render_template(
        "webhooks/endpoint.html",
        endpoint=found,
        rows=rows,
        total=total,
        page=page,
        per_page=PER_PAGE,
        state=state,
        states=DELIVERY_STATES,
        labels={e.name: e.label for e in EVENTS.values()},
        secret=web_session.take_shown_once(key=SECRET_KEY),
        now=utcnow(),
    )


@bp.route("/<int:endpoint_id>/edit", methods=["GET", "POST"])
@login_required
def edit(endpoint_id: int):
    actor = current_actor()
    found = services.get_endpoint(db.session, actor=actor, endpoint_id=endpoint_id)
    form = EndpointForm(obj=found, one_time=False)
    done = submitted(
        form,
        lambda: services.update_endpoint(
            db.session, actor=actor, endpoint_id=found.id, **form.values()
        ),
        success="Endpoint saved.",
        then=url_for(".endpoint", endpoint_id=found.id),
    )
    if done:
        return done
    return render_template("webhooks/form.html", form=form, endpoint=found), status_of(form)


@bp.post("/<int:endpoint_id>/rotate")
@login_required
def rotate(endpoint_id: int):
    actor = current_actor()
    services.get_endpoint(db.session, actor=actor, endpoint_id=endpoint_id)
    if EmptyForm().validate_on_submit():
        _, secret = services.rotate_secret(db.session, actor=actor, endpoint_id=endpoint_id)
        db.session.commit()
        web_session.show_once(secret, key=SECRET_KEY)
        flash(
            "New secret created. Until the time shown, deliveries carry a signature with each "
            "secret, so switch your receiver to the new one before then.",
            "success",
        )
    return redirect(url_for(".endpoint", endpoint_id=endpoint_id))


@bp.post("/<int:endpoint_id>/delete")
@login_required
def delete(endpoint_id: int):
    actor = current_actor()
    services.get_endpoint(db.session, actor=actor, endpoint_id=endpoint_id)
    if EmptyForm().validate_on_submit():
        services.delete_endpoint(db.session, actor=actor, endpoint_id=endpoint_id)
        db.session.commit()
        flash("Endpoint removed with its delivery log.", "success")
        return redirect(url_for(".index"))
    return redirect(url_for(".endpoint", endpoint_id=endpoint_id))


@bp.post("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@login_required
def resend(endpoint_id: int, delivery_id: int):
    actor = current_actor()
    services.get_delivery(db.session, actor=actor, endpoint_id=endpoint_id, delivery_id=delivery_id)
    if EmptyForm().validate_on_submit():
        services.resend_delivery(
            db.session, actor=actor, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
        db.session.commit()
        flash("Sent again, with the same delivery id.", "success")
    return redirect(url_for(".endpoint", endpoint_id=endpoint_id))
