"""Workforce routes of /api/v1: org structure and freelancers."""

from __future__ import annotations

from functools import partial

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fms.api import etag
from fms.api.common import (
    API_PREFIX,
    LookupPageOut,
    LookupQuery,
    PageArgs,
    lookup_body,
    page_body,
    updated_since_field,
)
from fms.api.idempotency import idempotent
from fms.extensions import db
from fms.identity.web_session import current_actor, org_today
from fms.lists import api_page, api_schema
from fms.workforce import lookups, schemas, services
from fms.workforce.lists import (
    COST_CENTRES,
    DEPARTMENTS,
    ENGAGEMENTS,
    EXCHANGE_RATES,
    FREELANCERS,
    LOCATIONS,
    REQUISITIONS,
    SKILLS,
    SUPPLIERS,
)

blp = Blueprint(
    "workforce_api", __name__, url_prefix=API_PREFIX, description="Org structure and freelancers"
)
# the list routes take the list pages' sort keys and filters (fms/lists.py)
# integrations poll the records people change with `?updated_since=` (fms.modified)
ENGAGEMENT_QUERY = api_schema(
    ENGAGEMENTS, "EngagementQuery", extra={"updated_since": updated_since_field()}
)
FREELANCER_QUERY = api_schema(FREELANCERS, "FreelancerQuery")
REQUISITION_QUERY = api_schema(
    REQUISITIONS, "RequisitionQuery", extra={"updated_since": updated_since_field()}
)
SUPPLIER_QUERY = api_schema(SUPPLIERS, "SupplierQuery")
SKILL_QUERY = api_schema(SKILLS, "SkillQuery")
EXCHANGE_RATE_QUERY = api_schema(EXCHANGE_RATES, "ExchangeRateQuery")


def _list_body(spec, args: dict) -> dict:
    """One page of a catalogue or structure list, as `{items, page, per_page, total}`, for
    those with the spec's permission (the page's check)."""
    from fms.identity.permissions import require

    actor = current_actor()
    require(actor, spec.permission)
    page = api_page(db.session, spec, args, actor=actor, context={"today": org_today()})
    return page_body([r[0] for r in page.rows], page.total, args)


def _structure_routes(kind: str, path: str, id_name: str, spec, out, page_out, create_in, patch_in):
    """Register list/create and get/patch routes for one kind of org structure unit; the list
    is the structure page's list of that kind (its hidden `unit` filter fixed by the route)."""
    query = api_schema(spec, f"{kind.title().replace('_', '')}Query")

    class Collection(MethodView):
        @blp.arguments(query, location="query")
        @blp.response(200, page_out)
        def get(self, args):
            return _list_body(spec, args)

        @blp.arguments(create_in)
        @blp.response(201, out)
        def post(self, data):
            unit = services.create_unit(db.session, actor=current_actor(), kind=kind, **data)
            db.session.commit()
            return unit

    class Item(MethodView):
        @etag.documented
        @blp.response(200, out)
        def get(self, **ids):
            unit = services.get_unit(
                db.session, actor=current_actor(), kind=kind, unit_id=ids[id_name]
            )
            return etag.tagged(unit, out)

        @etag.documented
        @blp.arguments(patch_in)
        @blp.response(200, out)
        def patch(self, data, **ids):
            """Rename or recode the unit, or archive it (`is_active: false`); what is left out
            stays. With `If-Match` (the unit's ETag) only if nobody changed it meanwhile."""
            from fms.identity.permissions import require

            actor = current_actor()
            unit = services.get_unit(db.session, actor=actor, kind=kind, unit_id=ids[id_name])
            require(actor, "structure.manage")  # a reader is refused before versions are compared
            etag.check_if_match(lambda: unit, out, lock=unit)
            unit = services.update_unit(
                db.session, actor=actor, kind=kind, unit_id=ids[id_name], **data
            )
            db.session.commit()
            return etag.tagged(unit, out)

    Collection.__name__ = f"{kind.title().replace('_', '')}s"
    Item.__name__ = f"{kind.title().replace('_', '')}ById"
    blp.route(path, endpoint=f"{kind}_list")(Collection)
    blp.route(f"{path}/<int:{id_name}>", endpoint=f"{kind}_item")(Item)


_structure_routes(
    "department",
    "/departments",
    "department_id",
    DEPARTMENTS,
    schemas.UnitOut,
    schemas.UnitPage,
    schemas.UnitIn,
    schemas.UnitPatchIn,
)
_structure_routes(
    "cost_centre",
    "/cost-centres",
    "cost_centre_id",
    COST_CENTRES,
    schemas.UnitOut,
    schemas.UnitPage,
    schemas.UnitIn,
    schemas.UnitPatchIn,
)
_structure_routes(
    "location",
    "/locations",
    "location_id",
    LOCATIONS,
    schemas.LocationOut,
    schemas.LocationPage,
    schemas.LocationIn,
    schemas.LocationPatchIn,
)


