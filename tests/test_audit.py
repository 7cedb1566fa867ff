"""The audit log: written with every change, append-only, hash-chained, verifiable."""

import re
import threading

import pytest
from sqlalchemy import func, select, text

from fms.audit import services as audit
from fms.audit.models import AuditChainHead, AuditEntry, AuditLogIsAppendOnly
from fms.identity.actor import system_actor
from fms.identity.models import Organization, User
from fms.tenancy import scope_session
from fms.workforce import services as workforce


@pytest.fixture
def org(make_org, session):
    org = make_org()
    session.commit()
    scope_session(session, org.id)
    return org


def _entries(session, org):
    return session.scalars(
        select(AuditEntry).where(AuditEntry.org_id == org.id).order_by(AuditEntry.seq)
    ).all()


def test_a_change_and_its_entry_commit_or_roll_back_together(session, org):
    actor = system_actor(org.id)
    workforce.create_unit(session, actor=actor, kind="department", code="ENG", name="Eng")
    session.rollback()
    scope_session(session, org.id)
    assert _entries(session, org) == []
    unit = workforce.create_unit(session, actor=actor, kind="department", code="ENG", name="Eng")
    session.commit()
    [entry] = _entries(session, org)
    assert (entry.action, entry.entity_type, entry.entity_id) == (
        "department.created",
        "department",
        unit.id,
    )
    assert entry.after == {"code": "ENG", "name": "Eng", "is_active": True}


def test_entries_record_before_and_after(session, org):
    actor = system_actor(org.id)
    unit = workforce.create_unit(session, actor=actor, kind="department", code="A", name="Old")
    workforce.update_unit(session, actor=actor, kind="department", unit_id=unit.id, name="New")
    last = _entries(session, org)[-1]
    assert last.action == "department.updated"
    assert last.before["name"] == "Old" and last.after["name"] == "New"


def test_chain_verifies_and_detects_tampering(session, org):
    actor = system_actor(org.id)
    for i in range(5):
        audit.record(session, actor, "test.event", entity_type="thing", entity_id=i)
    assert audit.verify_chain(session, org.id).ok
    entries = _entries(session, org)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert all(e.prev_hash == p.hash for p, e in zip(entries, entries[1:], strict=False))
    # someone edits a row behind the application's back
    session.execute(
        text("UPDATE audit_entry SET action = 'test.innocent' WHERE id = :id"),
        {"id": entries[2].id},
    )
    session.expire_all()
    report = audit.verify_chain(session, org.id)
    assert not report.ok and report.seq == 3 and "changed" in report.problem


def test_chain_detects_deleted_entries(session, org):
    actor = system_actor(org.id)
    for i in range(4):
        audit.record(session, actor, "test.event", entity_type="thing", entity_id=i)
    entries = _entries(session, org)
    session.execute(text("DELETE FROM audit_entry WHERE id = :id"), {"id": entries[1].id})
    session.expire_all()
    report = audit.verify_chain(session, org.id)
    assert not report.ok and report.seq == 2 and "missing" in report.problem
    session.execute(text("DELETE FROM audit_entry WHERE seq > 2 AND org_id = :o"), {"o": org.id})
    session.execute(text("DELETE FROM audit_entry WHERE seq = 2 AND org_id = :o"), {"o": org.id})
    session.expire_all()
    report = audit.verify_chain(session, org.id)  # only #1 left; the head says 4
    assert not report.ok and "after this are missing" in report.problem


def test_entries_cannot_be_changed_or_deleted_through_the_orm(session, org):
    entry = audit.record(session, system_actor(org.id), "test.event", entity_type="thing")
    entry.action = "changed"
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.rollback()
    scope_session(session, org.id)
    entry = audit.record(session, system_actor(org.id), "test.event", entity_type="thing")
    session.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.rollback()


def test_chains_are_per_organization(session, make_org):
    a, b = make_org(), make_org()
    audit.record(session, system_actor(a.id), "test.event", entity_type="thing")
    audit.record(session, system_actor(b.id), "test.event", entity_type="thing")
    audit.record(session, system_actor(a.id), "test.event", entity_type="thing")
    heads = {h.org_id: h.last_seq for h in session.scalars(select(AuditChainHead))}
    assert heads[a.id] == 2 and heads[b.id] == 1


