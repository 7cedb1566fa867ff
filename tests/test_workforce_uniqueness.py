"""Ten identical creates at the same moment: one row, nine 409s naming it — never a 500."""

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.errors import AlreadyExists
from fms.extensions import db
from fms.identity.actor import Actor
from fms.identity.models import Organization
from fms.tenancy import scope_session
from fms.workforce import services
from fms.workforce.models import Department, ExchangeRate, Skill, Supplier


def _race(app, org_id, create, n=10):
    barrier = threading.Barrier(n)
    outcomes = []
    actor = Actor(
        user_id=None, org_id=org_id, roles=frozenset({"org_admin", "procurement", "finance"})
    )

    def run():
        with app.app_context(), Session(db.engine) as session:
            scope_session(session, org_id)
            try:
                barrier.wait()
                row = create(session, actor)
                session.commit()
                outcomes.append(("created", row.id))
            except AlreadyExists as exc:
                session.rollback()
                outcomes.append(("exists", exc.existing_id))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


CREATES = {
    "department": (
        Department,
        lambda s, a: services.create_unit(
            s, actor=a, kind="department", code="FIN", name="Finance"
        ),
    ),
    "skill": (Skill, lambda s, a: services.create_skill(s, actor=a, name="Python")),
    "supplier": (
        Supplier,
        lambda s, a: services.create_supplier(s, actor=a, name="Acme Staffing", country="DE"),
    ),
    "exchange rate": (
        ExchangeRate,
        lambda s, a: services.add_exchange_rate(
            s, actor=a, currency="USD", rate="0.92", effective_from="2026-12-01"
        ),
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("what", sorted(CREATES))
def test_concurrent_identical_creates_make_one_row_and_409s(app, committed, what):
    from fms.audit import services as audit

    org = Organization(name="Race", slug="race-unique", base_currency="EUR")
    committed.add(org)
    committed.flush()
    audit.start_chain(committed, org.id)
    committed.commit()
    model, create = CREATES[what]
    outcomes = _race(app, org.id, create)
    created = [i for kind, i in outcomes if kind == "created"]
    assert len(created) == 1, outcomes
    assert sorted(kind for kind, _ in outcomes) == ["created"] + ["exists"] * 9
    assert {i for kind, i in outcomes if kind == "exists"} == set(created)
    scope_session(committed, org.id)
    assert committed.scalar(select(func.count(model.id))) == 1
