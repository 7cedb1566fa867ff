"""What an Overview item is: the vocabulary of the *overview providers* hook.

Reports offers the hook and builds the Overview page (`fms.reports.overview`); each area
keeps a provider in its own `overview.py` that answers, for one person, "what do I have to
do, and what needs my attention". Providers are registered by the app factory, so no area
imports Reports. This module sits beside money.py and exports.py: every area may use it.

A provider is `provider(session, *, actor, today) -> list[OverviewItem]`. It returns only
what the actor's roles may see, counts in SQL and runs a fixed number of statements
whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

# where an item goes on the page
TODO = "todo"  # work waiting for this person; shown only when there is some
ATTENTION = "attention"  # something to look at (a risk, a gap, a deadline)
SUMMARY = "summary"  # role figures, shown even when zero
SECTIONS = (TODO, ATTENTION, SUMMARY)
TONES = ("info", "success", "warning", "danger")


@dataclass(frozen=True)
class OverviewItem:
    """One line of a person's Overview, linking to the page where the work is done."""

    key: str  # stable and unique: "workforce.requisitions_to_decide"
    title: str  # "Requisitions to decide"
    count: int
    url: str
    section: str = TODO
    tone: str = "info"
    detail: str | None = None
    # summaries are grouped under a heading ("My requisitions")
    group: str | None = None

    def __post_init__(self):
        if self.section not in SECTIONS or self.tone not in TONES:
            raise ValueError(f"bad overview item {self.key!r}: {self.section}/{self.tone}")


class OverviewProvider(Protocol):
    def __call__(self, session, *, actor, today: date) -> list[OverviewItem]: ...


def plural(count: int, singular: str, plural_: str | None = None) -> str:
    """'1 step', '3 steps'."""
    return f"{count} {singular if count == 1 else (plural_ or singular + 's')}"


def summary(group: str, rows) -> list[OverviewItem]:
    """Summary items under one heading from (key, title, count, url) rows."""
    return [
        OverviewItem(key=key, title=title, count=count, url=url, section=SUMMARY, group=group)
        for key, title, count, url in rows
    ]