def _freelancer_body(profile, actor) -> dict:
    """A profile as the actor may see it: bank and tax details left out unless permitted."""
    body = {c.key: getattr(profile, c.key) for c in profile.__table__.columns}
    for name in services.BANK_FIELDS:
        body[f"{name}_on_file"] = body[name] is not None
    if not services.may_see_bank_details(actor, profile):
        for name in services.BANK_FIELDS:
            del body[name]
    return body


@blp.route("/freelancers")
class Freelancers(MethodView):
    @blp.arguments(FREELANCER_QUERY, location="query")
    @blp.response(200, schemas.FreelancerPage)
    def get(self, args):
        """Freelancers known to the organization; sorted and filtered like the directory."""
        from fms.identity.permissions import require

        actor = current_actor()
        require(actor, "freelancers.read")
        page = api_page(db.session, FREELANCERS, args, actor=actor, context={"today": org_today()})
        return page_body(
            [_freelancer_body(r.Freelancer, actor) for r in page.rows], page.total, args
        )

    @blp.arguments(schemas.FreelancerIn)
    @blp.response(201, schemas.FreelancerOut)
    def post(self, data):
        """Record a freelancer (procurement); tax id and IBAN are validated."""
        actor = current_actor()
        profile = services.create_freelancer(db.session, actor=actor, **data)
        db.session.commit()
        return _freelancer_body(profile, actor)


@blp.route("/freelancers/<int:freelancer_id>")
class FreelancerById(MethodView):
    @etag.documented
    @blp.response(200, schemas.FreelancerOut)
    def get(self, freelancer_id: int):
        actor = current_actor()
        profile = services.get_freelancer(db.session, actor=actor, freelancer_id=freelancer_id)
        return etag.tagged(_freelancer_body(profile, actor), schemas.FreelancerOut)

    @etag.documented
    @blp.arguments(schemas.FreelancerPatchIn)
    @blp.response(200, schemas.FreelancerOut)
    def patch(self, data, freelancer_id: int):
        """Procurement, or the freelancer themselves, update the profile.

        IBAN and tax id are changed only by those who may read them. With `If-Match`
        (the profile's ETag) only if nobody changed the profile meanwhile.
        """
        from fms.tenancy import get_in_org
        from fms.workforce.models import Freelancer

        actor = current_actor()
        profile = get_in_org(db.session, Freelancer, freelancer_id, what="freelancer")
        if services.is_own_profile(actor, profile) or actor.can("freelancers.manage"):
            # (anyone else is refused by the service, whatever they send)
            etag.check_if_match(
                lambda: _freelancer_body(profile, actor), schemas.FreelancerOut, lock=profile
            )
        profile = services.update_freelancer(
            db.session, actor=actor, freelancer_id=freelancer_id, **data
        )
        db.session.commit()
        return etag.tagged(_freelancer_body(profile, actor), schemas.FreelancerOut)


@blp.route("/my/profile")
class OwnProfile(MethodView):
    @etag.documented
    @blp.response(200, schemas.FreelancerOut)
    def get(self):
        """The signed-in freelancer's own profile in this organization, bank details included."""
        actor = current_actor()
        body = _freelancer_body(services.own_profile(db.session, actor=actor), actor)
        return etag.tagged(body, schemas.FreelancerOut)

    @etag.documented
    @blp.arguments(schemas.OwnProfilePatchIn)
    @blp.response(200, schemas.FreelancerOut)
    def patch(self, data):
        """The freelancer keeps their own profile, tax id and IBAN current (with `If-Match`:
        only if the profile did not change meanwhile)."""
        actor = current_actor()
        profile = services.own_profile(db.session, actor=actor)
        etag.check_if_match(
            lambda: _freelancer_body(profile, actor), schemas.FreelancerOut, lock=profile
        )
        profile = services.update_freelancer(
            db.session, actor=actor, freelancer_id=profile.id, **data
        )
        db.session.commit()
        return etag.tagged(_freelancer_body(profile, actor), schemas.FreelancerOut)


@blp.before_request
def _objects_first():
    """Another organization's object is a 404 before the request body is even looked at."""
    from fms.tenancy import get_in_org
    from fms.workforce import engagements, requisitions
    from fms.workforce.models import (
        Amendment,
        Freelancer,
        OnboardingStep,
        Skill,
        Supplier,
    )

    args = request.view_args or {}
    if "requisition_id" in args:
        requisitions.get_requisition(
            db.session, actor=current_actor(), requisition_id=args["requisition_id"]
        )
    if "engagement_id" in args:
        engagements.get_engagement(
            db.session, actor=current_actor(), engagement_id=args["engagement_id"]
        )
    # tenancy only (permissions stay the services'): a write's body is not checked first
    for name, model in (
        ("supplier_id", Supplier),
        ("freelancer_id", Freelancer),
        ("skill_id", Skill),
        ("step_id", OnboardingStep),
    ):
        if name in args:
            get_in_org(db.session, model, args[name], what=name.removesuffix("_id"))
    if "amendment_id" in args:
        amendment = get_in_org(db.session, Amendment, args["amendment_id"], what="amendment")
        engagements.get_engagement(
            db.session, actor=current_actor(), engagement_id=amendment.engagement_id
        )


