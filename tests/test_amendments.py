"""Amendments compose, go through the approval chain, and respect bookings and trial limits;
hiring managers name stand-ins (delegations) who act for them while they are away."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.tenancy import scope_session
from fms.workforce import delegations
from fms.workforce import engagements as svc
from fms.workforce.models import Amendment, ApprovalStep, Engagement, ExchangeRate

TODAY = date.today()  # noqa: DTZ011 - the services compare with the real date


@pytest.fixture
def org(make_org, session):
    org = make_org()
    scope_session(session, org.id)
    return org


@pytest.fixture
def people(org, make_member, actor_of):
    made = {}
    for name, roles in {
        "manager": ("hiring_manager",),
        "manager2": ("hiring_manager",),
        "stand_in": ("hiring_manager",),
        "procurement": ("procurement",),
        "procurement2": ("procurement",),
        "finance": ("finance",),
    }.items():
        membership = make_member(org, roles=roles)
        made[name] = actor_of(membership)
    return made


def _propose(session, actor, engagement, kind, effective_from, **values):
    return svc.request_amendment(
        session,
        actor=actor,
        engagement_id=engagement.id,
        kind=kind,
        effective_from=effective_from,
        reason="Because",
        **values,
    )


def _approve_all(session, amendment, *approvers):
    for approver in approvers:
        svc.decide_amendment(session, actor=approver, amendment_id=amendment.id, approve=True)


# --- composition ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["later first", "earlier first"])
def test_extensions_approved_out_of_order_end_on_the_latest(
    session, org, people, make_engagement, order
):
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 12, 31))
    proc, proc2 = people["procurement"], people["procurement2"]
    longer = _propose(
        session, proc, engagement, "extension", "2026-12-31", new_end_date="2027-06-30"
    )
    shorter = _propose(
        session, proc, engagement, "extension", "2026-12-31", new_end_date="2027-03-31"
    )
    first, second = (longer, shorter) if order == "later first" else (shorter, longer)
    _approve_all(session, first, proc2)
    _approve_all(session, second, proc2)
    session.expire_all()
    assert session.get(Engagement, engagement.id).end_date == date(2027, 6, 30)


@pytest.mark.parametrize("order", ["july first", "october first"])
def test_a_rate_change_reaches_later_terms_rows_until_the_next_rate_change(
    session, org, people, make_engagement, make_member, order
):
    """Rows created by other changes (a manager transfer in August, a budget increase in
    November) carry the rate in effect; a later rate change keeps its own months."""
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 12, 31), rate="90")
    proc, proc2 = people["procurement"], people["procurement2"]
    new_manager = make_member(org, roles=("hiring_manager",))
    _approve_all(
        session,
        _propose(
            session,
            proc,
            engagement,
            "manager_transfer",
            "2026-08-01",
            new_hiring_manager_user_id=new_manager.user_id,
        ),
        proc2,
    )
    _approve_all(
        session,
        _propose(
            session, proc, engagement, "budget_increase", "2026-11-01", new_budget_cap="150000"
        ),
        proc2,
    )
    july = _propose(session, proc, engagement, "rate_change", "2026-07-01", new_rate="120")
    october = _propose(session, proc, engagement, "rate_change", "2026-10-01", new_rate="150")
    for amendment in (july, october) if order == "july first" else (october, july):
        _approve_all(session, amendment, proc2)
    session.expire_all()
    expected = {  # written out: the rate and cap a timesheet on that day is billed at
        date(2026, 6, 30): (Decimal(90), Decimal(100000)),
        date(2026, 7, 1): (Decimal(120), Decimal(100000)),
        date(2026, 8, 15): (Decimal(120), Decimal(100000)),
        date(2026, 9, 30): (Decimal(120), Decimal(100000)),
        date(2026, 10, 1): (Decimal(150), Decimal(100000)),
        date(2026, 11, 15): (Decimal(150), Decimal(150000)),
    }
    actual = {
        day: (
            svc.terms_on(session, engagement.id, day).rate,
            svc.terms_on(session, engagement.id, day).budget_cap,
        )
        for day in expected
    }
    assert actual == expected
    # the manager transfer still holds from August, whatever the rate changes did
    assert svc.terms_on(session, engagement.id, date(2026, 12, 1)).hiring_manager_user_id == (
        new_manager.user_id
    )


def test_an_extension_may_not_double_book_the_freelancer(
    session, org, people, make_engagement, make_freelancer
):
    person = make_freelancer(org)
    engagement = make_engagement(
        org, freelancer=person, start=date(2026, 1, 1), end=date(2026, 12, 31)
    )
    make_engagement(
        org, freelancer=person, state="approved", start=date(2027, 2, 1), end=date(2027, 5, 31)
    )
    with pytest.raises(InvalidInput) as info:
        _propose(
            session,
            people["procurement"],
            engagement,
            "extension",
            "2026-12-31",
            new_end_date="2027-03-31",
        )
    assert "another engagement" in info.value.errors["new_end_date"][0]
    # up to the day before the next booking is fine
    _propose(
        session,
        people["procurement"],
        engagement,
        "extension",
        "2026-12-31",
        new_end_date="2027-01-31",
    )


def test_a_booking_made_after_the_proposal_stops_the_extension_at_approval(
    session, org, people, make_engagement, make_freelancer
):
    person = make_freelancer(org)
    engagement = make_engagement(
        org, freelancer=person, start=date(2026, 1, 1), end=date(2026, 12, 31)
    )
    extension = _propose(
        session,
        people["procurement"],
        engagement,
        "extension",
        "2026-12-31",
        new_end_date="2027-03-31",
    )
    make_engagement(
        org, freelancer=person, state="approved", start=date(2027, 3, 1), end=date(2027, 5, 31)
    )
    with pytest.raises(RuleViolation, match="another engagement"), session.begin_nested():
        _approve_all(session, extension, people["procurement2"])  # the request rolls back
    session.expire_all()
    assert session.get(Amendment, extension.id).state == "pending"
    assert session.get(Engagement, engagement.id).end_date == date(2026, 12, 31)


def test_a_trial_cannot_be_extended_past_the_trial_limit(session, org, people, make_engagement):
    trial = make_engagement(org, kind="trial", start=date(2027, 1, 1), end=date(2027, 1, 20))
    with pytest.raises(InvalidInput) as info:
        _propose(
            session,
            people["procurement"],
            trial,
            "extension",
            "2027-01-20",
            new_end_date="2027-02-15",
        )
    assert "at most 30 days" in info.value.errors["new_end_date"][0]
    _propose(
        session, people["procurement"], trial, "extension", "2027-01-20", new_end_date="2027-01-30"
    )


def test_no_extension_after_notice(session, org, people, make_engagement):
    engagement = make_engagement(
        org, start=TODAY - timedelta(days=30), end=TODAY + timedelta(days=200)
    )
    extension = _propose(
        session,
        people["procurement"],
        engagement,
        "extension",
        TODAY.isoformat(),
        new_end_date=(TODAY + timedelta(days=300)).isoformat(),
    )
    svc.give_notice(
        session,
        actor=people["procurement"],
        engagement_id=engagement.id,
        end_date=TODAY + timedelta(days=60),
        reason="Project stopped",
        today=TODAY,
    )
    with pytest.raises(RuleViolation, match="Notice has been given"):
        _approve_all(session, extension, people["procurement2"])


# --- trial budget ------------------------------------------------------------------------------


def test_trial_budgets_stay_within_the_trial_limit(
    session, org, people, make_engagement, org_structure, make_member, actor_of
):
    """trial_max_budget (5,000 in the base currency by default) holds for direct trials and
    for budget increases on trials; an org admin can raise it."""
    fields = {
        "title": "Boot camp",
        "kind": "trial",
        "start_date": "2027-01-04",
        "end_date": "2027-01-29",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate": "50",
        "budget_cap": "6000",
        "hiring_manager_user_id": people["manager"].user_id,
        **org_structure(org),
    }
    draft = svc.create_engagement(session, actor=people["procurement"], **fields)
    with pytest.raises(RuleViolation, match="at most 5,000.00 EUR"):
        svc.submit_engagement(
            session, actor=people["procurement"], engagement_id=draft.id, today=TODAY
        )
    trial = make_engagement(org, kind="trial", start=date(2027, 1, 1), end=date(2027, 1, 20))
    with pytest.raises(InvalidInput, match="at most 5,000.00 EUR"):
        # the factory's cap is 100,000 — any increase on it is over the trial limit
        _propose(
            session,
            people["procurement"],
            trial,
            "budget_increase",
            "2027-01-05",
            new_budget_cap="100001",
        )
    from fms.workforce import services

    admin = actor_of(make_member(org, roles=("org_admin",)))
    services.update_settings(
        session, actor=admin, notice_period_days=14, trial_max_days=30, trial_max_budget="10000"
    )
    svc.submit_engagement(session, actor=people["procurement"], engagement_id=draft.id, today=TODAY)
    assert draft.state == "pending_approval"
    with pytest.raises(InvalidInput) as info:
        services.update_settings(
            session, actor=admin, notice_period_days=14, trial_max_days=30, trial_max_budget="-5"
        )
    assert "trial_max_budget" in info.value.errors


# --- the approval chain ---------------------------------------------------------------------


def test_a_large_budget_increase_needs_finance_and_a_second_procurement_approval(
    session, org, people, make_engagement, approval_chain
):
    approval_chain(org)  # procurement; finance from 50,000; procurement again from 200,000
    engagement = make_engagement(org)
    proc, proc2, finance = people["procurement"], people["procurement2"], people["finance"]
    manager = people["manager"]
    increase = _propose(
        session, proc, engagement, "budget_increase", "2026-06-01", new_budget_cap="5000000"
    )
    steps = session.scalars(
        select(ApprovalStep)
        .where(ApprovalStep.amendment_id == increase.id)
        .order_by(ApprovalStep.position)
    ).all()
    assert [s.role for s in steps] == ["procurement", "finance", "procurement"]
    with pytest.raises(NotAllowed, match="own amendment"):
        _approve_all(session, increase, proc)
    with pytest.raises(NotAllowed, match="procurement role"):
        _approve_all(session, increase, manager)
    with pytest.raises(NotAllowed, match="procurement role"):
        _approve_all(session, increase, finance)  # not finance's turn yet
    _approve_all(session, increase, proc2)
    assert increase.state == "pending"
    assert svc.terms_on(session, engagement.id, date(2026, 7, 1)).budget_cap == Decimal(100000)
    _approve_all(session, increase, finance)
    with pytest.raises(RuleViolation, match="different person"):
        _approve_all(session, increase, proc2)
    assert increase.state == "pending"
    assert svc.terms_on(session, engagement.id, date(2026, 7, 1)).budget_cap == Decimal(100000)


def test_a_budget_increase_is_measured_in_the_base_currency(
    session, org, people, make_engagement, approval_chain
):
    """180,000 USD at 1.2 EUR per USD is 216,000 EUR: above the 200,000 threshold of the
    second procurement approval, which 180,000 EUR does not reach."""
    approval_chain(org)
    session.add(
        ExchangeRate(
            org_id=org.id, currency="USD", rate=Decimal("1.2"), effective_from=date(2020, 1, 1)
        )
    )
    dollars = make_engagement(org, currency="USD")
    euros = make_engagement(org)
    proc = people["procurement"]
    in_dollars = _propose(
        session, proc, dollars, "budget_increase", "2026-06-01", new_budget_cap="180000"
    )
    in_euros = _propose(
        session, proc, euros, "budget_increase", "2026-06-01", new_budget_cap="180000"
    )
    roles = {
        a.id: [
            s.role
            for s in session.scalars(
                select(ApprovalStep)
                .where(ApprovalStep.amendment_id == a.id)
                .order_by(ApprovalStep.position)
            )
        ]
        for a in (in_dollars, in_euros)
    }
    assert roles == {
        in_dollars.id: ["procurement", "finance", "procurement"],
        in_euros.id: ["procurement", "finance"],
    }
    assert in_dollars.budget_base == Decimal("216000")


def test_the_last_approval_applies_a_rejection_ends_it(
    session, org, people, make_engagement, approval_chain
):
    approval_chain(org)
    engagement = make_engagement(org)
    proc, proc2, finance = people["procurement"], people["procurement2"], people["finance"]
    increase = _propose(
        session, proc, engagement, "budget_increase", "2026-06-01", new_budget_cap="150000"
    )
    _approve_all(session, increase, proc2, finance)
    assert increase.state == "approved"
    assert svc.terms_on(session, engagement.id, date(2026, 7, 1)).budget_cap == Decimal(150000)

    refused = _propose(
        session, proc, engagement, "budget_increase", "2026-09-01", new_budget_cap="180000"
    )
    with pytest.raises(InvalidInput):
        svc.decide_amendment(session, actor=proc2, amendment_id=refused.id, approve=False)
    svc.decide_amendment(
        session, actor=proc2, amendment_id=refused.id, approve=False, comment="No budget left"
    )
    assert refused.state == "rejected"
    states = session.scalars(
        select(ApprovalStep.state)
        .where(ApprovalStep.amendment_id == refused.id)
        .order_by(ApprovalStep.position)
    ).all()
    assert states == ["rejected", "skipped"]
    assert svc.terms_on(session, engagement.id, date(2026, 10, 1)).budget_cap == Decimal(150000)
    with pytest.raises(RuleViolation, match="already been decided"):
        _approve_all(session, refused, finance)


# --- delegations ------------------------------------------------------------------------------


def test_a_stand_in_acts_for_the_manager_only_while_the_delegation_holds(
    session, org, people, make_engagement
):
    manager, stand_in = people["manager"], people["stand_in"]
    engagement = make_engagement(
        org,
        manager_id=manager.user_id,
        start=TODAY - timedelta(days=30),
        end=TODAY + timedelta(days=200),
    )
    others = make_engagement(org, manager_id=people["manager2"].user_id)

    def propose_rate(actor, on=engagement, rate="95"):
        return _propose(session, actor, on, "rate_change", TODAY.isoformat(), new_rate=rate)

    with pytest.raises(NotAllowed):
        propose_rate(stand_in)
    delegation = delegations.create_delegation(
        session,
        actor=manager,
        delegate_user_id=stand_in.user_id,
        starts_on=TODAY,
        ends_on=TODAY + timedelta(days=14),
        today=TODAY,
        note="Parental leave",
    )
    propose_rate(stand_in)
    with pytest.raises(NotAllowed):  # another manager's engagement is not covered
        _propose(session, stand_in, others, "rate_change", "2026-06-01", new_rate="99")
    with pytest.raises(InvalidInput, match="highlighted") as info:  # not a take-over
        _propose(
            session,
            stand_in,
            engagement,
            "manager_transfer",
            TODAY.isoformat(),
            new_hiring_manager_user_id=stand_in.user_id,
        )
    assert "new_hiring_manager_user_id" in info.value.errors
    delegations.revoke_delegation(session, actor=manager, delegation_id=delegation.id)
    with pytest.raises(NotAllowed):
        propose_rate(stand_in, rate="97")


def test_a_future_delegation_does_not_count_today(session, org, people, make_engagement):
    manager, stand_in = people["manager"], people["stand_in"]
    engagement = make_engagement(
        org,
        manager_id=manager.user_id,
        start=TODAY - timedelta(days=30),
        end=TODAY + timedelta(days=200),
    )
    delegations.create_delegation(
        session,
        actor=manager,
        delegate_user_id=stand_in.user_id,
        starts_on=TODAY + timedelta(days=3),
        ends_on=TODAY + timedelta(days=10),
        today=TODAY,
    )
    with pytest.raises(NotAllowed):
        svc.give_notice(
            session,
            actor=stand_in,
            engagement_id=engagement.id,
            end_date=TODAY + timedelta(days=60),
            reason="x",
            today=TODAY,
        )


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"delegate_user_id": "self"}, "delegate_user_id"),
        ({"delegate_user_id": "finance"}, "delegate_user_id"),
        ({"starts_on": TODAY - timedelta(days=1)}, "starts_on"),
        ({"ends_on": TODAY - timedelta(days=1)}, "ends_on"),
        ({"ends_on": TODAY + timedelta(days=400)}, "ends_on"),
        ({"starts_on": "0001-01-01"}, "starts_on"),
        ({"starts_on": "tomorrow"}, "starts_on"),
    ],
)
def test_bad_delegations_are_refused(session, org, people, changes, field):
    manager = people["manager"]
    values = {
        "delegate_user_id": people["stand_in"].user_id,
        "starts_on": TODAY,
        "ends_on": TODAY + timedelta(days=7),
    }
    values.update(changes)
    if values["delegate_user_id"] == "self":
        values["delegate_user_id"] = manager.user_id
    if values["delegate_user_id"] == "finance":
        values["delegate_user_id"] = people["finance"].user_id
    with pytest.raises(InvalidInput) as info:
        delegations.create_delegation(session, actor=manager, today=TODAY, **values)
    assert field in info.value.errors


def test_whose_delegations(session, org, people):
    """A manager names stand-ins for themselves only (a manager_user_id they pass is theirs);
    procurement for anyone; a third manager cannot see or revoke someone else's."""
    manager, stand_in, other = people["manager"], people["stand_in"], people["manager2"]
    own = delegations.create_delegation(
        session,
        actor=manager,
        manager_user_id=manager.user_id,  # a manager delegates their own engagements
        delegate_user_id=stand_in.user_id,
        starts_on=TODAY,
        ends_on=TODAY + timedelta(days=7),
        today=TODAY,
    )
    assert own.manager_user_id == manager.user_id
    for_other = delegations.create_delegation(
        session,
        actor=people["procurement"],
        manager_user_id=other.user_id,
        delegate_user_id=stand_in.user_id,
        starts_on=TODAY,
        ends_on=TODAY + timedelta(days=7),
        today=TODAY,
    )
    assert for_other.manager_user_id == other.user_id
    with pytest.raises(RuleViolation, match="already covers"):
        delegations.create_delegation(
            session,
            actor=manager,
            delegate_user_id=stand_in.user_id,
            starts_on=TODAY + timedelta(days=3),
            ends_on=TODAY + timedelta(days=9),
            today=TODAY,
        )
    with pytest.raises(NotFound):
        delegations.revoke_delegation(session, actor=other, delegation_id=own.id)
    assert [d.id for d in delegations.list_delegations(session, actor=other, today=TODAY)] == [
        for_other.id
    ]
    with pytest.raises(NotAllowed):
        delegations.list_delegations(session, actor=people["finance"], today=TODAY)
    delegations.revoke_delegation(session, actor=stand_in, delegation_id=own.id)  # gives it back
    with pytest.raises(RuleViolation, match="already been revoked"):
        delegations.revoke_delegation(session, actor=manager, delegation_id=own.id)


