"""Workforce routes of /api/v1: org structure and freelancers."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from fms.api.common import API_PREFIX, page_body
from fms.extensions import db
from fms.identity.web_session import current_actor
from fms.workforce import schemas, services

blp = Blueprint(
    "workforce_api", __name__, url_prefix=API_PREFIX, description="Org structure and freelancers"
)


def _structure_routes(kind: str, path: str, id_name: str, out, create_in, patch_in):
    """Register list/create and get/patch routes for one kind of org structure unit."""

    class Collection(MethodView):
        @blp.response(200, out(many=True))
        def get(self):
            return services.list_units(db.session, actor=current_actor(), kind=kind)

        @blp.arguments(create_in)
        @blp.response(201, out)
        def post(self, data):
            unit = services.create_unit(db.session, actor=current_actor(), kind=kind, **data)
            db.session.commit()
            return unit

    class Item(MethodView):
        @blp.response(200, out)
        def get(self, **ids):
            return services.get_unit(
                db.session, actor=current_actor(), kind=kind, unit_id=ids[id_name]
            )

        @blp.arguments(patch_in)
        @blp.response(200, out)
        def patch(self, data, **ids):
            unit = services.update_unit(
                db.session, actor=current_actor(), kind=kind, unit_id=ids[id_name], **data
            )
            db.session.commit()
            return unit

    Collection.__name__ = f"{kind.title().replace('_', '')}s"
    Item.__name__ = f"{kind.title().replace('_', '')}ById"
    blp.route(path, endpoint=f"{kind}_list")(Collection)
    blp.route(f"{path}/<int:{id_name}>", endpoint=f"{kind}_item")(Item)


_structure_routes(
    "department",
    "/departments",
    "department_id",
    schemas.UnitOut,
    schemas.UnitIn,
    schemas.UnitPatchIn,
)
_structure_routes(
    "cost_centre",
    "/cost-centres",
    "cost_centre_id",
    schemas.UnitOut,
    schemas.UnitIn,
    schemas.UnitPatchIn,
)
_structure_routes(
    "location",
    "/locations",
    "location_id",
    schemas.LocationOut,
    schemas.LocationIn,
    schemas.LocationPatchIn,
)


@blp.route("/freelancers")
class Freelancers(MethodView):
    @blp.arguments(schemas.FreelancerQuery, location="query")
    @blp.response(200, schemas.FreelancerPage)
    def get(self, args):
        """Freelancers known to the organization; filter by country or a search text."""
        rows, total = services.list_freelancers(
            db.session,
            actor=current_actor(),
            country=args.get("country"),
            search=args.get("q"),
            page=args["page"],
            per_page=args["per_page"],
        )
        return page_body(rows, total, args)


@blp.route("/freelancers/<int:freelancer_id>")
class FreelancerById(MethodView):
    @blp.response(200, schemas.FreelancerOut)
    def get(self, freelancer_id: int):
        return services.get_freelancer(
            db.session, actor=current_actor(), freelancer_id=freelancer_id
        )
