"""`flask fms compliance ...`: the daily sweep (cron: `15 5 * * * flask fms compliance sweep`)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from fms.extensions import db

compliance_cli = AppGroup("compliance", help="Compliance sweeps.")


@compliance_cli.command("sweep")
@click.option("--today", default=None, help="Run as of this date (YYYY-MM-DD); default today.")
def sweep_command(today):
    """Expire documents, warn of expiries and tenure limits, mark non-compliant engagements,
    for every organization (one transaction each; safe to run twice)."""
    from fms.compliance.services import org_today
    from fms.compliance.sweep import sweep
    from fms.identity.actor import system_actor
    from fms.identity.models import Organization
    from fms.input import parse_date
    from fms.tenancy import scope_session

    day = None
    if today:
        try:
            day = parse_date(today)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--today") from None
    org_ids = db.session.scalars(select(Organization.id).order_by(Organization.id)).all()
    for org_id in org_ids:
        scope_session(db.session, org_id)
        try:
            report = sweep(
                db.session,
                actor=system_actor(org_id, channel="cli"),
                today=day or org_today(db.session, org_id),
            )
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        finally:
            scope_session(db.session, None)
        click.echo(
            f"organization {org_id}: {report.expired} expired, {report.notified} notified, "
            f"{report.non_compliant} non-compliant, {report.compliant_again} compliant again, "
            f"{report.offboarding_opened} offboarding opened"
        )
