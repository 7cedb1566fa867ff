"""invoice_pdf: an issued invoice's PDF, stored once

Revision ID: 0950
Revises: 0940
Create Date: 2026-12-02 09:50:00

- invoice.pdf_file_id: the stored_file of the rendered PDF, set once by a conditional
  update WHERE pdf_file_id IS NULL (fms.invoicing.pdf); a retried or duplicated render
  job that loses that update discards its own file.
- invoice.pdf_sha256: the SHA-256 of that PDF's bytes, kept with the invoice.
"""

import sqlalchemy as sa
from alembic import op

revision = "0950"
down_revision = "0940"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the 64-bit rowid
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("pdf_file_id", ID, nullable=True))
        batch.add_column(sa.Column("pdf_sha256", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_invoice_pdf_file_id_stored_file"), "stored_file", ["pdf_file_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("invoice") as batch:
        batch.drop_constraint(batch.f("fk_invoice_pdf_file_id_stored_file"), type_="foreignkey")
        batch.drop_column("pdf_sha256")
        batch.drop_column("pdf_file_id")
