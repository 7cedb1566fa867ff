"""`flask fms ...` commands. Each builds its Actor, calls services and commits once."""

from __future__ import annotations

import logging
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from fms.extensions import db

fms_cli = AppGroup("fms", help="FMS administration commands.")
org_cli = AppGroup("org", help="Organizations.")
audit_cli = AppGroup("audit", help="The audit log.")
jobs_cli = AppGroup("jobs", help="Background jobs.")
workforce_cli = AppGroup("workforce", help="Engagements and headcount.")
sso_cli = AppGroup("sso", help="Single sign-on housekeeping.")
outbox_cli = AppGroup("outbox", help="Outgoing mail.")
secrets_cli = AppGroup("secrets", help="Secrets stored encrypted in the database.")
api_cli = AppGroup("api", help="The JSON API's housekeeping.")

log = logging.getLogger(__name__)


def register(app) -> None:
    fms_cli.add_command(org_cli)
    fms_cli.add_command(audit_cli)
    fms_cli.add_command(jobs_cli)
    fms_cli.add_command(workforce_cli)
    fms_cli.add_command(sso_cli)
    fms_cli.add_command(outbox_cli)
    fms_cli.add_command(secrets_cli)
    fms_cli.add_command(api_cli)
    from fms.notifications.cli import notifications_cli

    fms_cli.add_command(notifications_cli)
    from fms.timesheets.cli import timesheets_cli

    fms_cli.add_command(timesheets_cli)
    from fms.compliance.cli import compliance_cli

    fms_cli.add_command(compliance_cli)
    from fms.invoicing.cli import invoicing_cli

    fms_cli.add_command(invoicing_cli)
    from fms.reports.cli import reports_cli

    fms_cli.add_command(reports_cli)

    from fms.webhooks.cli import webhooks_cli

    fms_cli.add_command(webhooks_cli)
    app.cli.add_command(fms_cli)


@org_cli.command("create")
@click.option("--name", required=True, help="Display name, e.g. 'Northbridge Energy AG'.")
@click.option("--slug", required=True, help="Short unique name: lower-case, digits, dashes.")
@click.option("--admin-email", required=True)
@click.option("--admin-name", required=True)
@click.option("--currency", default="EUR", show_default=True, help="Base currency (ISO 4217).")
@click.option("--timezone", default="Europe/Berlin", show_default=True)
@click.password_option("--admin-password", help="Break-glass local password (12+ chars).")
def org_create(name, slug, admin_email, admin_name, currency, timezone, admin_password):
    """Create an organization and its first org admin."""
    from fms.errors import DomainError
    from fms.identity import services
    from fms.identity.actor import system_actor

    try:
        org, user = services.create_organization(
            db.session,
            name=name,
            slug=slug,
            admin_email=admin_email,
            admin_name=admin_name,
            admin_password=admin_password,
            base_currency=currency,
            timezone=timezone,
            actor=system_actor(None),
        )
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.detail) from None
    db.session.commit()
    click.echo(f"Created organization {org.name} ({org.slug}, id {org.id}); admin {user.email}.")


@audit_cli.command("verify")
@click.option("--org", "org_slug", default=None, help="Only this organization (slug).")
def audit_verify(org_slug):
    """Check every organization's hash chain; print the first broken link, or ok."""
    from sqlalchemy import select

    from fms.audit import services as audit
    from fms.identity.models import Organization

    if org_slug:
        org_id = db.session.scalar(select(Organization.id).where(Organization.slug == org_slug))
        if org_id is None:
            raise click.ClickException(f"No organization {org_slug!r}.")
        reports = [audit.verify_chain(db.session, org_id)]
    else:
        reports = audit.verify_all(db.session)
    broken = [r for r in reports if not r.ok]
    if broken:
        click.echo(str(broken[0]))
        sys.exit(1)
    entries = sum(r.entries for r in reports)
    click.echo(f"ok ({len(reports)} organizations, {entries} entries)")


@fms_cli.command("demo")
def demo():
    """Load the demo organization (safe to run again: nothing is duplicated)."""
    from fms.demo import DemoRefused, check_demo_allowed, load_demo

    try:
        check_demo_allowed(current_app.config)
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    summary = load_demo(db.session)
    db.session.commit()
    click.echo(summary)


