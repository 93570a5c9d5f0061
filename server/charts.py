"""Small server-side SVG charts (bars and a burn-up line) for the progress page: no chart library to fetch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

_FONT = 'font-family="sans-serif" font-size="12"'


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value and (optionally) the total it is measured against."""

    label: str
    value: float
    total: float | None = None
    color: str = "#16a34a"


def number(value: float) -> str:
    """Format a number with thousands separators and at most one decimal (62,340 or 12.5)."""
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 or abs(value) >= 1000 else f"{value:,.1f}"


def bar_chart(bars: Sequence[Bar], unit: str = "", width: int = 460, row: int = 30, label_width: int = 90) -> str:
    """Return an SVG of horizontal bars; a bar with a total is drawn over a grey bar of the total."""
    scale_max = max([b.total or b.value for b in bars] + [1e-9])
    plot = width - label_width - 120
    height = row * len(bars) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pm-chart pm-bars" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
    ]
    for i, bar in enumerate(bars):
        y = 5 + i * row
        parts.append(
            f'<text x="{label_width - 6}" y="{y + row * 0.6:.1f}" text-anchor="end" {_FONT}>{escape(bar.label)}</text>'
        )
        if bar.total:
            w_total = plot * bar.total / scale_max
            parts.append(
                f'<rect x="{label_width}" y="{y + 4}" width="{w_total:.1f}" height="{row - 10}" fill="#e5e7eb"/>'
            )
        w = plot * max(bar.value, 0) / scale_max
        value = number(bar.value) + (f" / {number(bar.total)}" if bar.total else "") + (f" {unit}" if unit else "")
        parts.append(
            f'<rect class="pm-bar" data-value="{bar.value:.3f}" x="{label_width}" y="{y + 4}" '
            f'width="{w:.1f}" height="{row - 10}" fill="{bar.color}"/>'
        )
        parts.append(f'<text x="{label_width + plot + 6}" y="{y + row * 0.6:.1f}" {_FONT}>{escape(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    labels: Sequence[str],
    values: Sequence[float],
    target: float | None = None,
    unit: str = "",
    width: int = 520,
    height: int = 240,
) -> str:
    """Return an SVG burn-up: a cumulative line over the labels, with a dashed target line when given."""
    left, right, top, bottom = 64, 16, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([*values, target or 0.0, 1e-9])
    step = plot_w / max(len(labels) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + plot_h * (1 - v / top_value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pm-chart pm-burnup" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9ca3af"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#9ca3af"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{number(top_value * frac)}</text>'
        )
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{height - 10}" text-anchor="middle" {_FONT}>{escape(label)}</text>'
        )
    if target:
        y = xy(0, target)[1]
        parts.append(
            f'<line class="pm-target" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#dc2626" stroke-dasharray="6 4"/>'
        )
        parts.append(
            f'<text x="{left + plot_w}" y="{y - 4:.1f}" text-anchor="end" fill="#dc2626" {_FONT}>'
            f"{escape(number(target) + (' ' + unit if unit else ''))}</text>"
        )
    if values:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
        parts.append(f'<polyline class="pm-line" points="{points}" fill="none" stroke="#16a34a" stroke-width="2.5"/>')
        for i, v in enumerate(values):
            x, y = xy(i, v)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#16a34a" data-value="{v:.3f}"/>')
    parts.append("</svg>")
    return "".join(parts)
