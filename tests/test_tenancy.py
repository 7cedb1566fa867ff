"""The scoping mechanism: every ORM query is filtered to the session's organization."""

import pytest
from sqlalchemy import delete, func, select, update

from fms.errors import NotFound
from fms.tenancy import ALL_TENANTS, TenantMismatch, get_in_org, scope_session
from fms.workforce.models import Department, Location


@pytest.fixture
def two_orgs(make_org, make_unit, session):
    a, b = make_org(), make_org()
    dept_a = make_unit(a, code="A-ENG")
    dept_b = make_unit(b, code="B-ENG")
    return a, b, dept_a, dept_b


def test_scoped_session_sees_only_its_organization(session, two_orgs):
    a, b, dept_a, dept_b = two_orgs
    scope_session(session, a.id)
    assert session.scalars(select(Department.code)).all() == ["A-ENG"]
    scope_session(session, b.id)
    assert session.scalars(select(Department.code)).all() == ["B-ENG"]


def test_unscoped_session_sees_no_tenant_rows(session, two_orgs):
    scope_session(session, None)
    assert session.scalar(select(func.count(Department.id))) == 0


def test_cross_tenant_reads_must_be_explicit(session, two_orgs):
    scope_session(session, None)
    stmt = select(Department.code).execution_options(**{ALL_TENANTS: True})
    assert sorted(session.scalars(stmt)) == ["A-ENG", "B-ENG"]


def test_primary_key_load_of_another_org_is_not_found_even_from_identity_map(session, two_orgs):
    a, b, dept_a, dept_b = two_orgs
    scope_session(session, a.id)
    # dept_b sits in this session's identity map: session.get would hand it out
    assert session.get(Department, dept_b.id) is dept_b
    with pytest.raises(NotFound):
        get_in_org(session, Department, dept_b.id)
    assert get_in_org(session, Department, dept_a.id) is dept_a
    with pytest.raises(NotFound):
        get_in_org(session, Department, "not-a-number")


def test_bulk_update_and_delete_stay_in_the_organization(session, two_orgs):
    a, b, dept_a, dept_b = two_orgs
    scope_session(session, a.id)
    session.execute(update(Department).values(name="renamed"))
    session.execute(delete(Location))
    scope_session(session, None)
    names = dict(
        session.execute(
            select(Department.code, Department.name).execution_options(**{ALL_TENANTS: True})
        ).all()
    )
    assert names["A-ENG"] == "renamed"
    assert names["B-ENG"] != "renamed"


def test_new_rows_take_the_session_org_and_cannot_be_written_into_another(session, two_orgs):
    a, b, dept_a, dept_b = two_orgs
    scope_session(session, a.id)
    stamped = Department(code="NEW", name="New")
    session.add(stamped)
    session.flush()
    assert stamped.org_id == a.id
    session.add(Department(org_id=b.id, code="X", name="Intruder"))
    with pytest.raises(TenantMismatch):
        session.flush()
    session.rollback()


def test_relationship_loads_are_scoped_too(session, make_org, make_member):
    from sqlalchemy.orm import selectinload

    from fms.identity.models import Membership, User

    a, b = make_org(), make_org()
    member_a = make_member(a)
    make_member(b, user=session.get(User, member_a.user_id))
    scope_session(session, a.id)
    session.expire_all()
    user = session.scalar(
        select(User).where(User.id == member_a.user_id).options(selectinload(User.memberships))
    )
    assert [m.org_id for m in user.memberships] == [a.id]
    assert isinstance(user.memberships[0], Membership)
