"""`flask fms demo`, `flask fms org create` and `flask fms jobs check`."""

from datetime import timedelta

from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.demo import DEMO_PASSWORD, DEMO_SLUG, DEMO_STAFF, demo_freelancers
from fms.identity.models import Membership, Organization, User
from fms.notifications.models import OutboxMessage
from fms.storage import StoredFile
from fms.tenancy import scope_session
from fms.timesheets.models import Adjustment, Expense, Milestone, Timesheet
from fms.workforce.demo import EXTRA_STAFF
from fms.workforce.models import CostCentre, Department, Freelancer, Location


def _counts(session):
    everything = {"all_tenants": True}
    return {
        model.__name__: session.scalar(
            select(func.count()).select_from(model).execution_options(**everything)
        )
        for model in (
            Organization,
            User,
            Membership,
            Department,
            CostCentre,
            Location,
            Freelancer,
            AuditEntry,
            OutboxMessage,
            Timesheet,
            Adjustment,
            Milestone,
            Expense,
            StoredFile,
        )
    }


def test_demo_loads_once_and_again_without_duplicates(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["fms", "demo"])
    assert first.exit_code == 0, first.output
    assert "admin@northbridge.example" in first.output and DEMO_PASSWORD in first.output
    counts = _counts(session)
    assert counts["Organization"] == 1
    assert counts["Freelancer"] == len(demo_freelancers()) >= 45
    # the staff, Lena, and the freelancers whose sheets the timesheets demo fills in
    logins = session.scalar(
        select(func.count(Freelancer.id))
        .where(Freelancer.user_id.is_not(None))
        .execution_options(all_tenants=True)
    )
    assert logins >= 4
    assert counts["Membership"] == len(DEMO_STAFF) + len(EXTRA_STAFF) + logins
    welcome = session.scalar(
        select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "welcome")
    )
    assert welcome == counts["Membership"]  # a welcome mail each, once
    second = runner.invoke(args=["fms", "demo"])
    assert second.exit_code == 0, second.output
    assert _counts(session) == counts
    countries = {p["country"] for p in demo_freelancers()}
    currencies = {p["currency"] for p in demo_freelancers()}
    assert len(countries) >= 8 and len(currencies) >= 5
    assert len({p["email"] for p in demo_freelancers()}) == len(demo_freelancers())


def test_demo_timesheets_in_every_state_through_the_services(app, session):
    """About twelve weeks of sheets for the demo manager: waiting, approved, rejected with
    its comment, a draft; an adjustment; milestones; expenses with stored receipts. All of
    it written by the services, so the audit log tells the story; once only."""
    assert app.test_cli_runner().invoke(args=["fms", "demo"]).exit_code == 0
    org = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    scope_session(session, org.id)
    states = dict(
        session.execute(select(Timesheet.state, func.count()).group_by(Timesheet.state)).all()
    )
    assert {"draft", "submitted", "approved", "rejected"} <= set(states), states
    assert states["submitted"] >= 3 and sum(states.values()) >= 30
    rejected = session.scalar(select(Timesheet).where(Timesheet.state == "rejected"))
    assert "PRJ-GRID" in rejected.decision_comment
    manager = session.scalar(select(User).where(User.email == "manager@northbridge.example"))
    from fms.identity.actor import Actor
    from fms.timesheets import queries

    queue = queries.review_queue(
        session,
        actor=Actor(user_id=manager.id, org_id=org.id, roles=frozenset({"hiring_manager"})),
        today=max(s.week_end for s in session.scalars(select(Timesheet))),
    )
    assert len(queue) == states["submitted"]  # all waiting for the demo manager
    # the invoicing demo bills what was approved up to the month before last ("invoiced")
    assert session.scalar(select(Adjustment.state)) in ("approved", "invoiced")
    milestones = set(session.scalars(select(Milestone.state)))
    assert milestones - {"accepted", "invoiced"} == {"delivered", "draft"}
    assert len(milestones) == 3
    receipts = session.scalars(select(Expense.receipt_sha256)).all()
    assert len(receipts) == 3 and all(receipts)
    stored = set(session.scalars(select(StoredFile.sha256)))
    assert set(receipts) <= stored
    actions = set(
        session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("timesheet.%")))
    )
    assert {"timesheet.created", "timesheet.submitted", "timesheet.approved"} <= actions
    assert "timesheet.rejected" in actions


