"""The kinds of notification areas send, registered by the areas themselves.

An area registers its kinds when its module is imported (`register_kind(...)` at module
level, idempotent), so the preferences page lists every kind without notifications knowing
any area.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULTS = ("mail", "inbox")


@dataclass(frozen=True)
class NotificationKind:
    key: str
    label: str
    default: str
    description: str = ""


_KINDS: dict[str, NotificationKind] = {}


def register_kind(key: str, *, label: str, default: str = "mail", description: str = "") -> None:
    """Make a kind known: its label on the preferences page and its default channel
    ("mail": inbox and mail, for kinds that ask for an action; "inbox": inbox only)."""
    if default not in DEFAULTS:
        raise ValueError(f"default must be one of {DEFAULTS}, not {default!r}")
    if not key or len(key) > 60:
        raise ValueError("a kind has 1 to 60 characters")
    _KINDS[key] = NotificationKind(key, label, default, description)


def get_kind(key: str) -> NotificationKind | None:
    return _KINDS.get(key)


def all_kinds() -> list[NotificationKind]:
    return sorted(_KINDS.values(), key=lambda kind: kind.label)


# reminders: functions an area registers for `flask fms notifications remind`; each is
# called per organization as fn(session, org_id=..., today=...) and returns how many
# notifications it sent. They send through `notify` with dedupe keys, so a second run on the
# same day (or a retried cron job) sends nothing again.
_REMINDERS: dict[str, object] = {}


def register_reminder(name: str, fn) -> None:
    _REMINDERS[name] = fn


def all_reminders() -> list[tuple[str, object]]:
    return sorted(_REMINDERS.items(), key=lambda item: item[0])
