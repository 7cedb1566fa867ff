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
_BATCH_LINKS: dict[str, Callable[[list[int]], dict[int, str]]] = {}
_WORDS: dict[str, str] = {}
_CHILDREN: dict[str, Callable[..., list[tuple[str, int]]]] = {}
_TYPE_WORDS: dict[str, str] = {}


def register_entity_link(entity_type: str, link: Callable[[int], str | None]) -> None:
    """`link(entity_id)` gives the URL of a record of this type (None: no page), without a
    query (a page of entries calls it once per entry)."""
    _LINKS[entity_type] = link


def register_entity_links(entity_type: str, links: Callable[[list[int]], dict[int, str]]) -> None:
    """For records whose page needs a lookup (a checklist step lives on its engagement's
    page): `links(ids)` gives {id: url} for many at once, in one query."""
    _BATCH_LINKS[entity_type] = links


def register_action_words(words: dict[str, str]) -> None:
    """Actions in words: {"engagement.approved": "Engagement approved", ...}."""
    _WORDS.update(words)


def register_entity_words(words: dict[str, str]) -> None:
    """Record types in words: {"onboarding_step": "Onboarding step", ...}."""
    _TYPE_WORDS.update(words)


def register_children(entity_type: str, children: Callable[..., list[tuple[str, int]]]) -> None:
    """`children(session, ids)` lists the (type, id) of records that belong to records of
    this type (one query for many); their history is part of their parent's."""
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


def entity_urls(pairs) -> dict[tuple[str, int], str]:
    """The pages of many records ((type, id) pairs), where their areas registered one and
    the records still have one: one lookup per record type at most."""
    by_type: dict[str, set[int]] = {}
    for entity_type, entity_id in pairs:
        if entity_id is not None:
            by_type.setdefault(entity_type, set()).add(entity_id)
    out: dict[tuple[str, int], str] = {}
    for entity_type, ids in by_type.items():
        try:
            if entity_type in _BATCH_LINKS:
                found = _BATCH_LINKS[entity_type](sorted(ids))
            elif entity_type in _LINKS:
                found = {i: _LINKS[entity_type](i) for i in ids}
            else:
                continue
        except Exception:  # a link is a convenience: a missing route must not break the log
            log.warning("no links for %r", entity_type, exc_info=True)
            continue
        out.update({(entity_type, i): url for i, url in found.items() if url})
    return out


def family(session, entity_type: str, entity_id: int) -> dict[str, set[int]]:
    """A record and the records that belong to it (recursively), by type: one children
    query per type and level, however many children there are."""
    found: dict[str, set[int]] = {entity_type: {entity_id}}
    frontier = {entity_type: {entity_id}}
    while frontier:
        following: dict[str, set[int]] = {}
        for kind, ids in frontier.items():
            children = _CHILDREN.get(kind)
            for child_type, child_id in children(session, sorted(ids)) if children else []:
                if child_id not in found.setdefault(child_type, set()):
                    found[child_type].add(child_id)
                    following.setdefault(child_type, set()).add(child_id)
        frontier = following
    return found
