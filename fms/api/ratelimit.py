"""Rate limits of /api/v1, per token and per signed-in person: one fixed-window counter,
kept in Redis when FMS_REDIS_URL is set (shared by every process) and in this process's
memory otherwise. A request over the limit answers 429 problem+json with `Retry-After`.

The limit is FMS_API_RATE_LIMIT ("600 per minute" by default, in the notation of the
`limits` library, as the sign-in limits); RATELIMIT_ENABLED switches every limit off.
If the store cannot be reached the request goes through (and it is logged): an outage of
Redis must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app
from limits import parse, strategies
from limits.storage import storage_from_string
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)
EXTENSION_KEY = "fms_api_rate_limit"


class RateLimit:
    """`hit(key)`: count one request; None while within the limit, else the seconds until
    the window resets (at least 1)."""

    def __init__(self, *, limit: str, storage_uri: str, namespace: str = "fms-api"):
        self.item = parse(limit)
        self.storage = storage_from_string(storage_uri)
        self.counter = strategies.FixedWindowRateLimiter(self.storage)
        self.namespace = namespace

    def hit(self, key: str) -> int | None:
        try:
            if self.counter.hit(self.item, self.namespace, key):
                return None
            reset_at = self.counter.get_window_stats(self.item, self.namespace, key).reset_time
        except Exception:  # the store is down: let the request through, and say so
            log.exception("API rate limit store unavailable; request not counted")
            return None
        return max(1, math.ceil(reset_at - time.time()))


def rate_limit(app=None) -> RateLimit:
    """The app's limiter, built on first use from its settings."""
    app = app or current_app
    limiter = app.extensions.get(EXTENSION_KEY)
    if limiter is None:
        config = app.config
        limiter = RateLimit(
            limit=config["FMS_API_RATE_LIMIT"],
            storage_uri=config.get("FMS_REDIS_URL") or "memory://",
        )
        app.extensions[EXTENSION_KEY] = limiter
    return limiter


def check(actor) -> None:
    """Count this API request against its token, or its person's session: 429 beyond."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    if actor.token_id is not None and actor.scopes is not None:
        key = f"token:{actor.token_id}"
    elif actor.user_id is not None:
        key = f"user:{actor.user_id}"
    else:
        return
    wait = rate_limit().hit(key)
    if wait is not None:
        raise TooManyRequests(
            f"Too many requests: at most {rate_limit().item} per "
            f"{'token' if key.startswith('token') else 'person'}. Retry in {wait} s.",
            retry_after=wait,
        )
