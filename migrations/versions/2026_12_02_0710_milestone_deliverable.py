"""milestone_deliverable: a milestone's optional deliverable is a stored file

Revision ID: 0710
Revises: 0700
Create Date: 2026-12-02 13:45:00

- milestone.attachment_file_id: the stored_file the freelancer attached when delivering.
"""

import sqlalchemy as sa
from alembic import op

revision = "0710"
down_revision = "0700"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the 64-bit rowid
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("milestone") as batch:
        batch.add_column(sa.Column("attachment_file_id", ID, nullable=True))
        batch.create_foreign_key(
            batch.f("fk_milestone_attachment_file_id_stored_file"),
            "stored_file",
            ["attachment_file_id"],
            ["id"],
        )
        batch.create_index(batch.f("ix_milestone_attachment_file_id"), ["attachment_file_id"])


def downgrade():
    with op.batch_alter_table("milestone") as batch:
        batch.drop_index(batch.f("ix_milestone_attachment_file_id"))
        batch.drop_constraint(
            batch.f("fk_milestone_attachment_file_id_stored_file"), type_="foreignkey"
        )
        batch.drop_column("attachment_file_id")
