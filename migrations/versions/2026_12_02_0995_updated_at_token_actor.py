"""updated_at_token_actor: modification times for `?updated_since=`, and the token in the audit

Revision ID: 0995
Revises: 0990
Create Date: 2026-12-02 19:40:00

- engagement.updated_at, timesheet.updated_at, requisition.updated_at: the last change to
  the record (fms.modified keeps it); existing rows start from their created_at. Indexed
  per organization: (org_id, updated_at), what an integration's poll reads by.
- audit_entry.actor_token_id, audit_entry.actor_label: the API token a change was made
  through and, in words at that moment, who it is ('Integration "ERP" (token fms_it_…)',
  'personal token fms_pt_…'); NULL for changes made any other way.
"""

import sqlalchemy as sa
from alembic import op

revision = "0995"
down_revision = "0990"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the 64-bit rowid
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("engagement", "timesheet", "requisition")


def upgrade():
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            # a database default too: rows written by COPY (the scale generator) get one
            batch.add_column(
                sa.Column(
                    "updated_at",
                    sa.DateTime(timezone=True),
                    server_default=sa.func.now(),
                    nullable=True,
                )
            )
        table = sa.table(name, sa.column("created_at"), sa.column("updated_at"))
        op.execute(table.update().values(updated_at=table.c.created_at))
        with op.batch_alter_table(name) as batch:
            batch.alter_column(
                "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
            )
            batch.create_index(f"ix_{name}_org_updated", ["org_id", "updated_at"], unique=False)
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(sa.Column("actor_token_id", ID, nullable=True))
        batch.add_column(sa.Column("actor_label", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_column("actor_label")
        batch.drop_column("actor_token_id")
    for name in reversed(TABLES):
        with op.batch_alter_table(name) as batch:
            batch.drop_index(f"ix_{name}_org_updated")
            batch.drop_column("updated_at")
