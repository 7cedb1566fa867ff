"""fee_follows_credit: the service fee percent on invoice lines

Revision ID: 1020
Revises: 1000
Create Date: 2026-12-03 01:20:00

- invoice_line.fee_percent (units of 10**-6, as every rate): on a service fee line its own
  percent; on a line a fee derives from, that fee's. A credit note on such a line credits
  the fee with it, so re-billing released work does not charge its fee twice.
  Existing fee lines take the percent their description states ("Service fee 2.5 % on …");
  the other lines of an invoice take it where exactly one fee line shares their cost
  centre, PO and VAT (more than one: a supplier's own percent, which the line does not
  record, so those stay NULL and their credits leave the fee to be credited by hand).
"""

import re
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "1020"
down_revision = "1000"
branch_labels = None
depends_on = None

UNITS = Decimal(10) ** 6
STATED = re.compile(r"^Service fee ([0-9]+(?:\.[0-9]+)?) %")


def upgrade():
    with op.batch_alter_table("invoice_line") as batch:
        batch.add_column(sa.Column("fee_percent", sa.BigInteger(), nullable=True))
    line = sa.table(
        "invoice_line",
        sa.column("id"),
        sa.column("invoice_id"),
        sa.column("kind"),
        sa.column("description"),
        sa.column("cost_centre_id"),
        sa.column("po_number"),
        sa.column("vat_category"),
        sa.column("vat_rate"),
        sa.column("fee_percent"),
    )
    bind = op.get_bind()
    fees = bind.execute(
        sa.select(
            line.c.id,
            line.c.invoice_id,
            line.c.description,
            line.c.cost_centre_id,
            line.c.po_number,
            line.c.vat_category,
            line.c.vat_rate,
        ).where(line.c.kind == "fee")
    ).all()
    groups: dict[tuple, list[int]] = {}
    for row in fees:
        stated = STATED.match(row.description or "")
        if not stated:
            continue
        units = int(Decimal(stated.group(1)) * UNITS)
        bind.execute(line.update().where(line.c.id == row.id).values(fee_percent=units))
        key = (row.invoice_id, row.cost_centre_id, row.po_number, row.vat_category, row.vat_rate)
        groups.setdefault(key, []).append(units)
    for (invoice_id, centre, po, category, vat), percents in groups.items():
        if len(percents) != 1:
            continue
        bind.execute(
            line.update()
            .where(
                line.c.invoice_id == invoice_id,
                line.c.kind != "fee",
                line.c.cost_centre_id.is_(None)
                if centre is None
                else line.c.cost_centre_id == centre,
                line.c.po_number.is_(None) if po is None else line.c.po_number == po,
                line.c.vat_category == category,
                line.c.vat_rate == vat,
            )
            .values(fee_percent=percents[0])
        )


def downgrade():
    with op.batch_alter_table("invoice_line") as batch:
        batch.drop_column("fee_percent")
