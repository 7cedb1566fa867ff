"""bigint_ids: ids hold 64-bit values on PostgreSQL

Revision ID: 0400
Revises: 0300
Create Date: 2026-12-02 04:00:00

- PostgreSQL: every primary key, every foreign key to one, and the id columns without a
  foreign key (audit_entry.entity_id and actor_user_id, job_run.requested_by_user_id,
  invitation.subject_id) become bigint, and so do the sequences behind the serial
  primary keys: `ALTER COLUMN ... TYPE bigint` leaves a serial's sequence `AS integer`,
  which would still stop at 2^31-1.
- SQLite: nothing to do. Its INTEGER already holds 64-bit values, and an
  `INTEGER PRIMARY KEY` must stay the rowid alias that numbers new rows.
- JSON columns holding ids (requisition.skill_ids, scim_group.member_ids, job_run.args,
  audit_entry.before/after) need no change: nothing casts their elements to a 32-bit type.
- Each table is rewritten once (all its columns in one ALTER TABLE) under an exclusive
  lock; on a large database, plan the upgrade for a quiet hour.
- Downgrade: back to integer, refused with a clear message while any id or sequence is
  past 2^31-1 (those rows could not be kept).

The columns are listed here, as they were at this revision, not read from the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0400"
down_revision = "0300"
branch_labels = None
depends_on = None

INT4_MAX = 2**31 - 1

# table -> its id columns (primary key first when it has a serial one)
ID_COLUMNS = {
    "organization": ["id"],
    "user_account": ["id", "last_org_id"],
    "membership": ["id", "user_id", "org_id"],
    "sign_in_session": ["id", "user_id", "current_org_id", "sso_connection_id"],
    "password_link": ["id", "user_id", "invitation_id"],
    "sso_connection": ["id", "org_id"],
    "sso_domain": ["id", "connection_id", "org_id"],
    "external_identity": ["id", "connection_id", "user_id", "org_id"],
    "sso_login_request": ["id", "connection_id", "invitation_id", "org_id"],
    "scim_token": ["id", "connection_id", "created_by_user_id", "org_id"],
    "scim_group": ["id", "org_id"],
    "saml_assertion_seen": ["id", "connection_id", "org_id"],
    "invitation": ["id", "subject_id", "invited_by_user_id", "redeemed_by_user_id", "org_id"],
    "audit_entry": ["id", "actor_user_id", "entity_id", "org_id"],
    "audit_chain_head": ["org_id"],
    "job_run": ["requested_by_user_id", "org_id"],
    "outbox_message": ["id", "org_id"],
    "department": ["id", "org_id"],
    "cost_centre": ["id", "org_id"],
    "location": ["id", "org_id"],
    "freelancer": ["id", "user_id", "supplier_id", "org_id"],
    "workforce_settings": ["id", "org_id"],
    "supplier": ["id", "org_id"],
    "supplier_contact": ["id", "supplier_id", "org_id"],
    "skill": ["id", "org_id"],
    "freelancer_skill": ["id", "freelancer_id", "skill_id", "org_id"],
    "exchange_rate": ["id", "org_id"],
    "approval_rule": ["id", "org_id"],
    "requisition": [
        "id",
        "requester_user_id",
        "department_id",
        "cost_centre_id",
        "location_id",
        "org_id",
    ],
    "approval_step": ["id", "requisition_id", "decided_by_user_id", "org_id"],
    "engagement": [
        "id",
        "freelancer_id",
        "supplier_id",
        "requisition_id",
        "created_by_user_id",
        "org_id",
    ],
    "engagement_terms": [
        "id",
        "engagement_id",
        "hiring_manager_user_id",
        "department_id",
        "cost_centre_id",
        "location_id",
        "amendment_id",
        "org_id",
    ],
    "amendment": [
        "id",
        "engagement_id",
        "new_hiring_manager_user_id",
        "requested_by_user_id",
        "decided_by_user_id",
        "org_id",
    ],
    "onboarding_template_step": ["id", "org_id"],
    "onboarding_step": ["id", "engagement_id", "done_by_user_id", "org_id"],
    "performance_review": ["id", "engagement_id", "freelancer_id", "reviewer_user_id", "org_id"],
}


def _sequences(bind) -> list[str]:
    """The sequences behind the serial (or identity) `id` columns."""
    names = []
    for table, columns in ID_COLUMNS.items():
        if columns[0] == "id":
            name = bind.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
            ).scalar()
            if name:
                names.append(name)
    return names


def _retype(bind, type_: str) -> None:
    for table, columns in ID_COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {type_}" for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
    for sequence in _sequences(bind):
        op.execute(f"ALTER SEQUENCE {sequence} AS {type_}")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _retype(bind, "bigint")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    too_large = []
    for table, columns in ID_COLUMNS.items():
        for column in columns:
            largest = bind.scalar(
                sa.select(sa.func.max(sa.column(column))).select_from(sa.table(table))
            )
            if largest is not None and largest > INT4_MAX:
                too_large.append(f"{table}.{column}")
    for sequence in _sequences(bind):
        last = bind.scalar(
            sa.text(
                "SELECT last_value FROM pg_sequences WHERE schemaname || '.' || sequencename = :name"
            ),
            {"name": sequence},
        )
        if last is not None and last > INT4_MAX:
            too_large.append(sequence)
    if too_large:
        raise RuntimeError(
            "Cannot go back to 32-bit ids: these ids or sequences are past 2^31-1: "
            + ", ".join(too_large)
        )
    _retype(bind, "integer")
