"""spend_rollup: approved spend kept per month x engagement for the dashboards

Revision ID: 1000
Revises: 0995
Create Date: 2026-12-03 01:30:00

- spend_rollup: per month x engagement x terms row x kind x rate x exchange rate, the exact
  sums of the approved items (nothing rounded), kept by `fms.reports.rollup` in the
  transaction that changes them.
- spend_rollup_state: the organizations whose roll-up was built. Empty after this upgrade:
  reports compute from the raw rows (the same figures, slower) until
  `flask fms reports rebuild-rollup` builds an organization's cells (README).
- timesheet_entry (org_id, work_date): the days of a report's partial months.
"""

import sqlalchemy as sa
from alembic import op

revision = "1000"
down_revision = "0995"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "spend_rollup",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "org_id",
            ID,
            sa.ForeignKey("organization.id", name=op.f("fk_spend_rollup_org_id_organization")),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("engagement_id", sa.BigInteger(), nullable=False),
        sa.Column("terms_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("daily", sa.Boolean(), nullable=False),
        sa.Column("line_rate", sa.BigInteger(), nullable=False),
        sa.Column("ot_rate", sa.BigInteger(), nullable=True),
        sa.Column("per", sa.Integer(), nullable=False),
        sa.Column("fx", sa.BigInteger(), nullable=True),
        sa.Column("regular", sa.BigInteger(), nullable=False),
        sa.Column("overtime", sa.BigInteger(), nullable=False),
        sa.Column("half_days", sa.BigInteger(), nullable=False),
        sa.Column("numerator", sa.BigInteger(), nullable=False),
        sa.Column("minutes", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_rollup")),
    )
    op.create_index("ix_spend_rollup_org_id", "spend_rollup", ["org_id"])
    op.create_index("ix_spend_rollup_org_day", "spend_rollup", ["org_id", "day"])
    op.create_index("ix_spend_rollup_org_engagement", "spend_rollup", ["org_id", "engagement_id"])
    op.create_table(
        "spend_rollup_state",
        sa.Column(
            "org_id",
            ID,
            sa.ForeignKey(
                "organization.id", name=op.f("fk_spend_rollup_state_org_id_organization")
            ),
            nullable=False,
        ),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_spend_rollup_state")),
    )
    op.create_index("ix_timesheet_entry_org_date", "timesheet_entry", ["org_id", "work_date"])


def downgrade():
    op.drop_index("ix_timesheet_entry_org_date", table_name="timesheet_entry")
    op.drop_table("spend_rollup_state")
    op.drop_index("ix_spend_rollup_org_engagement", table_name="spend_rollup")
    op.drop_index("ix_spend_rollup_org_day", table_name="spend_rollup")
    op.drop_index("ix_spend_rollup_org_id", table_name="spend_rollup")
    op.drop_table("spend_rollup")
