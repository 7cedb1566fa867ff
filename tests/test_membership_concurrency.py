"""Memberships under concurrent requests on PostgreSQL: the last-admin rule and the unique
membership hold when requests race (read-then-write would let both through)."""

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.extensions import db
from fms.identity import memberships
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.tenancy import scope_session


def _org_with_admins(session, n_admins: int):
    org = Organization(name="Race", slug="race-members")
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    ids = []
    for index in range(n_admins):
        user = User(email=f"admin{index}@race.example", name=f"Admin {index}")
        session.add(user)
        session.flush()
        membership = Membership(org_id=org.id, user_id=user.id, roles=["org_admin"])
        session.add(membership)
        session.flush()
        ids.append(membership.id)
    session.commit()
    return org.id, ids


def _run_together(app, org_id, work, n):
    barrier = threading.Barrier(n)
    outcomes = []

    def run(index):
        # a session of its own per thread, as each request has
        with app.app_context(), Session(db.engine) as session:
            scope_session(session, org_id)
            try:
                barrier.wait()
                work(session, index)
                session.commit()
                outcomes.append("done")
            except memberships.LastAdmin:
                session.rollback()
                outcomes.append("last_admin")
            except memberships.AlreadyMember:
                session.rollback()
                outcomes.append("already_member")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_two_concurrent_demotions_of_the_last_two_admins_leave_one(app, committed, attempt):
    org_id, (first, second) = _org_with_admins(committed, 2)
    operator = Actor(user_id=None, org_id=org_id, roles=frozenset({"org_admin"}))

    def demote(session, index):
        membership = session.get(Membership, (first, second)[index])
        if index == 0:
            memberships.change_roles(
                session, actor=operator, membership=membership, roles=["finance"], via="t"
            )
        else:
            memberships.set_active(
                session, actor=operator, membership=membership, active=False, via="t"
            )

    assert _run_together(app, org_id, demote, 2) == ["done", "last_admin"]
    scope_session(committed, org_id)
    committed.expire_all()
    admins = [
        m
        for m in committed.scalars(select(Membership).where(Membership.is_active.is_(True)))
        if "org_admin" in m.roles
    ]
    assert len(admins) == 1


@pytest.mark.postgres
def test_ten_concurrent_adds_of_one_person_make_one_membership_and_nine_409s(app, committed):
    org_id, _ = _org_with_admins(committed, 1)
    person = User(email="joiner@race.example", name="Joiner")
    committed.add(person)
    committed.commit()
    person_id = person.id
    operator = Actor(user_id=None, org_id=org_id, roles=frozenset({"org_admin"}))

    def add(session, _index):
        memberships.create_membership(
            session,
            actor=operator,
            org_id=org_id,
            user_id=person_id,
            roles=["finance"],
            via="t",
        )

    outcomes = _run_together(app, org_id, add, 10)
    assert outcomes == ["already_member"] * 9 + ["done"]
    assert memberships.AlreadyMember.status == 409
    count = committed.scalar(
        select(func.count(Membership.id)).where(Membership.user_id == person_id)
    )
    assert count == 1
