"""Hooks that let the audit page explain entries without importing any domain.

Audit stores ids and action codes. Each area registers, at app start, how to say its
actions in words, where its records live, and which records belong to one of its records
(an engagement's onboarding steps, amendments, ...), so the audit page links entries to
their records and shows a record's whole history. Registering twice replaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

_LINKS: dict[str, Callable[[int], str | None]] = {}
_WORDS: dict[str, str] = {}
_CHILDREN: dict[str, Callable[..., list[tuple[str, int]]]] = {}
_TYPE_WORDS: dict[str, str] = {}


def register_entity_link(entity_type: str, link: Callable[[int], str | None]) -> None:
    """`link(entity_id)` gives the URL of a record of this type (None: no page)."""
    _LINKS[entity_type] = link


def register_action_words(words: dict[str, str]) -> None:
    """Actions in words: {"engagement.approved": "Engagement approved", ...}."""
    _WORDS.update(words)


def register_entity_words(words: dict[str, str]) -> None:
    """Record types in words: {"onboarding_step": "Onboarding step", ...}."""
    _TYPE_WORDS.update(words)


def register_children(entity_type: str, children: Callable[..., list[tuple[str, int]]]) -> None:
    """`children(session, entity_id)` lists the (type, id) of records that belong to one
    record of this type; its history includes theirs."""
    _CHILDREN[entity_type] = children


def action_words(action: str) -> str:
    """An action in words; an unregistered one is spelled out from its code."""
    if action in _WORDS:
        return _WORDS[action]
    subject, _, verb = action.partition(".")
    return f"{entity_words(subject)} {verb.replace('_', ' ')}".strip()


def entity_words(entity_type: str) -> str:
    return _TYPE_WORDS.get(entity_type) or entity_type.replace("_", " ").capitalize()


def known_actions() -> dict[str, str]:
    return dict(_WORDS)


def entity_url(entity_type: str, entity_id: int | None) -> str | None:
    """The page of a record, if its area registered one and the record still has one."""
    link = _LINKS.get(entity_type)
    if link is None or entity_id is None:
        return None
    try:
        return link(entity_id)
    except Exception:  # a link is a convenience: a missing route must not break the log
        log.warning("no link for %r %r", entity_type, entity_id, exc_info=True)
        return None


def family(session, entity_type: str, entity_id: int) -> dict[str, set[int]]:
    """A record and the records that belong to it (recursively), by type."""
    found: dict[str, set[int]] = {entity_type: {entity_id}}
    todo = [(entity_type, entity_id)]
    while todo:
        kind, record_id = todo.pop()
        children = _CHILDREN.get(kind)
        for child_type, child_id in children(session, record_id) if children else []:
            if child_id not in found.setdefault(child_type, set()):
                found[child_type].add(child_id)
                todo.append((child_type, child_id))
    return found
