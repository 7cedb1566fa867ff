"""Inbox routes of /api/v1: the signed-in person's own notifications and preferences.

Another person's notification, like another organization's, answers 404.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from fms.api.common import API_PREFIX, page_body
from fms.extensions import db
from fms.identity.web_session import current_actor
from fms.notifications import queries, schemas, services

blp = Blueprint(
    "notifications_api", __name__, url_prefix=API_PREFIX, description="The in-app inbox"
)


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(schemas.NotificationListIn, location="query")
    @blp.response(200, schemas.NotificationPageOut)
    def get(self, args: dict):
        """The signed-in person's notifications in the current organization, newest first."""
        rows, total = queries.list_inbox(
            db.session,
            actor=current_actor(),
            unread=args.get("unread"),
            page=args["page"],
            per_page=args["per_page"],
        )
        return page_body(rows, total, args)


@blp.route("/notifications/<int:notification_id>/read")
class NotificationRead(MethodView):
    @blp.response(200, schemas.NotificationOut)
    def post(self, notification_id: int):
        """Mark one of your notifications as read (already read: unchanged)."""
        note = services.mark_read(
            db.session, actor=current_actor(), notification_id=notification_id
        )
        db.session.commit()
        return note


@blp.route("/notifications/read-all")
class NotificationsReadAll(MethodView):
    @blp.response(200, schemas.ReadAllOut)
    def post(self):
        """Mark all your unread notifications in the current organization as read."""
        marked = services.mark_all_read(db.session, actor=current_actor())
        db.session.commit()
        return {"marked": marked}


@blp.route("/notification-preferences")
class NotificationPreferences(MethodView):
    @blp.response(200, schemas.PreferenceOut(many=True))
    def get(self):
        """Every kind of notification with your choice: inbox and mail, or inbox only."""
        return queries.preferences(db.session, actor=current_actor())

    @blp.arguments(schemas.PreferencesIn)
    @blp.response(200, schemas.PreferenceOut(many=True))
    def put(self, data: dict):
        """Set your choice for the kinds given (an unknown kind is refused, 422)."""
        actor = current_actor()
        choices = {item["kind"]: item["channel"] for item in data["preferences"]}
        services.set_preferences(db.session, actor=actor, choices=choices)
        db.session.commit()
        return queries.preferences(db.session, actor=actor)
