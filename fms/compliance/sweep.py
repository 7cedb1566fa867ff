"""The daily compliance sweep (`flask fms compliance sweep`), per organization.

1. Approved documents past their expiry date become expired.
2. Documents expiring in 30, 14 or 7 days, and tenure limits 90, 60 or 30 days away,
   notify the freelancer and the engagement's hiring manager.
3. Active engagements with an expired required document become non-compliant (and
   compliant again once a current one is approved); under the "block" setting they cannot
   submit timesheets (services.submission_block).
4. Active engagements whose last day is two weeks away get their offboarding checklist
   (offboarding.open_due; notice and the end open it too).

Safe to run twice: notifications carry dedupe keys (one per document or engagement,
threshold and date), and statuses only change when they differ (conditional updates: of two
sweeps at once, each change is made, audited and notified once).

A fixed number of statements per organization, whatever the number of engagements: the
sweep reads everything it judges in a handful of queries (`_Loaded`), decides in Python with
the same rules the per-engagement services use (services.statuses_from, problem_from,
tenure.tenure_from), and writes in batches (one UPDATE ... RETURNING per status, one batch of
audit entries, one `notify_many`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.compliance import hooks, offboarding, rules, services, tenure
from fms.compliance.documents import expire_documents
from fms.compliance.models import (
    Classification,
    ComplianceDocument,
    EngagementCompliance,
    Signature,
    TenureRule,
)
from fms.identity.actor import Actor
from fms.notifications.kinds import register_kind
from fms.notifications.services import Notice, notify_many
from fms.timekeeping import utcnow
from fms.workforce.models import Engagement, Freelancer

register_kind(
    "compliance.document_expiring",
    label="A compliance document expires soon",
    default="mail",
    description="30, 14 and 7 days before a freelancer's document expires: for the freelancer "
    "and their hiring managers.",
)
register_kind(
    "compliance.tenure_warning",
    label="A freelancer reaches the tenure limit soon",
    default="mail",
    description="90, 60 and 30 days before the limit: for the freelancer and the hiring manager.",
)
register_kind(
    "compliance.non_compliant",
    label="An engagement became non-compliant",
    default="mail",
    description="When a required document has expired.",
)


@dataclass
class SweepReport:
    expired: int = 0
    notified: int = 0
    non_compliant: int = 0
    compliant_again: int = 0
    offboarding_opened: int = 0
    details: list[str] = field(default_factory=list)


def _manager(session: Session, engagement: Engagement, today: date) -> int | None:
    from fms.workforce.engagements import terms_on

    terms = terms_on(session, engagement.id, today)
    return terms.hiring_manager_user_id if terms else None


def _people(session: Session, engagement: Engagement, today: date) -> list[int]:
    freelancer = session.scalar(select(Freelancer).where(Freelancer.id == engagement.freelancer_id))
    return [
        u
        for u in (freelancer.user_id if freelancer else None, _manager(session, engagement, today))
        if u
    ]


@dataclass
class _Loaded:
    """What the sweep judges, read once per organization."""

    active: list[tuple[Engagement, Freelancer]]
    managers: dict[int, int | None]  # engagement -> hiring manager on the day
    policy: list[rules.PolicyRow]
    documents: dict[int, dict[str, list[ComplianceDocument]]]  # freelancer -> kind -> newest first
    signed: dict[int, set[str]]
    classifications: dict[int, Classification]  # engagement -> latest
    statuses: dict[int, EngagementCompliance]
    tenure_rules: dict[str, TenureRule]
    spans: dict[int, list[tuple[date, date]]]  # freelancer -> counted engagements


def _load(session: Session, today: date) -> _Loaded:
    active_ids = select(Engagement.id).where(Engagement.state == "active")
    active_freelancers = select(Engagement.freelancer_id).where(Engagement.state == "active")
    active = [
        (engagement, freelancer)
        for engagement, freelancer in session.execute(
            select(Engagement, Freelancer)
            .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
            .where(Engagement.state == "active")
            .order_by(Engagement.id)
        )
    ]
    managers = services.managers_on(session, active_ids, today)
    documents: dict[int, dict[str, list[ComplianceDocument]]] = {}
    for document in session.scalars(
        select(ComplianceDocument)
        .where(ComplianceDocument.freelancer_id.in_(active_freelancers))
        .order_by(ComplianceDocument.kind, ComplianceDocument.version.desc())
    ):
        documents.setdefault(document.freelancer_id, {}).setdefault(document.kind, []).append(
            document
        )
    signed: dict[int, set[str]] = {}
    for engagement_id, kind in session.execute(
        select(Signature.engagement_id, Signature.kind).where(
            Signature.engagement_id.in_(active_ids)
        )
    ):
        signed.setdefault(engagement_id, set()).add(kind)
    classifications = {
        c.engagement_id: c
        for c in session.scalars(
            select(Classification)
            .where(Classification.engagement_id.in_(active_ids))
            .order_by(Classification.id)
        )
    }
    statuses = {
        row.engagement_id: row
        for row in session.scalars(
            select(EngagementCompliance).where(EngagementCompliance.engagement_id.in_(active_ids))
        )
    }
    tenure_rules = {r.country: r for r in session.scalars(select(TenureRule))}
    spans: dict[int, list[tuple[date, date]]] = {}
    if tenure_rules:
        for freelancer_id, start, end in session.execute(
            select(Engagement.freelancer_id, Engagement.start_date, Engagement.end_date).where(
                Engagement.freelancer_id.in_(active_freelancers),
                Engagement.state.in_(tenure.COUNTED_STATES),
            )
        ):
            spans.setdefault(freelancer_id, []).append((start, end))
    return _Loaded(
        active=active,
        managers=managers,
        policy=services.policy_rows(session),
        documents=documents,
        signed=signed,
        classifications=classifications,
        statuses=statuses,
        tenure_rules=tenure_rules,
        spans=spans,
    )


def sweep(session: Session, *, actor: Actor, today: date) -> SweepReport:
    """Run the sweep for the actor's organization on `today` (see the module's text)."""
    report = SweepReport()
    org_id = actor.org_id
    report.expired = expire_documents(session, actor=actor, today=today)
    loaded = _load(session, today)
    notices: list[Notice] = []

    def to_people(engagement, freelancer, **notice):
        for user_id in (freelancer.user_id, loaded.managers.get(engagement.id)):
            if user_id:
                notices.append(Notice(user_id=user_id, **notice))

    # documents expiring soon: tell the freelancer and the managers of their active work
    by_freelancer: dict[int, list[Engagement]] = {}
    for engagement, freelancer in loaded.active:
        by_freelancer.setdefault(freelancer.id, []).append(engagement)
    expiring = session.execute(
        select(ComplianceDocument, Freelancer)
        .join(Freelancer, Freelancer.id == ComplianceDocument.freelancer_id)
        .where(
            ComplianceDocument.state == "approved",
            ComplianceDocument.expires_on >= today,
            ComplianceDocument.expires_on
            <= today + timedelta(days=max(rules.DOCUMENT_WARNING_DAYS)),
        )
        .order_by(ComplianceDocument.id)
    ).all()
    # a document already renewed by a later approved version needs no warning
    newest_approved = {
        (freelancer_id, kind): version
        for freelancer_id, kind, version in session.execute(
            select(
                ComplianceDocument.freelancer_id,
                ComplianceDocument.kind,
                func.max(ComplianceDocument.version),
            )
            .where(ComplianceDocument.state == "approved")
            .group_by(ComplianceDocument.freelancer_id, ComplianceDocument.kind)
        )
    }
    for document, freelancer in expiring:
        if newest_approved.get((document.freelancer_id, document.kind), 0) > document.version:
            continue
        threshold = rules.warning_due(
            (document.expires_on - today).days, rules.DOCUMENT_WARNING_DAYS
        )
        if threshold is None:
            continue
        people = {freelancer.user_id} if freelancer.user_id else set()
        people |= {loaded.managers.get(e.id) for e in by_freelancer.get(freelancer.id, [])}
        label = rules.DOCUMENT_KINDS[document.kind][0]
        hooks.record_event.send(
            "compliance.document_expiring", session=session, ids=[document.id], key=str(threshold)
        )
        for user_id in sorted(u for u in people if u):
            notices.append(
                Notice(
                    user_id=user_id,
                    kind="compliance.document_expiring",
                    title=f"{label} of {freelancer.display_name} expires on "
                    f"{document.expires_on.isoformat()}",
                    body="Upload a current version so that compliance can review it before then.",
                    dedupe_key=f"compliance.document_expiring:{document.id}:{threshold}",
                )
            )

    problems: dict[int, str | None] = {}
    for engagement, freelancer in loaded.active:
        # tenure limits coming up
        rule = loaded.tenure_rules.get(freelancer.country.upper()) or loaded.tenure_rules.get("")
        if rule is not None:
            span = tenure.tenure_from(rule, loaded.spans.get(freelancer.id, []), engagement)
            threshold = rules.warning_due((span.limit - today).days, rules.TENURE_WARNING_DAYS)
            if threshold is not None:
                to_people(
                    engagement,
                    freelancer,
                    kind="compliance.tenure_warning",
                    title=f"“{engagement.title}”: the {span.max_months}-month tenure limit "
                    f"is reached on {span.limit.isoformat()}",
                    body="An extension past that day needs a compliance override.",
                    dedupe_key=f"compliance.tenure:{engagement.id}:"
                    f"{span.limit.isoformat()}:{threshold}",
                )
        # compliance status: a required document of the policy has lapsed
        kinds = loaded.documents.get(freelancer.id, {})
        lapsed = {k for k, vs in kinds.items() if any(services.lapsed(d, today) for d in vs)}
        problem = None
        if lapsed:
            items = rules.resolve(
                loaded.policy, country=freelancer.country, engagement_kind=engagement.kind
            )
            statuses = services.statuses_from(
                items,
                documents=kinds,
                signed=loaded.signed.get(engagement.id, set()),
                classification=loaded.classifications.get(engagement.id),
                today=today,
            )
            problem = services.problem_from(statuses, lapsed)
        problems[engagement.id] = problem

    changed = _set_statuses(session, actor=actor, loaded=loaded, problems=problems)
    for engagement, freelancer in loaded.active:
        if engagement.id not in changed:
            continue
        problem = problems[engagement.id]
        if problem:
            report.non_compliant += 1
            to_people(
                engagement,
                freelancer,
                kind="compliance.non_compliant",
                title=f"“{engagement.title}” is not compliant: {problem}",
                body="Upload a current document; compliance reviews it.",
                dedupe_key=f"compliance.non_compliant:{engagement.id}:{today.isoformat()}",
            )
        else:
            report.compliant_again += 1
    report.notified = notify_many(session, org_id=org_id, notices=notices)
    report.offboarding_opened = offboarding.open_due(
        session, actor=actor, engagements=[e for e, _ in loaded.active], today=today
    )
    return report


def _set_statuses(
    session: Session, *, actor: Actor, loaded: _Loaded, problems: dict[int, str | None]
) -> set[int]:
    """Record every engagement's status as services.set_status does, in batches: the
    engagements whose status changed now (each audited once)."""
    table = EngagementCompliance.__table__
    to_bad = [e for e, p in problems.items() if p and _state(loaded, e) != "non_compliant"]
    to_good = [e for e, p in problems.items() if not p and _state(loaded, e) == "non_compliant"]
    missing = [e for e in to_bad if e not in loaded.statuses]
    if missing:
        org_ids = {e.id: e.org_id for e, _ in loaded.active}
        insert = _insert(session)
        session.execute(
            insert(table).on_conflict_do_nothing(index_elements=["engagement_id"]),
            [
                {
                    "org_id": org_ids[e],
                    "engagement_id": e,
                    "state": "compliant",
                    "changed_at": utcnow(),
                }
                for e in missing
            ],
        )
    now = utcnow()
    changes: list[audit.Change] = []
    changed: set[int] = set()
    for ids, source, target in (
        (to_bad, "compliant", "non_compliant"),
        (to_good, "non_compliant", "compliant"),
    ):
        if not ids:
            continue
        rows = session.execute(
            update(table)
            .where(
                table.c.org_id == actor.org_id,
                table.c.engagement_id.in_(ids),
                table.c.state == source,
            )
            .values(state=target, changed_at=now)
            .returning(table.c.id, table.c.engagement_id)
        ).all()
        for row_id, engagement_id in sorted(rows):
            changed.add(engagement_id)
            changes.append(
                audit.Change(
                    action=f"engagement_compliance.{target}",
                    entity_type="engagement_compliance",
                    entity_id=row_id,
                    before={"state": source},
                    after={
                        "state": target,
                        "engagement_id": engagement_id,
                        "reason": problems[engagement_id],
                    },
                )
            )
    # the reason of every non-compliant engagement, and none on compliant ones
    reasons = [
        {"e_id": e, "new_reason": p}
        for e, p in problems.items()
        if (p and (e in changed or (e in loaded.statuses and loaded.statuses[e].reason != p)))
        or (not p and e in changed)
    ]
    if reasons:
        session.execute(
            update(table)
            .where(table.c.engagement_id == bindparam("e_id"))
            .values(reason=bindparam("new_reason")),
            reasons,
        )
    for row in loaded.statuses.values():
        session.expire(row)  # changed beneath the identity map
    audit.record_many(session, actor, changes)
    return changed


def _state(loaded: _Loaded, engagement_id: int) -> str:
    row = loaded.statuses.get(engagement_id)
    return row.state if row is not None else "compliant"


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
