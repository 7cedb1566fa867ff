"""Invoice arithmetic with no I/O, by DESIGN.md's money rules.

- A line's net is the exact sum of its items rounded once, half-up, to the currency's
  minor unit (`fms.timesheets.pricing.round_exact`).
- VAT is computed per category and rate on the sum of the line nets of that category and
  rounded once (EN 16931 BR-CO-17), never per line.
- Stacked taxes (Canada's GST and Quebec's QST on one line): a line names its components
  (name, percent); each component is computed the same way, per category, component and
  rate on the sum of the nets of the lines carrying it, each on the net (not on another
  tax), rounded once.
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
    name: str = ""  # a stacked tax's component (GST, QST); "" for plain VAT


@dataclass(frozen=True, slots=True)
class Totals:
    net: Decimal
    tax: Decimal
    gross: Decimal
    breakdown: tuple[TaxRow, ...]


def components_of(rate: Decimal, components) -> list[tuple[str, Decimal]]:
    """A line's taxes as (name, percent): its stacked components, or its one VAT rate."""
    if not components:
        return [("", Decimal(rate))]
    return [(str(name), Decimal(str(percent))) for name, percent in components]


def tax_breakdown(lines: Iterable[tuple], currency: str) -> list[TaxRow]:
    """Per (category, tax, rate) of (category, rate percent, rounded net[, components])
    lines: the taxable sum and its tax, rounded once; in category order, then the
    components' order on the line (plain VAT first), then rate."""
    taxable: dict[tuple[str, int, str, Decimal], Decimal] = {}
    for category, rate, net, *rest in lines:
        for position, (name, percent) in enumerate(components_of(rate, rest[0] if rest else None)):
            key = (category, position, name, percent)
            taxable[key] = EXACT.add(taxable.get(key, Decimal(0)), Decimal(net))
    rows = []
    for (category, _, name, rate), amount in sorted(taxable.items()):
        exact = EXACT.divide(EXACT.multiply(amount, rate), Decimal(100))
        rows.append(TaxRow(category, rate, amount, round_half_up(exact, currency), name))
    return rows


def fee(base: Decimal, percent: Decimal, currency: str) -> Decimal:
    """A service fee: `percent` of the sum of the rounded line nets it derives from, rounded
    once, half-up."""
    exact = EXACT.divide(EXACT.multiply(Decimal(base), Decimal(percent)), Decimal(100))
    return round_half_up(exact, currency)


def in_tax_currency(amount: Decimal, exchange_rate: Decimal, tax_currency: str) -> Decimal:
    """An amount in the tax currency at the invoice's fixed rate, rounded once (per VAT
    breakdown row; the total in the tax currency is the sum of the rounded rows)."""
    return round_half_up(EXACT.multiply(Decimal(amount), Decimal(exchange_rate)), tax_currency)


def invoice_totals(lines: Iterable[tuple], currency: str) -> Totals:
    """Net (sum of line nets), VAT (sum of the categories' rounded VAT) and gross."""
    lines = list(lines)
    breakdown = tax_breakdown(lines, currency)
    net = sum((Decimal(line[2]) for line in lines), Decimal(0))
    tax = sum((row.tax for row in breakdown), Decimal(0))
    return Totals(net, tax, EXACT.add(net, tax), tuple(breakdown))