def test_cli_verify_reports_ok_then_the_first_broken_link(app, session, org):
    actor = system_actor(org.id)
    for _ in range(3):
        audit.record(session, actor, "test.event", entity_type="thing")
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["fms", "audit", "verify"])
    assert result.exit_code == 0 and result.output.startswith("ok")
    session.execute(
        text("UPDATE audit_entry SET after = '{\"x\": 1}' WHERE org_id = :o AND seq = 2"),
        {"o": org.id},
    )
    session.commit()
    result = runner.invoke(args=["fms", "audit", "verify"])
    assert result.exit_code == 1
    assert f"organization {org.id}, entry #2" in result.output


def test_audit_page_filters_by_action(client, session, org_admin, sign_in, make_unit):
    org = session.get(Organization, org_admin.org_id)
    actor = system_actor(org.id)
    scope_session(session, org.id)
    workforce.create_unit(session, actor=actor, kind="department", code="D1", name="Dept One")
    workforce.create_unit(
        session, actor=actor, kind="location", code="L1", name="Loc One", country="DE"
    )
    sign_in(client, session.get(User, org_admin.user_id), org)
    page = client.get("/admin/audit?action=location.").data.decode()
    assert 'fms-mono">location.created</div>' in page
    assert 'fms-mono">department.created</div>' not in page
    api = client.get("/api/v1/audit-entries?action=department.&per_page=5").get_json()
    assert api["total"] == 1 and api["items"][0]["action"] == "department.created"


def test_audit_log_is_for_admins_and_compliance_only(
    client, session, org_admin, make_member, sign_in
):
    org = session.get(Organization, org_admin.org_id)
    finance = make_member(org, roles=("finance",))
    sign_in(client, session.get(User, finance.user_id), org)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/api/v1/audit-entries").status_code == 403


@pytest.mark.postgres
def test_concurrent_writers_never_fork_the_chain(app, committed):
    """Eight threads append to one organization's chain at once: one gapless chain results."""
    from fms.extensions import db

    org = Organization(name="Concurrent", slug="concurrent")
    committed.add(org)
    committed.flush()
    audit.start_chain(committed, org.id)
    committed.commit()
    org_id = org.id
    per_thread, threads = 15, 8
    barrier = threading.Barrier(threads)
    errors = []

    def writer(n):
        try:
            with app.app_context():
                barrier.wait()
                for i in range(per_thread):
                    scope_session(db.session, org_id)
                    audit.record(
                        db.session,
                        system_actor(org_id),
                        "test.concurrent",
                        entity_type="thread",
                        entity_id=n * 100 + i,
                    )
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    scope_session(committed, org_id)
    seqs = committed.scalars(
        select(AuditEntry.seq).where(AuditEntry.org_id == org_id).order_by(AuditEntry.seq)
    ).all()
    assert seqs == list(range(1, per_thread * threads + 1))
    assert committed.scalar(select(func.count(func.distinct(AuditEntry.prev_hash)))) == len(seqs)
    assert audit.verify_chain(committed, org_id).ok


# --- the audit page reads through indexes, not DISTINCT scans ------------------------------


def _page_statements(app, client, session, path):
    """The statements (with parameters) a page runs against audit_entry."""
    from sqlalchemy import event

    from fms.extensions import db

    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if "audit_entry" in statement and not statement.lstrip().upper().startswith("EXPLAIN"):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    assert response.status_code == 200
    return response.data.decode(), seen


def _seed(session, org, user_id):
    actor = system_actor(org.id)
    other = type(actor)(user_id=user_id, org_id=org.id, roles=actor.roles)
    for i in range(3):
        audit.record(session, actor, "department.created", entity_type="department", entity_id=i)
    audit.record(session, other, "location.created", entity_type="location", entity_id=7)
    audit.record(session, actor, "membership.roles_changed", entity_type="membership")
    session.commit()


