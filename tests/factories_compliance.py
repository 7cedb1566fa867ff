"""A small compliance world: an organization with a compliance officer, procurement, an org
admin, a hiring manager, and a freelancer (with a profile in a country) whose engagement is
approved and ready to start onboarding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from fms.compliance import classification, documents, services, signing
from fms.identity.actor import Actor
from fms.tenancy import scope_session
from fms.timekeeping import today_in
from fms.workforce import engagements as workforce

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NDA_TEXT = (
    "Non-disclosure agreement between {{ organization_name }} and {{ freelancer_name }}.\n\n"
    "For the engagement {{ engagement_title }} from {{ start_date }} to {{ end_date }} "
    "at {{ rate }}, the freelancer keeps the organization's information confidential."
)
LOW_US = {
    "instructions": "no",
    "training": "no",
    "evaluation": "no",
    "investment": "yes",
    "expenses": "yes",
    "profit_or_loss": "yes",
    "market": "yes",
    "regular_wage": "no",
    "contractor_contract": "yes",
    "benefits": "no",
    "permanency": "no",
    "key_activity": "no",
}

# behavioural control, benefits and permanency: 3 + 2 + 3 + 2 + 2 = 12 points, high risk
HIGH_US = dict(
    LOW_US, instructions="yes", training="yes", benefits="yes", permanency="yes", key_activity="yes"
)


@dataclass
class ComplianceWorld:
    org: object
    session: object
    officer: Actor
    officer2: Actor
    admin: Actor
    procurement: Actor
    procurement2: Actor
    manager: Actor
    me: Actor  # the freelancer
    freelancer: object  # their profile
    engagement: object
    make_engagement: object
    make_freelancer: object

    @property
    def today(self) -> date:
        return today_in(self.org.timezone)

    def policy(self, kind, **values):
        return services.set_policy_item(
            self.session, actor=self.officer, document_kind=kind, **values
        )

    def onboard(self, engagement=None):
        engagement = engagement or self.engagement
        return workforce.start_onboarding(
            self.session, actor=self.procurement, engagement_id=engagement.id
        )

    def upload(self, kind="w9", data=PDF, actor=None, filename="form.pdf", **kw):
        return documents.upload_document(
            self.session,
            actor=actor or self.me,
            freelancer_id=kw.pop("freelancer_id", self.freelancer.id),
            kind=kind,
            filename=filename,
            data=data,
            **kw,
        )

    def approve(self, document, actor=None, **kw):
        return documents.review_document(
            self.session, actor=actor or self.officer, document_id=document.id, approve=True, **kw
        )

    def publish(self, kind="nda", body=NDA_TEXT, title="Mutual NDA"):
        return signing.publish_template(
            self.session, actor=self.officer, kind=kind, title=title, body=body
        )

    def sign(self, kind="nda", name=None, engagement=None, **kw):
        engagement = engagement or self.engagement
        return signing.sign(
            self.session,
            actor=self.me,
            engagement_id=engagement.id,
            kind=kind,
            typed_name=name or self.freelancer.legal_name,
            user_agent="pytest-browser/1.0",
            **kw,
        )

    def assess(self, answers=None, jurisdiction="us_federal", engagement=None, actor=None):
        return classification.assess(
            self.session,
            actor=actor or self.me,
            engagement_id=(engagement or self.engagement).id,
            jurisdiction=jurisdiction,
            answers=answers or LOW_US,
        )


@pytest.fixture
def cworld(session, make_org, make_member, make_user, make_freelancer, make_engagement, actor_of):
    org = make_org(name="Northwind Compliance")
    scope_session(session, org.id)
    people = {}
    for name, roles in {
        "officer": ("compliance",),
        "officer2": ("compliance",),
        "admin": ("org_admin",),
        "procurement": ("procurement",),
        "procurement2": ("procurement",),
        "manager": ("hiring_manager",),
    }.items():
        people[name] = actor_of(make_member(org, roles=roles))
    user = make_user(name="Ada Lovelace")
    member = make_member(org, roles=("freelancer",), user=user)
    profile = make_freelancer(org, user_id=user.id, legal_name="Ada Lovelace", country="US")
    today = today_in(org.timezone)
    engagement = make_engagement(
        org,
        freelancer=profile,
        manager_id=people["manager"].user_id,
        state="approved",
        start=today - timedelta(days=10),
        end=today + timedelta(days=170),
        title="Data platform",
    )
    return ComplianceWorld(
        org=org,
        session=session,
        me=actor_of(member),
        freelancer=profile,
        engagement=engagement,
        make_engagement=make_engagement,
        make_freelancer=make_freelancer,
        **people,
    )
