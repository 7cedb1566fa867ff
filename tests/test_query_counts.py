"""Pages run a fixed number of SQL statements whatever the number of rows (no N+1)."""

import pytest

from fms.identity.models import Organization, User


@pytest.mark.parametrize(
    "path, kind",
    [
        ("/admin/members", "member"),
        ("/freelancers", "freelancer"),
        ("/admin/structure", "unit"),
        ("/admin/audit", "audit"),
        ("/api/v1/memberships?per_page=200", "member"),
        ("/api/v1/freelancers?per_page=200", "freelancer"),
        ("/api/v1/audit-entries?per_page=200", "audit"),
    ],
)
def test_statement_count_does_not_grow_with_rows(
    client,
    session,
    org_admin,
    sign_in,
    make_member,
    make_freelancer,
    make_unit,
    query_counter,
    path,
    kind,
):
    from fms.audit import services as audit
    from fms.identity.actor import system_actor
    from tests.factories import as_org

    org = session.get(Organization, org_admin.org_id)
    user = session.get(User, org_admin.user_id)

    def add(n):
        for _ in range(n):
            if kind == "member":
                make_member(org, roles=("finance",))
            elif kind == "freelancer":
                make_freelancer(org)
            elif kind == "unit":
                make_unit(org, "department")
                make_unit(org, "location")
            else:
                with as_org(session, org.id):
                    audit.record(session, system_actor(org.id), "x.y", entity_type="t")
        session.commit()

    counts = []
    for n in (5, 45):
        add(n)
        sign_in(client, user, org)
        with query_counter() as statements:
            response = client.get(path)
        assert response.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], (
        f"{path}: {counts[0]} statements for few rows, {counts[1]} for many"
    )
