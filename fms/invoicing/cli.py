"""`flask fms invoicing ...`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from fms.extensions import db

invoicing_cli = AppGroup("invoicing", help="Billing periods and consolidated invoices.")


@invoicing_cli.command("close")
@click.option("--org", "org_slug", required=True, help="The organization (slug).")
@click.option("--period", required=True, help="2026-11 (monthly), 2026-11-1 / -2, 2026-W47.")
def close(org_slug, period):
    """Close a billing period (the same service as the page and the API) and print the
    draft invoices it made; closing a closed period again bills nothing."""
    from sqlalchemy import select

    from fms.errors import DomainError
    from fms.identity.actor import system_actor
    from fms.identity.models import Organization
    from fms.invoicing import services
    from fms.invoicing.models import BillToEntity
    from fms.money import Money
    from fms.tenancy import scope_session

    org = db.session.scalar(select(Organization).where(Organization.slug == org_slug))
    if org is None:
        raise click.ClickException(f"No organization {org_slug!r}.")
    scope_session(db.session, org.id)
    actor = system_actor(org.id)
    try:
        result = services.close_period(db.session, actor=actor, period=period)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.detail) from None
    names = dict(db.session.execute(select(BillToEntity.id, BillToEntity.name)).all())
    db.session.commit()
    verb = "Closed" if result.created else "Already closed:"
    click.echo(
        f"{verb} {period} ({result.period_start.isoformat()} to "
        f"{result.period_end.isoformat()}): {len(result.invoices)} draft invoice(s)."
    )
    for invoice in result.invoices:
        # amounts at the currency's minor unit (stored at a finer scale)
        net, tax, gross = (
            Money(amount, invoice.currency).amount
            for amount in (invoice.net_total, invoice.tax_total, invoice.gross_total)
        )
        click.echo(
            f"  #{invoice.id} {names.get(invoice.bill_to_entity_id, '?')} {invoice.currency}: "
            f"net {net} + VAT {tax} = {gross} ({invoice.state})"
        )
