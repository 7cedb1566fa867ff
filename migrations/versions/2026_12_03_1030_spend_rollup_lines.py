"""spend_rollup keeps lines: the terms' dimensions instead of the terms row, and the amount

Revision ID: 1030
Revises: 1020
Create Date: 2026-12-03 07:00:00

A kept cell becomes one line of approved spend (month x engagement x cost centre,
department, location, hiring manager x kind x rate x exchange rate) with its amount rounded
once and that amount in the base currency, so a dashboard sums the kept rows without
grouping or converting them again (`fms.reports.spend`).
The kept rows of the old shape cannot be converted: the table is emptied and
spend_rollup_state cleared, so reports compute from the raw rows (the same figures,
slower) until `flask fms reports rebuild-rollup` builds each organization again (README).
"""

import sqlalchemy as sa
from alembic import op

revision = "1030"
down_revision = "1020"
branch_labels = None
depends_on = None

DIMENSIONS = ("cost_centre_id", "department_id", "location_id", "hiring_manager_user_id")


def upgrade():
    op.execute("DELETE FROM spend_rollup_state")
    op.execute("DELETE FROM spend_rollup")
    with op.batch_alter_table("spend_rollup") as table:
        table.drop_column("terms_id")
        for name in DIMENSIONS:
            table.add_column(sa.Column(name, sa.BigInteger(), nullable=False))
        table.add_column(sa.Column("amount", sa.BigInteger(), nullable=False))
        table.add_column(sa.Column("base_amount", sa.BigInteger(), nullable=True))


def downgrade():
    op.execute("DELETE FROM spend_rollup_state")
    op.execute("DELETE FROM spend_rollup")
    with op.batch_alter_table("spend_rollup") as table:
        table.drop_column("base_amount")
        table.drop_column("amount")
        for name in reversed(DIMENSIONS):
            table.drop_column(name)
        table.add_column(sa.Column("terms_id", sa.BigInteger(), nullable=False))
