"""The freelancer's billed work: per billing period, what was invoiced for their work and
whether the invoice it is on has been paid; and each period's self-billing statement PDF."""

from __future__ import annotations

from flask import render_template
from flask_login import login_required

from fms.errors import NotFound
from fms.extensions import db
from fms.identity.web_session import current_actor, org_today
from fms.invoicing import statements
from fms.invoicing.views import bp


@bp.get("/my")
@login_required
def mine():
    actor = current_actor()
    if not actor.can("own_engagements.read"):
        raise NotFound("No such page.")
    periods = statements.billed_work(db.session, actor=actor, today=org_today())
    names = statements.period_names(db.session, periods)
    return render_template("invoicing/mine.html", periods=periods, names=names)


@bp.get("/my/statements/<period>.pdf")
@login_required
def statement_pdf(period: str):
    """The signed-in freelancer's own statement of a period ("2026-11"); nobody else's."""
    data = statements.statement_pdf(
        db.session, actor=current_actor(), period=period, today=org_today()
    )
    return statements.statement_response(data, period)
