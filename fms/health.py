"""/healthz: is the app able to reach its database (and Redis, when configured)?"""

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from fms.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "dialect": db.engine.dialect.name}
    except Exception as exc:  # report, do not crash: this is what monitoring calls
        checks["database"] = {"status": "error", "detail": type(exc).__name__}
    redis_url = current_app.config.get("FMS_REDIS_URL")
    if redis_url:
        try:
            from redis import Redis

            Redis.from_url(redis_url, socket_timeout=2).ping()
            checks["redis"] = {"status": "ok"}
        except Exception as exc:
            checks["redis"] = {"status": "error", "detail": type(exc).__name__}
    else:
        checks["redis"] = {"status": "not configured", "jobs": "inline"}
    healthy = all(c["status"] in ("ok", "not configured") for c in checks.values())
    body = {"status": "ok" if healthy else "error", "checks": checks}
    return jsonify(body), 200 if healthy else 503
