"""Identity routes of /api/v1: me, organizations, users and memberships."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf

from fms.api import etag
from fms.api.common import API_PREFIX, LookupPageOut, lookup_body, page_body
from fms.errors import InvalidInput
from fms.extensions import db
from fms.identity import accounts, memberships, schemas, services
from fms.identity.lists import INVITATIONS, MEMBERS
from fms.identity.models import Organization
from fms.identity.permissions import permissions_for, require
from fms.identity.sso import invitations
from fms.identity.web_session import current_actor
from fms.lists import api_page, api_schema

blp = Blueprint(
    "identity_api", __name__, url_prefix=API_PREFIX, description="Organizations and members"
)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, schemas.MeOut)
    def get(self):
        """Who is signed in, where, with which roles; and the CSRF token for writes."""
        return _me()

    @blp.arguments(schemas.MePatchIn)
    @blp.response(200, schemas.MeOut)
    def patch(self, data: dict):
        """Set the signed-in person's own locale (null: follow the organization's)."""
        accounts.set_locale(db.session, user=g.user, locale=data["locale"])
        db.session.commit()
        return _me()


def _me() -> dict:
    actor = current_actor()
    orgs = services.organizations_of(db.session, actor.user_id)
    return {
        "user": g.user,
        "organization": next(o for o in orgs if o.id == actor.org_id),
        "roles": sorted(actor.roles),
        "permissions": sorted(permissions_for(actor.roles)),
        "organizations": orgs,
        "csrf_token": generate_csrf(),
        "locale": g.user.locale,
    }


@blp.route("/organizations")
class Organizations(MethodView):
    @blp.response(200, schemas.OrganizationOut(many=True))
    def get(self):
        """Organizations the signed-in user belongs to."""
        actor = current_actor()
        return services.organizations_of(db.session, actor.user_id)


@blp.route("/organizations/<int:org_id>")
class OrganizationById(MethodView):
    @etag.documented
    @blp.response(200, schemas.OrganizationOut)
    def get(self, org_id: int):
        """One organization; 404 unless the user belongs to it."""
        org = services.get_organization(db.session, actor=current_actor(), org_id=org_id)
        return etag.tagged(org, schemas.OrganizationOut)

    @etag.documented
    @blp.arguments(schemas.OrganizationPatchIn)
    @blp.response(200, schemas.OrganizationOut)
    def patch(self, data: dict, org_id: int):
        """Change the current organization's name, base currency, timezone or locale (org
        admins). With `If-Match` (the organization's ETag) only if nobody changed it
        meanwhile."""
        actor = current_actor()
        services.get_organization(db.session, actor=actor, org_id=org_id)
        if org_id != actor.org_id:
            raise InvalidInput("Switch to this organization before changing it.")
        org = db.session.get(Organization, org_id)
        require(actor, "organization.manage")  # a member is refused before versions are compared
        etag.check_if_match(lambda: org, schemas.OrganizationOut, lock=org)
        services.update_organization(
            db.session,
            actor=actor,
            name=data.get("name", org.name),
            base_currency=data.get("base_currency", org.base_currency),
            timezone=data.get("timezone", org.timezone),
            locale=data.get("locale"),
        )
        db.session.commit()
        return etag.tagged(org, schemas.OrganizationOut)


# the members list route takes the members page's sort keys and filters (fms/lists.py)
MEMBERSHIP_QUERY = api_schema(MEMBERS, "MembershipQuery")
INVITATION_QUERY = api_schema(INVITATIONS, "InvitationQuery")


@blp.route("/memberships")
class Memberships(MethodView):
    @blp.arguments(MEMBERSHIP_QUERY, location="query")
    @blp.response(200, schemas.MembershipPage)
    def get(self, args: dict):
        """Members of the current organization (org admins); sorted and filtered like the
        members page."""
        from fms.identity.permissions import require

        actor = current_actor()
        require(actor, "members.read")
        page = api_page(db.session, MEMBERS, args, actor=actor, context={})
        return page_body([r.Membership for r in page.rows], page.total, args)

    @blp.arguments(schemas.MembershipIn)
    @blp.response(201, schemas.MemberInvitationOut)
    def post(self, data: dict):
        """Invite a person with roles: FMS mails them a link, and they become a member when
        they accept it (no organization attaches an existing account). 409 when they are
        already a member or invited."""
        invitation, token = invitations.create_invitation(
            db.session,
            actor=current_actor(),
            email=data["email"],
            name=data.get("name"),
            roles=data["roles"],
        )
        db.session.commit()
        return _invitation_body(invitation, link=invitations.invitation_url(token))


def _invitation_body(invitation, link=None) -> dict:
    body = {
        "id": invitation.id,
        "email": invitation.email,
        "roles": invitation.roles,
        "status": invitations.status(invitation),
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
    }
    if link:
        body["link"] = link
    return body


@blp.route("/memberships/invitations")
class MemberInvitations(MethodView):
    @blp.response(200, schemas.MemberInvitationOut(many=True))
    def get(self):
        """Open invitations to staff roles (not yet accepted)."""
        rows = invitations.open_staff_invitations(db.session, actor=current_actor())
        return [_invitation_body(i) for i in rows]


@blp.route("/invitations")
class Invitations(MethodView):
    @blp.arguments(INVITATION_QUERY, location="query")
    @blp.response(200, schemas.InvitationPage)
    def get(self, args: dict):
        """Every invitation of the organization, open or not (those who manage invitations);
        sorted and filtered like the invitations page."""
        from fms.identity.permissions import require

        actor = current_actor()
        require(actor, "invitations.manage")
        page = api_page(db.session, INVITATIONS, args, actor=actor, context={})
        bodies = [_invitation_body(r.Invitation) | {"name": r.Invitation.name} for r in page.rows]
        return page_body(bodies, page.total, args)


@blp.route("/invitations/<int:invitation_id>/revocation")
class InvitationRevocation(MethodView):
    @blp.response(200, schemas.MemberInvitationOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, invitation_id: int):
        """Withdraw an invitation: its link stops working (already withdrawn: unchanged;
        already accepted: 409). Those who manage invitations."""
        invitation = invitations.revoke_invitation(
            db.session, actor=current_actor(), invitation_id=invitation_id
        )
        db.session.commit()
        return _invitation_body(invitation) | {"name": invitation.name}


@blp.route("/memberships/<int:membership_id>")
class MembershipById(MethodView):
    @etag.documented
    @blp.response(200, schemas.MembershipOut)
    def get(self, membership_id: int):
        member = memberships.get_membership(
            db.session, actor=current_actor(), membership_id=membership_id
        )
        return etag.tagged(member, schemas.MembershipOut)

    @etag.documented
    @blp.arguments(schemas.MembershipPatchIn)
    @blp.response(200, schemas.MembershipOut)
    def patch(self, data: dict, membership_id: int):
        """Change roles or (de)activate; deactivation ends the member's sessions at once.
        409 when the change would leave the organization without an active org admin. With
        `If-Match` (the membership's ETag) only if nobody changed it meanwhile: `roles`
        replaces the list, so two admins each adding a role would otherwise lose one."""
        actor = current_actor()
        member = memberships.get_membership(db.session, actor=actor, membership_id=membership_id)
        require(actor, "members.manage")  # a reader is refused before versions are compared
        etag.check_if_match(
            # loaded again after the lock: the member's user comes with the membership
            lambda: memberships.get_membership(
                db.session, actor=actor, membership_id=membership_id
            ),
            schemas.MembershipOut,
            lock=member,
        )
        if "roles" in data:
            memberships.change_member_roles(
                db.session, actor=actor, membership_id=membership_id, roles=data["roles"], via="api"
            )
        if "is_active" in data:
            memberships.set_member_active(
                db.session,
                actor=actor,
                membership_id=membership_id,
                active=data["is_active"],
                via="api",
            )
        db.session.commit()
        member = memberships.get_membership(db.session, actor=actor, membership_id=membership_id)
        return etag.tagged(member, schemas.MembershipOut)


@blp.route("/users/<int:user_id>")
class UserById(MethodView):
    @blp.response(200, schemas.MembershipOut)
    def get(self, user_id: int):
        """A user, as a member of the current organization; other users answer 404."""
        return memberships.get_member_by_user(db.session, actor=current_actor(), user_id=user_id)


@blp.route("/lookups/people")
class PeopleLookup(MethodView):
    @blp.arguments(schemas.PeopleLookupQuery, location="query")
    @blp.response(200, LookupPageOut)
    def get(self, args):
        """Active members by name or email, 20 at most per page, optionally by role."""
        result = memberships.lookup_people(
            db.session,
            actor=current_actor(),
            q=args["q"],
            roles=args["role"],
            page=args["page"],
            per_page=args["per_page"],
        )
        return lookup_body(result)
