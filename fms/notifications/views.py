"""The outbox page for org admins: what FMS sent, is retrying, or could not send."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import login_required

from fms.extensions import db
from fms.forms import page_arg
from fms.identity.web_session import current_actor
from fms.notifications import queries
from fms.notifications import services as _services  # noqa: F401  - the after-commit drain hook
from fms.notifications.models import STATES
from fms.notifications.sender import smtp_settings

bp = Blueprint("notifications", __name__)
PER_PAGE = 50


@bp.get("/outbox")
@login_required
def outbox():
    actor = current_actor()
    state = request.args.get("state") or None
    state = state if state in STATES else None
    page = max(request.args.get("page", 1, type=page_arg) or 1, 1)
    rows, total = queries.list_messages(
        db.session, actor=actor, state=state, page=page, per_page=PER_PAGE
    )
    return render_template(
        "notifications/outbox.html",
        rows=rows,
        total=total,
        page=page,
        per_page=PER_PAGE,
        state=state,
        states=STATES,
        counts=queries.state_counts(db.session, actor=actor),
        smtp=smtp_settings(current_app.config),
    )


@bp.get("/outbox/<int:message_id>")
@login_required
def message(message_id: int):
    actor = current_actor()
    found = queries.get_message(db.session, actor=actor, message_id=message_id)
    return render_template(
        "notifications/message.html",
        message=found,
        states=STATES,
        smtp=smtp_settings(current_app.config),
    )