def test_audit_page_runs_no_distinct_scan_and_searches_indexes(
    app, client, session, org_admin, sign_in
):
    org = session.get(Organization, org_admin.org_id)
    scope_session(session, org.id)
    _seed(session, org, org_admin.user_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    for path in (
        "/admin/audit",
        "/admin/audit?action=department.",
        "/admin/audit?action=location.created",
        f"/admin/audit?actor_user_id={org_admin.user_id}",
        "/admin/audit?entity_type=department&entity_id=2",
    ):
        _, statements = _page_statements(app, client, session, path)
        assert statements, path
        assert not [s for s, _ in statements if "DISTINCT" in s.upper()], path
        if session.bind.dialect.name != "sqlite":
            continue
        connection = session.connection()
        for statement, parameters in statements:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            details = [row[-1] for row in plan]
            full_scans = [
                d for d in details if d.startswith("SCAN audit_entry") or "TEMP B-TREE" in d
            ]
            assert not full_scans, (path, statement, details)


def test_audit_page_filter_choices_and_filters_still_work(client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    scope_session(session, org.id)
    _seed(session, org, org_admin.user_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    page = client.get("/admin/audit").data.decode()
    choices = set(re.findall(r'<option value="([^"]+)"', page))  # the codes; words are shown
    assert {"department.created", "location.created", "membership.roles_changed"} <= choices
    assert {"department", "location", "membership"} <= choices
    total = session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.org_id == org.id)
    )
    assert f"{total} entries" in page  # the seeded ones and the sign-in's own
    page = client.get(f"/admin/audit?actor_user_id={org_admin.user_id}").data.decode()
    assert (
        'fms-mono">location.created</div>' in page
        and 'fms-mono">department.created</div>' not in page
    )
    page = client.get("/admin/audit?entity_type=department&entity_id=2").data.decode()
    assert page.count('fms-mono">department.created</div>') == 1 and "1 entry" in page
    page = client.get("/admin/audit?action=department.").data.decode()
    assert page.count('fms-mono">department.created</div>') == 3 and "3 entries" in page
    api = client.get("/api/v1/audit-entries?action=membership.&per_page=5").get_json()
    assert api["total"] == 1 and api["items"][0]["action"] == "membership.roles_changed"
    api = client.get("/api/v1/audit-entries?action=nothing.like.this").get_json()
    assert api["total"] == 0 and api["items"] == []


@pytest.mark.postgres
def test_audit_page_uses_indexes_at_50k_entries_on_postgres(
    app, client, session, org_admin, sign_in, make_org
):
    """EXPLAIN ANALYZE of every statement the page runs: no sequential scan of audit_entry,
    and no statement reads more than a page (or the capped count) of rows."""
    import json

    org = session.get(Organization, org_admin.org_id)
    neighbour = make_org()
    session.commit()
    actions = "ARRAY['department.created','location.updated','membership.roles_changed'," + (
        "'timesheet.approved','engagement.activated']"
    )
    for target, n in ((org.id, 50_000), (neighbour.id, 20_000)):
        session.execute(
            text(
                "INSERT INTO audit_entry (org_id, seq, created_at, actor_user_id, channel,"
                " action, entity_type, entity_id, prev_hash, hash)"
                f" SELECT :org, g, now() - (g || ' seconds')::interval,"
                f" CASE WHEN g % 50 = 0 THEN :user END, 'web', ({actions})[1 + g % 5],"
                f" split_part(({actions})[1 + g % 5], '.', 1), g % 1000, 'x', 'y'"
                " FROM generate_series(1, :n) AS g"
            ),
            {"org": target, "user": org_admin.user_id, "n": n},
        )
        session.execute(
            text(
                "INSERT INTO audit_chain_head (org_id, last_seq, last_hash) VALUES (:o, :n, 'y')"
                " ON CONFLICT (org_id) DO UPDATE SET last_seq = :n"
            ),
            {"o": target, "n": n},
        )
    session.execute(text("ANALYZE audit_entry"))
    session.commit()
    sign_in(client, session.get(User, org_admin.user_id), org)
    for path in (
        "/admin/audit",
        "/admin/audit?page=3",
        "/admin/audit?action=timesheet.approved",
        "/admin/audit?action=location.",
        f"/admin/audit?actor_user_id={org_admin.user_id}",
        "/admin/audit?entity_type=engagement&entity_id=4",
    ):
        page, statements = _page_statements(app, client, session, path)
        assert "entries" in page and len(statements) >= 3, path
        for statement, parameters in statements:
            [[plan]] = (
                session.connection()
                .exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                .one()
            )
            plan = plan if isinstance(plan, dict) else json.loads(plan)[0]
            nodes, stack = [], [plan["Plan"]]
            while stack:
                node = stack.pop()
                nodes.append(node)
                stack.extend(node.get("Plans", []))
            scans = [n for n in nodes if n.get("Relation Name") == "audit_entry"]
            assert not [n for n in scans if n["Node Type"] == "Seq Scan"], (path, statement)
            read = sum(
                (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
                for n in scans
            )
            assert read <= 10_100, (path, statement, read)
