"""When a delivery is tried again (no I/O): exponential back-off for about a day."""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_PAUSE = timedelta(minutes=1)
MAX_PAUSE = timedelta(hours=2)
RETRY_FOR = timedelta(hours=24)


def backoff(attempts: int) -> timedelta:
    """The pause after the n-th failed attempt: 1, 2, 4, 8 ... minutes, at most two hours."""
    return min(FIRST_PAUSE * 2 ** max(attempts - 1, 0), MAX_PAUSE)


def next_attempt(*, attempts: int, now: datetime, retry_until: datetime) -> datetime | None:
    """When to try again after a failed attempt, or None: give up (the day is over). The
    last attempt falls on `retry_until` itself rather than past it."""
    if now >= retry_until:
        return None
    return min(now + backoff(attempts), retry_until)


def delivered(status_code: int | None) -> bool:
    """Any 2xx answer is a delivery; everything else (and no answer) is tried again."""
    return status_code is not None and 200 <= status_code < 300


def in_webhook_words(detail: str) -> str:
    """fms.outbound's refusal, which speaks of identity providers, said of webhooks."""
    return detail.replace("Identity provider addresses", "Webhook addresses")