@fms_cli.command("seed-scale")
@click.option("--freelancers", type=click.IntRange(1, 200_000), default=10_000, show_default=True)
@click.option("--weeks", type=click.IntRange(1, 260), default=52, show_default=True)
@click.option("--org", "org_slug", default="scale", show_default=True, help="Tenant (slug).")
@click.option("--queue-sheets", type=click.IntRange(1, 5_000), default=500, show_default=True,
              help="Sheets waiting for the queue manager.")  # fmt: skip
def seed_scale(freelancers, weeks, org_slug, queue_sheets):
    """Build an enterprise tenant with scale data: N freelancers, W weeks of timesheets in
    every state (COPY on PostgreSQL). Refuses a tenant that already holds engagements."""
    import time

    from fms.errors import DomainError
    from fms.timesheets import scale

    started = time.perf_counter()
    try:
        data = scale.seed_scale(
            db.session,
            freelancers=freelancers,
            weeks=weeks,
            slug=org_slug,
            queue_sheets=queue_sheets,
            progress=click.echo,
        )
    except (scale.ScaleRefused, DomainError) as exc:
        db.session.rollback()
        raise click.ClickException(getattr(exc, "detail", None) or str(exc)) from None
    db.session.commit()
    scale.analyze(db.session)
    # rows loaded by COPY pass no ORM flush: build the spend roll-up the dashboards read
    from sqlalchemy import select

    from fms.identity.models import Organization
    from fms.reports import rollup
    from fms.tenancy import scope_session

    org_id = db.session.scalar(select(Organization.id).where(Organization.slug == data.slug))
    scope_session(db.session, org_id)
    cells = rollup.rebuild(db.session, org_id)
    db.session.commit()
    click.echo(f"Spend roll-up built: {cells} cells.")
    click.echo(
        f"Scale data for {data.slug!r} committed in {time.perf_counter() - started:.1f} s; "
        f"the queue manager is {data.queue_manager_email} (user {data.queue_manager_id})."
    )


@fms_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst):
    """Run an rq worker for background jobs (needs FMS_REDIS_URL)."""
    from fms.jobs import start_worker

    if not current_app.config.get("FMS_REDIS_URL"):
        raise click.ClickException(
            "FMS_REDIS_URL is not set: jobs run inline in the web process, no worker needed."
        )
    start_worker(current_app, burst=burst)


@jobs_cli.command("check")
@click.option("--org", "org_slug", required=True, help="Organization (slug) to run it for.")
def jobs_check(org_slug):
    """Enqueue a no-op job and report its id (inline mode runs it at once)."""
    from sqlalchemy import select

    from fms import jobs
    from fms.identity.models import Organization
    from fms.tenancy import scope_session

    org_id = db.session.scalar(select(Organization.id).where(Organization.slug == org_slug))
    if org_id is None:
        raise click.ClickException(f"No organization {org_slug!r}.")
    scope_session(db.session, org_id)
    run = jobs.enqueue_after_commit(jobs.check_job_pipeline, "cli")
    run_id = run.id
    db.session.commit()
    state = db.session.get(jobs.JobRun, run_id).state
    click.echo(f"job {run_id}: {state}")


def per_organization(work, *, what: str, done) -> None:
    """Run `work(org_id, timezone) -> int` for every organization, each in its own
    transaction with the session scoped to it, and echo `done(total)`. One that fails is
    reported and rolled back, and does not stop the others; the command then fails, naming
    them."""
    from sqlalchemy import select

    from fms.identity.models import Organization
    from fms.tenancy import scope_session

    total, failed = 0, []
    scope_session(db.session, None)
    orgs = db.session.execute(
        select(Organization.id, Organization.slug, Organization.timezone).order_by(Organization.id)
    ).all()
    db.session.rollback()
    for org_id, slug, timezone in orgs:
        scope_session(db.session, org_id)
        try:
            total += work(org_id, timezone)
            db.session.commit()
        except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the rest
            db.session.rollback()
            failed.append(slug)
            log.exception("%s failed for organization %r: %r", what, org_id, exc)
        finally:
            scope_session(db.session, None)
    click.echo(done(total))
    if failed:
        raise click.ClickException(
            f"The {what} failed for {len(failed)} organization(s): {', '.join(failed)} "
            "(see the log); the others were done."
        )