# --- requisitions ------------------------------------------------------------------------------


def _requisition_bodies(reqs):
    """Requisitions with their steps and engagement, in a fixed number of queries."""
    from fms.workforce import queries

    steps, engagement_ids = queries.requisition_extras(db.session, [r.id for r in reqs])
    bodies = []
    for req in reqs:
        body = {c.key: getattr(req, c.key) for c in req.__table__.columns}
        body.update(steps=steps[req.id], engagement_id=engagement_ids.get(req.id))
        bodies.append(body)
    return bodies


def _requisition_body(req):
    return _requisition_bodies([req])[0]


@blp.route("/requisitions")
class Requisitions(MethodView):
    @blp.arguments(REQUISITION_QUERY, location="query")
    @blp.response(200, schemas.RequisitionPage)
    def get(self, args):
        """Requisitions: all, mine, or waiting for a decision of mine; sorted and filtered
        like the list page."""
        from fms.identity.permissions import require

        actor = current_actor()
        require(actor, "requisitions.read")
        context = {"today": org_today(), "updated_since": args.get("updated_since")}
        page = api_page(db.session, REQUISITIONS, args, actor=actor, context=context)
        bodies = _requisition_bodies([r.Requisition for r in page.rows])
        return page_body(bodies, page.total, args)

    @blp.arguments(schemas.RequisitionIn)
    @blp.response(201, schemas.RequisitionOut)
    def post(self, data):
        """Draft a requisition (and submit it at once with `"submit": true`)."""
        from fms.workforce import requisitions

        actor = current_actor()
        submit = data.pop("submit")
        req = requisitions.create_requisition(db.session, actor=actor, **data)
        if submit:
            requisitions.submit_requisition(
                db.session,
                actor=actor,
                requisition_id=req.id,
                today=org_today(),
            )
        db.session.commit()
        return _requisition_body(req)


@blp.route("/requisitions/approvals")
class RequisitionApprovals(MethodView):
    @blp.arguments(schemas.RequisitionApprovalsIn)
    @blp.response(200, schemas.RequisitionApprovalsOut)
    def post(self, data):
        """Approve the current step of several requisitions, as the list page's bulk approval
        does: all of them or none (the problem names the first one you may not approve)."""
        from fms.workforce import requisitions

        rows = requisitions.approve_current_steps(
            db.session, actor=current_actor(), today=org_today(), **data
        )
        db.session.commit()
        return {"approved": [r.id for r in rows]}


@blp.route("/requisitions/<int:requisition_id>")
class RequisitionById(MethodView):
    @etag.documented
    @blp.response(200, schemas.RequisitionOut)
    def get(self, requisition_id: int):
        from fms.workforce import requisitions

        req = requisitions.get_requisition(
            db.session, actor=current_actor(), requisition_id=requisition_id
        )
        return etag.tagged(_requisition_body(req), schemas.RequisitionOut)

    @etag.documented
    @blp.arguments(schemas.RequisitionPatchIn)
    @blp.response(200, schemas.RequisitionOut)
    def patch(self, data, requisition_id: int):
        """The requester changes a draft (a rejected one once reopened); what is left out
        stays. With `If-Match` (the requisition's ETag) only if nobody changed it meanwhile."""
        from fms.workforce import requisitions

        actor = current_actor()
        req = requisitions.get_requisition(db.session, actor=actor, requisition_id=requisition_id)
        requisitions.require_requester(actor, req)  # refused before versions are compared
        etag.check_if_match(lambda: _requisition_body(req), schemas.RequisitionOut, lock=req)
        req = requisitions.update_requisition(
            db.session, actor=actor, requisition_id=requisition_id, **data
        )
        db.session.commit()
        return etag.tagged(_requisition_body(req), schemas.RequisitionOut)


def _requisition_action(name: str, path: str, call, doc: str):
    """A POST that moves one requisition (`call(session, actor=, requisition_id=)`)."""

    class Action(MethodView):
        @blp.response(200, schemas.RequisitionOut)
        def post(self, requisition_id: int):
            req = call(db.session, actor=current_actor(), requisition_id=requisition_id)
            db.session.commit()
            return _requisition_body(req)

    Action.post.__doc__ = doc
    Action.__name__ = name
    blp.route(f"/requisitions/<int:requisition_id>/{path}", endpoint=f"requisition_{path}")(Action)


