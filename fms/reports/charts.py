"""Server-rendered SVG charts (no script, no chart library): pure functions from figures to
markup, so pages and the PDF spend report draw the same picture.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` (read by screen
readers), a `<title>` on every bar (a tooltip), and is always shown with a table of the
same figures under it (the pages do that), so nothing is only in the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import count

from markupsafe import Markup, escape

PALETTE = ("#2f6fed", "#13a38b", "#f2a33a", "#8a5cf6", "#e4577a", "#5f6b7f")
_ids = count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[Decimal | int]
    color: str = PALETTE[0]


def _nice_max(value: float) -> float:
    """A round number at or above `value` whose quarters are round too (the axis has four
    steps): 1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8 x 10^n."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _short(value: float) -> str:
    """1234567 -> 1.2M, 12500 -> 12.5k (axis ticks only; tables hold the exact figures)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{text}{suffix}"
    return f"{sign}{value:.0f}" if value == int(value) else f"{sign}{value:.1f}"


def column_chart(
    title: str,
    labels: list[str],
    series: list[Series],
    *,
    description: str = "",
    unit: str = "",
    width: int = 760,
    height: int = 260,
) -> Markup:
    """Grouped columns: one group per label, one column per series, a legend on top."""
    chart_id = f"chart-{next(_ids)}"
    left, right, top, bottom = 56, 12, 30, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((float(v) for s in series for v in s.values), default=0.0)
    axis_max = _nice_max(peak)
    n = max(len(labels), 1)
    group_w = plot_w / n
    bar_w = max(2.0, group_w * 0.72 / max(len(series), 1))
    parts = [
        f'<svg class="fms-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description or title)}</desc>',
    ]
    for tick in range(5):
        value = axis_max * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#cfd6e0" if tick == 0 else "#edf0f5"}"/>'
            f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5f6b7f">{escape(_short(value))}</text>'
        )
    legend_x = left
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="6" width="10" height="10" rx="2" fill="{s.color}"/>'
            f'<text x="{legend_x + 14}" y="15" font-size="11" fill="#1b2434">'
            f"{escape(s.name)}</text>"
        )
        legend_x += 24 + 7 * len(s.name)
    every = max(1, round(n / 12))  # at most about a dozen axis labels
    for i, label in enumerate(labels):
        x0 = left + i * group_w + (group_w - bar_w * len(series)) / 2
        for j, s in enumerate(series):
            exact = s.values[i] if i < len(s.values) else 0
            value = float(exact)
            h = plot_h * max(value, 0.0) / axis_max
            x = x0 + j * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w * 0.9:.1f}" '
                f'height="{h:.1f}" rx="2" fill="{s.color}"><title>'
                f"{escape(label)} · {escape(s.name)}: {escape(_exact(exact))}"
                f"{escape(' ' + unit if unit else '')}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{left + i * group_w + group_w / 2:.1f}" y="{height - 12}" '
                f'font-size="11" text-anchor="middle" fill="#5f6b7f">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def bar_chart(
    title: str,
    items: list[tuple[str, Decimal | int]],
    *,
    description: str = "",
    unit: str = "",
    width: int = 760,
    color: str = PALETTE[0],
) -> Markup:
    """Horizontal bars, largest first as given: a label, a bar and the value per row."""
    chart_id = f"chart-{next(_ids)}"
    row_h, label_w, value_w = 26, 220, 110
    height = max(row_h * len(items), row_h) + 8
    plot_w = width - label_w - value_w
    peak = max((float(v) for _, v in items), default=0.0) or 1.0
    parts = [
        f'<svg class="fms-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description or title)}</desc>',
    ]
    for i, (label, value) in enumerate(items):
        y = 4 + i * row_h
        w = plot_w * max(float(value), 0.0) / peak
        text = label if len(label) <= 32 else label[:31] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" font-size="12" text-anchor="end" '
            f'fill="#1b2434">{escape(text)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 10}" '
            f'rx="3" fill="{color}"><title>{escape(label)}: {escape(_exact(value))}'
            f"{escape(' ' + unit if unit else '')}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="11" fill="#5f6b7f">'
            f"{escape(_short(float(value)))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def _exact(value) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return f"{value:,}"
