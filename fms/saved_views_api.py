"""/api/v1/saved-views: a person's saved views of lists (the toolbar's *Saved views*), as the
pages keep them (`fms.saved_views`): their own and the organization's shared ones are
listed and read; only the owner renames or deletes one (another person's is a 404)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from fms import saved_views
from fms.api.common import API_PREFIX
from fms.extensions import db
from fms.identity.web_session import current_actor

blp = Blueprint("saved_views_api", __name__, url_prefix=API_PREFIX, description="Saved views")
bad_input = blp.alt_response(422, response="UNPROCESSABLE_ENTITY")


class SavedViewQuery(Schema):
    list_key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The list: engagements, freelancers, requisitions, ..."},
    )


class SavedViewIn(Schema):
    list_key = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    query = fields.String(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={
            "description": "The list's filters and sort as a query string "
            "(`state=active&sort=-start_date`); checked as the list checks them."
        },
    )
    shared = fields.Boolean(
        load_default=False, metadata={"description": "Shared with the organization (staff)."}
    )


class SavedViewPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=80))


class SavedViewOut(Schema):
    id = fields.Integer()
    list_key = fields.String()
    name = fields.String()
    query = fields.String()
    shared = fields.Boolean()
    mine = fields.Boolean(metadata={"description": "Yours (you may rename and delete it)."})
    created_at = fields.DateTime()


def _body(view, actor) -> dict:
    return {
        "id": view.id,
        "list_key": view.list_key,
        "name": view.name,
        "query": view.query,
        "shared": view.shared,
        "mine": view.owner_user_id == actor.user_id,
        "created_at": view.created_at,
    }


@blp.route("/saved-views")
class SavedViews(MethodView):
    @blp.arguments(SavedViewQuery, location="query")
    @blp.response(200, SavedViewOut(many=True))
    @bad_input
    def get(self, args):
        """Your saved views of a list and those shared with the organization, by name."""
        actor = current_actor()
        rows = saved_views.list_views(db.session, actor=actor, list_key=args["list_key"])
        return [_body(v, actor) for v in rows]

    @blp.arguments(SavedViewIn)
    @blp.response(201, SavedViewOut)
    @bad_input
    def post(self, data):
        """Save a list's filters and sort under a name (a bad filter is a 422)."""
        actor = current_actor()
        view = saved_views.create_view(db.session, actor=actor, **data)
        body = _body(view, actor)
        db.session.commit()
        return body


@blp.route("/saved-views/<int:view_id>")
class SavedViewById(MethodView):
    @blp.response(200, SavedViewOut)
    def get(self, view_id: int):
        """One of your views, or one shared with the organization."""
        actor = current_actor()
        return _body(saved_views.get_view(db.session, actor=actor, view_id=view_id), actor)

    @blp.arguments(SavedViewPatchIn)
    @blp.response(200, SavedViewOut)
    @bad_input
    def patch(self, data, view_id: int):
        """Rename your view (`{}` changes nothing)."""
        actor = current_actor()
        if "name" in data:
            view = saved_views.rename_view(db.session, actor=actor, view_id=view_id, **data)
        else:
            view = saved_views.get_own_view(db.session, actor=actor, view_id=view_id)
        body = _body(view, actor)
        db.session.commit()
        return body

    @blp.response(204)
    def delete(self, view_id: int):
        """Delete your view."""
        saved_views.delete_view(db.session, actor=current_actor(), view_id=view_id)
        db.session.commit()