def test_same_day_changes_do_not_depend_on_the_order_of_approval(
    session, org, people, make_engagement
):
    """Two rate changes from one day: the one asked for later holds, whichever is approved
    last. A budget increase overtaken by a bigger one is no longer an increase: refused."""
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 12, 31), rate="90")
    proc, proc2 = people["procurement"], people["procurement2"]
    first = _propose(session, proc, engagement, "rate_change", "2026-06-01", new_rate="100")
    second = _propose(session, proc, engagement, "rate_change", "2026-06-01", new_rate="110")
    _approve_all(session, second, proc2)
    _approve_all(session, first, proc2)
    assert svc.terms_on(session, engagement.id, date(2026, 7, 1)).rate == Decimal(110)

    small = _propose(
        session, proc, engagement, "budget_increase", "2026-06-01", new_budget_cap="120000"
    )
    big = _propose(
        session, proc, engagement, "budget_increase", "2026-06-01", new_budget_cap="600000"
    )
    _approve_all(session, big, proc2)
    with pytest.raises(RuleViolation, match="no longer an increase"), session.begin_nested():
        _approve_all(session, small, proc2)
    session.expire_all()
    assert svc.terms_on(session, engagement.id, date(2026, 7, 1)).budget_cap == Decimal(600000)


def test_a_manager_cannot_name_a_stand_in_for_another_manager(session, org, people):
    with pytest.raises(NotAllowed):
        delegations.create_delegation(
            session,
            actor=people["manager"],
            manager_user_id=people["manager2"].user_id,
            delegate_user_id=people["stand_in"].user_id,
            starts_on=TODAY,
            ends_on=TODAY + timedelta(days=7),
            today=TODAY,
        )