def _register_requisition_actions():
    from fms.workforce import requisitions

    _requisition_action(
        "RequisitionCancellation",
        "cancellation",
        requisitions.cancel_requisition,
        "The requester (or procurement) withdraws a requisition that is not yet approved; "
        "steps still waiting are skipped.",
    )
    _requisition_action(
        "RequisitionReopening",
        "reopening",
        requisitions.reopen_requisition,
        "The requester takes a rejected requisition back to draft, to change and submit again.",
    )


_register_requisition_actions()


@blp.route("/requisitions/<int:requisition_id>/submit")
class RequisitionSubmit(MethodView):
    @blp.response(200, schemas.RequisitionOut)
    def post(self, requisition_id: int):
        """Submit a draft: its approval chain is fixed now."""
        from fms.workforce import requisitions

        req = requisitions.submit_requisition(
            db.session,
            actor=current_actor(),
            requisition_id=requisition_id,
            today=org_today(),
        )
        db.session.commit()
        return _requisition_body(req)


@blp.route("/requisitions/<int:requisition_id>/decision")
class RequisitionDecision(MethodView):
    @blp.arguments(schemas.DecisionIn)
    @blp.response(200, schemas.RequisitionOut)
    def post(self, data, requisition_id: int):
        """Approve or reject the current step (a comment is required to reject)."""
        from fms.workforce import requisitions

        req = requisitions.decide_step(
            db.session,
            actor=current_actor(),
            requisition_id=requisition_id,
            approve=data["decision"] == "approve",
            comment=data["comment"],
            today=org_today(),
        )
        db.session.commit()
        return _requisition_body(req)


# --- engagements -------------------------------------------------------------------------------


# What the freelancer does not see of their own engagement: the organization's budget,
# purchase order, accounting and approval trail.
_INTERNAL = ("po_number", "requisition_id", "created_by_user_id")
_INTERNAL_TERMS = ("budget_cap", "cost_centre_id", "amendment_id")
_STEP_FIELDS = ("id", "position", "title", "kind", "done_at")


def _engagement_bodies(rows, actor) -> list[dict]:
    """Engagements with terms and checklist as the actor may see them, in fixed queries."""
    from fms.workforce import queries

    ids = [e.id for e in rows]
    terms = queries.terms_by_engagement(db.session, ids)
    steps = queries.steps_by_engagement(db.session, ids)
    internal = actor.can("engagements.read")
    bodies = []
    for e in rows:
        body = {c.key: getattr(e, c.key) for c in e.__table__.columns}
        body["terms"] = [
            {**{c.key: getattr(t, c.key) for c in t.__table__.columns}, "currency": e.currency}
            for t in terms[e.id]
        ]
        body["checklist"] = [{k: getattr(s, k) for k in _STEP_FIELDS} for s in steps[e.id]]
        if not internal:
            for key in _INTERNAL:
                body.pop(key, None)
            if e.ended_by != "freelancer":
                body.pop("end_reason", None)
            for t in body["terms"]:
                for key in _INTERNAL_TERMS:
                    t.pop(key, None)
        bodies.append(body)
    return bodies


def _engagement_body(engagement, actor=None):
    return _engagement_bodies([engagement], actor or current_actor())[0]


@blp.route("/engagements")
class Engagements(MethodView):
    @blp.arguments(ENGAGEMENT_QUERY, location="query")
    @blp.response(200, schemas.EngagementPage)
    def get(self, args):
        """Engagements with their terms over time; sorted and filtered like the list page."""
        from fms.identity.permissions import require

        actor = current_actor()
        require(actor, "engagements.read")
        context = {"today": org_today(), "updated_since": args.get("updated_since")}
        page = api_page(db.session, ENGAGEMENTS, args, actor=actor, context=context)
        bodies = _engagement_bodies([r.Engagement for r in page.rows], actor)
        return page_body(bodies, page.total, args)

    @blp.arguments(schemas.EngagementIn)
    @blp.response(201, schemas.EngagementOut)
    def post(self, data):
        """Draft an engagement directly (procurement)."""
        from fms.workforce import engagements

        engagement = engagements.create_engagement(db.session, actor=current_actor(), **data)
        db.session.commit()
        return _engagement_body(engagement)


@blp.route("/my/engagements")
class OwnEngagements(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.EngagementPage)
    def get(self, args):
        """The signed-in freelancer's engagements until their end date: dates, rates and
        checklist (budget, PO number and other internal fields are left out)."""
        from fms.identity.permissions import require
        from fms.workforce import queries

        actor = current_actor()
        require(actor, "own_engagements.read")
        rows, total = queries.engagement_list(
            db.session,
            on=org_today(),
            freelancer_user_id=actor.user_id,
            page=args["page"],
            per_page=args["per_page"],
        )
        return page_body(_engagement_bodies([r.engagement for r in rows], actor), total, args)


