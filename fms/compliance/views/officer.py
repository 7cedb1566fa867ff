"""The compliance officer's pages: the dashboard, policies and settings, signing templates,
tenure rules, the documents list, and one engagement's compliance. Reviews (documents,
classification decisions, tenure overrides) are in officer_reviews.py.

Views parse, call a compliance service, commit and redirect; every page asks for
`compliance.manage` first (a freelancer gets 403, another organization's id 404).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, select

from fms.audit import hooks as audit_hooks
from fms.compliance import documents, queries, rules, services, signing, tenure
from fms.compliance.forms import (
    REQUIREMENT_LABELS,
    REVIEWER_LABELS,
    VALIDITY_LABELS,
    OverrideForm,
    PolicyItemForm,
    SettingsForm,
    TemplateForm,
    TenureRuleForm,
)
from fms.compliance.lists import (
    DOCUMENTS,
    ENGAGEMENTS_BY_STATUS,
    RISK_LABELS,
    STATUSES,
    latest_risk,
)
from fms.compliance.models import (
    Classification,
    EngagementCompliance,
    PolicyItem,
    Signature,
    SigningTemplate,
    TenureOverride,
    TenureRule,
)
from fms.compliance.views import bp
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.lists import export_response, list_page
from fms.tenancy import get_in_org
from fms.workforce.models import Engagement, Freelancer
from fms.workforce.rules import ENGAGEMENT_KINDS

# Removing a policy item is done here until the core has a service for it (see
# `remove_policy_item`); its audit entry gets words like the core's.
audit_hooks.register_action_words(
    {"compliance_policy_item.removed": "Compliance policy item removed"}
)

TENURE_WARNING_DAYS = max(rules.TENURE_WARNING_DAYS)  # 90
SAMPLE_VALUES = {
    "organization_name": "Example Corporation",
    "freelancer_name": "Alex Example",
    "freelancer_email": "alex@example.com",
    "engagement_title": "Data platform migration",
    "start_date": "2027-01-04",
    "end_date": "2027-06-30",
    "rate": "95.00 EUR",
    "signing_date": "2027-01-01",
}


def officer():
    """The actor, who must hold compliance.manage (403 otherwise)."""
    actor = current_actor()
    require(actor, "compliance.manage")
    return actor


@bp.app_template_filter("compliance_kind")
def kind_label(kind: str) -> str:
    return rules.DOCUMENT_KINDS.get(kind, (kind, ""))[0]


@bp.app_template_filter("co_jurisdiction")
def jurisdiction_label(key: str) -> str:
    model = rules.factors()["jurisdictions"].get(key)
    return model["label"] if model else key


@bp.app_context_processor
def _compliance_words():
    return {
        "co_statuses": STATUSES,
        "co_risks": RISK_LABELS,
        "co_requirements": REQUIREMENT_LABELS,
        "co_validities": VALIDITY_LABELS,
        "co_reviewers": REVIEWER_LABELS,
    }


# --- tenure watch --------------------------------------------------------------------------


@dataclass(frozen=True)
class TenureRow:
    engagement_id: int
    title: str
    freelancer: str
    country: str
    state: str
    end_date: date
    limit: date
    max_months: int
    days_left: int
    override_until: date | None

    @property
    def runs_past(self) -> bool:
        return self.end_date > self.limit and (
            self.override_until is None or self.override_until < self.end_date
        )


def tenure_rows(session, today: date) -> list[TenureRow]:
    """Booked, onboarding and active engagements with the day their freelancer reaches the
    tenure limit (tenure.tenure_of's rule), in four statements however many engagements."""
    rule_rows = {r.country: r for r in session.scalars(select(TenureRule))}
    if not rule_rows:
        return []
    spans: dict[int, list[tuple[date, date]]] = {}
    for freelancer_id, start, end in session.execute(
        select(Engagement.freelancer_id, Engagement.start_date, Engagement.end_date).where(
            Engagement.state.in_(tenure.COUNTED_STATES), Engagement.freelancer_id.is_not(None)
        )
    ):
        spans.setdefault(freelancer_id, []).append((start, end))
    overrides = dict(
        session.execute(
            select(TenureOverride.engagement_id, func.max(TenureOverride.allowed_until)).group_by(
                TenureOverride.engagement_id
            )
        ).all()
    )
    out = []
    for engagement, freelancer in session.execute(
        select(Engagement, Freelancer)
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(Engagement.state.in_(("approved", "onboarding", "active")))
    ):
        rule = rule_rows.get(freelancer.country.upper()) or rule_rows.get("")
        if rule is None:
            continue
        own = [*spans.get(freelancer.id, []), (engagement.start_date, engagement.end_date)]
        start = rules.continuous_start(own, engagement.start_date, rule.break_days)
        if start is None:
            continue
        limit = rules.tenure_limit(start, rule.max_months)
        out.append(
            TenureRow(
                engagement.id,
                engagement.title,
                freelancer.display_name,
                freelancer.country,
                engagement.state,
                engagement.end_date,
                limit,
                rule.max_months,
                (limit - today).days,
                overrides.get(engagement.id),
            )
        )
    return out


def tenure_warnings(rows: list[TenureRow]) -> list[TenureRow]:
    """Active engagements within 90 days of the limit, or running past it, soonest first."""
    return sorted(
        (
            r
            for r in rows
            if r.state == "active" and (r.days_left <= TENURE_WARNING_DAYS or r.runs_past)
        ),
        key=lambda r: r.days_left,
    )


# --- dashboard -----------------------------------------------------------------------------


def _bars(counts: dict, order, labels: dict) -> list[dict]:
    total = sum(counts.get(k, 0) for k in order) or 1
    return [
        {
            "key": k,
            "label": labels[k],
            "value": counts.get(k, 0),
            "percent": round(100 * counts.get(k, 0) / total),
        }
        for k in order
    ]


@bp.get("/")
@login_required
def dashboard():
    actor = officer()
    today = org_today()
    session = db.session
    status = queries.status_counts(session, today=today)
    active = sum(status.values())
    risks = Counter(
        session.scalars(select(latest_risk()).where(Engagement.state.in_(("onboarding", "active"))))
    )
    waiting = queries.decisions_waiting(session, actor=actor)
    queue_count = queries.review_queue_size(session, actor=actor)
    warnings = tenure_warnings(tenure_rows(session, today))
    lp = list_page(ENGAGEMENTS_BY_STATUS, actor, context={"today": today})
    return render_template(
        "compliance/officer/dashboard.html",
        status_bars=_bars(status, list(STATUSES)[::-1], STATUSES),
        risk_bars=_bars(
            {k or "none": v for k, v in risks.items()},
            ("low", "medium", "high", "none"),
            RISK_LABELS | {"none": "Not assessed"},
        ),
        active=active,
        status=status,
        has_policy=session.scalar(
            select(PolicyItem.id).where(PolicyItem.is_active.is_(True)).limit(1)
        )
        is not None,
        has_templates=session.scalar(select(SigningTemplate.id).limit(1)) is not None,
        queue_count=queue_count,
        decisions=len(waiting),
        warnings=warnings,
        lp=lp,
        today=today,
        timedelta_30=timedelta(days=queries.EXPIRING_WITHIN_DAYS + 1),
    )


@bp.get("/export.<fmt>")
@login_required
def dashboard_export(fmt: str):
    return export_response(
        ENGAGEMENTS_BY_STATUS, fmt, actor=officer(), context={"today": org_today()}
    )


# --- documents -----------------------------------------------------------------------------


@bp.get("/documents")
@login_required
def documents_list():
    actor = officer()
    return render_template(
        "compliance/officer/documents.html",
        lp=list_page(DOCUMENTS, actor, context={"today": org_today()}),
        today=org_today(),
    )


@bp.get("/documents/export.<fmt>")
@login_required
def documents_list_export(fmt: str):
    return export_response(DOCUMENTS, fmt, actor=officer(), context={"today": org_today()})


@bp.get("/documents/<int:document_id>/file")
@login_required
def document_file(document_id: int):
    """The stored file of a document, for whoever documents.may_download lets see it."""
    from fms.storage import send_stored

    stored = documents.download_file(db.session, actor=current_actor(), document_id=document_id)
    return send_stored(stored)


@bp.get("/signatures/<int:signature_id>/pdf")
@login_required
def signature_pdf(signature_id: int):
    """The signed PDF with its evidence page (signatures.read, or the signer)."""
    from fms.storage import send_stored

    stored = signing.signature_pdf(db.session, actor=current_actor(), signature_id=signature_id)
    return send_stored(stored)


# --- policies and settings ------------------------------------------------------------------


def _policies(actor, *, form=None, settings_form=None):
    session = db.session
    items = sorted(
        session.scalars(select(PolicyItem).where(PolicyItem.is_active.is_(True))),
        key=lambda p: (
            rules.POLICY_KINDS.index(p.document_kind),
            p.country,
            p.engagement_kind,
        ),
    )
    current = services.settings(session)
    form = form or PolicyItemForm()
    settings_form = settings_form or SettingsForm(
        non_compliance_mode=current.non_compliance_mode,
        reassess_within_days=current.reassess_within_days,
    )
    return render_template(
        "compliance/officer/policies.html",
        items=items,
        check=_policy_check(session),
        form=form,
        settings_form=settings_form,
        upload_limit=documents.max_upload_bytes(),
        engagement_kinds=ENGAGEMENT_KINDS,
    ), status_of(form, settings_form)


def _policy_check(session) -> dict:
    """`?check_country=DE&check_kind=hourly`: what the policy asks of such a freelancer
    (rules.resolve, as onboarding will), so an officer can try a policy before it applies."""
    country = (request.args.get("check_country") or "").strip().upper()
    kind = (request.args.get("check_kind") or "").strip()
    check = {"country": country, "kind": kind, "resolved": None, "error": None}
    if not country and not kind:
        return check
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        check["error"] = "A two-letter country code, such as DE or US."
    elif kind not in ENGAGEMENT_KINDS:
        check["error"] = "Choose an engagement kind."
    else:
        check["resolved"] = services.resolve_policy(session, country=country, engagement_kind=kind)
    return check


@bp.get("/policies")
@login_required
def policies():
    return _policies(officer())


def _policy_values(form) -> dict:
    return {
        "requirement": form.requirement.data,
        "validity": form.validity.data,
        "validity_months": form.validity_months.data,
        "reviewer_role": form.reviewer_role.data,
    }


@bp.post("/policies")
@login_required
def add_policy_item():
    actor = officer()
    form = PolicyItemForm()
    done = submitted(
        form,
        lambda: services.set_policy_item(
            db.session,
            actor=actor,
            document_kind=form.document_kind.data,
            country=form.country.data or "",
            engagement_kind=form.engagement_kind.data or "",
            **_policy_values(form),
        ),
        success=lambda row: (
            f"Policy saved: {kind_label(row.document_kind)} ({_scope(row)}) is {row.requirement}."
        ),
        then=url_for(".policies"),
    )
    return done or _policies(actor, form=form)


def _scope(row) -> str:
    country = row.country or "every country"
    kind = ENGAGEMENT_KINDS.get(row.engagement_kind, "every engagement kind")
    return f"{country}, {kind.lower() if row.engagement_kind else kind}"


@bp.route("/policies/<int:policy_item_id>", methods=["GET", "POST"])
@login_required
def policy_item(policy_item_id: int):
    actor = officer()
    row = get_in_org(db.session, PolicyItem, policy_item_id, what="policy item")
    if not row.is_active:
        abort(404)
    form = PolicyItemForm(
        one_time=False,
        obj=row if request.method == "GET" else None,
    )
    # the key of the item is fixed: changing it is another item
    form.document_kind.data = row.document_kind
    form.country.data = row.country
    form.engagement_kind.data = row.engagement_kind
    done = submitted(
        form,
        lambda: services.set_policy_item(
            db.session,
            actor=actor,
            document_kind=row.document_kind,
            country=row.country,
            engagement_kind=row.engagement_kind,
            **_policy_values(form),
        ),
        success="Policy item changed; engagements already onboarded keep what they provided.",
        then=url_for(".policies"),
    )
    if done:
        return done
    return render_template(
        "compliance/officer/policy_item.html", row=row, form=form, scope=_scope(row)
    ), status_of(form)


@bp.post("/policies/<int:policy_item_id>/remove")
@login_required
def remove_policy(policy_item_id: int):
    actor = officer()
    row = services.remove_policy_item(db.session, actor=actor, policy_item_id=policy_item_id)
    message = f"Removed: {kind_label(row.document_kind)} ({_scope(row)})."
    db.session.commit()
    flash(message + " Checklists created from now on no longer ask for it.", "success")
    return redirect(url_for(".policies"))


@bp.post("/policies/settings")
@login_required
def save_settings():
    actor = officer()
    settings_form = SettingsForm()
    done = submitted(
        settings_form,
        lambda: services.update_settings(
            db.session,
            actor=actor,
            non_compliance_mode=settings_form.non_compliance_mode.data,
            reassess_within_days=settings_form.reassess_within_days.data,
        ),
        success=lambda row: (
            "Settings saved: a non-compliant engagement is "
            + (
                "blocked from submitting timesheets."
                if row.non_compliance_mode == "block"
                else "shown and notified (warn)."
            )
        ),
        then=url_for(".policies") + "#settings",
    )
    return done or _policies(actor, settings_form=settings_form)


# --- signing templates -----------------------------------------------------------------------


@bp.get("/templates")
@login_required
def templates():
    officer()
    session = db.session
    rows = session.scalars(
        select(SigningTemplate).order_by(SigningTemplate.kind, SigningTemplate.version.desc())
    ).all()
    signed = dict(
        session.execute(
            select(Signature.template_id, func.count()).group_by(Signature.template_id)
        ).all()
    )
    by_kind = {kind: [t for t in rows if t.kind == kind] for kind in rules.SIGN_KINDS}
    return render_template("compliance/officer/templates.html", by_kind=by_kind, signed=signed)


def _sample(session):
    """Placeholder values from the newest engagement with a freelancer, or made-up ones."""
    found = session.execute(
        select(Engagement, Freelancer)
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .order_by(Engagement.id.desc())
        .limit(1)
    ).first()
    if found is None:
        return SAMPLE_VALUES, None
    engagement, freelancer = found
    return signing.placeholder_values(session, engagement, freelancer), engagement


@bp.route("/templates/new", methods=["GET", "POST"])
@login_required
def new_template():
    actor = officer()
    session = db.session
    kind = request.args.get("kind", "nda")
    if kind not in rules.SIGN_KINDS:
        kind = "nda"
    current = signing.current_template(session, kind)
    if request.method == "GET":
        form = TemplateForm(
            kind=kind,
            title=current.title if current else "",
            body=current.body if current else "",
        )
    else:
        form = TemplateForm()
    preview = None
    values, sample = _sample(session)
    if request.method == "POST" and request.form.get("action") == "preview":
        if form.validate():
            unknown = rules.unknown_placeholders(form.body.data or "")
            if unknown:
                form.body.errors = [
                    "Unknown placeholders: "
                    + ", ".join(unknown)
                    + ". Known: "
                    + ", ".join(rules.PLACEHOLDERS)
                    + "."
                ]
            else:
                preview = rules.fill(form.body.data.replace("\r\n", "\n").strip(), values)
    elif request.method == "POST":
        done = submitted(
            form,
            lambda: signing.publish_template(
                session,
                actor=actor,
                kind=form.kind.data,
                title=form.title.data,
                body=form.body.data,
            ),
            success=lambda t: (
                f"{t.title} version {t.version} published. Past signatures "
                "keep the text they signed; new signatures use this version."
            ),
            then=url_for(".templates"),
        )
        if done:
            return done
    return render_template(
        "compliance/officer/template_form.html",
        form=form,
        current=signing.current_template(session, form.kind.data or kind),
        preview=preview,
        sample=sample,
        placeholders=rules.PLACEHOLDERS,
    ), status_of(form)


@bp.get("/templates/<int:template_id>")
@login_required
def template(template_id: int):
    officer()
    session = db.session
    row = get_in_org(session, SigningTemplate, template_id, what="template")
    current = signing.current_template(session, row.kind)
    signed = session.scalar(
        select(func.count()).select_from(Signature).where(Signature.template_id == row.id)
    )
    return render_template(
        "compliance/officer/template.html",
        row=row,
        is_current=current is not None and current.id == row.id,
        signed=signed,
        paragraphs=[p for p in row.body.split("\n\n") if p.strip()],
    )


# --- tenure rules ----------------------------------------------------------------------------


def _tenure_page(actor, *, form=None, edit=None):
    session = db.session
    today = org_today()
    rows = session.scalars(select(TenureRule).order_by(TenureRule.country)).all()
    return render_template(
        "compliance/officer/tenure.html",
        rules_=rows,
        form=form or TenureRuleForm(),
        warnings=tenure_warnings(tenure_rows(session, today)),
        today=today,
    ), status_of(form) if form else 200


@bp.get("/tenure")
@login_required
def tenure_rules():
    return _tenure_page(officer())


@bp.post("/tenure")
@login_required
def set_tenure_rule():
    actor = officer()
    form = TenureRuleForm()
    done = submitted(
        form,
        lambda: tenure.set_rule(
            db.session,
            actor=actor,
            country=form.country.data or "",
            max_months=form.max_months.data,
            break_days=form.break_days.data,
        ),
        success=lambda r: (
            f"Tenure limit for {r.country or 'every country'}: {r.max_months} "
            f"months; a break of {r.break_days} days starts the count again."
        ),
        then=url_for(".tenure_rules"),
    )
    return done or _tenure_page(actor, form=form)


@bp.route("/tenure/<int:tenure_rule_id>", methods=["GET", "POST"])
@login_required
def tenure_rule(tenure_rule_id: int):
    actor = officer()
    row = get_in_org(db.session, TenureRule, tenure_rule_id, what="tenure rule")
    form = TenureRuleForm(one_time=False, obj=row if request.method == "GET" else None)
    form.country.data = row.country
    done = submitted(
        form,
        lambda: tenure.set_rule(
            db.session,
            actor=actor,
            country=row.country,
            max_months=form.max_months.data,
            break_days=form.break_days.data,
        ),
        success="Tenure rule changed.",
        then=url_for(".tenure_rules"),
    )
    if done:
        return done
    return render_template("compliance/officer/tenure_rule.html", row=row, form=form), status_of(
        form
    )


@bp.post("/tenure/<int:tenure_rule_id>/remove")
@login_required
def remove_tenure_rule(tenure_rule_id: int):
    actor = officer()
    row = tenure.remove_rule(db.session, actor=actor, tenure_rule_id=tenure_rule_id)
    who = f"freelancers in {row.country}" if row.country else "every country"
    db.session.commit()
    flash(f"Tenure limit for {who} removed.", "success")
    return redirect(url_for(".tenure_rules"))


# --- one engagement --------------------------------------------------------------------------


def _engagement_page(actor, engagement_id: int, *, override_form=None):
    session = db.session
    services.require_officer(actor)
    engagement, freelancer = services.engagement_for(
        session, actor, engagement_id, officers_too=True
    )
    today = org_today()
    statuses = services.item_statuses(session, engagement, today=today)
    docs = services.documents_by_kind(session, freelancer.id)
    signatures = session.scalars(
        select(Signature).where(Signature.engagement_id == engagement.id).order_by(Signature.kind)
    ).all()
    assessments = session.scalars(
        select(Classification)
        .where(Classification.engagement_id == engagement.id)
        .order_by(Classification.id.desc())
    ).all()
    latest = assessments[0] if assessments else None
    questions = {}
    if latest is not None:
        try:
            from fms.compliance.classification import questionnaire

            questions = {q["id"]: q for q in questionnaire(latest.jurisdiction)["questions"]}
        except Exception:  # noqa: BLE001 - an old model's jurisdiction: show the ids
            questions = {}
    run = tenure.tenure_of(session, engagement)
    overrides = session.scalars(
        select(TenureOverride)
        .where(TenureOverride.engagement_id == engagement.id)
        .order_by(TenureOverride.id.desc())
    ).all()
    status_row = session.scalar(
        select(EngagementCompliance).where(EngagementCompliance.engagement_id == engagement.id)
    )
    return render_template(
        "compliance/officer/engagement.html",
        engagement=engagement,
        freelancer=freelancer,
        statuses=statuses,
        docs=docs,
        signatures=signatures,
        assessments=assessments,
        latest=latest,
        questions=questions,
        run=run,
        overrides=overrides,
        status_row=status_row,
        problems=services.activation_problems(session, engagement)
        if engagement.state in ("approved", "onboarding")
        else [],
        override_form=override_form or OverrideForm(),
        today=today,
        may_signatures=actor.can("signatures.read"),
    ), status_of(override_form) if override_form else 200


@bp.get("/engagements/<int:engagement_id>")
@login_required
def engagement(engagement_id: int):
    return _engagement_page(officer(), engagement_id)


@bp.post("/engagements/<int:engagement_id>/tenure-override")
@login_required
def grant_override(engagement_id: int):
    actor = officer()
    form = OverrideForm()
    done = submitted(
        form,
        lambda: tenure.grant_override(
            db.session,
            actor=actor,
            engagement_id=engagement_id,
            allowed_until=form.allowed_until.data.isoformat() if form.allowed_until.data else None,
            reason=form.reason.data or "",
        ),
        success=lambda o: (
            f"Override recorded: the engagement may run until {o.allowed_until.isoformat()}."
        ),
        then=url_for(".engagement", engagement_id=engagement_id) + "#tenure",
    )
    return done or _engagement_page(actor, engagement_id, override_form=form)
