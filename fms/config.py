"""Settings, read from FMS_* environment variables inside the app factory only."""

from __future__ import annotations

import os
from pathlib import Path

DEV_SECRET_KEY = "fms-development-secret-key-do-not-use-in-production"  # noqa: S105
# Only these environments may run on laptop-safe settings; any other FMS_ENV value
# (production, staging, prod, ...) gets the production checks.
RELAXED_ENVS = ("development", "test")
SMTP_SECURITY_PORTS = {"none": 25, "starttls": 587, "tls": 465}


class ConfigError(RuntimeError):
    """The settings cannot start a safe application."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def engine_options(database_url: str) -> dict:
    options: dict = {"pool_pre_ping": True}
    if database_url.startswith("postgresql"):
        # server-side date functions (date_trunc, now()) work in UTC like the app does
        options["connect_args"] = {"options": "-c TimeZone=UTC"}
    return options


def load_settings(instance_path: str) -> dict:
    """Build the Flask config from the environment, with development defaults."""
    env = os.environ.get("FMS_ENV", "development").strip().lower()
    production = env not in RELAXED_ENVS
    storage_dir = os.environ.get("FMS_STORAGE_DIR") or str(Path(instance_path) / "storage")
    database_url = os.environ.get("FMS_DATABASE_URL") or (
        "sqlite:///" + str(Path(instance_path) / "fms.sqlite3")
    )
    redis_url = os.environ.get("FMS_REDIS_URL") or None
    smtp_security = os.environ.get("FMS_SMTP_SECURITY", "starttls").strip().lower()
    return {
        "FMS_ENV": env,
        "SECRET_KEY": os.environ.get("FMS_SECRET_KEY") or DEV_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "FMS_REDIS_URL": redis_url,
        "FMS_STORAGE_DIR": storage_dir,
        "FMS_BASE_URL": os.environ.get("FMS_BASE_URL", "http://127.0.0.1:5000"),
        # Fernet keys for secrets stored in the database, comma-separated, newest first
        "FMS_ENCRYPTION_KEYS": os.environ.get("FMS_ENCRYPTION_KEYS", ""),
        # outgoing mail; without FMS_SMTP_HOST messages wait on the outbox page
        "FMS_SMTP_HOST": os.environ.get("FMS_SMTP_HOST", "").strip(),
        "FMS_SMTP_PORT": _int("FMS_SMTP_PORT", SMTP_SECURITY_PORTS.get(smtp_security, 587)),
        "FMS_SMTP_SECURITY": smtp_security,
        "FMS_SMTP_USERNAME": os.environ.get("FMS_SMTP_USERNAME", ""),
        "FMS_SMTP_PASSWORD": os.environ.get("FMS_SMTP_PASSWORD", ""),
        "FMS_SMTP_TIMEOUT": _int("FMS_SMTP_TIMEOUT", 30),
        "FMS_MAIL_FROM": os.environ.get("FMS_MAIL_FROM", ""),
        "FMS_SESSION_IDLE_MINUTES": _int("FMS_SESSION_IDLE_MINUTES", 30),
        "FMS_SESSION_MAX_HOURS": _int("FMS_SESSION_MAX_HOURS", 12),
        "FMS_LOGIN_LIMIT_PER_ACCOUNT": os.environ.get(
            "FMS_LOGIN_LIMIT_PER_ACCOUNT", "5 per minute;20 per hour"
        ),
        "FMS_LOGIN_LIMIT_PER_IP": os.environ.get("FMS_LOGIN_LIMIT_PER_IP", "30 per minute"),
        "FMS_API_MAX_PAGE_SIZE": 200,
        # Idempotency-Key answers are replayed for this long, then the key may be used again
        "FMS_IDEMPOTENCY_TTL_HOURS": _int("FMS_IDEMPOTENCY_TTL_HOURS", 24),
        # a reservation whose request never finished (a crashed worker) frees its key after
        # this long; longer than the slowest money request
        "FMS_IDEMPOTENCY_LEASE_SECONDS": _int("FMS_IDEMPOTENCY_LEASE_SECONDS", 300),
        # requests per token (and per signed-in person) on /api/v1 (fms.api.ratelimit)
        "FMS_API_RATE_LIMIT": os.environ.get("FMS_API_RATE_LIMIT", "600 per minute"),
        "FMS_JOB_QUEUE": os.environ.get("FMS_JOB_QUEUE", "fms"),
        # a running job without a heartbeat for this long is taken for dead (and retryable)
        "FMS_JOB_STALE_AFTER_SECONDS": _int("FMS_JOB_STALE_AFTER_SECONDS", 600),
        "FMS_JOB_HEARTBEAT_SECONDS": _int("FMS_JOB_HEARTBEAT_SECONDS", 30),
        # list exports above this many rows run as a job; one person has at most this many
        # such jobs waiting or running
        "FMS_EXPORT_INLINE_ROWS": _int("FMS_EXPORT_INLINE_ROWS", 10_000),
        # spend exports above this many Detail rows are written by a job (issue 14)
        "FMS_REPORT_INLINE_ROWS": _int("FMS_REPORT_INLINE_ROWS", 20_000),
        "FMS_EXPORT_JOBS_PER_USER": _int("FMS_EXPORT_JOBS_PER_USER", 3),
        # the largest expense receipt or milestone deliverable a freelancer may upload
        "FMS_RECEIPT_MAX_BYTES": _int("FMS_RECEIPT_MAX_BYTES", 10 * 1024 * 1024),
        # the largest compliance document (PDF, PNG or JPEG) a freelancer may upload
        "FMS_COMPLIANCE_MAX_UPLOAD_BYTES": _int(
            "FMS_COMPLIANCE_MAX_UPLOAD_BYTES", 10 * 1024 * 1024
        ),
        # webhooks: seconds to connect to a receiver and to wait for its answer; how long a
        # delivery is retried; how long a rotated secret still signs; how many deliveries a
        # commit sends at once without Redis (the rest: `flask fms webhooks deliver`)
        "FMS_WEBHOOK_CONNECT_TIMEOUT": _int("FMS_WEBHOOK_CONNECT_TIMEOUT", 3),
        "FMS_WEBHOOK_READ_TIMEOUT": _int("FMS_WEBHOOK_READ_TIMEOUT", 5),
        "FMS_WEBHOOK_RETRY_HOURS": _int("FMS_WEBHOOK_RETRY_HOURS", 24),
        "FMS_WEBHOOK_SECRET_OVERLAP_HOURS": _int("FMS_WEBHOOK_SECRET_OVERLAP_HOURS", 24),
        "FMS_WEBHOOK_INLINE_LIMIT": _int("FMS_WEBHOOK_INLINE_LIMIT", 20),
        # hosts on private or loopback addresses that IdP and webhook URLs may point at
        # (tests, demo)
        "FMS_SSO_ALLOWED_HOSTS": os.environ.get("FMS_SSO_ALLOWED_HOSTS", ""),
        # "dns": claimed email domains need their TXT token published; "manual": trust the
        # org admin (only for trying FMS out offline)
        "FMS_DOMAIN_VERIFICATION": os.environ.get("FMS_DOMAIN_VERIFICATION", "dns"),
        "RATELIMIT_ENABLED": _bool(os.environ.get("FMS_RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "SESSION_COOKIE_NAME": "fms_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("FMS_COOKIE_SECURE"), production),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the server-side session
        "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # flask-smorest: the OpenAPI document of /api/v1
        "API_TITLE": "FMS API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }


def is_relaxed(config) -> bool:
    """Development and test may use laptop defaults; every other FMS_ENV may not."""
    return config.get("FMS_ENV", "development") in RELAXED_ENVS


def check_settings(config: dict) -> None:
    """Refuse to start outside development/test with settings only safe on a laptop."""
    env = config.get("FMS_ENV")
    if config.get("FMS_SMTP_SECURITY") not in SMTP_SECURITY_PORTS:
        raise ConfigError(
            f"FMS_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY_PORTS)}, "
            f"got {config.get('FMS_SMTP_SECURITY')!r}"
        )
    _check_encryption_keys(config)
    _check_rate_limit(config)
    if is_relaxed(config):
        return
    secret = config.get("SECRET_KEY") or ""
    if secret == DEV_SECRET_KEY or len(secret) < 32:
        raise ConfigError(
            f"FMS_ENV={env} needs FMS_SECRET_KEY set to a random value of at least 32 "
            "characters, not the public development key (for example: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if not (config.get("FMS_ENCRYPTION_KEYS") or "").strip():
        raise ConfigError(
            f"FMS_ENV={env} needs FMS_ENCRYPTION_KEYS: one or more Fernet keys, comma-separated, "
            "newest first, for the secrets stored in the database (for example: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    if config.get("FMS_DOMAIN_VERIFICATION", "dns") != "dns":
        # a verified domain makes its organization the authority for its addresses: only a
        # published DNS token may grant that outside a trial installation
        raise ConfigError(
            f"FMS_ENV={env} needs FMS_DOMAIN_VERIFICATION=dns (manual verification trusts any "
            "org admin's claim to any email domain)"
        )


def _check_rate_limit(config: dict) -> None:
    from limits import parse

    try:
        parse(config.get("FMS_API_RATE_LIMIT") or "")
    except ValueError:
        raise ConfigError(
            "FMS_API_RATE_LIMIT must read like '600 per minute' (a number per second, "
            f"minute, hour or day), got {config.get('FMS_API_RATE_LIMIT')!r}"
        ) from None


def _check_encryption_keys(config: dict) -> None:
    from cryptography.fernet import Fernet

    for position, key in enumerate(split_keys(config.get("FMS_ENCRYPTION_KEYS")), start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"FMS_ENCRYPTION_KEYS: key {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None


def split_keys(raw: str | None) -> list[str]:
    """'k2, k1' -> ['k2', 'k1'] (newest first)."""
    return [part.strip() for part in (raw or "").split(",") if part.strip()]
