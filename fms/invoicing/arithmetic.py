"""Invoice arithmetic with no I/O, by DESIGN.md's money rules.

- A line's net is the exact sum of its items rounded once, half-up, to the currency's
  minor unit (`fms.timesheets.pricing.round_exact`).
- VAT is computed per category and rate on the sum of the line nets of that category and
  rounded once (EN 16931 BR-CO-17), never per line.
- The invoice total is the sum of line nets plus the sum of the categories' VAT.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from fms.money import EXACT, round_half_up


@dataclass(frozen=True, slots=True)
class TaxRow:
    category: str
    rate: Decimal  # percent
    taxable: Decimal  # the sum of the rounded line nets of this category and rate
    tax: Decimal  # rounded once


@dataclass(frozen=True, slots=True)
class Totals:
    net: Decimal
    tax: Decimal
    gross: Decimal
    breakdown: tuple[TaxRow, ...]


def tax_breakdown(lines: Iterable[tuple[str, Decimal, Decimal]], currency: str) -> list[TaxRow]:
    """Per (category, rate) of (category, rate percent, rounded net) lines: the taxable sum
    and its VAT, rounded once; in category then rate order."""
    taxable: dict[tuple[str, Decimal], Decimal] = {}
    for category, rate, net in lines:
        key = (category, Decimal(rate))
        taxable[key] = EXACT.add(taxable.get(key, Decimal(0)), Decimal(net))
    rows = []
    for (category, rate), amount in sorted(taxable.items()):
        exact = EXACT.divide(EXACT.multiply(amount, rate), Decimal(100))
        rows.append(TaxRow(category, rate, amount, round_half_up(exact, currency)))
    return rows


def invoice_totals(lines: Iterable[tuple[str, Decimal, Decimal]], currency: str) -> Totals:
    """Net (sum of line nets), VAT (sum of the categories' rounded VAT) and gross."""
    lines = list(lines)
    breakdown = tax_breakdown(lines, currency)
    net = sum((row.taxable for row in breakdown), Decimal(0))
    tax = sum((row.tax for row in breakdown), Decimal(0))
    return Totals(net, tax, EXACT.add(net, tax), tuple(breakdown))