@workforce_cli.command("sweep")
def workforce_sweep():
    """End active engagements whose end date has passed (run daily, e.g. from cron).

    Each organization in its own transaction: one that fails is reported and rolled back,
    and does not stop the others.
    """
    from fms.identity.actor import system_actor
    from fms.timekeeping import today_in
    from fms.workforce.engagements import end_due_engagements

    def sweep(org_id, timezone):
        return end_due_engagements(db.session, actor=system_actor(org_id), today=today_in(timezone))

    per_organization(sweep, what="sweep", done=lambda total: f"{total} engagement(s) ended.")


@sso_cli.command("purge")
def sso_purge():
    """Delete expired sign-in requests, SAML assertion ids and used one-time form tokens
    (run daily, e.g. from cron)."""
    from fms.forms import purge_used_tokens
    from fms.identity.sso.services import purge_stale_sign_in_state

    removed = purge_stale_sign_in_state(db.session)
    tokens = purge_used_tokens(db.session)
    db.session.commit()
    click.echo(f"{removed} stale sign-in record(s) removed.")
    click.echo(f"{tokens} expired form token(s) removed.")


@api_cli.command("purge-idempotency")
def api_purge_idempotency():
    """Delete expired Idempotency-Key answers and abandoned reservations (run daily, e.g.
    from cron; expired keys are ignored anyway, this only reclaims the space)."""
    from fms.api.idempotency import purge_expired

    removed = purge_expired(db.session)
    db.session.commit()
    click.echo(f"{removed} expired idempotency key(s) removed.")


@outbox_cli.command("send")
@click.option("--limit", default=100, show_default=True, help="At most this many messages.")
def outbox_send(limit):
    """Send the mail that is due now (run every minute, e.g. from cron)."""
    from fms.notifications.sender import send_due

    counts = send_due(db.session, limit=max(1, limit))
    click.echo(str(counts))


@outbox_cli.command("list")
@click.option("--state", type=click.Choice(["pending", "sent", "failed"]), default=None)
@click.option("--limit", default=20, show_default=True)
def outbox_list(state, limit):
    """Show the newest outbox messages of every organization (no bodies)."""
    from sqlalchemy import select

    from fms.notifications.models import OutboxMessage
    from fms.timekeeping import utcnow

    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(max(1, limit))
    if state:
        query = query.where(OutboxMessage.state == state)
    now = utcnow()
    for m in db.session.scalars(query):
        when = m.next_attempt_at if m.state == "pending" else (m.sent_at or m.failed_at)
        due = " (due)" if m.state == "pending" and m.next_attempt_at <= now else ""
        click.echo(
            f"{m.id:>8}  {m.state:<8} {m.attempts:>3}x  {when:%Y-%m-%d %H:%M}Z{due}  "
            f"org {m.org_id or '-'}  {m.kind}  {m.recipient}"
            + (f"\n          {m.last_error}" if m.last_error and m.state != "sent" else "")
        )


@secrets_cli.command("rotate")
def secrets_rotate():
    """Re-encrypt every stored secret under the newest key of FMS_ENCRYPTION_KEYS."""
    from fms.encryption import RotationReport, rotate_column
    from fms.identity.models import User
    from fms.identity.sso.models import SsoConnection

    report = RotationReport()
    from fms.webhooks.models import WebhookEndpoint

    for column in (
        SsoConnection.client_secret_encrypted,
        User.totp_secret_encrypted,
        WebhookEndpoint.secret_encrypted,
        WebhookEndpoint.previous_secret_encrypted,
    ):
        rotate_column(db.session, column, report)
    db.session.commit()
    click.echo(str(report))
    if report.unreadable:
        sys.exit(1)


@jobs_cli.command("recover")
def jobs_recover():
    """Mark failed the job runs whose worker died (no heartbeat for
    FMS_JOB_STALE_AFTER_SECONDS, default 600); they can then be retried.
    Run it every few minutes, e.g. from cron."""
    from fms import jobs

    recovered = jobs.recover_stale_runs(db.session, all_orgs=True)
    db.session.commit()
    for run_id in recovered:
        click.echo(f"job {run_id}: failed (no heartbeat)")
    click.echo(f"{len(recovered)} stale job run(s) marked failed.")
