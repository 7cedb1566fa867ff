"""The offboarding checklist of an ending engagement: every party sees the items in order and
ticks its own (the freelancer theirs, the hiring manager or stand-in theirs, compliance the
documents item)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import login_required

from fms.compliance import offboarding, rules
from fms.compliance.views import bp
from fms.extensions import db
from fms.identity.models import User
from fms.identity.web_session import current_actor, org_today
from fms.tenancy import get_in_org
from fms.workforce.models import Engagement


@bp.get("/offboarding/<int:engagement_id>")
@login_required
def offboarding_checklist(engagement_id: int):
    actor = current_actor()
    steps = offboarding.checklist(db.session, actor=actor, engagement_id=engagement_id)
    engagement = get_in_org(db.session, Engagement, engagement_id, what="engagement")
    parties = offboarding.party_of(db.session, actor, engagement, today=org_today())
    done_by = {
        u.id: u.name
        for u in db.session.query(User).filter(
            User.id.in_({s.done_by_user_id for s in steps if s.done_by_user_id})
        )
    }
    return render_template(
        "compliance/offboarding/checklist.html",
        engagement=engagement,
        steps=steps,
        parties=parties,
        party_words=rules.OFFBOARDING_PARTIES,
        done_by=done_by,
        done=sum(1 for s in steps if s.done_at),
    )


@bp.post("/offboarding/steps/<int:offboarding_step_id>")
@login_required
def complete_offboarding_step(offboarding_step_id: int):
    actor = current_actor()
    step = offboarding.complete_offboarding_step(
        db.session, actor=actor, step_id=offboarding_step_id
    )
    engagement_id, title = step.engagement_id, step.title
    kept = step.retention_note
    db.session.commit()
    flash(f"Done: {title}." + (f" {kept}" if kept else ""), "success")
    return redirect(url_for(".offboarding_checklist", engagement_id=engagement_id))
