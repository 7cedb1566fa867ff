"""expense_receipt_file: an expense's receipt is the stored file's row

Revision ID: 0700
Revises: 0600
Create Date: 2026-12-02 13:05:00

- expense.receipt_file_id: the stored_file the receipt is; its SHA-256 and name are copied
  from that row, so the hash is always the stored file's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0700"
down_revision = "0600"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the 64-bit rowid
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("expense") as batch:
        batch.add_column(sa.Column("receipt_file_id", ID, nullable=True))
        batch.create_foreign_key(
            batch.f("fk_expense_receipt_file_id_stored_file"),
            "stored_file",
            ["receipt_file_id"],
            ["id"],
        )
        batch.create_index(batch.f("ix_expense_receipt_file_id"), ["receipt_file_id"])


def downgrade():
    with op.batch_alter_table("expense") as batch:
        batch.drop_index(batch.f("ix_expense_receipt_file_id"))
        batch.drop_constraint(batch.f("fk_expense_receipt_file_id_stored_file"), type_="foreignkey")
        batch.drop_column("receipt_file_id")
