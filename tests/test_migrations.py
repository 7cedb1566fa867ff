"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fms.extensions import db


def test_models_and_migrations_agree(app):
    """The session's database was built by `flask db upgrade`: autogenerate must find nothing."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree; write a migration for: {diff}"