@blp.route("/engagements/<int:engagement_id>")
class EngagementById(MethodView):
    @blp.response(200, schemas.EngagementOut)
    def get(self, engagement_id: int):
        from fms.workforce import engagements

        engagement = engagements.get_engagement(
            db.session, actor=current_actor(), engagement_id=engagement_id
        )
        return _engagement_body(engagement)


@blp.route("/engagements/<int:engagement_id>/actions")
class EngagementActions(MethodView):
    @blp.arguments(schemas.EngagementActionIn)
    @blp.response(200, schemas.EngagementOut)
    def post(self, data, engagement_id: int):
        """Move an engagement: submit, approve, reject, onboard, activate or cancel."""
        from fms.workforce import engagements

        actor = current_actor()
        action = data["action"]
        kwargs = {"actor": actor, "engagement_id": engagement_id}
        if action == "submit":
            engagements.submit_engagement(db.session, today=org_today(), **kwargs)
        elif action in ("approve", "reject"):
            engagements.decide_engagement(
                db.session, approve=action == "approve", comment=data["comment"], **kwargs
            )
        elif action == "onboard":
            engagements.start_onboarding(
                db.session,
                freelancer_id=data["freelancer_id"],
                confirm_supplier=data["confirm_supplier"],
                **kwargs,
            )
        elif action == "activate":
            engagements.activate(db.session, **kwargs)
        else:
            engagements.cancel(db.session, reason=data["comment"], **kwargs)
        db.session.commit()
        return _engagement_body(
            engagements.get_engagement(db.session, actor=actor, engagement_id=engagement_id)
        )


@blp.route("/engagements/<int:engagement_id>/steps/<int:step_id>/completion")
class OnboardingStepCompletion(MethodView):
    @blp.response(200, schemas.ChecklistStepOut)
    def post(self, engagement_id: int, step_id: int):
        """Tick an onboarding step of an onboarding engagement: signing, answering and
        uploading only by the freelancer on their own engagement, reviews by procurement or
        compliance; steps a compliance item completes cannot be ticked."""
        from fms.workforce import engagements

        step = engagements.complete_step(
            db.session, actor=current_actor(), step_id=step_id, engagement_id=engagement_id
        )
        db.session.commit()
        return step


@blp.route("/engagements/<int:engagement_id>/invitations")
class EngagementInvitations(MethodView):
    @blp.arguments(schemas.InvitationIn)
    @blp.response(201, schemas.InvitationOut)
    def post(self, data, engagement_id: int):
        """Invite the freelancer to an approved engagement; redeeming starts onboarding."""
        from flask import current_app, url_for

        from fms.workforce import engagements

        invitation, token = engagements.invite_freelancer(
            db.session, actor=current_actor(), engagement_id=engagement_id, **data
        )
        db.session.commit()
        base = current_app.config["FMS_BASE_URL"].rstrip("/")
        return {
            "invitation_id": invitation.id,
            "link": base + url_for("sso.invitation", token=token),
            "expires_at": invitation.expires_at,
        }


@blp.route("/engagements/<int:engagement_id>/notice")
class EngagementNotice(MethodView):
    @blp.arguments(schemas.NoticeIn)
    @blp.response(200, schemas.EngagementOut)
    def post(self, data, engagement_id: int):
        """End an active engagement at will, after the organization's notice period."""
        from fms.workforce import engagements

        engagement = engagements.give_notice(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            end_date=data["end_date"],
            reason=data["reason"],
            today=org_today(),
        )
        db.session.commit()
        return _engagement_body(engagement)


@blp.route("/engagements/<int:engagement_id>/review")
class EngagementReview(MethodView):
    @blp.arguments(schemas.ReviewIn)
    @blp.response(201, schemas.ReviewIn)
    def post(self, data, engagement_id: int):
        """The hiring manager's review at the end of the engagement."""
        from fms.workforce import engagements

        review = engagements.write_review(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            rating=data["rating"],
            comment=data["comment"],
            today=org_today(),
        )
        db.session.commit()
        return {"rating": review.rating, "comment": review.comment}


def _amendment_bodies(amendments):
    """Amendments with their chain and currencies, in a fixed number of queries."""
    from fms.identity.models import Organization
    from fms.workforce import engagements
    from fms.workforce.models import Engagement

    if not amendments:
        return []
    actor = current_actor()
    base = db.session.get(Organization, actor.org_id).base_currency
    steps = engagements.amendment_steps(db.session, [a.id for a in amendments])
    currency = dict(
        db.session.execute(
            select(Engagement.id, Engagement.currency).where(
                Engagement.id.in_({a.engagement_id for a in amendments})
            )
        ).all()
    )
    return [
        {c.key: getattr(a, c.key) for c in a.__table__.columns}
        | {"steps": steps[a.id], "currency": currency[a.engagement_id], "base_currency": base}
        for a in amendments
    ]


