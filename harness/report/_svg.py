"""Dot-and-whisker plots as inline SVG: one row per estimate, a dot at the value and a whisker
over its 95% interval. Hand-written so that the report needs no plotting library and no script.

Every piece of text is escaped here; callers pass plain strings.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = ("#1f5fa8", "#c2571a", "#2e8540", "#8e3b8e", "#b8860b", "#5f6b7a", "#c03048", "#2a8c8c")
_TICKS = 5
_CHAR_WIDTH = 6.6  # average width of a 12px sans-serif character, for fitting labels


@dataclass(frozen=True)
class PlotRow:
    """One estimate. ``value`` None or NaN: drawn as "no value" followed by the note (say why);
    a missing bound: no whisker."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    color: str = PALETTE[0]
    note: str = ""  # shown after the numbers, e.g. "n=612" or "*"


@dataclass(frozen=True)
class PlotLayout:
    """Pixel geometry: the label column, then the plot area, then the numbers column."""

    width: int = 900
    label_width: int = 330
    numbers_width: int = 230
    row_height: int = 22
    top: int = 26  # room for the title
    axis_height: int = 24
    domain: tuple[float, float] = (0.0, 1.0)

    @property
    def plot_left(self) -> float:
        return float(self.label_width)

    @property
    def plot_right(self) -> float:
        return float(self.width - self.numbers_width)

    @property
    def plot_width(self) -> float:
        return self.plot_right - self.plot_left

    def x(self, value: float) -> float:
        """The horizontal pixel of ``value`` (linear over the domain)."""
        low, high = self.domain
        share = (value - low) / (high - low)
        return self.plot_left + share * self.plot_width

    def y(self, index: int) -> float:
        """The vertical centre of row ``index``."""
        return self.top + (index + 0.5) * self.row_height

    def height(self, rows: int) -> int:
        return self.top + rows * self.row_height + self.axis_height


def finite(value: float | None) -> float | None:
    """The value if it is a finite number, else None."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def plot_domain(rows: Sequence[PlotRow], reference: float | None = None) -> tuple[float, float]:
    """[0, 1] when every number fits in it (proportions and 0..1 scores share one scale); else
    the numbers' range with 5% padding. No number at all: [0, 1]."""
    numbers = [v for row in rows for v in (finite(row.value), finite(row.low), finite(row.high)) if v is not None]
    if reference is not None:
        numbers.append(reference)
    if not numbers or (min(numbers) >= 0.0 and max(numbers) <= 1.0 and reference is None):
        return (0.0, 1.0)
    low, high = min(numbers), max(numbers)
    if reference is not None:  # a difference plot: symmetric, so that left and right read alike
        reach = max(abs(low - reference), abs(high - reference)) or 0.05
        return (reference - reach * 1.05, reference + reach * 1.05)
    pad = (high - low) * 0.05 or max(abs(high) * 0.05, 0.05)
    return (low - pad, high + pad)


def dot_whisker_svg(
    rows: Sequence[PlotRow],
    title: str = "",
    reference: float | None = None,
    layout: PlotLayout | None = None,
    signed: bool = False,
) -> str:
    """An SVG element: one row per estimate, shared x axis; ``reference`` draws a vertical line
    (0 for differences); ``signed`` prints numbers with their sign."""
    layout = layout or PlotLayout(domain=plot_domain(rows, reference))
    height = layout.height(len(rows))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{layout.width}" height="{height}" '
        f'viewBox="0 0 {layout.width} {height}" role="img" aria-label="{_esc(title)}">',
        f"<title>{_esc(title)}</title>",
        f'<text class="plot-title" x="0" y="16">{_esc(title)}</text>',
    ]
    parts += _axis(layout, len(rows))
    if reference is not None:
        x = _fmt(layout.x(reference))
        parts.append(
            f'<line class="reference" x1="{x}" x2="{x}" y1="{layout.top}" '
            f'y2="{_fmt(layout.top + len(rows) * layout.row_height)}"/>'
        )
    for index, row in enumerate(rows):
        parts += _row(layout, index, row, signed)
    parts.append("</svg>")
    return "\n".join(parts)


def _axis(layout: PlotLayout, n_rows: int) -> list[str]:
    bottom = layout.top + n_rows * layout.row_height
    low, high = layout.domain
    parts = []
    for step in range(_TICKS):
        tick = low + (high - low) * step / (_TICKS - 1)
        x = _fmt(layout.x(tick))
        parts.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{layout.top}" y2="{_fmt(bottom)}"/>')
        parts.append(f'<text class="tick" x="{x}" y="{_fmt(bottom + 16)}" text-anchor="middle">{_tick(tick)}</text>')
    return parts


def _row(layout: PlotLayout, index: int, row: PlotRow, signed: bool) -> list[str]:
    y = _fmt(layout.y(index))
    baseline = _fmt(layout.y(index) + 4)
    label = _fit(row.label, int((layout.label_width - 12) / _CHAR_WIDTH))
    parts = [
        f'<text class="label" x="{layout.label_width - 8}" y="{baseline}" text-anchor="end">'
        f"<title>{_esc(row.label)}</title>{_esc(label)}</text>"
    ]
    value, low, high = finite(row.value), finite(row.low), finite(row.high)
    numbers_x = _fmt(layout.plot_right + 8)
    if value is None:
        missing = _fit("no value" + (f": {row.note}" if row.note else ""), int(layout.plot_width / _CHAR_WIDTH))
        parts.append(f'<text class="missing" x="{_fmt(layout.plot_left + 4)}" y="{baseline}">{_esc(missing)}</text>')
        parts.append(f'<text class="numbers" x="{numbers_x}" y="{baseline}">-</text>')
        return parts
    color = _esc(row.color)
    if low is not None and high is not None:
        x1, x2 = _fmt(layout.x(low)), _fmt(layout.x(high))
        cap_top, cap_bottom = _fmt(layout.y(index) - 5), _fmt(layout.y(index) + 5)
        parts.append(f'<line class="whisker" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{color}"/>')
        for x in (x1, x2):
            parts.append(f'<line class="cap" x1="{x}" x2="{x}" y1="{cap_top}" y2="{cap_bottom}" stroke="{color}"/>')
    parts.append(f'<circle class="dot" cx="{_fmt(layout.x(value))}" cy="{y}" r="4" fill="{color}"/>')
    text = _number(value, signed)
    if low is not None and high is not None:
        text += f" [{_number(low, signed)}, {_number(high, signed)}]"
    parts.append(f'<text class="numbers" x="{numbers_x}" y="{baseline}">{_esc(f"{text} {row.note}".rstrip())}</text>')
    return parts


def _fit(text: str, limit: int) -> str:
    """``text`` cut in the middle to ``limit`` characters: run ids differ at both ends."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def _number(value: float, signed: bool) -> str:
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _tick(value: float) -> str:
    return _esc(f"{0.0 if abs(value) < 1e-12 else value:.3g}")


def _fmt(pixel: float) -> str:
    return f"{pixel:.2f}"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
