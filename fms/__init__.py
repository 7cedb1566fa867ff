"""FMS: an open-source enterprise freelancer-management system."""

from __future__ import annotations

import logging

from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    """Build the application; `config` overrides settings read from FMS_* variables."""
    from fms.config import check_settings, engine_options, load_settings

    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="static",
    )
    app.config.from_mapping(load_settings(app.instance_path))
    if config:
        app.config.update(config)
        if "SQLALCHEMY_DATABASE_URI" in config and "SQLALCHEMY_ENGINE_OPTIONS" not in config:
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
                config["SQLALCHEMY_DATABASE_URI"]
            )
        if "FMS_REDIS_URL" in config and "RATELIMIT_STORAGE_URI" not in config:
            app.config["RATELIMIT_STORAGE_URI"] = config["FMS_REDIS_URL"] or "memory://"
    check_settings(app.config)
    from fms.identity.permissions import ROLES

    app.jinja_env.filters["role_label"] = lambda role: ROLES.get(role, role)
    app.jinja_env.filters["localtime"] = _localtime
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["number"] = _number
    app.jinja_env.filters["day"] = _day
    app.jinja_env.filters["hours"] = _hours
    from fms.forms import issue_token

    app.jinja_env.globals["issue_form_token"] = issue_token  # hand-written create forms
    _ensure_instance_dirs(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    _configure_extensions(app)
    _configure_blueprints(app)
    _configure_request_lifecycle(app)
    return app


def _localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp shown in the organization's timezone (set by the layout)."""
    from zoneinfo import ZoneInfo

    from flask import g

    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(g.get("display_tz") or "UTC")).strftime(fmt)


def _display_locale() -> str | None:
    """The viewer's locale: their own choice, else the organization's (set by the layout)."""
    from flask import g

    return g.get("display_locale")


def _money(amount, currency: str | None = None) -> str:
    """12345.5, 'EUR' -> '€12,345.50' (en) or '12.345,50 €' (de): rounded half-up to the
    currency's ISO 4217 minor unit first, then laid out by Babel (fms.formatting)."""
    from fms import formatting

    if amount is None:
        return "—"
    if currency is None:
        return formatting.format_number(amount, _display_locale())
    return formatting.format_money(amount, currency, _display_locale())


def _number(value) -> str:
    from fms import formatting

    return "—" if value is None else formatting.format_number(value, _display_locale())


def _day(value, style: str = "medium") -> str:
    from fms import formatting

    return formatting.format_day(value, _display_locale(), style)


RATE_SHORT = {"hourly": "h", "trial": "h", "daily": "day"}


def _rate(amount, currency: str | None, kind: str | None = None) -> str:
    """A rate with its unit: the amount through the `money` filter, then "/ h" or "/ day"
    (rules.RATE_UNITS names the units; a fixed fee has none)."""
    if amount is None:
        return "—"
    from flask import current_app

    unit = RATE_SHORT.get(kind or "")
    text = current_app.jinja_env.filters["money"](amount, currency)
    return f"{text} / {unit}" if unit else text


def _hours(minutes) -> str:
    from fms.timekeeping import format_minutes

    return "—" if minutes is None else f"{format_minutes(int(minutes))} h"


def _ensure_instance_dirs(app: Flask) -> None:
    import os

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)
    os.makedirs(app.config["FMS_STORAGE_DIR"], exist_ok=True)


def _configure_extensions(app: Flask) -> None:
    from pathlib import Path

    from fms import database
    from fms.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate_dir = str(Path(__file__).resolve().parent.parent / "migrations")
    migrate.init_app(app, db, directory=migrate_dir, render_as_batch=True, compare_type=True)
    with app.app_context():
        database.configure_engine(db.engine)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    import fms.models  # noqa: F401  - every table is known to the metadata
    import fms.reports.models  # noqa: F401
    import fms.webhooks.models  # noqa: F401


