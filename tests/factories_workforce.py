"""Factories of the workforce area: fixtures, and id factories for the tenancy route walk."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest

from fms.workforce.models import (
    Amendment,
    ApprovalRule,
    Engagement,
    EngagementTerms,
    OnboardingStep,
    Requisition,
    Skill,
    Supplier,
)
from tests.factories import as_org

_seq = itertools.count(1000)


@pytest.fixture
def org_structure(make_unit):
    """One department, cost centre and location per organization, made on first use."""
    made = {}

    def get(org):
        if org.id not in made:
            made[org.id] = {
                "department_id": make_unit(org, "department").id,
                "cost_centre_id": make_unit(org, "cost_centre").id,
                "location_id": make_unit(org, "location").id,
            }
        return made[org.id]

    return get


@pytest.fixture
def make_supplier(session):
    def make(org, **overrides) -> Supplier:
        values = {"org_id": org.id, "name": f"Agency {next(_seq)}", "country": "DE"}
        values.update(overrides)
        with as_org(session, org.id):
            supplier = Supplier(**values)
            session.add(supplier)
            session.flush()
        return supplier

    return make


@pytest.fixture
def make_skill(session):
    def make(org, **overrides) -> Skill:
        values = {"org_id": org.id, "name": f"Skill {next(_seq)}"}
        values.update(overrides)
        with as_org(session, org.id):
            skill = Skill(**values)
            session.add(skill)
            session.flush()
        return skill

    return make


@pytest.fixture
def make_engagement(session, make_freelancer, make_member, org_structure):
    """An engagement with its first terms; worked (active) unless told otherwise."""
    managers = {}

    def make(
        org,
        *,
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        state="active",
        freelancer=None,
        weekly_minutes=2400,
        manager_id=None,
        rate="90",
        **overrides,
    ) -> Engagement:
        if manager_id is None:
            if org.id not in managers:
                managers[org.id] = make_member(org, roles=("hiring_manager",)).user_id
            manager_id = managers[org.id]
        structure = dict(org_structure(org))
        for key in list(structure):
            if key in overrides:
                structure[key] = overrides.pop(key)
        freelancer = freelancer or make_freelancer(org)
        with as_org(session, org.id):
            engagement = Engagement(
                org_id=org.id,
                title=overrides.pop("title", None) or f"Engagement {next(_seq)}",
                kind=overrides.pop("kind", "hourly"),
                state=state,
                freelancer_id=freelancer.id,
                currency=overrides.pop("currency", "EUR"),
                start_date=start,
                end_date=end,
                **overrides,
            )
            session.add(engagement)
            session.flush()
            session.add(
                EngagementTerms(
                    org_id=org.id,
                    engagement_id=engagement.id,
                    effective_from=start,
                    rate=Decimal(rate),
                    budget_cap=Decimal("100000"),
                    hiring_manager_user_id=manager_id,
                    weekly_minutes=weekly_minutes,
                    **structure,
                )
            )
            session.flush()
        return engagement

    return make


@pytest.fixture
def make_requisition(session, make_member, org_structure):
    def make(org, *, requester=None, state="draft", **overrides) -> Requisition:
        requester = requester or make_member(org, roles=("hiring_manager",))
        values = {
            "org_id": org.id,
            "title": f"Role {next(_seq)}",
            "kind": "hourly",
            "state": state,
            "requester_user_id": requester.user_id,
            "start_date": date(2026, 12, 1),
            "end_date": date(2027, 5, 31),
            "weekly_minutes": 2400,
            "currency": "EUR",
            "rate_min": Decimal(80),
            "rate_max": Decimal(100),
            "budget": Decimal(60000),
            "justification": "Backlog",
            **org_structure(org),
        }
        values.update(overrides)
        with as_org(session, org.id):
            req = Requisition(**values)
            session.add(req)
            session.flush()
        return req

    return make


@pytest.fixture
def approval_chain(session):
    """The default chain: procurement; finance from 50,000; procurement again from 200,000."""

    def make(org):
        from fms.workforce.rules import DEFAULT_APPROVAL_CHAIN, step_label

        with as_org(session, org.id):
            for position, role, minimum in DEFAULT_APPROVAL_CHAIN:
                label = step_label(role, minimum, org.base_currency)
                session.add(
                    ApprovalRule(
                        org_id=org.id, position=position, role=role, label=label, min_budget=minimum
                    )
                )
            session.flush()

    return make


def _amendment(f, org):
    engagement = f.make_engagement(org)
    with as_org(f.session, org.id):
        amendment = Amendment(
            org_id=org.id,
            engagement_id=engagement.id,
            kind="rate_change",
            effective_from=engagement.start_date,
            new_rate=Decimal(99),
            reason="x",
            state="pending",
        )
        f.session.add(amendment)
        f.session.flush()
    return amendment.id


def _step(f, org):
    engagement = f.make_engagement(org, state="onboarding")
    with as_org(f.session, org.id):
        step = OnboardingStep(
            org_id=org.id, engagement_id=engagement.id, position=1, title="NDA", kind="sign"
        )
        f.session.add(step)
        f.session.flush()
    return step.id


def _delegation(f, org):
    from fms.workforce.models import Delegation

    manager = f.make_member(org, roles=("hiring_manager",))
    stand_in = f.make_member(org, roles=("hiring_manager",))
    with as_org(f.session, org.id):
        delegation = Delegation(
            org_id=org.id,
            manager_user_id=manager.user_id,
            delegate_user_id=stand_in.user_id,
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
            created_by_user_id=manager.user_id,
        )
        f.session.add(delegation)
        f.session.flush()
    return delegation.id


def _timesheet(f, org, state="draft"):
    from datetime import timedelta

    from fms.timesheets.models import Timesheet, TimesheetEntry

    engagement = f.make_engagement(org)
    start = date(2026, 3, 2)
    with as_org(f.session, org.id):
        sheet = Timesheet(
            org_id=org.id,
            engagement_id=engagement.id,
            freelancer_id=engagement.freelancer_id,
            week_start=start,
            week_end=start + timedelta(days=6),
            state=state,
        )
        f.session.add(sheet)
        f.session.flush()
        f.session.add(
            TimesheetEntry(
                org_id=org.id,
                timesheet_id=sheet.id,
                engagement_id=engagement.id,
                work_date=start,
                minutes=480,
            )
        )
        f.session.flush()
    return sheet


def _adjustment(f, org):
    from fms.timesheets.models import Adjustment

    sheet = _timesheet(f, org, state="approved")
    with as_org(f.session, org.id):
        row = Adjustment(
            org_id=org.id,
            timesheet_id=sheet.id,
            engagement_id=sheet.engagement_id,
            work_date=sheet.week_start,
            minutes=30,
            currency="EUR",
            reason="Forgotten",
            state="draft",
        )
        f.session.add(row)
        f.session.flush()
    return row.id


def _milestone(f, org):
    """A milestone with its deliverable stored, so its download route answers for its org."""
    from fms import storage
    from fms.timesheets.models import Milestone

    engagement = f.make_engagement(org, kind="fixed")
    with as_org(f.session, org.id):
        deliverable = storage.store(
            f.session,
            org_id=org.id,
            filename="design.pdf",
            allowed_kinds=storage.RECEIPT_KINDS,
            max_bytes=1024,
            data=b"%PDF-1.4\n%%EOF\n",
        )
        row = Milestone(
            org_id=org.id,
            engagement_id=engagement.id,
            title="Design",
            amount=Decimal("1000"),
            currency="EUR",
            due_date=date(2026, 6, 30),
            attachment_file_id=deliverable.id,
        )
        f.session.add(row)
        f.session.flush()
    return row.id


def _expense(f, org):
    """An expense with a stored receipt, so its download route answers for its own org."""
    from fms import storage
    from fms.timesheets.models import Expense

    engagement = f.make_engagement(org)
    with as_org(f.session, org.id):
        receipt = storage.store(
            f.session,
            org_id=org.id,
            filename="receipt.png",
            allowed_kinds=storage.RECEIPT_KINDS,
            max_bytes=1024,
            data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 32,
        )
        row = Expense(
            org_id=org.id,
            engagement_id=engagement.id,
            spent_on=date(2026, 3, 3),
            category="travel",
            amount=Decimal("12.50"),
            currency="EUR",
            receipt_file_id=receipt.id,
            receipt_sha256=receipt.sha256,
            receipt_name=receipt.original_name,
        )
        f.session.add(row)
        f.session.flush()
    return row.id


def _task_code(f, org):
    from fms.timesheets.models import TaskCode

    with as_org(f.session, org.id):
        row = TaskCode(org_id=org.id, code=f"T{next(_seq)}", name="Task")
        f.session.add(row)
        f.session.flush()
    return row.id


# --- compliance: rows made as rows (the route walk signs in as org A's admin) -------------


def _country_code() -> str:
    """A two-letter code no other call of this run has made (unique per organization)."""
    n = next(_seq)
    return chr(65 + n // 26 % 26) + chr(65 + n % 26)


def _compliance_row(f, org, model_name: str, *, with_file: str | None = None, **values) -> int:
    """A compliance row of `org` (its file stored first when `with_file` names the column,
    so its download answers), as a row: the id."""
    from fms import storage
    from fms.compliance import models

    with as_org(f.session, org.id):
        if with_file:
            values[with_file] = storage.store(
                f.session,
                org_id=org.id,
                filename="form.pdf",
                allowed_kinds=("pdf",),
                max_bytes=1024,
                data=b"%PDF-1.4\n%%EOF\n",
            ).id
        row = getattr(models, model_name)(org_id=org.id, **values)
        f.session.add(row)
        f.session.flush()
    return row.id


def _compliance_document(f, org):
    """A document waiting for review, with its stored file."""
    return _compliance_row(
        f,
        org,
        "ComplianceDocument",
        with_file="file_id",
        freelancer_id=f.make_freelancer(org).id,
        kind="insurance",
        version=1,
        state="pending_review",
    )


def _signing_template(f, org):
    values = {"kind": "nda", "version": next(_seq), "title": "NDA", "body": "Confidential."}
    return _compliance_row(f, org, "SigningTemplate", **values)


def _signature(f, org):
    """A signature with its signed PDF stored."""
    from datetime import UTC, datetime

    engagement = f.make_engagement(org, state="onboarding")
    return _compliance_row(
        f,
        org,
        "Signature",
        with_file="pdf_file_id",
        engagement_id=engagement.id,
        freelancer_id=engagement.freelancer_id,
        template_id=_signing_template(f, org),
        kind="nda",
        template_version=1,
        signed_text="Confidential.",
        text_sha256="0" * 64,
        typed_name="Freelancer",
        signed_at=datetime.now(UTC),
    )


def _classification(f, org):
    """A high-risk classification waiting for a decision."""
    return _compliance_row(
        f,
        org,
        "Classification",
        engagement_id=f.make_engagement(org, state="onboarding").id,
        jurisdiction="generic",
        model_version=1,
        answers={},
        score=12,
        risk="high",
        drivers=[],
        state="decision_needed",
    )


def _offboarding_step(f, org):
    """A compliance-ticked offboarding item of an ended engagement."""
    engagement = f.make_engagement(org, state="ended")
    return _compliance_row(
        f,
        org,
        "OffboardingStep",
        engagement_id=engagement.id,
        key="documents",
        title="Documents kept",
        party="compliance",
        position=1,
    )


# route parameter name -> lambda f, org: id of a real object of that organization
ID_FACTORIES: dict = {
    "timesheet_id": lambda f, org: _timesheet(f, org).id,
    "adjustment_id": _adjustment,
    "milestone_id": _milestone,
    "expense_id": _expense,
    "task_code_id": _task_code,
    "supplier_id": lambda f, org: f.make_supplier(org).id,
    "skill_id": lambda f, org: f.make_skill(org).id,
    "requisition_id": lambda f, org: f.make_requisition(org).id,
    "engagement_id": lambda f, org: f.make_engagement(org).id,
    "amendment_id": _amendment,
    "step_id": _step,
    "delegation_id": _delegation,
    "document_id": _compliance_document,
    "policy_item_id": lambda f, org: _compliance_row(
        f, org, "PolicyItem", document_kind="insurance", country=_country_code()
    ),
    "template_id": _signing_template,
    "signature_id": _signature,
    "classification_id": _classification,
    "offboarding_step_id": _offboarding_step,
    "tenure_rule_id": lambda f, org: _compliance_row(
        f, org, "TenureRule", country=_country_code(), max_months=18
    ),
}