@blp.route("/engagements/<int:engagement_id>/amendments")
class EngagementAmendments(MethodView):
    @blp.response(200, schemas.AmendmentOut(many=True))
    def get(self, engagement_id: int):
        """Proposed and decided changes with their approval chains (staff: internal)."""
        from fms.identity.permissions import require
        from fms.workforce import engagements

        actor = current_actor()
        engagements.get_engagement(db.session, actor=actor, engagement_id=engagement_id)
        require(actor, "engagements.read")
        return _amendment_bodies(engagements.amendments(db.session, engagement_id))

    @idempotent
    @blp.arguments(schemas.AmendmentIn)
    @blp.response(201, schemas.AmendmentOut)
    def post(self, data, engagement_id: int):
        """Propose an effective-dated change; its approval chain is fixed now (a budget
        increase by its new cap in the base currency), and it applies once approved."""
        from fms.workforce import engagements

        amendment = engagements.request_amendment(
            db.session, actor=current_actor(), engagement_id=engagement_id, **data
        )
        body = _amendment_bodies([amendment])[0]
        db.session.commit()
        return body


@blp.route("/amendments/<int:amendment_id>/decision")
class AmendmentDecision(MethodView):
    @idempotent
    @blp.arguments(schemas.DecisionIn)
    @blp.response(200, schemas.AmendmentOut)
    def post(self, data, amendment_id: int):
        """Decide the amendment's current step (each by a different person with the step's
        role, never the requester); the last approval applies the change."""
        from fms.workforce import engagements

        amendment = engagements.decide_amendment(
            db.session,
            actor=current_actor(),
            amendment_id=amendment_id,
            approve=data["decision"] == "approve",
            comment=data["comment"],
        )
        body = _amendment_bodies([amendment])[0]
        db.session.commit()
        return body


# --- delegations -------------------------------------------------------------------------------


@blp.route("/delegations")
class Delegations(MethodView):
    @blp.arguments(schemas.DelegationQuery, location="query")
    @blp.response(200, schemas.DelegationOut(many=True))
    def get(self, args):
        """Stand-ins in force or to come (`include_past` adds ended and revoked ones):
        procurement and org admins see all, a hiring manager those they give or hold."""
        from fms.workforce import delegations

        return delegations.list_delegations(
            db.session, actor=current_actor(), today=org_today(), **args
        )

    @blp.arguments(schemas.DelegationIn)
    @blp.response(201, schemas.DelegationOut)
    def post(self, data):
        """Name a stand-in who acts for a hiring manager on their engagements for a period."""
        from fms.workforce import delegations

        delegation = delegations.create_delegation(
            db.session, actor=current_actor(), today=org_today(), **data
        )
        db.session.commit()
        return delegation


@blp.route("/delegations/<int:delegation_id>/revocation")
class DelegationRevocation(MethodView):
    @blp.response(200, schemas.DelegationOut)
    def post(self, delegation_id: int):
        """End a delegation at once (the manager, the stand-in, procurement or an admin)."""
        from fms.workforce import delegations

        delegation = delegations.revoke_delegation(
            db.session, actor=current_actor(), delegation_id=delegation_id
        )
        db.session.commit()
        return delegation


# --- headcount ---------------------------------------------------------------------------------


def _headcount_args(args):
    from fms.workforce import queries

    group_by = args.pop("group_by", None)
    if group_by is not None and group_by not in queries.GROUPS:
        from fms.errors import InvalidInput

        raise InvalidInput(
            f"group_by must be one of {', '.join(queries.GROUPS)}.",
            errors={"group_by": ["Unknown grouping."]},
        )
    on = args.pop("on", None) or org_today()
    args.pop("months", None)
    if "country" in args:
        args["country"] = args["country"].upper()
    return on, group_by, args


@blp.route("/headcount")
class Headcount(MethodView):
    @blp.arguments(schemas.HeadcountQuery, location="query")
    @blp.response(200, schemas.HeadcountOut)
    def get(self, args):
        """Contingent workers on a date: people (each once), engagements and FTE, by group."""
        from fms.identity.permissions import require
        from fms.workforce import queries

        actor = current_actor()
        require(actor, "headcount.read")
        on, group_by, filters = _headcount_args(dict(args))
        return queries.headcount(
            db.session, org_id=actor.org_id, on=on, group_by=group_by, filters=filters
        )


@blp.route("/headcount/trend")
class HeadcountTrend(MethodView):
    @blp.arguments(schemas.TrendQuery, location="query")
    @blp.response(200, schemas.TrendPointOut(many=True))
    def get(self, args):
        """Headcount as it was on each month's last day."""
        from fms.identity.permissions import require
        from fms.workforce import queries

        actor = current_actor()
        require(actor, "headcount.read")
        months = args.get("months", 12)
        on, _, filters = _headcount_args(dict(args))
        series = queries.trend(
            db.session, org_id=actor.org_id, today=on, months=months, filters=filters
        )
        return [
            {"on": point, "people": f.people, "engagements": f.engagements, "fte": f.fte}
            for point, f in series
        ]


