"""Charts as SVG text for the reports page (issue 7 point 4). Pure: numbers
and labels in, a string out; no dependency, no outside file, no script.

Three shapes: bars (one series), grouped bars (several series side by side)
and lines. Each has a title, a y axis with round ticks, labels under the
categories, and a legend naming its series. Every text is escaped; every
bar and point carries its value (`data-value`) and a hover <title>. A chart
with nothing to show says 无数据 rather than drawing an empty frame.

Why our own and not a library: pygal, the well-kept SVG library, links its
tooltip script from a public host unless told not to and is far more code
than the three shapes a report needs (issue 7 point 5: nothing from outside).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape

PALETTE = ("#0b4f9c", "#e07b00", "#1a7f37", "#8e44ad", "#c62828", "#00838f", "#6d4c41",
           "#546e7a")
FONT = ('"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", '
        "sans-serif")

Number = float | int | None


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[Number]
    color: str | None = None
    dashed: bool = False  # a reference line (a target): dashed, without points


@dataclass(frozen=True, slots=True)
class Frame:
    """Where the plot area sits in the picture."""

    width: int = 640
    height: int = 300
    left: int = 56
    right: int = 16
    top: int = 52  # the title and the legend (more when it takes several rows)
    bottom: int = 56  # category labels and the x axis title

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def base(self) -> float:
        return self.height - self.bottom


def text(s: object) -> str:
    """Escaped for element content and for a double-quoted attribute."""
    return escape(str(s), {'"': "&quot;"})


def nice_ticks(high: float, count: int = 5, *, integers: bool = False) -> list[float]:
    """0 … a round top at or above `high`, in round steps (1, 2, 2.5, 5 × 10ⁿ).
    A float's last bit of noise above a round value (0.1 + 0.2) does not
    cost a whole extra step; the bars are drawn to the top at most."""
    if not high > 0 or not math.isfinite(high):
        return [0.0, 1.0]
    raw = high / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    if integers and step < 1:
        step = 1  # counts: whole steps
    elif integers and step == 2.5:
        step = 5
    n = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def plain(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.3g}"


def percent(v: float) -> str:
    return f"{v * 100:.0f}%"


@dataclass(frozen=True, slots=True)
class _Axes:
    frame: Frame
    top_value: float
    ticks: list[float]

    def y(self, v: float) -> float:
        f = self.frame
        return f.base - (min(max(0.0, v), self.top_value) / self.top_value) * f.plot_h


def _axes(series: Sequence[Series], frame: Frame, y_max: float | None,
          integers: bool = False) -> _Axes:
    values = [float(v) for s in series for v in s.values if v is not None]
    # A fixed scale (a share, a rating, points) when given; values beyond it
    # are drawn at its top.
    ticks = nice_ticks(y_max if y_max is not None else max(values, default=0.0),
                       integers=integers)
    top = ticks[-1]
    return _Axes(frame, top, ticks)


def _open(title: str, frame: Frame) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
            f'width="{frame.width}" height="{frame.height}" role="img" '
            f'aria-label="{text(title)}" font-family="{text(FONT)}" font-size="12">',
            f'<rect width="{frame.width}" height="{frame.height}" fill="#ffffff"/>',
            f'<text class="title" x="{frame.left}" y="20" font-size="15" font-weight="600" '
            f'fill="#083a73">{text(title)}</text>']


def _legend_rows(series: Sequence[Series], frame: Frame) -> list[list[tuple[float, int]]]:
    """(x, series index) of each legend entry, wrapped into rows that fit."""
    rows: list[list[tuple[float, int]]] = [[]]
    x = float(frame.left)
    for i, s in enumerate(series):
        w = 16 + 12 * _width(s.name) + 18
        if rows[-1] and x + w > frame.width - frame.right:
            rows.append([])
            x = float(frame.left)
        rows[-1].append((x, i))
        x += w
    return rows


def _fit(series: Sequence[Series], frame: Frame) -> Frame:
    """The frame with room above the plot for every row of the legend."""
    return replace(frame, top=max(frame.top, 34 + 18 * len(_legend_rows(series, frame))))


def _legend(series: Sequence[Series], frame: Frame) -> list[str]:
    out = ['<g class="legend">']
    for r, row in enumerate(_legend_rows(series, frame)):
        y = 32 + 18 * r
        for x, i in row:
            s = series[i]
            out.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" '
                       f'fill="{_color(s, i)}"/><text x="{x + 16:.1f}" y="{y + 10.5}" '
                       f'fill="#1d2733">{text(s.name)}</text>')
    out.append("</g>")
    return out


def _width(label: str) -> float:
    """Rough width in ems of 12 px: a CJK character is one, ASCII about half."""
    return sum(1.0 if ord(c) > 0x2E7F else 0.55 for c in label)


def _color(s: Series, i: int) -> str:
    return s.color or PALETTE[i % len(PALETTE)]


def _grid(ax: _Axes, fmt: Callable[[float], str], y_label: str) -> list[str]:
    f = ax.frame
    out = ['<g class="y-axis">']
    for t in ax.ticks:
        y = ax.y(t)
        out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#d5dde6"/><text class="tick" x="{f.left - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end" fill="#5b6b7c">{text(fmt(t))}</text>')
    if y_label:
        out.append(f'<text class="axis-label" transform="translate(14 {f.top + f.plot_h / 2:.1f}) '
                   f'rotate(-90)" text-anchor="middle" fill="#5b6b7c">{text(y_label)}</text>')
    out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{f.base}" y2="{f.base}" '
               'stroke="#5b6b7c"/></g>')
    return out


def _categories(categories: Sequence[str], frame: Frame, x_label: str) -> list[str]:
    n = max(1, len(categories))
    group = frame.plot_w / n
    slanted = any(12 * _width(c) > group - 4 for c in categories)
    out = ['<g class="x-axis">']
    for i, c in enumerate(categories):
        x = frame.left + group * (i + 0.5)
        y = frame.base + 16
        if slanted:
            out.append(f'<text class="category" transform="translate({x:.1f} {y - 4:.1f}) '
                       f'rotate(-30)" text-anchor="end" fill="#1d2733">{text(c)}</text>')
        else:
            out.append(f'<text class="category" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
                       f'fill="#1d2733">{text(c)}</text>')
    if x_label:
        out.append(f'<text class="axis-label" x="{frame.width - frame.right}" '
                   f'y="{frame.height - 6}" text-anchor="end" fill="#5b6b7c">'
                   f"{text(x_label)}</text>")
    out.append("</g>")
    return out


def _empty(frame: Frame) -> str:
    return (f'<text class="empty" x="{frame.left + frame.plot_w / 2:.1f}" '
            f'y="{frame.top + frame.plot_h / 2:.1f}" text-anchor="middle" font-size="16" '
            'fill="#5b6b7c">无数据</text>')


def _has_data(series: Sequence[Series]) -> bool:
    return any(v is not None for s in series for v in s.values)


def grouped_bars(title: str, categories: Sequence[str], series: Sequence[Series], *,
                 y_label: str = "", x_label: str = "", y_max: float | None = None,
                 fmt: Callable[[float], str] = plain, integers: bool = False,
                 frame: Frame = Frame()) -> str:
    """Bars side by side per category, one colour per series; `integers`
    for counts (whole-number ticks)."""
    frame = _fit(series, frame)
    ax = _axes(series, frame, y_max, integers)
    out = _open(title, frame) + _legend(series, frame) + _grid(ax, fmt, y_label)
    n, k = max(1, len(categories)), max(1, len(series))
    group = frame.plot_w / n
    bar = min(group * 0.8 / k, 56.0)  # a lone category gets a bar, not a wall
    pad = (group - bar * k) / 2
    out.append('<g class="bars">')
    for j, s in enumerate(series):
        for i, v in enumerate(s.values[: len(categories)]):
            if v is None:
                continue
            x = frame.left + group * i + pad + bar * j
            y = ax.y(float(v))
            out.append(f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar:.2f}" '
                       f'height="{frame.base - y:.2f}" fill="{_color(s, j)}" '
                       f'data-series="{text(s.name)}" data-category="{text(categories[i])}" '
                       f'data-value="{v}"><title>{text(categories[i])} · {text(s.name)}: '
                       f'{text(fmt(float(v)))}</title></rect>')
    out.append("</g>")
    out += _categories(categories, frame, x_label)
    if not _has_data(series):
        out.append(_empty(frame))
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(title: str, categories: Sequence[str], values: Sequence[Number], *,
              name: str = "", y_label: str = "", x_label: str = "",
              y_max: float | None = None, fmt: Callable[[float], str] = plain,
              integers: bool = False, frame: Frame = Frame()) -> str:
    """One bar per category."""
    return grouped_bars(title, categories, [Series(name or y_label or title, values)],
                        y_label=y_label, x_label=x_label, y_max=y_max, fmt=fmt,
                        integers=integers, frame=frame)


def line_chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
               y_label: str = "", x_label: str = "", y_max: float | None = None,
               fmt: Callable[[float], str] = plain, frame: Frame = Frame()) -> str:
    """One line per series over the categories; a missing value breaks it."""
    frame = _fit(series, frame)
    ax = _axes(series, frame, y_max)
    out = _open(title, frame) + _legend(series, frame) + _grid(ax, fmt, y_label)
    group = frame.plot_w / max(1, len(categories))
    out.append('<g class="lines">')
    for j, s in enumerate(series):
        color = _color(s, j)
        runs: list[list[tuple[float, float]]] = [[]]
        dots = []
        for i, v in enumerate(s.values[: len(categories)]):
            if v is None:
                runs.append([])
                continue
            x, y = frame.left + group * (i + 0.5), ax.y(float(v))
            runs[-1].append((x, y))
            if s.dashed:
                continue
            dots.append(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="3.5" fill="{color}" '
                        f'data-series="{text(s.name)}" data-category="{text(categories[i])}" '
                        f'data-value="{v}"><title>{text(categories[i])} · {text(s.name)}: '
                        f'{text(fmt(float(v)))}</title></circle>')
        for run in runs:
            if len(run) > 1:
                pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in run)
                dash = ' stroke-dasharray="6 4"' if s.dashed else ""
                out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                           f'stroke-width="2"{dash} data-series="{text(s.name)}"/>')
        out += dots
    out.append("</g>")
    out += _categories(categories, frame, x_label)
    if not _has_data(series):
        out.append(_empty(frame))
    out.append("</svg>")
    return "\n".join(out)
