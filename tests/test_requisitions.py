"""Requisitions: the approval chain by budget threshold, order, people and re-submission."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from fms.errors import InvalidInput, NotAllowed, RuleViolation
from fms.tenancy import scope_session
from fms.workforce import queries
from fms.workforce import requisitions as svc
from fms.workforce.models import ApprovalStep, Engagement, ExchangeRate, OnboardingStep
from tests.factories import as_org

TODAY = date(2026, 11, 23)


@pytest.fixture
def org(make_org, session, approval_chain):
    org = make_org(base_currency="EUR")
    approval_chain(org)
    scope_session(session, org.id)
    return org


@pytest.fixture
def people(org, make_member, actor_of):
    def person(*roles):
        return actor_of(make_member(org, roles=roles))

    return {
        "manager": person("hiring_manager"),
        "procurement": person("procurement"),
        "procurement2": person("procurement"),
        "finance": person("finance"),
    }


def _new(session, org_structure, org, actor, **overrides):
    fields = {
        "title": "Senior data engineer",
        "kind": "hourly",
        "start_date": "2026-12-01",
        "end_date": "2027-05-31",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate_min": "80",
        "rate_max": "100",
        "budget": "40000",
        "justification": "Grid analytics backlog",
        **org_structure(org),
    }
    fields.update(overrides)
    return svc.create_requisition(session, actor=actor, **fields)


def _submit(session, req, actor):
    return svc.submit_requisition(session, actor=actor, requisition_id=req.id, today=TODAY)


def _decide(session, req, actor, approve=True, comment=""):
    return svc.decide_step(
        session, actor=actor, requisition_id=req.id, approve=approve, comment=comment, today=TODAY
    )


def _chain(session, req):
    return [s.role for s in svc.steps(session, req)]


@pytest.mark.parametrize(
    "budget, chain",
    [
        ("40000", ["procurement"]),
        ("50000", ["procurement", "finance"]),
        ("250000", ["procurement", "finance", "procurement"]),
    ],
)
def test_chain_follows_budget_thresholds(session, org, people, org_structure, budget, chain):
    req = _new(session, org_structure, org, people["manager"], budget=budget)
    _submit(session, req, people["manager"])
    assert req.state == "submitted" and _chain(session, req) == chain


def test_thresholds_apply_in_the_base_currency_at_the_days_rate(
    session, org, people, org_structure
):
    req = _new(session, org_structure, org, people["manager"], currency="USD", budget="60000")
    with pytest.raises(RuleViolation, match="exchange rate"):
        _submit(session, req, people["manager"])
    with as_org(session, org.id):
        session.add_all(
            [
                ExchangeRate(
                    org_id=org.id,
                    currency="USD",
                    rate=Decimal("0.80"),
                    effective_from=date(2026, 1, 1),
                ),
                ExchangeRate(
                    org_id=org.id,
                    currency="USD",
                    rate=Decimal("0.95"),
                    effective_from=date(2027, 1, 1),
                ),  # not yet in effect
            ]
        )
        session.flush()
    _submit(session, req, people["manager"])
    assert req.budget_base == Decimal("48000.00")  # 60,000 USD x 0.80: below finance's 50,000
    assert _chain(session, req) == ["procurement"]


def test_steps_are_decided_in_order_by_different_people_and_create_an_engagement(
    session, org, people, org_structure
):
    req = _new(session, org_structure, org, people["manager"], budget="300000")
    _submit(session, req, people["manager"])
    with pytest.raises(NotAllowed, match="procurement role"):
        _decide(session, req, people["finance"])  # finance's step is second
    _decide(session, req, people["procurement"])
    _decide(session, req, people["finance"])
    with pytest.raises(RuleViolation, match="different person"):
        _decide(session, req, people["procurement"])  # third step, same person as the first
    _decide(session, req, people["procurement2"])
    assert req.state == "approved"
    engagement = session.scalar(select(Engagement).where(Engagement.requisition_id == req.id))
    assert engagement.state == "approved" and engagement.title == req.title
    steps = session.scalars(
        select(OnboardingStep).where(OnboardingStep.engagement_id == engagement.id)
    ).all()
    assert len(steps) == 4  # the default checklist until the organization sets its own


def test_requesters_cannot_approve_their_own_requisition(
    session, org, people, org_structure, make_member, actor_of
):
    both = actor_of(make_member(org, roles=("hiring_manager", "procurement")))
    req = _new(session, org_structure, org, both)
    _submit(session, req, both)
    with pytest.raises(NotAllowed, match="own requisition"):
        _decide(session, req, both)
    assert svc.current_step(session, req).state == "pending"


def test_rejection_needs_a_comment_and_resubmission_starts_a_new_chain(
    session, org, people, org_structure
):
    req = _new(session, org_structure, org, people["manager"], budget="60000")
    _submit(session, req, people["manager"])
    with pytest.raises(InvalidInput):
        _decide(session, req, people["procurement"], approve=False)
    _decide(session, req, people["procurement"], approve=False, comment="Rate above market")
    assert req.state == "rejected"
    states = [s.state for s in svc.steps(session, req)]
    assert states == ["rejected", "skipped"]
    svc.reopen_requisition(session, actor=people["manager"], requisition_id=req.id)
    svc.update_requisition(
        session, actor=people["manager"], requisition_id=req.id, rate_max="90", budget="45000"
    )
    _submit(session, req, people["manager"])
    assert req.round == 2 and _chain(session, req) == ["procurement"]
    _decide(session, req, people["procurement"])
    assert req.state == "approved"
    history = session.scalars(select(ApprovalStep).where(ApprovalStep.requisition_id == req.id))
    assert len(history.all()) == 3  # the first round is kept


# The requisition's life, written out here rather than read from
# rules.REQUISITION_TRANSITIONS, so a wrong entry in the code's table fails this test.
REQUISITION_STATES = ["draft", "submitted", "approved", "rejected", "cancelled"]
REQUISITION_ALLOWED = {
    ("draft", "submitted"),
    ("draft", "cancelled"),
    ("submitted", "approved"),
    ("submitted", "rejected"),
    ("submitted", "cancelled"),
    ("rejected", "draft"),
    ("rejected", "cancelled"),
}


def test_the_code_knows_exactly_these_requisition_states():
    from fms.workforce import rules

    assert set(rules.REQUISITION_TRANSITIONS) == set(REQUISITION_STATES)


@pytest.mark.parametrize("start", REQUISITION_STATES)
@pytest.mark.parametrize("end", REQUISITION_STATES)
def test_requisition_transition_table_is_enforced(
    session, org, people, make_requisition, start, end
):
    from fms.statemachine import transition
    from fms.workforce import rules
    from fms.workforce.models import Requisition

    req = make_requisition(org, state=start)
    actor = people["procurement"]
    if (start, end) in REQUISITION_ALLOWED:
        transition(session, req, to=end, table=rules.REQUISITION_TRANSITIONS, actor=actor)
        session.expire_all()
        assert session.get(Requisition, req.id).state == end
    else:
        with pytest.raises(RuleViolation, match="cannot become"):
            transition(session, req, to=end, table=rules.REQUISITION_TRANSITIONS, actor=actor)
        session.expire_all()
        assert session.get(Requisition, req.id).state == start


@pytest.mark.parametrize(
    "action, state",
    [
        ("submit", "submitted"),
        ("submit", "approved"),
        ("submit", "cancelled"),
        ("reopen", "draft"),
        ("reopen", "submitted"),
        ("cancel", "approved"),
    ],
)
def test_other_transitions_are_refused_and_change_nothing(
    session, org, people, make_requisition, action, state
):
    from fms.identity.models import Membership

    requester = session.get(
        Membership,
        session.scalar(
            select(Membership.id).where(Membership.user_id == people["manager"].user_id)
        ),
    )
    req = make_requisition(org, requester=requester, state=state)
    call = {
        "submit": lambda: _submit(session, req, people["manager"]),
        "reopen": lambda: svc.reopen_requisition(
            session, actor=people["manager"], requisition_id=req.id
        ),
        "cancel": lambda: svc.cancel_requisition(
            session, actor=people["manager"], requisition_id=req.id
        ),
    }[action]
    with pytest.raises(RuleViolation, match="cannot become"):
        call()
    session.refresh(req)
    assert req.state == state


@pytest.mark.parametrize(
    "field, value",
    [
        ("title", ""),
        ("kind", "forever"),
        ("start_date", "31/12/2026"),
        ("end_date", "2026-01-01"),
        ("weekly_minutes", "0"),
        ("currency", "EURO"),
        ("rate_min", "-5"),
        ("rate_max", "1e999"),
        ("budget", "abc"),
        ("justification", " "),
        ("department_id", "999999"),
    ],
)
def test_bad_input_is_refused_field_by_field(session, org, people, org_structure, field, value):
    with pytest.raises(InvalidInput) as info:
        _new(session, org_structure, org, people["manager"], **{field: value})
    assert field in info.value.errors


def test_only_roles_that_may_request_can_create(session, org, people, org_structure):
    with pytest.raises(NotAllowed):
        _new(session, org_structure, org, people["finance"])


def test_waiting_for_counts_only_steps_the_actor_can_decide(session, org, people, org_structure):
    req = _new(session, org_structure, org, people["manager"], budget="60000")
    _submit(session, req, people["manager"])
    assert queries.waiting_for(session, people["procurement"]) == 1
    assert queries.waiting_for(session, people["finance"]) == 0
    _decide(session, req, people["procurement"])
    assert queries.waiting_for(session, people["finance"]) == 1
