"""api tokens: integrations' service accounts and bearer tokens for /api/v1

Revision ID: 0920
Revises: 0950
Create Date: 2026-12-02 16:20:00

- service_account: an organization's named integration with roles of its own.
- api_token: integration tokens (of a service account) and personal tokens (of a person,
  in one organization); the secret's SHA-256 only, scopes, expiry, revocation, last use.
"""

import sqlalchemy as sa
from alembic import op

revision = "0920"
down_revision = "0950"
branch_labels = None
depends_on = None

# ids are 64-bit on PostgreSQL; on SQLite an INTEGER primary key is the 64-bit rowid
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "service_account",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", ID, nullable=True),
        sa.Column("org_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_service_account_created_by_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_service_account_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_account")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_service_account_org_id_name")),
    )
    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_account_org_id"), ["org_id"], unique=False)

    op.create_table(
        "api_token",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("public_id", sa.String(length=24), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("service_account_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("created_by_user_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_ip", sa.String(length=45), nullable=True),
        sa.Column("org_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_created_by_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_api_token_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["service_account_id"],
            ["service_account.id"],
            name=op.f("fk_api_token_service_account_id_service_account"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_api_token_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_token_public_id")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_api_token_service_account_id"), ["service_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_api_token_service_account_id"))
        batch_op.drop_index(batch_op.f("ix_api_token_org_id"))
    op.drop_table("api_token")
    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_account_org_id"))
    op.drop_table("service_account")
