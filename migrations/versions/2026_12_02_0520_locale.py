"""locale: organizations choose how numbers, dates and money are shown; people may override

Revision ID: 0520
Revises: 0510
Create Date: 2026-12-02 10:00:00

- organization.locale: a Babel locale identifier, "en" for every existing organization.
- user_account.locale: the person's own choice; NULL follows the organization's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0520"
down_revision = "0510"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organization") as batch:
        batch.add_column(
            sa.Column("locale", sa.String(length=20), server_default="en", nullable=False)
        )
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("locale")
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("locale")
