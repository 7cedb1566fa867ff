"""Engagements: the state machine, amendments with history, notice, access and reviews."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.tenancy import scope_session
from fms.workforce import engagements as svc
from fms.workforce import rules
from fms.workforce.models import Engagement, OnboardingStep

TODAY = date.today()  # noqa: DTZ011 - the services compare with the real date


@pytest.fixture
def org(make_org, session):
    org = make_org()
    scope_session(session, org.id)
    return org


@pytest.fixture
def people(org, make_member, actor_of):
    def person(*roles):
        membership = make_member(org, roles=roles)
        return membership, actor_of(membership)

    return {
        name: person(*roles)
        for name, roles in {
            "manager": ("hiring_manager",),
            "procurement": ("procurement",),
            "procurement2": ("procurement",),
            "compliance": ("compliance",),
            "finance": ("finance",),
        }.items()
    }


def _actor(people, name):
    return people[name][1]


def _draft(session, org, people, org_structure, **overrides):
    fields = {
        "title": "Grid data platform",
        "kind": "hourly",
        "start_date": "2026-12-01",
        "end_date": "2027-05-31",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate": "95",
        "budget_cap": "90000",
        "hiring_manager_user_id": people["manager"][0].user_id,
        **org_structure(org),
    }
    fields.update(overrides)
    return svc.create_engagement(session, actor=_actor(people, "procurement"), **fields)


# The engagement's life, written out here rather than read from rules.ENGAGEMENT_TRANSITIONS,
# so a wrong entry in the code's table fails this test instead of passing it.
ALL_STATES = [
    "draft",
    "pending_approval",
    "approved",
    "rejected",
    "onboarding",
    "active",
    "ended",
    "cancelled",
]
ALLOWED = {
    ("draft", "pending_approval"),
    ("draft", "cancelled"),
    ("pending_approval", "approved"),
    ("pending_approval", "rejected"),
    ("pending_approval", "cancelled"),
    ("rejected", "draft"),
    ("rejected", "cancelled"),
    ("approved", "onboarding"),
    ("approved", "cancelled"),
    ("onboarding", "active"),
    ("onboarding", "cancelled"),
    ("active", "ended"),
}


def test_the_code_knows_exactly_these_states():
    assert set(rules.ENGAGEMENT_TRANSITIONS) == set(ALL_STATES)


@pytest.mark.parametrize("start", ALL_STATES)
@pytest.mark.parametrize("end", ALL_STATES)
def test_transition_table_is_enforced(session, org, people, make_engagement, start, end):
    from fms.statemachine import transition

    engagement = make_engagement(org, state=start)
    allowed = (start, end) in ALLOWED
    actor = _actor(people, "procurement")
    if allowed:
        transition(session, engagement, to=end, table=rules.ENGAGEMENT_TRANSITIONS, actor=actor)
        session.expire_all()
        assert session.get(Engagement, engagement.id).state == end
    else:
        with pytest.raises(RuleViolation, match="cannot become"):
            transition(session, engagement, to=end, table=rules.ENGAGEMENT_TRANSITIONS, actor=actor)
        session.expire_all()
        assert session.get(Engagement, engagement.id).state == start


def test_a_stale_copy_cannot_move_an_engagement_twice(session, org, people, make_engagement):
    from sqlalchemy import update

    from fms.statemachine import transition

    engagement = make_engagement(org, state="onboarding")
    # someone else cancels it meanwhile; this copy still says onboarding
    session.execute(
        update(Engagement)
        .where(Engagement.id == engagement.id)
        .values(state="cancelled")
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(RuleViolation, match="changed by someone else"):
        transition(
            session,
            engagement,
            to="active",
            table=rules.ENGAGEMENT_TRANSITIONS,
            actor=_actor(people, "procurement"),
        )


def test_direct_engagement_lifecycle(
    session, org, people, org_structure, make_freelancer, make_member, actor_of
):
    engagement = _draft(session, org, people, org_structure)
    assert engagement.state == "draft"
    svc.submit_engagement(
        session, actor=_actor(people, "procurement"), engagement_id=engagement.id, today=TODAY
    )
    with pytest.raises(NotAllowed, match="drafted"):
        svc.decide_engagement(
            session, actor=_actor(people, "procurement"), engagement_id=engagement.id, approve=True
        )
    svc.decide_engagement(
        session, actor=_actor(people, "procurement2"), engagement_id=engagement.id, approve=True
    )
    assert engagement.state == "approved"
    member = make_member(org, roles=("freelancer",))
    freelancer = make_freelancer(org, user_id=member.user_id)
    with pytest.raises(NotAllowed):  # finance, compliance or a manager do not book people
        svc.start_onboarding(
            session,
            actor=_actor(people, "finance"),
            engagement_id=engagement.id,
            freelancer_id=freelancer.id,
        )
    svc.start_onboarding(
        session,
        actor=_actor(people, "procurement"),
        engagement_id=engagement.id,
        freelancer_id=freelancer.id,
    )
    with pytest.raises(RuleViolation, match="not complete"):
        svc.activate(session, actor=_actor(people, "compliance"), engagement_id=engagement.id)
    for step in svc.onboarding_steps(session, engagement.id):
        # the freelancer signs, answers and uploads; compliance reviews
        own = step.kind in rules.FREELANCER_STEP_KINDS
        svc.complete_step(
            session,
            actor=actor_of(member) if own else _actor(people, "compliance"),
            step_id=step.id,
        )
    svc.activate(session, actor=_actor(people, "compliance"), engagement_id=engagement.id)
    assert engagement.state == "active"


def test_freelancers_complete_their_own_steps_but_not_reviews(
    session, org, people, make_engagement, make_freelancer, make_member, actor_of
):
    member = make_member(org, roles=("freelancer",))
    profile = make_freelancer(org, user_id=member.user_id)
    engagement = make_engagement(
        org, state="onboarding", freelancer=profile, end=TODAY + timedelta(days=200)
    )
    session.add_all(
        [
            OnboardingStep(
                org_id=org.id, engagement_id=engagement.id, position=1, title="NDA", kind="sign"
            ),
            OnboardingStep(
                org_id=org.id,
                engagement_id=engagement.id,
                position=2,
                title="Compliance review",
                kind="review",
            ),
        ]
    )
    session.flush()
    sign, review = svc.onboarding_steps(session, engagement.id)
    me = actor_of(member)
    # staff never tick a freelancer's own step (here: signing the NDA)
    with pytest.raises(NotAllowed, match="Only the freelancer"):
        svc.complete_step(session, actor=_actor(people, "compliance"), step_id=sign.id)
    svc.complete_step(session, actor=me, step_id=sign.id)
    with pytest.raises(NotAllowed):
        svc.complete_step(session, actor=me, step_id=review.id)
    with pytest.raises(RuleViolation, match="already done"):
        svc.complete_step(session, actor=me, step_id=sign.id)


def test_rate_on_any_past_date_is_answerable_after_amendments(
    session, org, people, make_engagement
):
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 12, 31), rate="90")
    proc, proc2 = _actor(people, "procurement"), _actor(people, "procurement2")
    raise_ = svc.request_amendment(
        session,
        actor=proc,
        engagement_id=engagement.id,
        kind="rate_change",
        effective_from="2026-07-01",
        new_rate="100",
        reason="Market review",
    )
    assert svc.terms_on(session, engagement.id, date(2026, 8, 1)).rate == Decimal(90)  # pending
    with pytest.raises(NotAllowed, match="own amendment"):
        svc.decide_amendment(session, actor=proc, amendment_id=raise_.id, approve=True)
    svc.decide_amendment(session, actor=proc2, amendment_id=raise_.id, approve=True)
    back_dated = svc.request_amendment(
        session,
        actor=proc2,
        engagement_id=engagement.id,
        kind="rate_change",
        effective_from="2026-04-01",
        new_rate="95",
        reason="Correction",
    )
    svc.decide_amendment(session, actor=proc, amendment_id=back_dated.id, approve=True)
    rate = {
        d: svc.terms_on(session, engagement.id, date(2026, *d)).rate
        for d in ((3, 31), (4, 1), (6, 30), (7, 1), (12, 31))
    }
    assert rate == {(3, 31): 90, (4, 1): 95, (6, 30): 95, (7, 1): 100, (12, 31): 100}
    assert len(svc.terms_history(session, engagement.id)) == 3


@pytest.mark.parametrize(
    "kind, values, field",
    [
        ("extension", {"new_end_date": "2026-06-01"}, "new_end_date"),
        ("budget_increase", {"new_budget_cap": "10"}, "new_budget_cap"),
        ("rate_change", {"new_rate": "90"}, "new_rate"),
        ("rate_change", {"new_rate": "abc"}, "new_rate"),
        ("teleport", {}, "kind"),
    ],
)
def test_bad_amendments_are_refused(session, org, people, make_engagement, kind, values, field):
    engagement = make_engagement(org, rate="90")
    with pytest.raises(InvalidInput) as info:
        svc.request_amendment(
            session,
            actor=_actor(people, "procurement"),
            engagement_id=engagement.id,
            kind=kind,
            effective_from="2026-06-01",
            reason="x",
            **values,
        )
    assert field in info.value.errors


def test_extension_and_manager_transfer(session, org, people, make_engagement, make_member):
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 12, 31))
    proc, proc2 = _actor(people, "procurement"), _actor(people, "procurement2")
    ext = svc.request_amendment(
        session,
        actor=proc,
        engagement_id=engagement.id,
        kind="extension",
        effective_from="2026-12-31",
        new_end_date="2027-03-31",
        reason="Phase 2",
    )
    svc.decide_amendment(session, actor=proc2, amendment_id=ext.id, approve=True)
    assert engagement.end_date == date(2027, 3, 31)
    new_manager = make_member(org, roles=("hiring_manager",))
    move = svc.request_amendment(
        session,
        actor=proc,
        engagement_id=engagement.id,
        kind="manager_transfer",
        effective_from="2026-10-01",
        new_hiring_manager_user_id=new_manager.user_id,
        reason="Team change",
    )
    svc.decide_amendment(session, actor=proc2, amendment_id=move.id, approve=True)
    assert svc.terms_on(session, engagement.id, date(2026, 9, 30)).hiring_manager_user_id != (
        new_manager.user_id
    )
    assert svc.terms_on(session, engagement.id, date(2026, 10, 1)).hiring_manager_user_id == (
        new_manager.user_id
    )
    finance = make_member(org, roles=("finance",))
    with pytest.raises(InvalidInput):
        svc.request_amendment(
            session,
            actor=proc,
            engagement_id=engagement.id,
            kind="manager_transfer",
            effective_from="2026-11-01",
            new_hiring_manager_user_id=finance.user_id,
            reason="x",
        )


def test_notice_respects_the_notice_period_and_ends_access(
    session, org, people, make_engagement, make_freelancer, make_member, actor_of
):
    member = make_member(org, roles=("freelancer",))
    profile = make_freelancer(org, user_id=member.user_id)
    engagement = make_engagement(
        org, start=TODAY - timedelta(days=60), end=TODAY + timedelta(days=120), freelancer=profile
    )
    me = actor_of(member)
    assert svc.get_engagement(session, actor=me, engagement_id=engagement.id) is engagement
    with pytest.raises(InvalidInput) as info:
        svc.give_notice(
            session,
            actor=me,
            engagement_id=engagement.id,
            end_date=TODAY + timedelta(days=3),
            reason="New job",
            today=TODAY,
        )
    assert "notice period" in info.value.errors["end_date"][0]
    with pytest.raises(InvalidInput):
        svc.give_notice(
            session,
            actor=me,
            engagement_id=engagement.id,
            end_date=TODAY + timedelta(days=20),
            reason="",
            today=TODAY,
        )
    svc.give_notice(
        session,
        actor=me,
        engagement_id=engagement.id,
        end_date=TODAY + timedelta(days=14),
        reason="New job",
        today=TODAY,
    )
    assert engagement.ended_by == "freelancer" and engagement.state == "active"
    with pytest.raises(RuleViolation, match="already"):
        svc.give_notice(
            session,
            actor=_actor(people, "procurement"),
            engagement_id=engagement.id,
            end_date=TODAY + timedelta(days=30),
            reason="x",
            today=TODAY,
        )
    # the daily sweep ends it after the end date, and the freelancer loses access
    assert (
        svc.end_due_engagements(
            session, actor=_actor(people, "procurement"), today=TODAY + timedelta(days=15)
        )
        == 1
    )
    assert engagement.state == "ended"
    engagement.end_date = TODAY - timedelta(days=1)
    session.flush()
    with pytest.raises(NotFound):
        svc.get_engagement(session, actor=me, engagement_id=engagement.id)


def test_other_freelancers_cannot_see_an_engagement(
    session, org, make_engagement, make_member, actor_of
):
    engagement = make_engagement(org, end=TODAY + timedelta(days=30))
    stranger = actor_of(make_member(org, roles=("freelancer",)))
    with pytest.raises(NotFound):
        svc.get_engagement(session, actor=stranger, engagement_id=engagement.id)


def test_review_by_the_manager_once_at_the_end(session, org, people, make_engagement):
    manager_membership, manager = people["manager"]
    engagement = make_engagement(
        org,
        manager_id=manager_membership.user_id,
        start=TODAY - timedelta(days=90),
        end=TODAY + timedelta(days=60),
    )
    with pytest.raises(RuleViolation, match="ending"):
        svc.write_review(
            session, actor=manager, engagement_id=engagement.id, rating=5, comment="", today=TODAY
        )
    svc.give_notice(
        session,
        actor=manager,
        engagement_id=engagement.id,
        end_date=TODAY + timedelta(days=30),
        reason="Project done",
        today=TODAY,
    )
    with pytest.raises(NotAllowed):
        svc.write_review(
            session,
            actor=_actor(people, "finance"),
            engagement_id=engagement.id,
            rating=4,
            comment="",
            today=TODAY,
        )
    with pytest.raises(InvalidInput):
        svc.write_review(
            session, actor=manager, engagement_id=engagement.id, rating=7, comment="", today=TODAY
        )
    svc.write_review(
        session,
        actor=manager,
        engagement_id=engagement.id,
        rating=4,
        comment="Solid delivery",
        today=TODAY,
    )
    with pytest.raises(RuleViolation, match="already"):
        svc.write_review(
            session, actor=manager, engagement_id=engagement.id, rating=5, comment="", today=TODAY
        )


def test_overlapping_bookings_of_one_freelancer_are_refused(
    session, org, people, make_engagement, make_freelancer
):
    person = make_freelancer(org)
    make_engagement(org, freelancer=person, start=date(2027, 1, 1), end=date(2027, 6, 30))
    second = make_engagement(org, state="approved", start=date(2027, 3, 1), end=date(2027, 9, 1))
    with pytest.raises(RuleViolation, match="already has an engagement"):
        svc.start_onboarding(
            session,
            actor=_actor(people, "procurement"),
            engagement_id=second.id,
            freelancer_id=person.id,
        )


def test_trial_engagements_are_capped_in_length(session, org, people, org_structure):
    with pytest.raises(InvalidInput) as info:
        _draft(
            session,
            org,
            people,
            org_structure,
            kind="trial",
            start_date="2026-12-01",
            end_date="2027-02-01",
        )
    assert "at most 30 days" in info.value.errors["end_date"][0]


def test_cancel_needs_a_reason_and_only_before_work(session, org, people, make_engagement):
    approved = make_engagement(org, state="approved")
    with pytest.raises(InvalidInput):
        svc.cancel(
            session, actor=_actor(people, "procurement"), engagement_id=approved.id, reason=" "
        )
    svc.cancel(
        session, actor=_actor(people, "procurement"), engagement_id=approved.id, reason="Budget cut"
    )
    active = make_engagement(org, state="active")
    with pytest.raises(RuleViolation):
        svc.cancel(
            session, actor=_actor(people, "procurement"), engagement_id=active.id, reason="x"
        )
    assert session.scalar(select(Engagement.state).where(Engagement.id == active.id)) == "active"


def test_direct_engagements_cannot_bypass_finance(
    session, org, people, org_structure, approval_chain
):
    approval_chain(org)  # finance from 50,000
    big = _draft(session, org, people, org_structure, budget_cap="90000")
    with pytest.raises(RuleViolation, match="raise a requisition"):
        svc.submit_engagement(
            session, actor=_actor(people, "procurement"), engagement_id=big.id, today=TODAY
        )
    small = _draft(session, org, people, org_structure, budget_cap="20000")
    svc.submit_engagement(
        session, actor=_actor(people, "procurement"), engagement_id=small.id, today=TODAY
    )
    assert small.state == "pending_approval"


def test_only_the_engagement_s_own_manager_or_procurement_ends_or_amends_it(
    session, org, people, make_engagement, make_member, actor_of
):
    """A hiring manager acts on the engagements they manage on that day, not on others'."""
    # running a year past the real today: the amendment below takes effect today
    engagement = make_engagement(
        org, manager_id=people["manager"][0].user_id, end=TODAY + timedelta(days=365)
    )
    other = actor_of(make_member(org, roles=("hiring_manager",)))
    for attempt in (
        lambda actor: svc.give_notice(
            session,
            actor=actor,
            engagement_id=engagement.id,
            end_date=date(2026, 12, 31),
            reason="Budget cut",
            today=TODAY,
        ),
        lambda actor: svc.request_amendment(
            session,
            actor=actor,
            engagement_id=engagement.id,
            kind="manager_transfer",
            effective_from=TODAY,
            new_hiring_manager_user_id=actor.user_id,
            reason="Mine now",
        ),
    ):
        with pytest.raises(NotAllowed):
            attempt(other)
    svc.request_amendment(
        session,
        actor=_actor(people, "manager"),
        engagement_id=engagement.id,
        kind="rate_change",
        effective_from=TODAY,
        new_rate="95",
        reason="Annual review",
    )
