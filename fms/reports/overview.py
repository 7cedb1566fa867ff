"""The Overview's hook: areas register *overview providers* at app start (DESIGN.md, hooks
between areas); the home page asks each for the signed-in person's items."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask import Flask, current_app
from sqlalchemy.orm import Session

from fms.overview import ATTENTION, SUMMARY, TODO, OverviewItem, OverviewProvider

_KEY = "fms.overview_providers"
_TONE_ORDER = {"danger": 0, "warning": 1, "info": 2, "success": 3}


def register_provider(app: Flask, name: str, provider: OverviewProvider) -> None:
    """Add an area's provider; registering the same name again replaces it."""
    app.extensions.setdefault(_KEY, {})[name] = provider


def providers(app: Flask | None = None) -> dict[str, OverviewProvider]:
    return dict((app or current_app).extensions.get(_KEY, {}))


@dataclass
class Overview:
    to_do: list[OverviewItem] = field(default_factory=list)
    attention: list[OverviewItem] = field(default_factory=list)
    # group heading -> its items, in the order providers gave them
    summaries: dict[str, list[OverviewItem]] = field(default_factory=dict)

    @property
    def items(self) -> list[OverviewItem]:
        return [*self.to_do, *self.attention, *(i for g in self.summaries.values() for i in g)]

    def get(self, key: str) -> OverviewItem | None:
        return next((i for i in self.items if i.key == key), None)


def assemble(session: Session, *, actor, today: date) -> Overview:
    """Everything the registered providers have for the actor: to-dos and attention items
    with a count (most urgent first), summaries grouped by heading."""
    result = Overview()
    for provider in providers().values():
        for item in provider(session, actor=actor, today=today):
            if item.section == SUMMARY:
                result.summaries.setdefault(item.group or "Summary", []).append(item)
            elif item.count:
                (result.to_do if item.section == TODO else result.attention).append(item)
    result.to_do.sort(key=lambda i: _TONE_ORDER[i.tone])
    result.attention.sort(key=lambda i: _TONE_ORDER[i.tone])
    return result


__all__ = ["ATTENTION", "SUMMARY", "TODO", "Overview", "assemble", "register_provider"]
