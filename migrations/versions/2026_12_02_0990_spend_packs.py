"""spend_packs: monthly spend pack subscriptions and their deliveries

Revision ID: 0990
Revises: 0970
Create Date: 2026-12-02 10:30:00

- spend_pack_subscription: a finance user who gets the monthly spend pack (one per person
  and organization).
- spend_pack_delivery: one month's pack sent to one person, unique per organization x
  month x person: `flask fms reports send-monthly` inserts it in the transaction that
  queues the mail, so a month is never sent twice, even by two runs at once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0990"
down_revision = "0970"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the 64-bit rowid
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "spend_pack_subscription",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "org_id",
            ID,
            sa.ForeignKey(
                "organization.id", name=op.f("fk_spend_pack_subscription_org_id_organization")
            ),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            ID,
            sa.ForeignKey(
                "user_account.id", name=op.f("fk_spend_pack_subscription_user_id_user_account")
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_pack_subscription")),
        sa.UniqueConstraint(
            "org_id", "user_id", name=op.f("uq_spend_pack_subscription_org_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_spend_pack_subscription_org_id"), "spend_pack_subscription", ["org_id"]
    )
    op.create_index(
        op.f("ix_spend_pack_subscription_user_id"), "spend_pack_subscription", ["user_id"]
    )
    op.create_table(
        "spend_pack_delivery",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "org_id",
            ID,
            sa.ForeignKey(
                "organization.id", name=op.f("fk_spend_pack_delivery_org_id_organization")
            ),
            nullable=False,
        ),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column(
            "user_id",
            ID,
            sa.ForeignKey(
                "user_account.id", name=op.f("fk_spend_pack_delivery_user_id_user_account")
            ),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_pack_delivery")),
        sa.UniqueConstraint(
            "org_id", "month", "user_id", name=op.f("uq_spend_pack_delivery_org_id_month_user_id")
        ),
    )
    op.create_index(op.f("ix_spend_pack_delivery_org_id"), "spend_pack_delivery", ["org_id"])
    op.create_index(op.f("ix_spend_pack_delivery_user_id"), "spend_pack_delivery", ["user_id"])


def downgrade():
    op.drop_table("spend_pack_delivery")
    op.drop_table("spend_pack_subscription")
