"""Placeholder for rep1's spend analytics core (issue 14): the contract the exports code
against. Replaced by rep1's module at merge; only the dataclasses are used here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

DIMENSIONS = (
    "cost_centre",
    "department",
    "location",
    "country",
    "supplier",
    "skill",
    "hiring_manager",
    "engagement",
    "bill_to_entity",
)
GRAINS = ("week", "month", "quarter")


@dataclass(frozen=True)
class SpendQuery:
    start: date
    end: date
    grain: str = "month"
    group_by: tuple[str, ...] = ()
    currency: str = "base"  # or "original"


def parse_spend_query(args: Mapping[str, str], *, today: date) -> SpendQuery:
    raise NotImplementedError("rep1's fms.reports.spend replaces this placeholder")


@dataclass(frozen=True)
class SpendRow:
    period: str
    period_start: date
    keys: tuple[str, ...]
    currency: str
    approved: Decimal
    invoiced: Decimal
    minutes: int
    fte: Decimal
    average_rate: Decimal | None


@dataclass(frozen=True)
class SpendReport:
    query: SpendQuery
    base_currency: str
    rows: list[SpendRow]
    totals: dict[str, SpendRow]


def spend_report(session, *, actor, query: SpendQuery) -> SpendReport:
    raise NotImplementedError("rep1's fms.reports.spend replaces this placeholder")