# --- suppliers, skills, exchange rates ---------------------------------------------------------


@blp.route("/suppliers")
class Suppliers(MethodView):
    @blp.arguments(SUPPLIER_QUERY, location="query")
    @blp.response(200, schemas.SupplierPage)
    def get(self, args):
        """Suppliers; sorted and filtered like the suppliers page (the tax id only for
        procurement and finance, who alone may sort by it)."""
        body = _list_body(SUPPLIERS, args)
        actor = current_actor()
        body["items"] = [services.supplier_fields(actor, s) for s in body["items"]]
        return body

    @blp.arguments(schemas.SupplierIn)
    @blp.response(201, schemas.SupplierOut)
    def post(self, data):
        """Register a staffing agency (tax id checked per country)."""
        actor = current_actor()
        supplier = services.create_supplier(db.session, actor=actor, **data)
        db.session.commit()
        return services.supplier_fields(actor, supplier)


@blp.route("/suppliers/<int:supplier_id>")
class SupplierById(MethodView):
    @blp.response(200, schemas.SupplierOut)
    def get(self, supplier_id: int):
        actor = current_actor()
        supplier = services.get_supplier(db.session, actor=actor, supplier_id=supplier_id)
        return services.supplier_fields(actor, supplier)


@blp.route("/suppliers/<int:supplier_id>/contacts")
class SupplierContacts(MethodView):
    @blp.response(200, schemas.SupplierContactOut(many=True))
    def get(self, supplier_id: int):
        """The supplier's contacts, as its page lists them."""
        services.get_supplier(db.session, actor=current_actor(), supplier_id=supplier_id)
        return services.supplier_contacts(db.session, supplier_id)

    @blp.arguments(schemas.SupplierContactIn)
    @blp.response(201, schemas.SupplierContactOut)
    def post(self, data, supplier_id: int):
        """Procurement adds a contact person to the supplier."""
        contact = services.add_supplier_contact(
            db.session, actor=current_actor(), supplier_id=supplier_id, **data
        )
        db.session.commit()
        return contact


@blp.route("/freelancers/<int:freelancer_id>/skills")
class FreelancerSkills(MethodView):
    @blp.response(200, schemas.FreelancerSkillOut(many=True))
    def get(self, freelancer_id: int):
        """The freelancer's skills with their levels, as the profile page shows them."""
        profile = services.get_freelancer(
            db.session, actor=current_actor(), freelancer_id=freelancer_id
        )
        return services.freelancer_skills(db.session, profile.id)


@blp.route("/freelancers/<int:freelancer_id>/skills/<int:skill_id>")
class FreelancerSkillById(MethodView):
    @blp.arguments(schemas.FreelancerSkillIn)
    @blp.response(200, schemas.FreelancerSkillOut)
    def put(self, data, freelancer_id: int, skill_id: int):
        """Procurement records the freelancer's level in a skill of the taxonomy (1 basic
        to 5 expert), or changes it."""
        services.set_freelancer_skill(
            db.session,
            actor=current_actor(),
            freelancer_id=freelancer_id,
            skill_id=skill_id,
            level=data["level"],
        )
        db.session.commit()
        skills = services.freelancer_skills(db.session, freelancer_id)
        return next(s for s in skills if s.skill_id == skill_id)


@blp.route("/skills")
class Skills(MethodView):
    @blp.arguments(SKILL_QUERY, location="query")
    @blp.response(200, schemas.SkillPage)
    def get(self, args):
        """The skill taxonomy; sorted and filtered like the skills list."""
        return _list_body(SKILLS, args)

    @blp.arguments(schemas.SkillIn)
    @blp.response(201, schemas.SkillOut)
    def post(self, data):
        skill = services.create_skill(db.session, actor=current_actor(), **data)
        db.session.commit()
        return skill


# --- the organization's workforce rules (the settings page's sections) --------------------


def _base_currency() -> str:
    from fms.identity.models import Organization

    return db.session.get(Organization, current_actor().org_id).base_currency


def _settings_body() -> dict:
    from fms.workforce import queries

    current = queries.workforce_settings(db.session)
    return {
        "notice_period_days": current.notice_period_days,
        "trial_max_days": current.trial_max_days,
        "trial_max_budget": current.trial_max_budget,
        "currency": _base_currency(),
    }


def _chain_body() -> dict:
    from fms.workforce import queries

    currency = _base_currency()
    return {
        "steps": [
            {
                "position": rule.position,
                "role": rule.role,
                "label": rule.label,
                "min_budget": rule.min_budget,
                "currency": currency,
            }
            for rule in queries.approval_rules(db.session)
        ]
    }


def _read_settings() -> None:
    from fms.identity.permissions import require

    require(current_actor(), "structure.read")  # as the settings page


