"""The outbox page for org admins (what FMS sent, is retrying, or could not send), and
everyone's inbox: the bell, the list, mark as read, and mail preferences per kind."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import login_required

from fms.extensions import db
from fms.forms import page_arg
from fms.identity.web_session import current_actor
from fms.notifications import (
    queries,
    services,  # also installs the after-commit drain hook
)
from fms.notifications.kinds import all_kinds
from fms.notifications.models import CHANNELS, STATES
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


# --- the inbox: every signed-in person's own notifications ---------------------------------

INBOX_PER_PAGE = 25


@bp.app_context_processor
def _inbox_bell():
    """`inbox_unread()` for the bell in the top bar: counted only when a page shows it."""
    actor = g.get("actor")
    if actor is None or actor.org_id is None or actor.user_id is None:
        return {}

    counted: list[int] = []  # once per rendered page, however often the page asks

    def inbox_unread() -> int:
        if not counted:
            counted.append(
                queries.unread_count(db.session, org_id=actor.org_id, user_id=actor.user_id)
            )
        return counted[0]

    return {"inbox_unread": inbox_unread}


@bp.get("/inbox")
@login_required
def inbox():
    actor = current_actor()
    show = request.args.get("show")
    unread = True if show == "unread" else None
    page = max(request.args.get("page", 1, type=page_arg) or 1, 1)
    rows, total = queries.list_inbox(
        db.session, actor=actor, unread=unread, page=page, per_page=INBOX_PER_PAGE
    )
    return render_template(
        "notifications/inbox.html",
        rows=rows,
        total=total,
        page=page,
        per_page=INBOX_PER_PAGE,
        show="unread" if unread else "all",
        labels={kind.key: kind.label for kind in all_kinds()},
    )


@bp.post("/inbox/<int:notification_id>/read")
@login_required
def read(notification_id: int):
    services.mark_read(db.session, actor=current_actor(), notification_id=notification_id)
    db.session.commit()
    return redirect(_back())


@bp.post("/inbox/read-all")
@login_required
def read_all():
    count = services.mark_all_read(db.session, actor=current_actor())
    db.session.commit()
    flash(f"{count} notification{'' if count == 1 else 's'} marked as read.", "success")
    return redirect(_back())


@bp.route("/inbox/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    actor = current_actor()
    rows = queries.preferences(db.session, actor=actor)
    if request.method == "POST":
        choices = {
            row["kind"]: request.form.get(f"channel-{row['kind']}", row["channel"]) for row in rows
        }
        services.set_preferences(db.session, actor=actor, choices=choices)
        db.session.commit()
        flash("Notification preferences saved.", "success")
        return redirect(url_for(".preferences"))
    return render_template("notifications/preferences.html", rows=rows, channels=CHANNELS)


def _back() -> str:
    """Back to the inbox page the form was on (only our own inbox, never an outside URL)."""
    page = request.form.get("page", type=page_arg) or 1
    show = request.form.get("show")
    args = {"page": page} if page > 1 else {}
    if show == "unread":
        args["show"] = "unread"
    return url_for(".inbox", **args)
