"""stacked_taxes_fees: stacked taxes, the tax currency fixed at issue, service fees

Revision ID: 0970
Revises: 0960
Create Date: 2026-12-02 19:40:00

- bill_to_entity.region: the ISO 3166-2 subdivision (QC) whose taxes apply.
- tax_component: named taxes of a jurisdiction (country, region or "" for the whole
  country) and VAT category from a date on (Quebec: GST 5 % + QST 9.975 %).
- service_fee: the organization's fee percent (supplier_id NULL, one per organization: a
  partial unique index) and per supplier overrides.
- invoice: stacked_taxes (a line carries more than one tax: no EN 16931 e-invoice);
  tax_currency, tax_exchange_rate (scale 10), tax_total_in_tax_currency, fixed at issue.
- invoice_line: kind "fee" allowed; tax_components (JSON, the line's stacked taxes).
- invoice_tax: name (the tax component, "" for plain VAT; part of the unique key now),
  taxable_in_tax_currency, tax_in_tax_currency.
"""

import sqlalchemy as sa
from alembic import op

revision = "0970"
down_revision = "0960"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the 64-bit rowid
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CATEGORIES = "category IN ('standard', 'reduced', 'zero', 'exempt', 'reverse_charge')"
OLD_KINDS = "kind IN ('time', 'overtime', 'milestone', 'expense', 'adjustment')"
NEW_KINDS = "kind IN ('time', 'overtime', 'milestone', 'expense', 'adjustment', 'fee')"


def upgrade():
    with op.batch_alter_table("bill_to_entity") as batch:
        batch.add_column(sa.Column("region", sa.String(length=3), nullable=True))

    op.create_table(
        "tax_component",
        sa.Column("id", ID, nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("rate", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.CheckConstraint(CATEGORIES, name=op.f("ck_tax_component_category")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_tax_component_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_component")),
        sa.UniqueConstraint(
            "org_id",
            "country",
            "region",
            "category",
            "effective_from",
            "name",
            name=op.f("uq_tax_component_org_id_country_region_category_effective_from_name"),
        ),
    )
    with op.batch_alter_table("tax_component") as batch:
        batch.create_index(batch.f("ix_tax_component_org_id"), ["org_id"], unique=False)

    op.create_table(
        "service_fee",
        sa.Column("id", ID, nullable=False),
        sa.Column("supplier_id", ID, nullable=True),
        sa.Column("percent", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.CheckConstraint(
            "percent >= 0 AND percent <= 1000000", name=op.f("ck_service_fee_percent")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_service_fee_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_service_fee_supplier_id_supplier")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_fee")),
        sa.UniqueConstraint(
            "org_id", "supplier_id", name=op.f("uq_service_fee_org_id_supplier_id")
        ),
    )
    with op.batch_alter_table("service_fee") as batch:
        batch.create_index(batch.f("ix_service_fee_org_id"), ["org_id"], unique=False)
        batch.create_index(batch.f("ix_service_fee_supplier_id"), ["supplier_id"], unique=False)
        batch.create_index(
            "uq_service_fee_org_default",
            ["org_id"],
            unique=True,
            sqlite_where=sa.text("supplier_id IS NULL"),
            postgresql_where=sa.text("supplier_id IS NULL"),
        )

    with op.batch_alter_table("invoice") as batch:
        batch.add_column(
            sa.Column("stacked_taxes", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("tax_currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("tax_exchange_rate", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("tax_total_in_tax_currency", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("invoice") as batch:
        batch.alter_column("stacked_taxes", server_default=None)

    with op.batch_alter_table("invoice_line") as batch:
        batch.drop_constraint(batch.f("ck_invoice_line_kind"), type_="check")
        batch.create_check_constraint(batch.f("ck_invoice_line_kind"), NEW_KINDS)
        batch.add_column(sa.Column("tax_components", sa.JSON(), nullable=True))

    with op.batch_alter_table("invoice_tax") as batch:
        batch.add_column(sa.Column("name", sa.String(length=20), nullable=False, server_default=""))
        batch.add_column(sa.Column("taxable_in_tax_currency", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("tax_in_tax_currency", sa.BigInteger(), nullable=True))
        batch.drop_constraint(batch.f("uq_invoice_tax_invoice_id_category_rate"), type_="unique")
        batch.create_unique_constraint(
            batch.f("uq_invoice_tax_invoice_id_category_name_rate"),
            ["invoice_id", "category", "name", "rate"],
        )
    with op.batch_alter_table("invoice_tax") as batch:
        batch.alter_column("name", server_default=None)


def downgrade():
    with op.batch_alter_table("invoice_tax") as batch:
        batch.drop_constraint(
            batch.f("uq_invoice_tax_invoice_id_category_name_rate"), type_="unique"
        )
        batch.create_unique_constraint(
            batch.f("uq_invoice_tax_invoice_id_category_rate"), ["invoice_id", "category", "rate"]
        )
        batch.drop_column("tax_in_tax_currency")
        batch.drop_column("taxable_in_tax_currency")
        batch.drop_column("name")
    with op.batch_alter_table("invoice_line") as batch:
        batch.drop_column("tax_components")
        batch.drop_constraint(batch.f("ck_invoice_line_kind"), type_="check")
        batch.create_check_constraint(batch.f("ck_invoice_line_kind"), OLD_KINDS)
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("tax_total_in_tax_currency")
        batch.drop_column("tax_exchange_rate")
        batch.drop_column("tax_currency")
        batch.drop_column("stacked_taxes")
    op.drop_table("service_fee")
    op.drop_table("tax_component")
    with op.batch_alter_table("bill_to_entity") as batch:
        batch.drop_column("region")