def test_demo_compliance_through_the_services(app, session):
    """Policies for the demo's countries, the NDA and contract texts, signed NDAs with real
    PDFs, an insurance certificate expiring soon, Lena's onboarding with compliance items to
    do and her high-risk classification waiting for a decision; once only."""
    from fms.compliance import queries, services
    from fms.compliance.models import (
        Classification,
        ComplianceDocument,
        PolicyItem,
        Signature,
        SigningTemplate,
    )
    from fms.identity.actor import Actor
    from fms.timekeeping import today_in
    from fms.workforce.models import Engagement, OnboardingStep

    runner = app.test_cli_runner()
    first = runner.invoke(args=["fms", "demo"])
    assert first.exit_code == 0, first.output
    assert "Compliance demo:" in first.output
    org = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    scope_session(session, org.id)
    today = today_in(org.timezone)
    policy = set(session.scalars(select(PolicyItem.country)))
    assert {"", "US", "GB"} <= policy
    assert set(session.scalars(select(SigningTemplate.kind))) == {"nda", "contract"}
    signatures = session.scalars(select(Signature)).all()
    assert len(signatures) >= 2 and {s.kind for s in signatures} == {"nda"}
    for signature in signatures:
        pdf = session.get(StoredFile, signature.pdf_file_id)
        assert pdf is not None and pdf.size > 1000
        engagement = session.get(Engagement, signature.engagement_id)
        assert engagement.state == "active"
    expiring = session.scalar(
        select(ComplianceDocument).where(ComplianceDocument.state == "approved")
    )
    assert today < expiring.expires_on <= today + timedelta(days=30)
    waiting = session.scalars(
        select(Classification).where(Classification.state == "decision_needed")
    ).all()
    assert len(waiting) == 1 and waiting[0].risk == "high"
    officer = session.scalar(select(User).where(User.email == "compliance@northbridge.example"))
    officer_actor = Actor(user_id=officer.id, org_id=org.id, roles=frozenset({"compliance"}))
    assert [c.id for c in queries.decisions_waiting(session, actor=officer_actor)] == [
        waiting[0].id
    ]
    lena_engagement = session.get(Engagement, waiting[0].engagement_id)
    assert lena_engagement.state == "onboarding"
    steps = session.scalars(
        select(OnboardingStep).where(OnboardingStep.engagement_id == lena_engagement.id)
    ).all()
    open_items = {s.provider_key for s in steps if s.provider_key and s.done_at is None}
    assert {"compliance:nda", "compliance:contract", "compliance:w8ben"} <= open_items
    assert "NDA signed" not in {s.title for s in steps}  # the policy's own step instead
    problems = services.activation_problems(session, lena_engagement)
    assert any("high risk" in p for p in problems)
    from fms.compliance.models import OffboardingStep

    offboarding = session.scalars(select(OffboardingStep)).all()
    assert offboarding and all(s.done_at is None for s in offboarding)
    noticed = session.get(Engagement, offboarding[0].engagement_id)
    assert noticed.notice_given_at is not None and noticed.state == "active"
    counts = _counts(session)
    second = runner.invoke(args=["fms", "demo"])
    assert second.exit_code == 0, second.output
    assert "Compliance demo already loaded." in second.output
    assert _counts(session) == counts
    assert len(session.scalars(select(Signature)).all()) == len(signatures)


def test_demo_invoicing_through_the_services(app, session):
    """Billing settings, two bill-to entities with their cost centres, VAT rates, and the
    month before last closed: issued invoices, one paid, one credited by an issued
    credit note that released its items, one draft waiting; once only."""
    from fms.invoicing.models import (
        BillingSettings,
        BillToEntity,
        CostCentreBilling,
        Invoice,
        InvoiceLine,
        VatRate,
    )

    runner = app.test_cli_runner()
    first = runner.invoke(args=["fms", "demo"])
    assert first.exit_code == 0, first.output
    assert "Invoicing demo:" in first.output
    org = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    scope_session(session, org.id)
    settings = session.scalar(select(BillingSettings))
    assert settings.issuer_iban and settings.issuer_vat_id
    assert sorted(session.scalars(select(BillToEntity.country))) == ["CA", "DE", "FR"]
    assert session.scalar(select(func.count()).select_from(CostCentreBilling)) == 6
    assert {(r.country, r.category) for r in session.scalars(select(VatRate))} >= {
        ("DE", "standard"),
        ("FR", "standard"),
        ("FR", "reverse_charge"),
    }
    invoices = session.scalars(select(Invoice).where(Invoice.kind == "invoice")).all()
    states = {invoice.state for invoice in invoices}
    assert {"draft", "issued", "paid", "credited"} <= states, states
    assert [i.state for i in invoices].count("draft") == 1
    (note,) = session.scalars(select(Invoice).where(Invoice.kind == "credit_note"))
    credited = session.get(Invoice, note.credited_invoice_id)
    assert note.state == "issued" and note.release_items and credited.state == "credited"
    assert note.gross_total == credited.gross_total
    assert all(
        session.scalar(select(func.count()).where(InvoiceLine.invoice_id == invoice.id))
        for invoice in invoices
    )
    numbers = [invoice.number for invoice in invoices if invoice.state != "draft"]
    assert len(set(numbers)) == len(numbers) and all(numbers)
    again = runner.invoke(args=["fms", "demo"])
    assert "Invoicing demo already loaded." in again.output
    assert session.scalar(select(func.count()).select_from(Invoice)) == len(invoices) + 1


def test_demo_accounts_can_sign_in(app, client, session):
    app.test_cli_runner().invoke(args=["fms", "demo"])
    for email, _, _ in DEMO_STAFF:
        response = client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
        assert response.status_code == 302, email
        assert client.get("/").status_code == 200
        client.post("/logout")
    org = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    assert org.name == "Northbridge Energy AG"


def test_org_create_makes_an_organization_and_its_admin(app, session):
    runner = app.test_cli_runner()
    args = [
        "fms",
        "org",
        "create",
        "--name",
        "Acme Corp",
        "--slug",
        "acme",
        "--admin-email",
        "root@acme.example",
        "--admin-name",
        "Ada Admin",
        "--admin-password",
        "a-long-enough-password",
    ]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    org = session.scalar(select(Organization).where(Organization.slug == "acme"))
    member = session.scalar(
        select(Membership).where(Membership.org_id == org.id).execution_options(all_tenants=True)
    )
    assert member.roles == ["org_admin"]
    again = runner.invoke(args=args)
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(args=["Bad Slug!" if a == "acme" else a for a in args])
    assert bad.exit_code != 0 and "short name" in bad.output


def test_jobs_check_runs_inline(app, session):
    runner = app.test_cli_runner()
    runner.invoke(args=["fms", "demo"])
    result = runner.invoke(args=["fms", "jobs", "check", "--org", DEMO_SLUG])
    assert result.exit_code == 0 and result.output.strip().endswith("finished")


def test_sso_purge_runs(app, session):
    result = app.test_cli_runner().invoke(args=["fms", "sso", "purge"])
    assert result.exit_code == 0 and "stale sign-in record(s) removed" in result.output
