"""`flask fms webhooks ...`: drain the deliveries (run every minute from cron when FMS runs
without Redis; with Redis an rq job drains after every commit, and this catches retries)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from fms.extensions import db

webhooks_cli = AppGroup("webhooks", help="Webhook deliveries.")


@webhooks_cli.command("deliver")
@click.option("--limit", default=100, show_default=True, help="At most this many attempts.")
def deliver(limit):
    """Attempt every webhook delivery that is due now, in every organization."""
    from fms.webhooks.sender import deliver_due

    counts = deliver_due(db.session, limit=max(1, limit))
    click.echo(str(counts))
