"""`flask fms reports ...`: spend exports and the monthly spend pack."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from fms.extensions import db

reports_cli = AppGroup(
    "reports", help="Spend exports, the monthly spend pack and the spend roll-up."
)


def _org(slug: str):
    from sqlalchemy import select

    from fms.identity.models import Organization

    org = db.session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise click.ClickException(f"No organization {slug!r}.")
    return org


@reports_cli.command("export")
@click.option("--org", "org_slug", required=True, help="The organization (slug).")
@click.option("--from", "start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last day, YYYY-MM-DD.")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv", "pdf"]), default="xlsx")
@click.option("--group-by", default="", help="One or two dimensions, comma-separated.")
@click.option("--grain", default="month", show_default=True, help="week, month or quarter.")
@click.option("--currency", default="base", show_default=True, help="base or original.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
def export(org_slug, start, end, fmt, group_by, grain, currency, out):
    """Write the spend export the export page offers (the same builder) to a file."""
    from pathlib import Path

    from fms.errors import DomainError
    from fms.identity.actor import system_actor
    from fms.identity.services import today_of
    from fms.reports import exports, spend
    from fms.tenancy import scope_session
    from fms.timekeeping import utcnow

    org = _org(org_slug)
    scope_session(db.session, org.id)
    actor = system_actor(org.id)
    today = today_of(db.session, org.id)
    args = {"from": start, "to": end, "grain": grain, "currency": currency}
    if group_by:
        args["group_by"] = group_by
    target = Path(out)
    partial = target.with_name(target.name + ".part")
    try:
        query = spend.parse_spend_query(args, today=today)
        with open(partial, "wb") as handle:
            rows = exports.build_export(
                db.session,
                actor=actor,
                query=query,
                fmt=fmt,
                target=handle,
                today=today,
                now=utcnow(),
            )
    except DomainError as exc:
        db.session.rollback()
        partial.unlink(missing_ok=True)
        raise click.ClickException(exc.detail) from None
    db.session.commit()  # reads only: ends the transaction
    partial.replace(target)
    detail = f", {rows} detail rows" if fmt != "pdf" else ""
    click.echo(f"Wrote {target} ({fmt}{detail}).")


@reports_cli.command("send-monthly")
@click.option("--month", default=None, help="YYYY-MM; default: the previous month.")
@click.option("--org", "org_slug", default=None, help="Only this organization (slug).")
def send_monthly(month, org_slug):
    """Mail the monthly spend pack to every subscriber (through the outbox). Safe to run
    again: a month already sent to a person is not sent again (cron: README)."""
    from sqlalchemy import select

    from fms.errors import DomainError
    from fms.identity.actor import system_actor
    from fms.identity.services import today_of
    from fms.reports import subscriptions
    from fms.reports.models import SpendPackSubscription
    from fms.tenancy import ALL_TENANTS, scope_session

    if org_slug:
        org_ids = [_org(org_slug).id]
    else:
        org_ids = db.session.scalars(
            select(SpendPackSubscription.org_id)
            .distinct()
            .order_by(SpendPackSubscription.org_id)
            .execution_options(**{ALL_TENANTS: True})
        ).all()
    total = 0
    for org_id in org_ids:
        scope_session(db.session, org_id)
        chosen = month or subscriptions.previous_month(today_of(db.session, org_id))
        try:
            sent = subscriptions.send_monthly(db.session, actor=system_actor(org_id), month=chosen)
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(exc.detail) from None
        db.session.commit()
        total += sent
        click.echo(f"Organization {org_id}: {sent} spend pack(s) for {chosen} queued.")
    click.echo(f"{total} spend pack mail(s) queued.")


@reports_cli.command("rebuild-rollup")
@click.option("--org", "org_slug", default=None, help="Only this organization (slug).")
def rebuild_rollup(org_slug):
    """Build the monthly spend roll-up of each organization (or one) from its raw rows;
    the dashboards read it from then on and it is kept in step with every approval. Run
    after upgrading (`flask fms seed-scale` builds its tenant's itself); safe to run again
    at any time."""
    from sqlalchemy import select

    from fms.identity.models import Organization
    from fms.reports import rollup
    from fms.tenancy import scope_session

    if org_slug:
        org_ids = [_org(org_slug).id]
    else:
        org_ids = db.session.scalars(select(Organization.id).order_by(Organization.id)).all()
    for org_id in org_ids:
        scope_session(db.session, org_id)
        cells = rollup.rebuild(db.session, org_id)
        db.session.commit()
        click.echo(f"Organization {org_id}: {cells} roll-up cells.")