def _check_settings_version(render, schema) -> None:
    """The permission first (another role gets its 403, not a 412), then `If-Match` under
    the organization's row lock: two admins saving at once, the second with the tag it read
    before the first save, gets a 412 and changes nothing."""
    from fms.identity.models import Organization
    from fms.identity.permissions import require

    actor = current_actor()
    require(actor, "approval_rules.manage")
    etag.check_if_match(render, schema, lock=db.session.get(Organization, actor.org_id))


@blp.route("/workforce-settings")
class WorkforceSettings(MethodView):
    @etag.documented
    @blp.response(200, schemas.WorkforceSettingsOut)
    def get(self):
        """The notice period and the trial engagement limits (defaults until changed)."""
        _read_settings()
        return etag.tagged(_settings_body(), schemas.WorkforceSettingsOut)

    @etag.documented
    @blp.arguments(schemas.WorkforceSettingsIn)
    @blp.response(200, schemas.WorkforceSettingsOut)
    def put(self, data):
        """Set the notice period and the trial limits (org admins); audited."""
        _check_settings_version(_settings_body, schemas.WorkforceSettingsOut)
        services.update_settings(db.session, actor=current_actor(), **data)
        db.session.commit()
        return etag.tagged(_settings_body(), schemas.WorkforceSettingsOut)


@blp.route("/approval-chain")
class ApprovalChain(MethodView):
    @etag.documented
    @blp.response(200, schemas.ApprovalChainOut)
    def get(self):
        """The approval steps a requisition goes through, each from a budget threshold."""
        _read_settings()
        return etag.tagged(_chain_body(), schemas.ApprovalChainOut)

    @etag.documented
    @blp.arguments(schemas.ApprovalChainIn)
    @blp.response(200, schemas.ApprovalChainOut)
    def put(self, data):
        """Replace the approval steps (org admins); requisitions already submitted keep the
        chain they were given. Each step's label is made from its role and threshold."""
        _check_settings_version(_chain_body, schemas.ApprovalChainOut)
        services.set_approval_chain(db.session, actor=current_actor(), steps=data["steps"])
        db.session.commit()
        return etag.tagged(_chain_body(), schemas.ApprovalChainOut)


@blp.route("/onboarding-template")
class OnboardingTemplate(MethodView):
    @blp.response(200, schemas.TemplateStepList)
    def get(self):
        """The checklist new engagements start with, in order."""
        _read_settings()
        return {"items": services.onboarding_template(db.session)}

    @blp.arguments(schemas.TemplateStepIn)
    @blp.response(201, schemas.TemplateStepOut)
    def post(self, data):
        """Add a step at the end of the checklist (org admins); audited."""
        step = services.add_onboarding_template_step(db.session, actor=current_actor(), **data)
        db.session.commit()
        return step


@blp.route("/exchange-rates")
class ExchangeRates(MethodView):
    @blp.arguments(EXCHANGE_RATE_QUERY, location="query")
    @blp.response(200, schemas.ExchangeRatePage)
    def get(self, args):
        """Effective-dated rates; sorted and filtered like the exchange-rates page."""
        return _list_body(EXCHANGE_RATES, args)

    @blp.arguments(schemas.ExchangeRateIn)
    @blp.response(201, schemas.ExchangeRateOut)
    def post(self, data):
        """Finance adds an effective-dated rate into the base currency."""
        row = services.add_exchange_rate(db.session, actor=current_actor(), **data)
        db.session.commit()
        return row


# --- lookups: type-ahead pickers (fms/static/js/combobox.js) -----------------------------------


def _lookup_route(path: str, name: str, call, doc: str):
    class Lookup(MethodView):
        @blp.arguments(LookupQuery, location="query")
        @blp.response(200, LookupPageOut)
        def get(self, args):
            result = call(
                db.session,
                actor=current_actor(),
                q=args["q"],
                page=args["page"],
                per_page=args["per_page"],
            )
            return lookup_body(result)

    Lookup.get.__doc__ = doc
    Lookup.__name__ = name
    blp.route(f"/lookups/{path}", endpoint=f"lookup_{path.replace('-', '_')}")(Lookup)


_lookup_route(
    "freelancers",
    "FreelancerLookup",
    lookups.lookup_freelancers,
    "Freelancers by name or email, 20 at most per page; country and supplier as detail.",
)
_lookup_route(
    "suppliers",
    "SupplierLookup",
    lookups.lookup_suppliers,
    "Active suppliers by name or legal name, 20 at most per page.",
)
for _kind, _path in (
    ("department", "departments"),
    ("cost_centre", "cost-centres"),
    ("location", "locations"),
):
    _lookup_route(
        _path,
        f"{_kind.title().replace('_', '')}Lookup",
        partial(lookups.lookup_units, kind=_kind),
        f"Active {_path.replace('-', ' ')} by code or name, 20 at most per page.",
    )
