"""einvoice: organizations switch Factur-X e-invoices on in their billing settings

Revision ID: 0960
Revises: 0930
Create Date: 2026-12-02 10:00:00

- billing_settings.einvoice_enabled: issued invoices are stored as Factur-X (EN 16931)
  PDF/A-3 with their XML attached, and the XML downloads alone (fms.invoicing.einvoice).
  Off by default; existing organizations keep plain PDFs until they switch it on.
"""

import sqlalchemy as sa
from alembic import op

revision = "0960"
down_revision = "0930"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("billing_settings") as batch:
        batch.add_column(
            sa.Column("einvoice_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("billing_settings") as batch:
        batch.drop_column("einvoice_enabled")
