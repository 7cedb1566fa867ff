"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fms.extensions import db
from fms.lookups import include_object


def test_models_and_migrations_agree(app):
    """The session's database was built by `flask db upgrade`: autogenerate must find nothing
    (the trigram indexes of migration 0510 are the database's own, as in migrations/env.py)."""
    with app.app_context(), db.engine.connect() as connection:
        options = {"compare_type": True, "include_object": include_object}
        context = MigrationContext.configure(connection, opts=options)
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree; write a migration for: {diff}"


def test_upgrading_a_database_with_data_keeps_it(tmp_path):
    """An embedded database made by an older release upgrades in place (SQLite batch mode
    rebuilds tables; referenced rows must survive it)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from tests.conftest import make_app

    old = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/old.sqlite3")
    with old.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO organization (id, slug, name, base_currency, timezone,"
                    " standard_week_minutes, created_at) VALUES (1, 'acme', 'Acme',"
                    " 'EUR', 'UTC', 2400, '2026-01-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO user_account (id, email, name, is_active, created_at)"
                    " VALUES (1, 'a@acme.example', 'A', 1, '2026-01-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO membership (id, org_id, user_id, roles, is_active,"
                    " created_at) VALUES (1, 1, 1, '[\"org_admin\"]', 1,"
                    " '2026-01-01 00:00:00')"
                )
            )
        upgrade(revision="heads")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM membership")).scalar() == 1
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.engine.dispose()


def test_invoices_billed_before_fee_percents_were_recorded_get_them_from_their_fee_lines(
    tmp_path,
):
    """Migration 1020 fills invoice_line.fee_percent for invoices billed before it: a fee
    line takes the percent its description states; the other lines take their fee line's
    where just one fee line shares their cost centre, PO and VAT (else none)."""
    from alembic.script import ScriptDirectory
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from tests.conftest import make_app

    application = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/fee.sqlite3")
    query = text("SELECT id, kind, description, fee_percent FROM invoice_line ORDER BY id")
    with application.app_context():
        upgrade(revision="heads")
        assert application.test_cli_runner().invoke(args=["fms", "demo"]).exit_code == 0
        with db.engine.connect() as conn:
            billed = conn.execute(query).all()
        config = application.extensions["migrate"].migrate.get_config()
        downgrade(revision=ScriptDirectory.from_config(config).get_revision("1020").down_revision)
        upgrade(revision="heads")
        with db.engine.connect() as conn:
            filled = conn.execute(query).all()
        db.engine.dispose()
    fees = [row for row in billed if row.kind == "fee"]
    assert fees and all(row.fee_percent for row in fees)  # the demo bills a service fee
    assert 2_500_000 in {row.fee_percent for row in fees}  # its 2.5 %, in millionths
    assert [row for row in filled if row.kind == "fee"] == fees
    # where one fee line shares their cost centre, PO and VAT, work lines get it back
    work = {row.id: row for row in filled if row.kind != "fee"}
    back = [row for row in billed if row.kind != "fee" and work[row.id].fee_percent is not None]
    assert back and all(work[row.id].fee_percent == row.fee_percent for row in back)
