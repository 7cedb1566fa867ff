"""Another organization's objects answer 404 on every route and method that takes an id.

The test walks the app's URL map. For each id parameter it creates a real object in
organization B (from ID_FACTORIES), checks that A's own object of the same kind does not
answer 404 on that route (so a 404 means isolation, not a broken route), and fails when a
route has an id parameter with no factory: new routes are covered, or fail loudly.
"""

import pytest

ID_FACTORIES = {
    "org_id": lambda f, org: org.id,
    "membership_id": lambda f, org: f.make_member(org, roles=("finance",)).id,
    "user_id": lambda f, org: f.make_member(org, roles=("finance",)).user_id,
    "department_id": lambda f, org: f.make_unit(org, "department").id,
    "cost_centre_id": lambda f, org: f.make_unit(org, "cost_centre").id,
    "location_id": lambda f, org: f.make_unit(org, "location").id,
    "freelancer_id": lambda f, org: f.make_freelancer(org).id,
    "entry_id": lambda f, org: f.audit_entry(org).id,
    "job_id": lambda f, org: f.make_job_run(org).id,
}
# Each area adds its own id factories in its own module (no two hands in one file).
for _module in (
    "tests.factories_workforce",
    "tests.factories_identity_sso",
    "tests.factories_notifications",
    "tests.factories_lists",
    "tests.factories_invoicing",
    "tests.factories_tokens",
    "tests.factories_webhooks",
    "tests.factories_report_exports",
):
    ID_FACTORIES.update(__import__(_module, fromlist=["ID_FACTORIES"]).ID_FACTORIES)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _id_routes(app):
    for rule in app.url_map.iter_rules():
        params = [a for a in rule.arguments if a.endswith("_id")]
        if params and rule.endpoint != "static":
            for method in sorted(rule.methods & set(METHODS)):
                yield rule, method, params


class Factories:
    """Gives ID_FACTORIES every factory fixture by name: `f.make_member(org)`."""

    def __init__(self, request, session):
        self.request = request
        self.session = session

    def __getattr__(self, name):
        return self.request.getfixturevalue(name)

    def audit_entry(self, org):
        from fms.audit import services as audit
        from fms.identity.actor import system_actor
        from tests.factories import as_org

        with as_org(self.session, org.id):
            return audit.record(
                self.session, system_actor(org.id), "test.event", entity_type="test", entity_id=1
            )


def _call(client, method, url):
    if url.startswith("/api/"):
        return client.open(url, method=method, json={})
    return client.open(url, method=method, data={})


def test_every_route_with_an_id_hides_other_organizations(
    app, client, session, org_admin, make_org, sign_in, request
):
    from fms.identity.models import Organization, User

    factories = Factories(request, session)
    org_a = session.get(Organization, org_admin.org_id)
    org_b = make_org()
    user_a = session.get(User, org_admin.user_id)
    routes = list(_id_routes(app))
    assert len(routes) >= 15, "the walk found suspiciously few routes"
    missing = sorted({p for _, _, params in routes for p in params} - set(ID_FACTORIES))
    assert not missing, f"routes take ids with no factory in ID_FACTORIES: {missing}"

    failures = []
    for rule, method, params in routes:
        own = {p: ID_FACTORIES[p](factories, org_a) for p in params}
        other = {p: ID_FACTORIES[p](factories, org_b) for p in params}
        session.commit()
        sign_in(client, user_a, org_a)
        own_url = _build(rule, own)
        own_status = _call(client, method, own_url).status_code
        if own_status == 404 or own_status >= 500:
            failures.append(f"{method} {own_url}: own object answered {own_status}")
        sign_in(client, user_a, org_a)
        other_url = _build(rule, other)
        other_status = _call(client, method, other_url).status_code
        if other_status != 404:
            failures.append(f"{method} {other_url}: other org's object answered {other_status}")
    assert not failures, "\n".join(failures)


def _build(rule, values):
    url = rule.rule
    for name, value in values.items():
        for converter in ("int:", "string:", ""):
            url = url.replace(f"<{converter}{name}>", str(value))
    return url


@pytest.mark.parametrize("path", ["/admin/members/{id}", "/api/v1/memberships/{id}"])
def test_freelancer_of_same_org_cannot_read_members(
    client, session, org_admin, make_member, sign_in, path
):
    from fms.identity.models import Organization, User

    org = session.get(Organization, org_admin.org_id)
    freelancer = make_member(org, roles=("freelancer",))
    sign_in(client, session.get(User, freelancer.user_id), org)
    assert client.get(path.format(id=org_admin.id)).status_code == 403
