"""form_tokens: used one-time form tokens (a double submit creates one record)

Revision ID: 0410
Revises: 0400
Create Date: 2026-12-02 09:30:00

- form_token: one row per one-time form token that was used (fms/forms.py). Its primary
  key, the token's nonce, is what makes consuming a token atomic: of two simultaneous
  posts with one token, one inserts and the other fails and is sent to `result_url`, the
  record the first one created. Tokens are signed and expire; rows older than a token can
  live are purged (the daily `flask fms sso purge`). user_id and org_id are kept for the record
  only (no foreign keys: the rows are short-lived bookkeeping).
"""

import sqlalchemy as sa
from alembic import op

revision = "0410"
down_revision = "0400"
branch_labels = None

# ids are 64-bit on PostgreSQL (revision 0400); SQLite's INTEGER already is
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
depends_on = None


def upgrade():
    op.create_table(
        "form_token",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("org_id", ID, nullable=True),
        sa.Column("result_url", sa.String(length=2000), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_form_token")),
    )
    with op.batch_alter_table("form_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_form_token_used_at"), ["used_at"], unique=False)


def downgrade():
    with op.batch_alter_table("form_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_form_token_used_at"))
    op.drop_table("form_token")