def _configure_blueprints(app: Flask) -> None:
    from fms import cli, errors, health
    from fms.api import api, register_api
    from fms.audit.views import bp as audit_bp
    from fms.compliance.views import bp as compliance_bp
    from fms.extensions import csrf
    from fms.identity.sso.api import blp as sso_api_blp
    from fms.identity.sso.scim.api import bp as scim_bp
    from fms.identity.sso.views import bp as sso_bp
    from fms.identity.sso.views import saml_acs
    from fms.identity.tokens.views import bp as tokens_bp
    from fms.identity.views import bp as identity_bp
    from fms.invoicing.views import bp as invoicing_bp
    from fms.jobs_views import bp as jobs_pages_bp
    from fms.lists import PAGE_SIZES
    from fms.notifications.views import bp as notifications_bp
    from fms.reports.views import bp as reports_bp
    from fms.saved_views import bp as saved_views_bp
    from fms.timesheets.views import bp as timesheets_bp
    from fms.webhooks.api import blp as webhooks_api_blp
    from fms.webhooks.views import bp as webhooks_bp
    from fms.workforce.views import bp as workforce_bp

    app.jinja_env.globals["page_sizes"] = PAGE_SIZES
    app.jinja_env.filters["rate"] = _rate
    app.register_blueprint(health.bp)
    app.register_blueprint(identity_bp)
    app.register_blueprint(sso_bp)
    app.register_blueprint(tokens_bp)
    app.register_blueprint(scim_bp)
    csrf.exempt(scim_bp)  # bearer-token API: no cookie, so no cross-site request to forge
    csrf.exempt(saml_acs)  # the IdP's signed cross-site POST is its own proof
    app.register_blueprint(workforce_bp)
    app.register_blueprint(invoicing_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(__import__("fms.reports.export_views", fromlist=["bp"]).bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(jobs_pages_bp)
    app.register_blueprint(saved_views_bp)
    app.register_blueprint(timesheets_bp)
    app.register_blueprint(compliance_bp)
    app.register_blueprint(webhooks_bp)
    register_api(app)
    api.register_blueprint(sso_api_blp)
    api.register_blueprint(webhooks_api_blp)
    errors.register_error_handlers(app)
    cli.register(app)
    _register_hooks(app)


def _register_hooks(app: Flask) -> None:
    """Areas register with lower areas' hooks (DESIGN.md, "Hooks between areas")."""
    from fms.audit import hooks as audit_hooks
    from fms.compliance import hooks as compliance_hooks
    from fms.identity import hooks as identity_hooks
    from fms.identity import overview as identity_overview
    from fms.identity.tokens import hooks as tokens_hooks
    from fms.invoicing import hooks as invoicing_hooks
    from fms.reports import hooks as reports_hooks
    from fms.reports.overview import register_provider
    from fms.timesheets import hooks as timesheets_hooks
    from fms.timesheets import overview as timesheets_overview
    from fms.webhooks import hooks as webhooks_hooks
    from fms.workforce import hooks as workforce_hooks
    from fms.workforce import overview as workforce_overview

    app.jinja_env.globals["audit_words"] = audit_hooks.action_words
    app.jinja_env.globals["audit_entity_words"] = audit_hooks.entity_words

    identity_hooks.register(app)
    tokens_hooks.register(app)
    workforce_hooks.register(app)
    timesheets_hooks.register(app)
    compliance_hooks.register(app)
    invoicing_hooks.register(app)
    webhooks_hooks.register(app)
    reports_hooks.register(app)
    # Reports' overview providers are registered here, so no area imports Reports
    register_provider(app, "workforce", workforce_overview.items)
    register_provider(app, "identity", identity_overview.items)
    register_provider(app, "timesheets", timesheets_overview.items)


def _configure_request_lifecycle(app: Flask) -> None:
    from fms.api import guard_api_request
    from fms.identity import web_session
    from fms.input import guard_page_request
    from fms.security_headers import add_security_headers

    web_session.init_app(app)
    # after the sign-in is loaded: the API authenticates first, then checks CSRF
    app.before_request(guard_api_request)
    app.before_request(guard_page_request)
    app.after_request(add_security_headers)
