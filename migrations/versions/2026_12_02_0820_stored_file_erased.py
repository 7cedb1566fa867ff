"""stored files can be erased under a retention rule, keeping their record

Revision ID: 0820
Revises: 0810
Create Date: 2026-12-02 17:00:00

- stored_file.erased_at: when the bytes were deleted (the row keeps the name, size and
  SHA-256 as the record that the file existed).
"""

import sqlalchemy as sa
from alembic import op

revision = "0820"
down_revision = "0810"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stored_file") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("stored_file") as batch:
        batch.drop_column("erased_at")
