"""search_indexes: trigram indexes for substring search on PostgreSQL

Revision ID: 0510
Revises: 0500
Create Date: 2026-12-02 10:00:00

Global search and the pickers match `lower(column) LIKE '%text%'` (fms/lookups.py). On
PostgreSQL a GIN index with pg_trgm's gin_trgm_ops serves that pattern; a B-tree cannot.
The extension is created when the database user may (superuser, or a trusted extension
for the database owner since PostgreSQL 13); without it the indexes are skipped and search
still works, scanning. SQLite: nothing to do (LIKE scans, fine at embedded scale).
The models do not describe these indexes; autogenerate ignores them (fms.lookups.include_object).
"""

import logging

from alembic import op

revision = "0510"
down_revision = "0500"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# fms.lookups.TRIGRAM_PREFIX: autogenerate leaves indexes with this prefix alone
TRIGRAM_PREFIX = "ix_trgm_"
# the columns global search and the pickers match with lower(column) LIKE '%text%'
TRIGRAM_COLUMNS = (
    ("freelancer", "display_name"),
    ("freelancer", "legal_name"),
    ("freelancer", "email"),
    ("supplier", "name"),
    ("supplier", "legal_name"),
    ("requisition", "title"),
    ("engagement", "title"),
    ("engagement", "po_number"),
    ("user_account", "name"),
    ("user_account", "email"),
    ("department", "name"),
    ("cost_centre", "name"),
    ("location", "name"),
)


def _has_trigrams(bind) -> bool:
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar()
    if available:
        return True
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # not allowed here: search works without the indexes
        savepoint.rollback()
        log.warning("pg_trgm not available (%s): search indexes skipped", type(exc).__name__)
        return False
    savepoint.commit()
    return True


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _has_trigrams(bind):
        return
    for table, column in TRIGRAM_COLUMNS:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {TRIGRAM_PREFIX}{table}_{column} "
            f"ON {table} USING gin (lower({column}) gin_trgm_ops)"
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in TRIGRAM_COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_PREFIX}{table}_{column}")
