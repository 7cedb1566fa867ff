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
    return _org_with_admins_named(session, "race-members", n_admins)


def _org_with_admins_named(session, slug: str, n_admins: int = 1):
    org = Organization(name="Race", slug=slug)
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    ids = []
    for index in range(n_admins):
        user = User(email=f"admin{index}@{slug}.example", name=f"Admin {index}")
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


@pytest.mark.postgres
def test_two_new_account_links_for_one_address_used_at_once_make_one_account(app, committed):
    """Two organizations invited the same new address; its owner opens both mailed links
    at once: one account, and the other link says to sign in — never a 500."""
    from datetime import timedelta

    from fms.identity import accounts, links
    from fms.identity.models import PasswordLink
    from fms.identity.sso import invitations
    from fms.identity.sso.models import Invitation
    from fms.timekeeping import utcnow

    tokens = []
    for n in range(2):
        org_id, _ = _org_with_admins_named(committed, f"race-new-{n}")
        invitation = Invitation(
            org_id=org_id,
            email="twice@new.example",
            secret_hash=f"{n}" * 64,
            roles=["finance"],
            expires_at=utcnow() + timedelta(days=1),
        )
        committed.add(invitation)
        committed.flush()
        secret, secret_hash = links.new_secret()
        link = PasswordLink(
            email="twice@new.example",
            name="Twice",
            invitation_id=invitation.id,
            secret_hash=secret_hash,
            expires_at=utcnow() + timedelta(days=1),
        )
        committed.add(link)
        committed.flush()
        with app.test_request_context():
            tokens.append(links.token_for("password", link.id, secret))
    committed.commit()
    barrier = threading.Barrier(2)
    outcomes = []

    def use(token):
        with app.app_context(), Session(db.engine) as session:
            try:
                barrier.wait()
                accounts.set_password_with_link(session, token=token, password="chosen-by-me-123")
                session.commit()
                outcomes.append("created")
            except invitations.AccountExists:
                session.rollback()
                outcomes.append("sign in")

    threads = [threading.Thread(target=use, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", "sign in"]
    assert (
        committed.scalar(select(func.count(User.id)).where(User.email == "twice@new.example")) == 1
    )
