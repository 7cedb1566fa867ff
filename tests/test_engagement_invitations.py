"""Inviting a freelancer to an engagement: redeeming the link starts onboarding."""

from datetime import date

import pytest
from sqlalchemy import select

from fms.errors import RuleViolation
from fms.identity.models import Membership, Organization, User
from fms.identity.sso.invitations import invitation_redeemed
from fms.tenancy import scope_session
from fms.workforce import engagements
from fms.workforce.models import Engagement, Freelancer


@pytest.fixture
def org(make_org, session):
    org = make_org()
    scope_session(session, org.id)
    return org


def _redeem_as(session, org, invitation, email):
    """What identity does after the IdP sign-in: an account, a membership, then the signal."""
    user = User(email=email, name="Ines Costa")
    session.add(user)
    session.flush()
    membership = Membership(org_id=org.id, user_id=user.id, roles=["freelancer"])
    session.add(membership)
    session.flush()
    invitation_redeemed.send(invitation, user_id=user.id, membership_id=membership.id)
    return user


def test_redeeming_creates_the_profile_and_starts_onboarding(
    session, org, make_member, actor_of, make_engagement
):
    buyer = actor_of(make_member(org, roles=("procurement",)))
    engagement = make_engagement(
        org, state="approved", freelancer=None, start=date(2027, 1, 4), end=date(2027, 6, 30)
    )
    engagement.freelancer_id = None
    session.flush()
    invitation, token = engagements.invite_freelancer(
        session, actor=buyer, engagement_id=engagement.id, email="ines@example.pt"
    )
    assert token and invitation.subject_type == "engagement"
    user = _redeem_as(session, org, invitation, "ines@example.pt")
    scope_session(session, org.id)
    session.expire_all()
    moved = session.scalar(select(Engagement).where(Engagement.id == engagement.id))
    profile = session.scalar(select(Freelancer).where(Freelancer.user_id == user.id))
    assert moved.state == "onboarding" and moved.freelancer_id == profile.id
    assert profile.email == "ines@example.pt" and profile.currency == "EUR"


def test_an_existing_profile_is_linked_not_duplicated(
    session, org, make_member, actor_of, make_engagement, make_freelancer
):
    buyer = actor_of(make_member(org, roles=("procurement",)))
    known = make_freelancer(org, email="jan@example.de")
    engagement = make_engagement(org, state="approved")
    invitation, _ = engagements.invite_freelancer(
        session, actor=buyer, engagement_id=engagement.id, email="jan@example.de"
    )
    user = _redeem_as(session, org, invitation, "jan@example.de")
    scope_session(session, org.id)
    session.expire_all()
    assert session.get(Freelancer, known.id).user_id == user.id
    assert session.get(Engagement, engagement.id).freelancer_id == known.id


def test_only_approved_engagements_take_invitations(
    session, org, make_member, actor_of, make_engagement
):
    buyer = actor_of(make_member(org, roles=("procurement",)))
    active = make_engagement(org, state="active")
    with pytest.raises(RuleViolation, match="approved"):
        engagements.invite_freelancer(
            session, actor=buyer, engagement_id=active.id, email="x@example.com"
        )


def test_invite_from_the_engagement_page_and_api(
    client, session, org_admin, sign_in, make_engagement
):
    org = session.get(Organization, org_admin.org_id)
    engagement = make_engagement(org, state="approved")
    session.commit()
    sign_in(client, session.get(User, org_admin.user_id), org)
    response = client.post_form(
        f"/engagements/{engagement.id}/invite",
        data={"email": "new@example.com"},
        page=f"/engagements/{engagement.id}",
        follow_redirects=True,
    )
    assert "/invitations/" in response.get_data(as_text=True)
    api = client.post(
        f"/api/v1/engagements/{engagement.id}/invitations", json={"email": "other@example.com"}
    )
    assert api.status_code == 201 and "/invitations/" in api.get_json()["link"]


def test_redeeming_does_not_double_book_the_freelancer(
    session, org, make_member, actor_of, make_engagement, make_freelancer
):
    buyer = actor_of(make_member(org, roles=("procurement",)))
    user = User(email="busy@example.com", name="Busy")
    session.add(user)
    session.flush()
    busy = make_freelancer(org, email="busy@example.com", user_id=user.id)
    make_engagement(org, freelancer=busy, start=date(2027, 1, 1), end=date(2027, 12, 31))
    second = make_engagement(org, state="approved", start=date(2027, 3, 1), end=date(2027, 6, 30))
    invitation, _ = engagements.invite_freelancer(
        session, actor=buyer, engagement_id=second.id, email="busy@example.com"
    )
    membership = Membership(org_id=org.id, user_id=user.id, roles=["freelancer"])
    session.add(membership)
    session.flush()
    invitation_redeemed.send(invitation, user_id=user.id, membership_id=membership.id)
    scope_session(session, org.id)
    session.expire_all()
    assert session.get(Engagement, second.id).state == "approved"


def test_a_profile_linked_to_another_account_is_not_taken(
    session, org, make_member, actor_of, make_engagement, make_freelancer
):
    buyer = actor_of(make_member(org, roles=("procurement",)))
    owner = make_member(org, roles=("freelancer",))
    theirs = make_freelancer(org, email="someone@example.com", user_id=owner.user_id)
    engagement = make_engagement(org, state="approved")
    invitation, _ = engagements.invite_freelancer(
        session,
        actor=buyer,
        engagement_id=engagement.id,
        email="invited@example.com",
        allow_other_email=True,
    )
    _redeem_as(session, org, invitation, "someone@example.com")
    scope_session(session, org.id)
    session.expire_all()
    assert session.get(Freelancer, theirs.id).user_id == owner.user_id
    assert session.get(Engagement, engagement.id).state == "approved"
