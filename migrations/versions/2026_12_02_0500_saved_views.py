"""saved_views: named filters and sort of a list, per person or shared

Revision ID: 0500
Revises: 0420
Create Date: 2026-12-02 10:00:00

- saved_view: a list's query string (filters and sort, as fms/lists.py reads it) under a
  name, owned by one user, optionally shared with the organization. Tenant-scoped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0500"
down_revision = "0420"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL (revision 0400); SQLite's INTEGER already is
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "saved_view",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("list_key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("owner_user_id", ID, nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_saved_view_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_view")),
    )
    with op.batch_alter_table("saved_view", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_view_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_saved_view_org_id_list_key", ["org_id", "list_key"], unique=False)


def downgrade():
    with op.batch_alter_table("saved_view", schema=None) as batch_op:
        batch_op.drop_index("ix_saved_view_org_id_list_key")
        batch_op.drop_index(batch_op.f("ix_saved_view_org_id"))
    op.drop_table("saved_view")
